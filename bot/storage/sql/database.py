"""What the SQL stores program against: a connection's statements, awaited.

In SQLite two implementations meet it. The writer (writer.py) runs each statement on the event
loop's thread and returns at once; readers and maintenance use an aiosqlite connection,
which runs them on a thread of its own. The stores write `await db.execute(...)` either way
and need not know which connection they were given.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Generator, Iterable
from types import TracebackType
from typing import Any, Protocol, TypeVar

_T_co = TypeVar("_T_co", covariant=True)


class Rows(Protocol):
    """A cursor: the statement's rows and what it changed."""

    @property
    def rowcount(self) -> int: ...
    @property
    def lastrowid(self) -> int | None: ...
    @property
    def description(self) -> Any: ...
    async def fetchone(self) -> sqlite3.Row | None: ...
    async def fetchall(self) -> Iterable[sqlite3.Row]: ...
    async def close(self) -> None: ...
    def __aiter__(self) -> AsyncIterator[sqlite3.Row]: ...


class Statement(Protocol[_T_co]):
    """`await` it for the result, or `async with` it to close the cursor afterwards. Always
    await it: the writer runs the statement at the call, aiosqlite only when awaited."""

    def __await__(self) -> Generator[Any, None, _T_co]: ...
    async def __aenter__(self) -> _T_co: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...


class Database(Protocol):
    def execute(self, sql: str, parameters: Iterable[Any] = ...) -> Statement[Rows]: ...
    def execute_fetchall(
        self, sql: str, parameters: Iterable[Any] = ...
    ) -> Statement[Iterable[sqlite3.Row]]: ...
    def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Statement[Rows]: ...
    @property
    def in_transaction(self) -> bool: ...
