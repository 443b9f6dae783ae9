"""SQLite's write-ahead log stays bounded (issue 11).

The WAL grew to 64.5 MB for a 2.1 MB database and was truncated only at shutdown: passive
checkpoints fold pages back but never shrink the file, and a reader holding a snapshot
keeps the log from restarting at all. The checkpoint job is called directly here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.crypto import DataCipher, generate_key_setting
from bot.storage.sqlite import SqliteStorage
from bot.storage.sqlite.wal import WAL_LIMIT_BYTES

NOW = datetime(2026, 3, 16, 5, 0, tzinfo=UTC)
LIMIT = 1024 * 1024
KEY = "x" * 100  # a dedupe key about as long as a WhatsApp MessageSid with its prefix


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    store = SqliteStorage(tmp_path / "db.sqlite3", DataCipher.from_setting(generate_key_setting()))
    store.WAL_LIMIT_BYTES = LIMIT  # small, so that a few thousand rows pass it
    store.CHECKPOINT_SECONDS = 3600.0  # the test runs the job itself
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def wal_size(storage: SqliteStorage) -> int:
    wal = storage.path.with_name(storage.path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def write(storage: SqliteStorage, start: int, count: int) -> None:
    """`count` units of work of one cheap row each, as the dispatcher's dedupe claim."""
    for n in range(start, start + count):
        async with storage.transaction() as tx:
            await tx.processed.claim(f"{KEY}{n}", now=NOW)


async def test_the_wal_is_truncated_on_schedule_after_a_long_reader(storage: SqliteStorage) -> None:
    # A staff console page left a cursor open: the log cannot restart, so it grows.
    async with storage.read() as tx:
        cursor = await tx.conn.execute("SELECT * FROM schema_migrations")
        await cursor.fetchone()
        for start in range(0, 1500, 250):
            await write(storage, start, 250)
            await storage.checkpoint()  # waits briefly for the reader, then gives up
        await cursor.close()
    grown = wal_size(storage)
    assert grown > 4 * LIMIT, "the reader should have held the log open"

    # The reader is gone: the next run gives the space back, and the log stays small.
    for start in range(1500, 3000, 250):
        await storage.checkpoint()
        assert wal_size(storage) <= LIMIT
        await write(storage, start, 250)
    await storage.checkpoint()
    assert wal_size(storage) <= LIMIT
    async with storage.read() as tx:
        assert await tx.processed.seen(f"{KEY}2999")


async def test_every_connection_limits_the_log_it_leaves_behind(tmp_path: Path) -> None:
    # journal_size_limit: when the writer starts the log over, it trims the file to the
    # limit, even if no truncating checkpoint ever runs.
    store = SqliteStorage(tmp_path / "db.sqlite3", DataCipher.from_setting(generate_key_setting()))
    store.WAL_LIMIT_BYTES = 1 << 40  # the job never truncates: only the pragma may shrink it
    store.CHECKPOINT_SECONDS = 3600.0
    await store.open()
    try:
        written = 0
        while wal_size(store) <= WAL_LIMIT_BYTES:
            await write(store, written, 250)
            written += 250
        await store.checkpoint()  # PASSIVE: folds every page back, keeps the file
        await write(store, written, 1)  # starts the log over, then trims it
        assert wal_size(store) <= WAL_LIMIT_BYTES
    finally:
        await store.close()
