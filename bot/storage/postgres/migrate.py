"""PostgreSQL migrations: bot/storage/migrations/postgres/NNN_name.sql, the same numbers
as SQLite's, each applied once in its own transaction and recorded in schema_migrations.

Several instances start at once against one database: an advisory lock (a fixed key)
lets one of them migrate while the others wait, then find nothing left to do.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)

# Any fixed number works; this one is "govbot" in ASCII, so it reads as ours in pg_locks.
MIGRATION_LOCK = 0x676F76626F74
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every PostgreSQL migration shipped with the package."""
    found = []
    folder = resources.files("bot.storage").joinpath("migrations", "postgres")
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply pending migrations under the advisory lock; returns the names applied here."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for version, name, sql in migration_files():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations VALUES ($1, $2, $3)",
                    version,
                    name,
                    datetime.now(UTC).isoformat(),
                )
            log.info("applied migration %s", name)
            applied.append(name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


async def connect_and_migrate(url: str) -> list[str]:
    """`govbot migrate` and start-up: one connection of its own, closed afterwards."""
    conn = await asyncpg.connect(url)
    try:
        return await migrate(conn)
    finally:
        await conn.close()
