"""Periodic clean-up: what the bot no longer needs is deleted, not kept.

- A conversation inside a corruption report (a draft tip, or a tip opened by its receipt)
  is deleted as soon as it goes idle: such a session is the only thing that could tie a
  chat to a tip, so it must not wait for the citizen's next message.
- Other conversations, and the drafts in them, are deleted DRAFT_KEEP_DAYS after they went
  idle (until then the citizen's next message offers to continue the draft); a question
  the bot asked on its own (`lasting`: was the problem solved?) waits LASTING_KEEP.
- Staff console sessions once they have ended (idle, or too long after sign-in): the
  console refuses them anyway, but an investigator's holds the tip key (wrapped under
  the cookie's session id).
- Processed external ids are kept a week: long enough for any platform's retries.
- Conversation replies kept for a webhook's retries go after an hour.
- Dead letters (updates that could not be parsed, kept sealed for diagnosis) after 30 days.
- Attachment files no draft, ticket or campaign refers to, once older than the longest a
  draft can live (`draft_lifetime`): files of cancelled or expired drafts and of refused
  uploads. Checked hourly (`sweep_files`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from bot.attachments import AttachmentStore
from bot.config import Settings
from bot.crypto import DecryptionError
from bot.jobs import Jobs
from bot.outbound import TIP_MESSAGE
from bot.replies import KEEP_ANSWERED
from bot.replies import PURPOSES as REPLY_PURPOSES
from bot.staff.records import SESSION_IDLE
from bot.staff.throttle import POLICY as SIGN_IN
from bot.storage import Storage

log = logging.getLogger(__name__)

# Longer than the 10 working days in which "not solved" reopens a ticket, holidays included.
LASTING_KEEP = timedelta(days=30)
# Deletes of what only a tip's conversation or an investigator's key holds.
SCRUBBED = ("tip_sessions", "replies", "staff_sessions", "lookups")
PROCESSED_KEEP = timedelta(days=7)
DEAD_LETTER_KEEP = timedelta(days=30)
SWEEP_EVERY = timedelta(hours=1)


def draft_lifetime(settings: Settings) -> timedelta:
    """How long an idle conversation (and the draft in it) is kept: `purge` deletes it then."""
    return max(
        timedelta(minutes=settings.session_idle_minutes), timedelta(days=settings.draft_keep_days)
    )


async def purge(
    storage: Storage,
    settings: Settings,
    now: datetime,
    *,
    sensitive: Sequence[str],
    lasting: Sequence[str] = (),
) -> dict[str, int]:
    """One clean-up round; returns how many rows of each kind went. A conversation in a
    `sensitive` flow (a corruption report) goes as soon as it is idle."""
    idle = timedelta(minutes=settings.session_idle_minutes)
    async with storage.transaction() as tx:
        counts = {
            "login_throttle": await tx.login_throttle.purge_before(now - SIGN_IN.window),
            "lookups": await tx.lookups.purge_before(now),
            "media_tokens": await tx.media_tokens.purge_before(now),
            "staff_sessions": await tx.staff.purge_sessions(
                seen_before=now - SESSION_IDLE,
                opened_before=now - timedelta(hours=settings.staff_session_hours),
            ),
            "tip_sessions": await tx.sessions.purge_before(now - idle, flows=tuple(sensitive)),
            "sessions": await tx.sessions.purge_before(
                now - draft_lifetime(settings), keep=tuple(lasting)
            ),
            "lasting_sessions": await tx.sessions.purge_before(
                now - LASTING_KEEP, flows=tuple(lasting)
            )
            if lasting
            else 0,
            "processed_ids": await tx.processed.purge_before(now - PROCESSED_KEEP),
            "dead_letters": await tx.dead_letters.purge_before(now - DEAD_LETTER_KEEP),
            "replies": await tx.outbox.purge_replies(
                purposes=(*REPLY_PURPOSES, TIP_MESSAGE), before=now - KEEP_ANSWERED
            ),
        }
    if any(counts[kind] for kind in SCRUBBED):
        storage.scrub_soon()  # their older copies leave the write-ahead log too
    return counts


async def sweep_files(
    storage: Storage, attachments: AttachmentStore, settings: Settings, now: datetime
) -> int:
    """Delete attachment files nothing refers to that are older than a draft can live;
    returns how many went.

    A file younger than that may belong to a draft still being written (or to the step
    that is storing it right now), so only the age lets a file go, and only if no draft,
    ticket or campaign refers to it: a conversation kept busy for longer keeps its files.
    """
    cutoff = now - draft_lifetime(settings)
    old = await asyncio.to_thread(attachments.older_than, cutoff)
    gone = await asyncio.to_thread(attachments.drop_leftovers, cutoff)
    if not old:
        return gone
    try:
        async with storage.read() as tx:
            kept = await tx.blobs.referenced(old)
    except DecryptionError:
        # A draft that does not open might hold any of them: delete nothing this time.
        log.warning("attachment clean-up skipped: a conversation could not be decrypted")
        return gone
    for blob_id in old:
        if blob_id not in kept:
            await attachments.adelete(blob_id)
            gone += 1
    return gone


class Maintenance:
    """`purge` every minute, and `sweep_files` every hour: a job on the runtime's scheduler
    (bot/jobs.py) while the app runs."""

    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        *,
        sensitive: Sequence[str],
        lasting: Sequence[str] = (),
        attachments: AttachmentStore | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        every_seconds: float = 60.0,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.sensitive = tuple(sensitive)
        self.lasting = tuple(lasting)
        self.attachments = attachments
        self.clock = clock
        self.every_seconds = every_seconds
        self._jobs: Jobs | None = None
        self._swept: datetime | None = None

    def start(self, jobs: Jobs) -> None:
        self._jobs = jobs
        # Leader-only: one instance cleans up for all (bot/leases.py).
        jobs.every(self.every_seconds, self.round, name="maintenance", now=True, leader=True)

    def stop(self) -> None:
        if self._jobs is not None:
            self._jobs.remove("maintenance")
            self._jobs = None

    async def round(self) -> None:
        now = self.clock()
        await purge(
            self.storage, self.settings, now, sensitive=self.sensitive, lasting=self.lasting
        )
        due = self._swept is None or now - self._swept >= SWEEP_EVERY
        if self.attachments is not None and due:
            self._swept = now
            await sweep_files(self.storage, self.attachments, self.settings, now)
