"""A full disk without root: SQLite's max_page_count on the writer connection.

`fill` caps the database at the pages it has and uses up what is free in them, so a
write that needs a new page fails with SQLITE_FULL ("database or disk is full"), as on a
full disk. `free` lifts the cap: space has come back.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from bot.storage.records import SessionRecord
from bot.storage.sqlite import SqliteStorage
from bot.storage.sqlite.writer import LoopWriter

NO_CAP = 4_294_967_294


def _writer(storage: SqliteStorage) -> LoopWriter:
    writer = storage._writer  # max_page_count is a setting of the connection that writes
    assert writer is not None, "storage is not open"
    return writer


async def fill(storage: SqliteStorage) -> int:
    """Cap the file at its size, then add rows until one does not fit; returns how many."""
    writer = _writer(storage)
    pages = writer.run("PRAGMA page_count").fetchone()[0]
    writer.run(f"PRAGMA max_page_count = {pages}")
    now = datetime(2026, 3, 16, tzinfo=UTC)
    for n in range(100_000):
        try:
            async with storage.transaction() as tx:
                await tx.processed.claim(f"filler-{n:06}-" + "f" * 400, now=now)
        except sqlite3.OperationalError as err:
            assert err.sqlite_errorcode == sqlite3.SQLITE_FULL, err
            return n
    raise AssertionError("the database never filled up")


def free(storage: SqliteStorage) -> None:
    _writer(storage).run(f"PRAGMA max_page_count = {NO_CAP}")


async def write_a_page(storage: SqliteStorage) -> None:
    """A unit of work that needs new pages (20 KB of session data): fails while full."""
    now = datetime(2026, 3, 16, tzinfo=UTC)
    async with storage.transaction() as tx:
        citizen, _ = await tx.citizens.get_or_create("console", "disk-probe", now=now)
        record = SessionRecord(citizen.id, "menu", "main", {"blob": "x" * 20_000})
        await tx.sessions.save(record, now=now)
