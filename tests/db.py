"""Rows read or written straight in a test's database, on whichever backend the run uses
(GOVBOT_TEST_BACKEND): what a test checks behind the stores' back, such as what is
really stored, or a row put in a state no store method makes."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from typing import Any

import asyncpg

from bot.config import Settings


def sql(settings: Settings, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement (`?` parameters) and return its rows as tuples. Blocking, on a
    thread of its own, so sync and async tests call it alike."""
    if settings.database_url is None:
        with sqlite3.connect(settings.database_path) as conn:
            return [tuple(row) for row in conn.execute(statement, params).fetchall()]
    numbered = iter(range(1, 1000))
    pg_statement = re.sub(r"\?", lambda _: f"${next(numbered)}", statement)
    return _on_thread(_pg(settings.database_url, pg_statement, params))


def tables(settings: Settings) -> list[str]:
    """The names of the database's own tables."""
    if settings.database_url is None:
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    return [name for (name,) in sql(settings, query)]


async def _pg(url: str, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await conn.fetch(statement, *params)]
    finally:
        await conn.close()


def _on_thread(work: Any) -> list[tuple[Any, ...]]:
    result: list[list[tuple[Any, ...]]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(work))
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
    return result[0]


def database_url(settings: Settings) -> str:
    """DATABASE_URL for a command run on the test's database (bot/cli.py)."""
    return settings.database_url or f"sqlite:///{settings.database_path}"
