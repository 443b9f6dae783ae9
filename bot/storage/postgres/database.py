"""One asyncpg connection as the `Database` the SQL stores program against.

The stores write `?`/`:name` placeholders (translated once per statement by
placeholders.py), read rows by name or index (asyncpg's Record does both) and ask a
cursor for `rowcount`. Statements run through asyncpg's statement cache: `fetch` for
those that return rows (their count is the rows'), `execute` for the others (the count
comes from the command status, "UPDATE 3"). `lastrowid` does not exist here: a store that
needs the new id says RETURNING id.

Constraint violations become `sqlite3.IntegrityError`, the error the stores already catch
(the `Database` protocol's vocabulary); the asyncpg error is its cause. PostgreSQL's text
cannot hold U+0000, which SQLite's can: a NUL in a text parameter (a hostile reference in
a URL) becomes U+FFFD, so a lookup finds nothing instead of failing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterable, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

import asyncpg

from bot.storage.postgres.placeholders import translate

_T = TypeVar("_T")


class PgRows:
    """A statement's rows, already fetched, and how many rows it touched."""

    __slots__ = ("_next", "_rows", "rowcount")

    def __init__(self, rows: Sequence[Any], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    @property
    def lastrowid(self) -> int | None:
        raise NotImplementedError(
            "PostgreSQL has no lastrowid: write the INSERT with RETURNING id and read the row"
        )

    @property
    def description(self) -> Any:
        if not self._rows:
            return None
        names = self._rows[0].keys()  # a Record iterates its values, not its names
        return tuple((name, None, None, None, None, None, None) for name in names)

    async def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        row = self._rows[self._next]
        self._next += 1
        return row

    async def fetchall(self) -> list[Any]:
        rest = list(self._rows[self._next :])
        self._next = len(self._rows)
        return rest

    async def close(self) -> None:
        self._next = len(self._rows)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while (row := await self.fetchone()) is not None:
            yield row


class PgStatement(Generic[_T]):
    """Awaited, or used with `async with`: the statement runs when first asked."""

    __slots__ = ("_run",)

    def __init__(self, run: Callable[[], Coroutine[Any, Any, _T]]) -> None:
        self._run = run

    def __await__(self) -> Generator[Any, None, _T]:
        return self._run().__await__()

    async def __aenter__(self) -> _T:
        return await self._run()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class PgConnection:
    """The `Database` over one asyncpg connection (pooled, one unit of work at a time)."""

    __slots__ = ("raw",)

    def __init__(self, raw: asyncpg.Connection) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Iterable[Any] = ()) -> PgStatement[PgRows]:
        return PgStatement(lambda: self._execute(sql, parameters))

    def execute_fetchall(self, sql: str, parameters: Iterable[Any] = ()) -> PgStatement[list[Any]]:
        async def run() -> list[Any]:
            return await (await self._execute(sql, parameters)).fetchall()

        return PgStatement(run)

    def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> PgStatement[PgRows]:
        async def run() -> PgRows:
            statement = translate(sql)
            rows = [_without_nul(statement.arguments(p)) for p in parameters]
            if rows:
                with _integrity_errors():
                    await self.raw.executemany(statement.sql, rows)
            return PgRows((), -1)  # asyncpg reports no count for a batch

        return PgStatement(run)

    @property
    def in_transaction(self) -> bool:
        return bool(self.raw.is_in_transaction())

    async def _execute(self, sql: str, parameters: Iterable[Any]) -> PgRows:
        statement = translate(sql)
        args = _without_nul(statement.arguments(parameters))
        with _integrity_errors():
            if statement.returns_rows:
                rows = await self.raw.fetch(statement.sql, *args)
                return PgRows(rows, len(rows))
            status = await self.raw.execute(statement.sql, *args)
        return PgRows((), rowcount(status))


def _without_nul(args: list[Any]) -> list[Any]:
    for i, arg in enumerate(args):
        if isinstance(arg, str) and "\x00" in arg:
            args[i] = arg.replace("\x00", "\ufffd")
    return args


def rowcount(status: str) -> int:
    """The rows a command touched, from its status ("UPDATE 3", "INSERT 0 1"); -1 when the
    command reports none (CREATE TABLE, BEGIN)."""
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else -1


class _integrity_errors:  # a `with` block, named like contextlib's
    """asyncpg's constraint violations as the `sqlite3.IntegrityError` the stores catch."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
            # The message names the constraint, never the values (those are in `detail`).
            raise sqlite3.IntegrityError(f"{exc.sqlstate}: {exc}") from exc
