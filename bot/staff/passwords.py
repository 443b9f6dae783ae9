"""Password hashing off the event loop, a few at a time.

Argon2id takes about 36 ms of CPU on purpose. Run on the loop, 23 failed sign-ins a
second raised WhatsApp webhook latency from 59 ms to 196 ms; in worker threads the loop
keeps answering, and the semaphore keeps a flood of sign-ins from taking every core (the
hash releases the GIL) or queueing unbounded work in the default executor.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from bot.staff import accounts

HASHES_AT_ONCE = 2


class Hasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, stored: str | None, password: str) -> bool: ...


class Argon2Hasher:
    """The real one (bot/staff/accounts.py); tests pass a fake with the same two methods."""

    def hash(self, password: str) -> str:
        return accounts.hash_password(password)

    def verify(self, stored: str | None, password: str) -> bool:
        return accounts.verify_password(stored, password)


class Passwords:
    def __init__(self, *, limit: int = HASHES_AT_ONCE, hasher: Hasher | None = None) -> None:
        self._gate = asyncio.Semaphore(limit)
        self._hasher = hasher or Argon2Hasher()

    async def hash(self, password: str) -> str:
        async with self._gate:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """True if `password` matches `stored`; None (no such account) takes as long."""
        async with self._gate:
            return await asyncio.to_thread(self._hasher.verify, stored, password)
