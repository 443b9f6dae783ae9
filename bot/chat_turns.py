"""Several instances on one database: a chat's updates take turns through it.

Behind a load balancer, one chat's webhook updates reach different instances, and each
instance only knows the updates it accepted. Every update is in the inbox, with its chat
(a keyed hash), before its 200; the order of the inbox ids is the order in which they were
accepted. An instance that has an update to handle takes the chat's lease
("chat:<tag>"), then handles every waiting update of that chat, its own and the other
instances', oldest first, each with its replies, deleting each row once it is handled.
The other instances wait until their row is gone (handled by the holder) or the lease is
free. So a chat's answers go out in the order its updates were accepted, whichever
instance accepted them, and the dispatcher's dedupe key makes a repeated update (the same
one delivered to two instances) a no-op.

A holder that dies leaves its lease to expire (`LEASE_SECONDS`) and its rows in the
inbox; `ChatTurns.left_behind` finds those rows for the sweep every instance runs. With one
instance on a SQLite file, none of this runs: the in-process chat queues are enough.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.storage import Storage
from bot.storage.base import InboxRow

log = logging.getLogger(__name__)

# A dead holder's chats wait this long: longer than it takes the others to send the
# answers it left (its instance lease, then a recovery round: bot/replies.py), so those
# still come first.
LEASE_SECONDS = 20.0
BATCH = 50  # waiting rows of one chat read at a time
WAIT_FIRST, WAIT_MOST = 0.002, 0.05  # polling while another instance has the turn

HandleRow = Callable[[InboxRow], Awaitable[None]]


class LostTurn(Exception):
    """The chat's lease went to another instance while this one held it (it was paused
    past the expiry): stop, the other instance goes on from the rows left."""


class ChatTurns:
    def __init__(
        self, storage: Storage, holder: str, *, lease_seconds: float = LEASE_SECONDS
    ) -> None:
        self.storage = storage
        self.holder = holder
        self.lease_seconds = lease_seconds
        # The lease tells instances apart, not tasks of one instance: one turn per chat here.
        self._local: dict[tuple[str, str], asyncio.Lock] = {}

    async def handle(self, channel: str, chat_key: str, inbox_id: int, handle: HandleRow) -> None:
        """Return once inbox row `inbox_id` of the chat is handled, by this instance (with
        every row of the chat accepted before it) or by another."""
        local = self._local.setdefault((channel, chat_key), asyncio.Lock())
        try:
            async with local:
                await self._wait_and_take(channel, chat_key, inbox_id, handle)
        finally:
            if not local.locked():
                self._local.pop((channel, chat_key), None)

    async def _wait_and_take(
        self, channel: str, chat_key: str, inbox_id: int, handle: HandleRow
    ) -> None:
        delay = WAIT_FIRST
        while True:
            async with self.storage.transaction() as tx:
                if not await tx.inbox.waiting(inbox_id):
                    return
                lease = f"chat:{tx.inbox.chat_tag(channel, chat_key)}"
                taken = await tx.leases.take(lease, self.holder, seconds=self.lease_seconds)
            if taken:
                try:
                    await self._drain(channel, chat_key, lease, handle)
                finally:
                    async with self.storage.transaction() as tx:
                        await tx.leases.release(lease, self.holder)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, WAIT_MOST)

    async def _drain(self, channel: str, chat_key: str, lease: str, handle: HandleRow) -> None:
        """The turn: every waiting row of the chat, oldest first. The lease is renewed
        before each row (a turn that was lost stops before handling anything more) and the
        row deleted after it."""
        while True:
            async with self.storage.read() as tx:
                rows = await tx.inbox.for_chat(channel, chat_key, limit=BATCH)
            if not rows:
                return
            for row in rows:
                async with self.storage.transaction() as tx:
                    if not await tx.leases.take(lease, self.holder, seconds=self.lease_seconds):
                        raise LostTurn(lease)
                    if not await tx.inbox.waiting(row.id):
                        continue  # handled by the instance that had the turn before
                try:
                    await handle(row)
                except Exception:  # as in one instance: logged, and the row is done
                    log.exception("%s: an update failed", channel)
                async with self.storage.transaction() as tx:
                    await tx.inbox.delete(row.id)

    async def left_behind(self, channel: str, *, before: datetime) -> list[InboxRow]:
        """Rows accepted before `before` and still waiting: an instance died with them, or
        is slow (then its lease keeps the sweep's turn waiting, nothing runs twice)."""
        async with self.storage.read() as tx:
            return await tx.inbox.pending(channel, before=before, limit=BATCH)
