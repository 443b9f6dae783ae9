"""Setting an update aside: what the adapter does with an update it cannot take.

The row goes to the dead_letters table (a leftover inbox row moves there as it is stored,
sealed), the `govbot_dead_letters{channel,reason}` counter goes up and one log line says
why. Neither the row nor the log holds content in clear: our own parse errors name the
field, any other exception is named by its class only, since its text may quote the
citizen's message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime

from bot.domain import Channel
from bot.metrics import Metrics
from bot.safejson import JsonTooDeep
from bot.storage import Storage

from .inbound import MalformedUpdate

log = logging.getLogger(__name__)

CHANNEL = Channel.TELEGRAM.value
_SAYS_WHERE = (MalformedUpdate, JsonTooDeep)  # their text names a field, never a value


class DeadLetters:
    """Where the adapter sets aside an update it cannot take."""

    def __init__(self, storage: Storage, metrics: Metrics, clock: Callable[[], datetime]) -> None:
        self.storage = storage
        self.metrics = metrics
        self.clock = clock

    async def set_aside(
        self,
        error: Exception | str,
        *,
        raw: bytes | None = None,
        inbox_id: int | None = None,
        update_id: int | None = None,
    ) -> None:
        """Record a dead letter for `raw` (or move inbox row `inbox_id`) and count it."""
        label, reason = describe(error)
        now = self.clock()
        async with self.storage.transaction() as tx:
            if inbox_id is not None:
                await tx.dead_letters.adopt(inbox_id, reason, now=now)
            else:
                await tx.dead_letters.add(CHANNEL, reason, raw, now=now)
        self.metrics.dead_letters.labels(CHANNEL, label).inc()
        log.warning(
            "telegram: malformed update %s set aside as a dead letter (%s)", update_id, reason
        )


def describe(error: Exception | str) -> tuple[str, str]:
    """(metric label, stored reason) of an error, or of a reason already named."""
    if isinstance(error, str):
        return error, error
    label = type(error).__name__
    if isinstance(error, _SAYS_WHERE):
        return label, f"{label}: {error}"
    return label, label


def update_id_of(update: object) -> int | None:
    """The update's id for a log line, if it is a plausible one."""
    value = update.get("update_id") if isinstance(update, dict) else None
    return value if type(value) is int and 0 <= value < 2**63 else None


def encoded(update: object) -> bytes | None:
    """A polled update (already parsed by the library) as JSON again, to be kept sealed."""
    try:
        return json.dumps(update).encode()
    except (TypeError, ValueError):
        return None
