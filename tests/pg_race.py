"""Two units of work on PostgreSQL, interleaved: the first does its part and stays open
until the second is blocked on a lock (or done), then commits. Each unit runs on its own
PostgresStorage, as two govbot instances would. What a race would break, this does every
time, without a sleep: it waits for the server to say the second unit is waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from bot.storage.postgres import PostgresStorage
from bot.storage.sql import SqlTx

A = TypeVar("A")
B = TypeVar("B")


async def waiting_for_locks(url: str) -> int:
    """Backends of this database waiting for a lock (a row, an advisory lock)."""
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            or 0
        )
    finally:
        await conn.close()


async def blocked_or_done(url: str, task: asyncio.Task[object], *, timeout: float = 10) -> bool:
    """Wait until `task` is done or waits for a lock; True if it waited."""
    async with asyncio.timeout(timeout):
        while not task.done():
            if await waiting_for_locks(url):
                return True
            await asyncio.sleep(0.005)
    return False


async def interleave(
    url: str,
    first_storage: PostgresStorage,
    second_storage: PostgresStorage,
    first: Callable[[SqlTx], Awaitable[A]],
    second: Callable[[SqlTx], Awaitable[B]],
) -> tuple[A, B, bool]:
    """(first's result, second's, whether second had to wait for first)."""
    did = asyncio.Event()
    release = asyncio.Event()

    async def run_first() -> A:
        async with first_storage.transaction() as tx:
            result = await first(tx)
            did.set()
            await release.wait()
        return result

    async def run_second() -> B:
        async with second_storage.transaction() as tx:
            return await second(tx)

    one = asyncio.create_task(run_first())
    await did.wait()
    two: asyncio.Task[B] = asyncio.create_task(run_second())
    try:
        waited = await blocked_or_done(url, two)  # type: ignore[arg-type]
    finally:
        release.set()  # whatever happened: the first unit ends, its connection returns
    return await one, await two, waited
