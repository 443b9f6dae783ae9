"""Our own error tree; library errors are translated into these once, at each adapter's edge.

GovbotError
├── ConfigError        a setting is missing or malformed: one line, start-up stops
├── RefDataError       a file under data/ is broken: names the file and line
├── UserInputError     the citizen's input cannot be accepted: a catalog msgid to answer with
└── DeliveryError      one send attempt did not end in "sent"; the outcome is one of
                       retry after N   `retry_after` set (429): throttling, not a failure
                       blocked         `blocked`: the citizen blocked the bot or opted out
                       unknown         `unknown`: the request may have arrived (a read
                                       timeout, a dropped connection, a 5xx); repeating it
                                       may deliver twice, so only the queue that owns the
                                       message decides (campaigns never repeat it)
                       failed          otherwise; `retryable` says whether the same
                                       request may succeed later (nothing was delivered)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.i18n import Translator


class GovbotError(Exception):
    """Base of every error govbot raises on purpose."""


class ConfigError(GovbotError):
    """A setting is wrong. str(err) is one line naming the key and what is expected."""


class RefDataError(GovbotError):
    """A reference-data file is broken. str(err) starts with "path:line:"."""


class UserInputError(GovbotError):
    """Input the bot must refuse politely. `msgid` is looked up in the citizen's language;
    with `n` (a count the text states, such as its length) it is a plural message."""

    def __init__(self, msgid: str, *, n: int | None = None, **params: Any) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.n = n
        self.params = params

    def say(self, t: Translator, **context: Any) -> str:
        """The refusal in `t`'s language; numbers are written as that language writes them,
        so "4 001 символ" and its limit "4 000" read alike. `context`: what the dispatcher
        knows and the step may not (how many options are on screen)."""
        params = {k: _number(t, v) for k, v in {**context, **self.params}.items()}
        if self.n is None:
            return t.gettext(self.msgid, **params)
        return t.ngettext(self.msgid, self.msgid, self.n, **params)


def _number(t: Translator, value: Any) -> Any:
    return t.number(value) if isinstance(value, int) and not isinstance(value, bool) else value


class DeliveryError(GovbotError):
    """Sending did not succeed. A sender makes one attempt and raises this to say how it
    ended; it never tries again itself (one owner per retry: the queue that owns the row).

    `retry_after` is set when the platform named a wait (HTTP 429); `blocked` when the
    citizen blocked the bot or opted out (HTTP 403, Twilio 63024...); `unknown` when the
    request may have reached the platform although no answer said so. `delivered` counts
    the leading replies of a batch that were fully sent before this one failed, so a caller
    hands on only the rest."""

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        blocked: bool = False,
        unknown: bool = False,
        code: str | None = None,
        delivered: int = 0,
    ) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.retry_after = retry_after
        self.blocked = blocked
        self.unknown = unknown
        self.code = code
        self.delivered = delivered
