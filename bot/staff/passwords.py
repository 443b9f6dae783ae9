"""Password hashing off the event loop, a few at a time, with a bounded queue.

Argon2id takes about 36 ms of CPU on purpose. Run on the loop, 23 failed sign-ins a
second raised WhatsApp webhook latency from 59 ms to 196 ms; in worker threads the loop
keeps answering, and the semaphore keeps a flood of sign-ins from taking every core (the
hash releases the GIL) or queueing unbounded work in the default executor. Checks wait
in a queue of bounded length: with 200 queued the owner's sign-in took 2.3 s, so beyond
the bound a check is refused at once (`Busy`) and the page asks to try again shortly.
Only checks are bounded: anyone can send one, a new password is hashed for staff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from bot.staff import accounts

HASHES_AT_ONCE = 2
WAITING_AT_MOST = 32


class Busy(Exception):
    """Every place in the queue is taken: the password was not checked."""


class Hasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, stored: str | None, password: str) -> bool: ...


class Argon2Hasher:
    """The real one (bot/staff/accounts.py); tests pass a fake with the same two methods."""

    def hash(self, password: str) -> str:
        return accounts.hash_password(password)

    def verify(self, stored: str | None, password: str) -> bool:
        return accounts.verify_password(stored, password)


@dataclass(frozen=True, slots=True)
class Place:
    """A place in the queue: its check runs once one of the hashing slots is free."""

    gate: asyncio.Semaphore
    hasher: Hasher

    async def verify(self, stored: str | None, password: str) -> bool:
        """True if `password` matches `stored`; None (no such account) takes as long."""
        async with self.gate:
            return await asyncio.to_thread(self.hasher.verify, stored, password)


class Passwords:
    def __init__(
        self,
        *,
        limit: int = HASHES_AT_ONCE,
        waiting: int = WAITING_AT_MOST,
        hasher: Hasher | None = None,
    ) -> None:
        self._gate = asyncio.Semaphore(limit)
        self._room = limit + waiting
        self._taken = 0
        self._hasher = hasher or Argon2Hasher()

    @contextmanager
    def place(self) -> Iterator[Place]:
        """Take a place in the queue (hashing or waiting), or raise `Busy` at once.

        Taken before anything else is done for the request, so a refused one costs nothing.
        """
        if self._taken >= self._room:
            raise Busy
        self._taken += 1
        try:
            yield Place(self._gate, self._hasher)
        finally:
            self._taken -= 1

    async def hash(self, password: str) -> str:
        async with self._gate:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        with self.place() as place:
            return await place.verify(stored, password)
