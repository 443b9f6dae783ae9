"""PostgreSQL backend: a pool of asyncpg connections, one per unit of work.

Several govbot instances share one database, so units of work run side by side (READ
COMMITTED) rather than one at a time as in SQLite; the stores lock what a write depends on
(`Dialect.postgres`). Each unit is BEGIN … COMMIT on a pooled connection, handed to the
same SQL stores as SQLite's (bot/storage/sql/) through `PgConnection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from bot.crypto import DataCipher
from bot.storage.postgres.database import PgConnection
from bot.storage.postgres.migrate import connect_and_migrate
from bot.storage.sql import SqlTx
from bot.storage.sql.dialect import POSTGRES

log = logging.getLogger(__name__)

# SQLSTATEs that mean "no room to write", as SQLite's full disk and read-only file.
_WRITE_PROBLEMS = {"53100": "cannot-write", "25006": "read-only"}


class PostgresStorage:
    def __init__(self, url: str, cipher: DataCipher, *, pool_size: int = 10) -> None:
        self.url = url
        self.cipher = cipher
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._write_problem: str | None = None
        self.commits = 0

    async def open(self) -> None:
        await connect_and_migrate(self.url)
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self.pool_size)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlTx]:
        """BEGIN on a pooled connection; COMMIT on normal exit, ROLLBACK on an exception.
        Durable once the `async with` returns, like SQLite's units."""
        async with self._require().acquire() as conn:
            await conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            try:
                yield SqlTx(PgConnection(conn), self.cipher, POSTGRES)
            except BaseException as err:
                self._note(err)
                await _rollback(conn)
                raise
            cancels = await self._commit(conn)
        # Delivered once the connection is back in the pool, at the caller's next await.
        task = asyncio.current_task()
        if cancels and task is not None:
            for _ in range(cancels):
                task.uncancel()
            for _ in range(cancels):
                task.cancel()

    async def _commit(self, conn: asyncpg.Connection) -> int:
        """COMMIT, shielded: a cancellation that arrives meanwhile waits for the outcome,
        and if the unit committed it is delivered at the caller's next await. The caller
        must not take a committed step (a numbered answer, a claimed row) for undone.
        Returns the cancellations held back."""
        task = asyncio.current_task()
        assert task is not None
        before = task.cancelling()
        commit = asyncio.ensure_future(conn.execute("COMMIT"))
        while not commit.done():
            with contextlib.suppress(BaseException):  # the outcome is read from `commit`
                await asyncio.shield(commit)
        cancels = task.cancelling() - before
        failure = commit.exception()
        if failure is not None:
            self._note(failure)
            await _rollback(conn)
            if cancels:
                raise asyncio.CancelledError()  # nothing committed: the cancellation stands
            raise failure
        self.commits += 1
        self._write_problem = None
        return cancels

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqlTx]:
        """A pooled connection in autocommit: each read sees what was committed."""
        async with self._require().acquire() as conn:
            yield SqlTx(PgConnection(conn), self.cipher, POSTGRES)

    def scrub_soon(self) -> None:
        """Nothing to do: PostgreSQL's WAL segments are recycled by the server and its
        dead row versions go at VACUUM; there is no log file of ours to truncate sooner."""

    @property
    def write_problem(self) -> str | None:
        """Why the last write failed for want of disk ("cannot-write", "read-only"), or
        None; cleared by the next COMMIT that succeeds."""
        return self._write_problem

    def wal_bytes(self) -> int:
        return 0  # the server's WAL is the server's: /metrics shows none of ours

    def _note(self, err: BaseException) -> None:
        problem = _WRITE_PROBLEMS.get(getattr(err, "sqlstate", None) or "")
        cause = err.__cause__
        if problem is None and cause is not None:
            problem = _WRITE_PROBLEMS.get(getattr(cause, "sqlstate", None) or "")
        if problem is not None:
            self._write_problem = problem

    def _require(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("storage is not open")
        return self._pool


async def _rollback(conn: asyncpg.Connection) -> None:
    """Roll back if a transaction is open; a failure here must not hide the first one
    (the pool resets or discards a connection left in a bad state)."""
    if conn.is_closed() or not conn.is_in_transaction():
        return
    try:
        await asyncio.shield(conn.execute("ROLLBACK"))
    except (asyncpg.PostgresError, OSError, asyncio.CancelledError) as err:
        log.error("ROLLBACK failed (%s)", type(err).__name__)
