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

from bot.outbound import RECOVER_SECONDS
from bot.storage import Storage, Tx
from bot.storage.base import InboxRow

log = logging.getLogger(__name__)

# A dead holder's chats wait its chat lease out: longer than the others take to send the
# answers it left (its instance lease, then a recovery round, bot/replies.py), so those
# still come first. The holder renews it while an update is handled (`_heartbeat`).
RECOVERY_MARGIN = 5.0


def chat_lease_seconds(instance_lease: float) -> float:
    return instance_lease + RECOVER_SECONDS + RECOVERY_MARGIN


LEASE_SECONDS = chat_lease_seconds(10.0)
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
                taken = await self._renew(tx, lease)
                rows = await tx.inbox.for_chat(channel, chat_key, limit=BATCH) if taken else []
            if taken:
                await self._drain(channel, chat_key, lease, rows, handle)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, WAIT_MOST)

    async def _drain(
        self, channel: str, chat_key: str, lease: str, rows: list[InboxRow], handle: HandleRow
    ) -> None:
        """The turn: every waiting row of the chat, oldest first. After each row one unit
        deletes it, renews the lease (a turn that was lost stops there) and, with the
        rows read so far done, reads what came meanwhile or gives the lease up: a turn of
        one update costs two units, this one and the one that took the lease."""
        released = False
        try:
            while rows:
                row = rows.pop(0)
                heartbeat = asyncio.create_task(self._heartbeat(lease))
                try:
                    await handle(row)
                except Exception:  # as in one instance: logged, and the row is done
                    log.exception("%s: an update failed", channel)
                finally:
                    heartbeat.cancel()
                    # Waited for without raising its cancellation: this task's own stands.
                    await asyncio.wait([heartbeat])
                async with self.storage.transaction() as tx:
                    if not await self._renew(tx, lease):
                        raise LostTurn()  # without the chat's tag: it is logged
                    await tx.inbox.delete(row.id)
                    if not rows:
                        rows = await tx.inbox.for_chat(channel, chat_key, limit=BATCH)
                        if not rows:
                            released = await tx.leases.release(lease, self.holder)
        finally:
            if not released:
                async with self.storage.transaction() as tx:
                    await tx.leases.release(lease, self.holder)

    async def _renew(self, tx: Tx, lease: str) -> bool:
        """Take or renew the chat's lease in `tx`: False when another instance has it."""
        return await tx.leases.take(lease, self.holder, seconds=self.lease_seconds)

    async def _heartbeat(self, lease: str) -> None:
        """While an update is handled (a download may take a minute), the lease is renewed
        every quarter of its length, so that no other instance takes the chat meanwhile."""
        while True:
            await asyncio.sleep(self.lease_seconds / 4)
            try:
                async with self.storage.transaction() as tx:
                    kept = await self._renew(tx, lease)
            except Exception as err:  # the renewal after the update decides
                log.warning("chat turn: renewal failed (%s)", type(err).__name__)
                continue
            if not kept:
                log.error("chat turn: lost while an update was handled")
                return

    async def left_behind(self, channel: str, *, before: datetime) -> list[InboxRow]:
        """Rows accepted before `before` and still waiting: an instance died with them, or
        is slow (then its lease keeps the sweep's turn waiting, nothing runs twice)."""
        async with self.storage.read() as tx:
            return await tx.inbox.pending(channel, before=before, limit=BATCH)
