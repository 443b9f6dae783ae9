"""Our own error tree; library errors are translated into these once, at each adapter's edge.

GovbotError
├── ConfigError        a setting is missing or malformed: one line, start-up stops
├── RefDataError       a file under data/ is broken: names the file and line
├── UserInputError     the citizen's input cannot be accepted: a catalog msgid to answer with
└── DeliveryError      a message could not be delivered; `retryable` says whether to try again
"""

from __future__ import annotations

from typing import Any


class GovbotError(Exception):
    """Base of every error govbot raises on purpose."""


class ConfigError(GovbotError):
    """A setting is wrong. str(err) is one line naming the key and what is expected."""


class RefDataError(GovbotError):
    """A reference-data file is broken. str(err) starts with "path:line:"."""


class UserInputError(GovbotError):
    """Input the bot must refuse politely. `msgid` is looked up in the citizen's language."""

    def __init__(self, msgid: str, **params: Any) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.params = params


class DeliveryError(GovbotError):
    """Sending failed. `retry_after` is set when the platform named a wait (HTTP 429);
    `blocked` when the citizen blocked the bot or opted out (HTTP 403, Twilio 63024...)."""

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        blocked: bool = False,
        code: str | None = None,
        unknown: bool = False,
        delivered: int = 0,
    ) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.retry_after = retry_after
        self.blocked = blocked
        self.code = code
        # The request may have arrived (a timeout): sending again may duplicate it.
        self.unknown = unknown
        # Of several replies sent in order, how many went out before this failure.
        self.delivered = delivered
