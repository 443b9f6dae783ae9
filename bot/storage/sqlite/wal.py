"""Keeping SQLite's write-ahead log small.

A passive checkpoint folds the log's pages back into the database but never shrinks the
file, and a reader holding an old snapshot stops the log from starting over: the WAL
reached 64.5 MB for a 2.1 MB database, and after a full disk was freed it took the space
back. So the checkpoint job truncates the log once it passes a limit, and every
connection sets journal_size_limit, which trims the file whenever the log starts over.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

WAL_LIMIT_BYTES = 16 * 1024 * 1024
# A TRUNCATE checkpoint holds the write lock while it waits for readers to finish their
# statement, so the bot's own writes wait as long: keep that short, retry on the next run.
TRUNCATE_WAIT_MS = 100


def wal_path(db: Path) -> Path:
    return db.with_name(db.name + "-wal")


def wal_bytes(db: Path) -> int:
    """The log's size on disk: a stat, cheap enough for every /metrics scrape."""
    try:
        return wal_path(db).stat().st_size
    except FileNotFoundError:
        return 0


async def fold(conn: aiosqlite.Connection, *, truncate: bool, wait_ms: int) -> bool:
    """One checkpoint on `conn` (not the writer: this runs on aiosqlite's thread).

    TRUNCATE waits up to `wait_ms` for readers; when one still holds a snapshot it has
    done what a PASSIVE checkpoint does, and the next run tries again. True if the
    checkpoint did all it was asked."""
    if not truncate:
        await conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return True
    await conn.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
    rows = list(await conn.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)"))
    busy, frames, folded = rows[0]
    if busy:
        log.info("WAL not truncated: a reader held it (%s of %s pages folded back)", folded, frames)
    return not busy
