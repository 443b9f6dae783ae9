"""Token buckets for broadcast pacing: one per channel overall, and a spacing per chat.

A rate of 0 means unlimited. The overall bucket holds a tenth of a second of tokens (at
least one), so a broadcast never bursts past the platform's limit. The per-chat pacer
remembers when each chat may next receive a broadcast message; entries expire as soon as
they no longer restrict anything, so it stays small.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self, rate: float, *, burst: float | None = None, clock: Callable[[], float] | None = None
    ) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate / 10)
        self._clock = clock or time.monotonic
        self._tokens = self.capacity
        self._stamp = self._clock()
        self._paused_until = 0.0

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def _refill(self) -> float:
        now = self._clock()
        if now > self._stamp:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
        return now

    def available(self) -> int:
        """Whole tokens available right now (a large number when unlimited)."""
        if self.unlimited:
            return 1 << 30
        now = self._refill()
        if now < self._paused_until:
            return 0
        return int(self._tokens)

    def take(self, n: int) -> None:
        if not self.unlimited:
            self._refill()
            self._tokens -= n

    def pause(self, seconds: float) -> None:
        """A 429: nothing more until `seconds` from now (Telegram's retry_after)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._tokens = min(self._tokens, 0.0)

    def wait_time(self) -> float:
        """Seconds until at least one token is available."""
        if self.unlimited:
            return 0.0
        now = self._refill()
        pause = max(0.0, self._paused_until - now)
        missing = max(0.0, 1.0 - self._tokens) / self.rate
        return max(pause, missing)

    async def wait(self) -> None:
        # Tokens arrive with time, not with an event: sleeping until the next one is exact.
        while (delay := self.wait_time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(delay)


class ChatPacer:
    """At most `rate` broadcast messages a second to any one chat (keyed by citizen id)."""

    def __init__(self, rate: float, *, clock: Callable[[], float] | None = None) -> None:
        self.gap = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock or time.monotonic
        self._next: dict[int, float] = {}
        self._swept = self._clock()

    def wait_for(self, citizen_id: int) -> float:
        """Seconds until this chat may be sent to; 0 when it may now."""
        if not self.gap:
            return 0.0
        ready = self._next.get(citizen_id)
        return max(0.0, ready - self._clock()) if ready is not None else 0.0

    def sent(self, citizen_id: int) -> None:
        if not self.gap:
            return
        now = self._clock()
        self._next[citizen_id] = now + self.gap
        if now - self._swept > 5 * self.gap + 1:
            self._next = {k: v for k, v in self._next.items() if v > now}
            self._swept = now
