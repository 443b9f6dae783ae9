"""The writer connection: plain sqlite3, run on the event loop's own thread.

Why: a conversation step makes about ten short statements. Through aiosqlite's worker
thread each one is a hand-off there and back (two thread switches and a loop wake-up),
and with the single writer lock held that hand-off, not SQLite, capped the bot at a few
hundred steps a second. In WAL mode with synchronous=NORMAL the statements themselves take
microseconds and COMMIT does not fsync, so running them inline is cheaper than waiting for
a thread. The stores still `await` each statement (database.py), which returns at once.

The loop must never wait for another process's lock: this connection has busy_timeout=0,
and the units of work (units.py) retry a busy BEGIN/COMMIT with asyncio.sleep.
Checkpoints run on a connection of their own, off the loop (wal_autocheckpoint is off here).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Generator, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

from bot.storage.sql.database import Rows, Statement

_T = TypeVar("_T")


class LoopWriter:
    """Meets `Database` for the stores; `run` and `in_transaction` for the units of work.
    A statement runs when it is called; awaiting it only hands over the result."""

    __slots__ = ("_conn",)

    def __init__(self, path: Path, pragmas: Iterable[str]) -> None:
        self._conn: sqlite3.Connection | None = sqlite3.connect(path, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        for pragma in pragmas:
            self._conn.execute(f"PRAGMA {pragma}")

    def run(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        """Execute now: the units' BEGIN, SAVEPOINT and COMMIT."""
        conn = self._conn
        if conn is None:
            raise ValueError("Connection closed")
        return conn.execute(sql, parameters)

    def execute(self, sql: str, parameters: Any = ()) -> Statement[Rows]:
        conn = self._conn  # self.run inlined: several calls a step
        if conn is None:
            raise ValueError("Connection closed")
        return _Cursor(conn.execute(sql, parameters))

    def execute_fetchall(self, sql: str, parameters: Any = ()) -> Statement[Iterable[sqlite3.Row]]:
        rows: list[sqlite3.Row] = self.run(sql, parameters).fetchall()
        return _Done(rows)

    def executemany(self, sql: str, parameters: Any) -> Statement[Rows]:
        conn = self._conn
        if conn is None:
            raise ValueError("Connection closed")
        return _Cursor(conn.executemany(sql, parameters))

    @property
    def in_transaction(self) -> bool:
        return self._conn is not None and self._conn.in_transaction

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _Done(Generic[_T]):
    """A statement that has run: awaiting it returns its result and never suspends."""

    __slots__ = ("_result",)

    def __init__(self, result: _T) -> None:
        self._result = result

    def __await__(self) -> Generator[Any, None, _T]:
        return self._result
        yield  # a generator that returns at once

    async def __aenter__(self) -> _T:
        return self._result

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class _Cursor:
    """sqlite3's cursor with the awaitable fetches of `Rows`; itself the `Statement` that
    returns it (one object per statement: this runs several times a step)."""

    __slots__ = ("_cur",)

    def __init__(self, cur: sqlite3.Cursor) -> None:
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cur.lastrowid

    def __await__(self) -> Generator[Any, None, _Cursor]:
        return self
        yield  # a generator that returns at once

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._cur.close()

    @property
    def description(self) -> Any:
        return self._cur.description

    async def fetchone(self) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._cur.fetchone()
        return row

    async def fetchall(self) -> Iterable[sqlite3.Row]:
        rows: list[sqlite3.Row] = self._cur.fetchall()
        return rows

    async def close(self) -> None:
        self._cur.close()

    async def __aiter__(self) -> AsyncIterator[sqlite3.Row]:
        for row in self._cur:
            yield row
