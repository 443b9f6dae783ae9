"""Advisory locks by name, for the read-then-write units that have no row to lock yet.

A name is hashed to PostgreSQL's 64-bit key (`dialect.lock_key`); the lock lasts until the
unit commits or rolls back. On SQLite nothing is sent: its single writer already runs
units one at a time.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.storage.sql.database import Database
from bot.storage.sql.dialect import Dialect, lock_key


async def lock_names(conn: Database, dialect: Dialect, names: Iterable[str]) -> None:
    """Wait for, then hold until the unit ends, the lock of every name (sorted by key, so
    two units that want the same names never wait for each other in a circle)."""
    keys = sorted({lock_key(name) for name in names})
    sql = dialect.advisory_lock(len(keys))
    if sql is not None:
        await conn.execute(sql, keys)
