"""Periodic clean-up: what the bot no longer needs is deleted, not kept.

- A conversation inside a corruption report (a draft tip, or a tip opened by its receipt)
  is deleted as soon as it goes idle: such a session is the only thing that could tie a
  chat to a tip, so it must not wait for the citizen's next message.
- Other conversations are deleted a day after they went idle (until then the citizen is
  told, on their next message, that the conversation was closed).
- Processed external ids are kept a week: long enough for any platform's retries.
- Conversation replies kept for a webhook's retries go after an hour.
- Dead letters (updates that could not be parsed, kept sealed for diagnosis) after 30 days.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.config import Settings
from bot.replies import KEEP_ANSWERED
from bot.replies import PURPOSES as REPLY_PURPOSES
from bot.staff.throttle import POLICY as SIGN_IN
from bot.storage import Storage
from bot.tasks import stop_task

log = logging.getLogger(__name__)

TIP_FLOWS = ("tip", "tip_inbox")
SESSION_KEEP = timedelta(days=1)
PROCESSED_KEEP = timedelta(days=7)
DEAD_LETTER_KEEP = timedelta(days=30)


async def purge(storage: Storage, settings: Settings, now: datetime) -> dict[str, int]:
    """One clean-up round; returns how many rows of each kind went."""
    idle = timedelta(minutes=settings.session_idle_minutes)
    async with storage.transaction() as tx:
        return {
            "login_throttle": await tx.login_throttle.purge_before(now - SIGN_IN.window),
            "tip_sessions": await tx.sessions.purge_before(now - idle, flows=TIP_FLOWS),
            "sessions": await tx.sessions.purge_before(now - max(idle, SESSION_KEEP)),
            "processed_ids": await tx.processed.purge_before(now - PROCESSED_KEEP),
            "dead_letters": await tx.dead_letters.purge_before(now - DEAD_LETTER_KEEP),
            "replies": await tx.outbox.purge_replies(
                purposes=REPLY_PURPOSES, before=now - KEEP_ANSWERED
            ),
        }


class Maintenance:
    """Runs `purge` every minute while the app runs."""

    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        every_seconds: float = 60.0,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.clock = clock
        self.every_seconds = every_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="maintenance")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await purge(self.storage, self.settings, self.clock())
            except Exception:
                log.exception("clean-up round failed")
            await asyncio.sleep(self.every_seconds)
