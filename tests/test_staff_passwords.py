"""Password hashing stays off the event loop: failed sign-ins must not stall webhooks.

Regression test for the hardening issue: 23 failed sign-ins a second (Argon2id, ~36 ms
each, on the loop) raised WhatsApp webhook latency from 59 ms to 196 ms.
"""

from __future__ import annotations

import asyncio
import threading

import httpx

from bot.staff.accounts import hash_password, verify_password
from bot.staff.passwords import Passwords
from tests.staff import console, sign_in


class GatedHasher:
    """Argon2id for real, but each verification waits for the test to open the gate.

    It counts how many run at once; the wait has a bound so that a hasher running on the
    loop thread (the bug) makes the test fail instead of hang.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.gate = threading.Event()
        self.entered = asyncio.Event()
        self.finished = 0
        self.inside = 0
        self.most = 0
        self._lock = threading.Lock()
        self._loop = loop

    def hash(self, password: str) -> str:
        return hash_password(password)

    def verify(self, stored: str | None, password: str) -> bool:
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        self._loop.call_soon_threadsafe(self.entered.set)
        self.gate.wait(timeout=3)
        try:
            return verify_password(stored, password)
        finally:
            with self._lock:
                self.inside -= 1
                self.finished += 1


async def test_the_loop_answers_while_failed_sign_ins_are_hashing(settings, clock):
    async with console(settings, clock) as c:
        hasher = GatedHasher(asyncio.get_running_loop())
        c.runtime.passwords = Passwords(limit=2, hasher=hasher)
        logins = asyncio.gather(
            *(sign_in(c.client(ip=f"10.3.0.{n}"), f"nobody{n}", "wrong") for n in range(1, 9))
        )
        await hasher.entered.wait()
        health = await c.client().get("/healthz")
        assert health.status_code == 200
        assert hasher.finished == 0  # answered while every password check was still running
        hasher.gate.set()
        assert [r.status_code for r in await logins] == [401] * 8
        assert hasher.most <= 2


async def _first(tasks: list[asyncio.Task[httpx.Response]], n: int) -> list[httpx.Response]:
    """The first `n` answers; a bound so that a queue without a limit fails, not hangs."""
    done: set[asyncio.Task[httpx.Response]] = set()
    async with asyncio.timeout(10):
        while len(done) < n:
            finished, _ = await asyncio.wait(
                [t for t in tasks if t not in done], return_when=asyncio.FIRST_COMPLETED
            )
            done |= finished
    return [t.result() for t in done]


async def test_a_flood_beyond_the_hash_queue_is_refused_at_once(settings, clock):
    """Regression test: 200 queued sign-ins with random names made the owner's take 2.3 s."""
    async with console(settings, clock) as c:
        hasher = GatedHasher(asyncio.get_running_loop())
        c.runtime.passwords = Passwords(limit=2, hasher=hasher)
        flood = 2 + 32 + 6  # two hashing, thirty-two waiting, six more
        tasks = [
            asyncio.create_task(
                sign_in(c.client(lang="kk", ip=f"10.4.0.{n}"), f"nobody{n}", "wrong")
            )
            for n in range(1, flood + 1)
        ]
        try:
            refused = await _first(tasks, 6)
            assert hasher.finished == 0  # answered while the queue was still full
        finally:
            hasher.gate.set()
        assert [r.status_code for r in refused] == [503] * 6
        assert all(r.headers["retry-after"].isdigit() for r in refused)
        assert "Сервер" in refused[0].text
        answers = [await t for t in tasks]
        assert sorted(r.status_code for r in answers) == [401] * 34 + [503] * 6
        assert hasher.most <= 2


async def test_passwords_hash_and_verify_off_the_loop():
    passwords = Passwords(limit=1)
    stored = await passwords.hash("correct horse battery")
    assert await passwords.verify(stored, "correct horse battery")
    assert not await passwords.verify(stored, "wrong")
    assert not await passwords.verify(None, "anything")
