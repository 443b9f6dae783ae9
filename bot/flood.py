"""Per-chat flood control: the pacing module's chat buckets decide which messages are taken.

Past the burst, the dispatcher drops a chat's messages before any work or storage and
says once that it did, so one flooding chat costs the bot almost nothing and the citizen
knows to send again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.pacing import ChatBuckets


class FloodGate:
    def __init__(
        self,
        burst: int,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        max_chats: int = 100_000,
    ) -> None:
        self._buckets = ChatBuckets(per_second, float(burst), clock, max_chats=max_chats)
        self._warned: set[str] = set()

    def admit(self, chat: str) -> tuple[bool, bool]:
        """(answer normally, send the one-off slow-down note) for a message from `chat`."""
        if chat not in self._buckets:  # forgotten when full: nothing to remember
            self._warned.discard(chat)
        if self._buckets.take(chat) == 0:
            if self._buckets.tokens(chat) >= 1:
                self._warned.discard(chat)
            return True, False
        if chat in self._warned:
            return False, False
        if len(self._warned) >= self._buckets.max_chats:
            self._warned = {c for c in self._warned if c in self._buckets}
        self._warned.add(chat)
        return False, True
