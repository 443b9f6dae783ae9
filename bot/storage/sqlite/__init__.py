"""SQLite backend: one writer connection behind a lock, one reader, WAL, versioned migrations.

aiosqlite runs each connection on its own thread; a single writer with BEGIN IMMEDIATE
keeps a step's effects atomic while other chats' steps queue for a few hundred
microseconds. Readers (status checks, the staff console) use a second connection and
never wait for writers, thanks to WAL.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import aiosqlite

from bot.crypto import DataCipher
from bot.storage.sqlite.core import (
    SqliteCitizenStore,
    SqliteLookupGuard,
    SqliteProcessedStore,
    SqliteSessionStore,
)
from bot.storage.sqlite.inbox import SqliteInboxStore
from bot.storage.sqlite.outbox import SqliteOutboxStore
from bot.storage.sqlite.tickets import SqliteTicketStore
from bot.storage.sqlite.tips import SqliteTipStore

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class SqliteTx:
    """The stores of one unit of work, all on the same connection."""

    def __init__(self, conn: aiosqlite.Connection, cipher: DataCipher) -> None:
        self.conn = conn
        self.cipher = cipher
        self.citizens = SqliteCitizenStore(conn, cipher)
        self.sessions = SqliteSessionStore(conn, cipher)
        self.processed = SqliteProcessedStore(conn)
        self.tickets = SqliteTicketStore(conn, cipher)
        self.lookups = SqliteLookupGuard(conn)
        self.tips = SqliteTipStore(conn, cipher)
        self.outbox = SqliteOutboxStore(conn, cipher)
        self.inbox = SqliteInboxStore(conn, cipher)


class SqliteStorage:
    def __init__(self, path: Path, cipher: DataCipher) -> None:
        self.path = path
        self.cipher = cipher
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await _connect(self.path)
        await migrate(self._writer)
        self._reader = await _connect(self.path)
        await self._reader.execute("PRAGMA query_only = ON")

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTx]:
        conn = self._require(self._writer)
        async with self._write_lock:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteTx(conn, self.cipher)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqliteTx]:
        conn = self._require(self._reader)
        yield SqliteTx(conn, self.cipher)

    def _require(self, conn: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if conn is None:
            raise RuntimeError("storage is not open")
        return conn


async def _connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    for pragma in (
        "journal_mode = WAL",
        "synchronous = NORMAL",
        "foreign_keys = ON",
        "busy_timeout = 10000",
        # Deleted rows (a tip's session) are overwritten, not left in free pages.
        "secure_delete = ON",
    ):
        await conn.execute(f"PRAGMA {pragma}")
    return conn


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with the package, in order."""
    found = []
    for entry in resources.files("bot.storage").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


async def migrate(conn: aiosqlite.Connection) -> list[str]:
    """Apply pending migrations, each in its own transaction; returns the names applied."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    async with conn.execute("SELECT version FROM schema_migrations") as cur:
        done = {row[0] for row in await cur.fetchall()}
    applied = []
    for version, name, sql in migration_files():
        if version in done:
            continue
        now = datetime.now(UTC).isoformat()
        script = (
            f"BEGIN IMMEDIATE;\n{sql}\n"
            f"INSERT INTO schema_migrations VALUES ({version}, '{name}', '{now}');\nCOMMIT;"
        )
        try:
            await conn.executescript(script)
        except Exception:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
        log.info("applied migration %s", name)
        applied.append(name)
    return applied


async def open_and_migrate(path: Path) -> list[str]:
    """`govbot migrate`: apply pending migrations to the database file at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = await _connect(path)
    try:
        return await migrate(conn)
    finally:
        await conn.close()
