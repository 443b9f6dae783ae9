"""SQLite backend: one writer connection behind a lock, one reader, WAL, versioned migrations.

The writer runs on the event loop's thread (see writer.py for why); each unit of work is
atomic, and the units of one moment share a COMMIT (units.py), so other chats' steps queue
for microseconds. Readers (status checks, the staff console) use an aiosqlite
connection on its own thread and never wait for the writer, thanks to WAL. Another
process holding the write lock (a CLI command) makes the loop sleep and retry, never block.
A job keeps the WAL bounded (wal.py) and notices when writes work again (writes.py).
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TypeVar

import aiosqlite

from bot.crypto import DataCipher
from bot.private import private_dir, private_file, warn_if_open
from bot.storage.sql import SqlTx
from bot.storage.sqlite.units import WriteUnits
from bot.storage.sqlite.wal import TRUNCATE_WAIT_MS, WAL_LIMIT_BYTES, fold, wal_bytes
from bot.storage.sqlite.writer import LoopWriter
from bot.storage.sqlite.writes import WriteState

log = logging.getLogger(__name__)

_C = TypeVar("_C")
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class SqliteStorage:
    CHECKPOINT_SECONDS = 2.0
    SCRUB_SECONDS = 30.0  # after scrub_soon, every checkpoint this long truncates the log
    WAL_LIMIT_BYTES = WAL_LIMIT_BYTES  # past this the checkpoint job truncates the log
    CLOSE_WAIT_MS = 10_000  # at shutdown the last TRUNCATE may wait for readers longer

    def __init__(self, path: Path, cipher: DataCipher) -> None:
        self.path = path
        self.cipher = cipher
        self._writer: LoopWriter | None = None
        self._reader: aiosqlite.Connection | None = None
        self._units = WriteUnits(lambda: self._require(self._writer), self._write_stores)
        self._maintenance: aiosqlite.Connection | None = None
        self._scrub_until: float | None = None  # checkpoints empty the log (scrub_soon)
        # The stores only hold their connection and the cipher: built once, reused by
        # every unit of work on that connection.
        self._write_tx: SqlTx | None = None
        self._read_tx: SqlTx | None = None

    async def open(self) -> None:
        # Created private before SQLite opens it: its -wal and -shm copy the file's mode.
        private_dir(self.path.parent)
        private_file(self.path)
        for suffix in ("-wal", "-shm"):
            warn_if_open(self.path.with_name(self.path.name + suffix))
        migrator = await _connect(self.path)
        try:
            await migrate(migrator)
        finally:
            await migrator.close()
        writer = LoopWriter(self.path, [*_pragmas(busy_timeout_ms=0), "wal_autocheckpoint = 0"])
        self._writer = writer
        self._reader = await _connect(self.path)
        self._write_tx = SqlTx(writer, self.cipher)
        self._read_tx = SqlTx(self._reader, self.cipher)
        # Checkpoints get a connection of their own: a reader with a cursor still open
        # (a console page iterating rows) makes a checkpoint fail with "table is locked".
        self._maintenance = await _connect(self.path)

    async def close(self) -> None:
        await self._units.close()
        if self._maintenance is not None:
            with contextlib.suppress(sqlite3.Error):
                await fold(self._maintenance, truncate=True, wait_ms=self.CLOSE_WAIT_MS)
        for conn in (self._maintenance, self._reader):
            if conn is not None:
                await conn.close()
        if self._writer is not None:
            self._writer.close()
        self._maintenance = self._reader = self._writer = None
        self._read_tx = self._write_tx = None

    def transaction(self) -> contextlib.AbstractAsyncContextManager[SqlTx]:
        """A unit of work on the writer, committed with the units of the same moment
        (units.py); its effects are durable once the `async with` returns."""
        return self._units.unit()

    @property
    def writes(self) -> WriteState:
        return self._units.writes

    @property
    def commits(self) -> int:
        """COMMITs so far: in a burst, far fewer than units of work."""
        return self._units.commits

    @property
    def write_problem(self) -> str | None:
        """Why writes fail for want of disk ("cannot-write", "read-only"), or None."""
        return self.writes.problem

    @property
    def shared(self) -> bool:
        return False  # one process writes the file

    @property
    def instance(self) -> str | None:
        return None  # one process: its start recovers everything a crash left

    def scrub_soon(self) -> None:
        # Every checkpoint for a while truncates, not just the next: rows that still hold
        # the sensitive text (a batch of raw updates, a page rewritten with the draft
        # still on it) are often deleted seconds after the step that asked.
        self._scrub_until = time.monotonic() + self.SCRUB_SECONDS

    def wal_bytes(self) -> int:
        return wal_bytes(self.path)

    async def checkpoint(self) -> None:
        """One run of the maintenance job: fold the WAL into the database file (on the
        maintenance connection's thread, not the loop), truncate it once it passes the
        limit or while writes fail (a full disk gets the log's space back), then try a
        tiny write if the last one failed."""
        failing = self.writes.problem is not None
        # Asked for after a sensitive delete (scrub_soon): an emptied log takes the old
        # copies of the deleted pages with it (secure_delete zeroes them in the file).
        scrub = self._scrub_until
        truncate = failing or scrub is not None or self.wal_bytes() > self.WAL_LIMIT_BYTES
        maintenance = self._require(self._maintenance)
        try:
            done = await fold(maintenance, truncate=truncate, wait_ms=TRUNCATE_WAIT_MS)
            # Over once the window has passed and a truncate made it (a reader holding
            # the log makes the next run try again); a later scrub_soon opens a new one.
            if done and self._scrub_until == scrub and time.monotonic() >= (scrub or 0):
                self._scrub_until = None
        finally:
            # Even when the checkpoint failed: on a full disk it cannot grow the database
            # file, yet the probe is what tells /healthz that writes work again.
            if failing:
                with contextlib.suppress(sqlite3.Error):  # recorded in self.writes
                    await self._probe_write()

    async def _probe_write(self) -> None:
        """A write that leaves nothing behind but still reaches the disk at COMMIT."""
        async with self.transaction():
            writer = self._require(self._writer)
            writer.run("INSERT OR REPLACE INTO processed_ids VALUES ('govbot:probe', '')")
            writer.run("DELETE FROM processed_ids WHERE key = 'govbot:probe'")

    async def checkpoint_job(self) -> None:
        """The periodic job (every CHECKPOINT_SECONDS, bot/jobs.py): a failed checkpoint
        is only a warning; the next run tries again."""
        try:
            await self.checkpoint()
        except sqlite3.Error as err:
            log.warning("WAL checkpoint failed (%s); will retry", err)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqlTx]:
        self._require(self._reader)
        assert self._read_tx is not None
        yield self._read_tx

    def _write_stores(self) -> SqlTx:
        assert self._write_tx is not None
        return self._write_tx

    def _require(self, conn: _C | None) -> _C:
        if conn is None:
            raise RuntimeError("storage is not open")
        return conn


async def _connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    await _configure(conn, busy_timeout_ms=10_000)
    return conn


async def _configure(conn: aiosqlite.Connection, *, busy_timeout_ms: int) -> None:
    for pragma in _pragmas(busy_timeout_ms=busy_timeout_ms):
        await conn.execute(f"PRAGMA {pragma}")


def _pragmas(*, busy_timeout_ms: int) -> tuple[str, ...]:
    """Every connection's settings, the writer's and the readers' alike."""
    return (
        "journal_mode = WAL",
        "synchronous = NORMAL",
        "foreign_keys = ON",
        f"busy_timeout = {busy_timeout_ms}",
        # Deleted rows (a tip's session) are overwritten, not left in free pages.
        "secure_delete = ON",
        # When the log starts over, its file is trimmed to this size (wal.py).
        f"journal_size_limit = {WAL_LIMIT_BYTES}",
    )


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with the package, in order."""
    found = []
    for entry in resources.files("bot.storage").joinpath("migrations", "sqlite").iterdir():
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
