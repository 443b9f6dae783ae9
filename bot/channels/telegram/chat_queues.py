"""Handling's first half: updates taken from the inbox run one chat at a time, chats in
parallel, and each inbox row is deleted once every update in it was handled.

The dispatcher's per-chat lock orders steps, not what follows them: a step's replies go
out after its lock is released, and an update with files takes the lock twice (screening,
then the step). One queue per chat keeps update, replies, next update in order. Updates
taken but not yet handled are counted, so polling pauses above `MAX_IN_FLIGHT` instead of
filling memory. Handled rows are deleted in the outbox worker's next round, with others
(a crash before then replays them, and dedupe makes that a no-op).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from bot.replies import SETTLE_BATCH
from bot.storage import Tx

from .inbound import Incoming

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 2000  # updates taken but not yet handled, before polling pauses
STOP_GRACE = 5.0  # seconds the chats in progress get to finish at stop


Turn = Callable[[Incoming, int], Awaitable[None]]


class ChatQueues:
    """`turn`: with several instances, how a stored update is handled (in its chat's turn
    through the database, bot/chat_turns.py) instead of by `handle` directly."""

    def __init__(
        self,
        handle: Callable[[Incoming], Awaitable[None]],
        *,
        wake: Callable[[], None],
        turn: Turn | None = None,
    ) -> None:
        self._handle = handle
        self._turn = turn
        self._wake = wake
        self._queues: dict[int, deque[tuple[Incoming, int | None]]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._room = asyncio.Event()
        self._handled: list[int] = []  # inbox rows to delete in the outbox worker's round
        self._rows_left: dict[int, int] = {}  # an inbox row: its updates not yet handled

    def put(self, updates: list[Incoming], inbox_id: int | None) -> None:
        """Queue updates (all from inbox row `inbox_id`, if any) behind their chats'."""
        if inbox_id is not None:
            if not updates:
                self.done(inbox_id)
                return
            self._rows_left[inbox_id] = len(updates)
        for incoming in updates:
            self._in_flight += 1
            queue = self._queues.get(incoming.chat_id)
            if queue is None:
                queue = self._queues[incoming.chat_id] = deque()
                self._spawn(self._drain(incoming.chat_id, queue))
            queue.append((incoming, inbox_id))

    def has(self, inbox_id: int) -> bool:
        """Whether updates of inbox row `inbox_id` are queued here and not yet handled."""
        return inbox_id in self._rows_left

    def done(self, inbox_id: int) -> None:
        """One update of the row is handled (or needs no handling); the last deletes it."""
        left = self._rows_left.pop(inbox_id, 1) - 1
        if left > 0:
            self._rows_left[inbox_id] = left
            return
        self._handled.append(inbox_id)
        if len(self._handled) >= SETTLE_BATCH:
            self._wake()

    async def settle(self, tx: Tx) -> int:
        """The outbox worker's round: delete the handled rows, in its transaction."""
        handled, self._handled = self._handled, []
        try:
            await tx.inbox.delete_many(handled)
        except BaseException:
            self._handled[:0] = handled
            raise
        return len(handled)

    async def wait_for_room(self) -> None:
        while self._in_flight >= MAX_IN_FLIGHT:
            self._room.clear()
            await self._room.wait()

    async def wait_until_idle(self) -> None:
        """Until every update queued so far is handled and its replies sent: an event tests
        wait on, where a fixed quiet period would be slow or flaky."""
        while self._workers:
            await asyncio.wait(set(self._workers))

    async def stop(self) -> None:
        """Let the chats in progress finish; what is left stays in the inbox."""
        if not self._workers:
            return
        _, late = await asyncio.wait(set(self._workers), timeout=STOP_GRACE)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _take_turn(self, incoming: Incoming, inbox_id: int) -> None:
        """Several instances: the turn deletes the rows it handled. One that failed (the
        database away for a moment, a turn lost) leaves its row in the inbox, for the
        sweep of rows left behind, instead of having it deleted unanswered."""
        assert self._turn is not None
        try:
            await self._turn(incoming, inbox_id)
        except Exception:
            log.exception("telegram: update %s waits for a later turn", incoming.update_id)
        finally:
            self._rows_left.pop(inbox_id, None)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def _drain(self, chat_id: int, queue: deque[tuple[Incoming, int | None]]) -> None:
        try:
            while queue:
                incoming, inbox_id = queue[0]
                if self._turn is not None and inbox_id is not None:
                    await self._take_turn(incoming, inbox_id)
                else:
                    try:
                        await self._handle(incoming)
                    except Exception:
                        log.exception("telegram: update %s failed", incoming.update_id)
                    if inbox_id is not None:
                        self.done(inbox_id)
                queue.popleft()
                self._in_flight -= 1
                if self._in_flight < MAX_IN_FLIGHT // 2:
                    self._room.set()
        finally:
            del self._queues[chat_id]
            self._in_flight -= len(queue)
