"""Per-chat flood control: a token bucket that decides which messages are taken.

Past the burst, the dispatcher drops a chat's messages before any work or storage and
says once that it did, so one flooding chat costs the bot almost nothing and the citizen
knows to send again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float
    warned: bool = False


class FloodGate:
    def __init__(
        self,
        burst: int,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        max_chats: int = 100_000,
    ) -> None:
        self._burst = float(burst)
        self._rate = per_second
        self._clock = clock
        self._max_chats = max_chats
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, chat: str) -> tuple[bool, bool]:
        """(answer normally, send the one-off slow-down note) for a message from `chat`."""
        now = self._clock()
        bucket = self._buckets.get(chat)
        if bucket is None:
            if len(self._buckets) >= self._max_chats:
                self._forget_full(now)
            bucket = self._buckets[chat] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.stamp) * self._rate)
        bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            if bucket.tokens >= 1:
                bucket.warned = False
            return True, False
        warn = not bucket.warned
        bucket.warned = True
        return False, warn

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely: they carry no information."""
        full = [
            chat
            for chat, b in self._buckets.items()
            if b.tokens + (now - b.stamp) * self._rate >= self._burst
        ]
        for chat in full:
            del self._buckets[chat]
