"""Units of work that run in the same moment share one COMMIT (bot/storage/sqlite/units.py),
and each still behaves as if it had its own: durable when its `async with` returns, undone
alone when it fails, failed together when the COMMIT fails, and never reported undone to a
caller that was cancelled after it committed."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.crypto import DataCipher, generate_key_setting
from bot.storage.sqlite import SqliteStorage


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    store = SqliteStorage(tmp_path / "db.sqlite3", DataCipher.from_setting(generate_key_setting()))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def on_disk(storage: SqliteStorage) -> set[str]:
    """The dedupe keys another connection sees: what was committed."""
    with sqlite3.connect(storage.path) as conn:
        return {row[0] for row in conn.execute("SELECT key FROM processed_ids")}


async def mark(storage: SqliteStorage, key: str, *, fail: bool = False) -> bool:
    async with storage.transaction() as tx:
        await tx.conn.execute("INSERT INTO processed_ids VALUES (?, '')", (key,))
        if fail:
            raise RuntimeError(f"{key} failed")
    # Durable the moment the block returns, exactly as with a COMMIT of its own.
    return key in on_disk(storage)


async def test_units_of_one_moment_share_a_commit_and_are_durable_when_they_return(
    storage: SqliteStorage,
) -> None:
    before = storage.commits
    durable = await asyncio.gather(*(mark(storage, f"k{i}") for i in range(50)))
    assert all(durable)
    assert on_disk(storage) == {f"k{i}" for i in range(50)}
    assert storage.commits - before < 5  # 50 units, a handful of commits

    assert await mark(storage, "alone")  # no one else: a group of one
    assert storage.commits - before < 6


async def test_a_failing_unit_is_undone_alone(storage: SqliteStorage) -> None:
    results = await asyncio.gather(
        mark(storage, "a"), mark(storage, "b", fail=True), mark(storage, "c"),
        return_exceptions=True,
    )  # fmt: skip
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], RuntimeError)
    assert on_disk(storage) == {"a", "c"}


async def test_a_failing_first_unit_leaves_the_others_to_commit(storage: SqliteStorage) -> None:
    results = await asyncio.gather(
        mark(storage, "a", fail=True), mark(storage, "b"), return_exceptions=True
    )
    assert isinstance(results[0], RuntimeError) and results[1] is True
    assert on_disk(storage) == {"b"}


async def test_a_failing_commit_fails_every_unit_of_its_group(storage: SqliteStorage) -> None:
    async def dangling() -> None:
        # A foreign key checked only at COMMIT: the group's COMMIT fails.
        async with storage.transaction() as tx:
            await tx.conn.execute("PRAGMA defer_foreign_keys = ON")
            await tx.conn.execute(
                "INSERT INTO sessions (citizen_id, flow, state, data, updated_at)"
                " VALUES (999999, 'menu', 'main', x'00', '')"
            )

    results = await asyncio.gather(
        mark(storage, "a"), dangling(), mark(storage, "c"), return_exceptions=True
    )
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results), results
    assert on_disk(storage) == set()
    assert await mark(storage, "after")  # the writer works again at once


async def test_a_unit_cancelled_while_its_group_commits_is_not_reported_undone(
    storage: SqliteStorage,
) -> None:
    inside, gate = asyncio.Event(), asyncio.Event()
    went_on: list[str] = []

    async def cancelled_later() -> None:
        async with storage.transaction() as tx:
            await tx.conn.execute("INSERT INTO processed_ids VALUES ('b', '')")
        went_on.append("b")  # the caller learns that its step committed...
        await asyncio.sleep(0)  # ...and the cancellation arrives here

    async def holds_the_group_open() -> None:
        async with storage.transaction() as tx:
            await tx.conn.execute("INSERT INTO processed_ids VALUES ('a', '')")
            inside.set()
            await gate.wait()

    waiting = asyncio.create_task(cancelled_later())
    holding = asyncio.create_task(holds_the_group_open())
    await inside.wait()
    waiting.cancel()  # while it waits for the COMMIT that 'a' holds up
    for _ in range(3):
        await asyncio.sleep(0)
    assert not waiting.done()
    gate.set()
    await holding
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert went_on == ["b"]
    assert on_disk(storage) == {"a", "b"}


async def test_a_cancelled_commit_is_queued_again_and_nobody_waits_forever(
    storage: SqliteStorage,
) -> None:
    """Cancelling the queued COMMIT (a shutdown cancelling every task) must not leave the
    group's units waiting forever, nor roll back under a unit still under way."""
    inside, gate = asyncio.Event(), asyncio.Event()

    async def holds_the_lock() -> None:
        async with storage.transaction() as tx:
            await tx.conn.execute("INSERT INTO processed_ids VALUES ('h', '')")
            inside.set()
            await gate.wait()

    first = asyncio.create_task(mark(storage, "a"))
    holding = asyncio.create_task(holds_the_lock())  # joins, before a's COMMIT runs
    await inside.wait()
    for task in list(storage._units._committing):  # what asyncio.run's teardown does
        task.cancel()
    gate.set()
    results = await asyncio.wait_for(
        asyncio.gather(first, holding, return_exceptions=True), timeout=5
    )
    assert results == [True, None]
    assert await asyncio.wait_for(mark(storage, "after"), timeout=5)
    assert on_disk(storage) == {"a", "h", "after"}


async def test_cancelled_twice_while_committing_is_still_not_reported_undone(
    storage: SqliteStorage,
) -> None:
    inside, gate = asyncio.Event(), asyncio.Event()
    went_on: list[str] = []

    async def step() -> None:
        async with storage.transaction() as tx:
            await tx.conn.execute("INSERT INTO processed_ids VALUES ('step', '')")
        went_on.append("step")
        await asyncio.sleep(0)

    async def holds_the_group_open() -> None:
        async with storage.transaction() as tx:
            await tx.conn.execute("INSERT INTO processed_ids VALUES ('slow', '')")
            inside.set()
            await gate.wait()

    waiting = asyncio.create_task(step())
    holding = asyncio.create_task(holds_the_group_open())
    await inside.wait()
    waiting.cancel()
    await asyncio.sleep(0)
    waiting.cancel()  # a channel's stop(), then asyncio.run's teardown
    await asyncio.sleep(0)
    gate.set()
    await holding
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert went_on == ["step"]
    assert on_disk(storage) == {"slow", "step"}


async def test_closing_under_a_unit_fails_it_instead_of_hanging(tmp_path: Path) -> None:
    store = SqliteStorage(tmp_path / "db.sqlite3", DataCipher.from_setting(generate_key_setting()))
    await store.open()
    store._units.CLOSE_WAIT_SECONDS = 0.2
    gate = asyncio.Event()

    async def unit() -> None:
        async with store.transaction() as tx:
            await tx.conn.execute("INSERT INTO processed_ids VALUES ('u', '')")
            await gate.wait()  # a unit still under way when the app stops

    running = asyncio.create_task(unit())
    await asyncio.sleep(0)
    await asyncio.wait_for(store.close(), timeout=5)
    gate.set()
    with pytest.raises(RuntimeError, match="storage closed"):
        await asyncio.wait_for(running, timeout=5)
