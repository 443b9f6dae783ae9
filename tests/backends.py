"""Both storage backends for the tests that exercise the stores: import `backend` and
`settings` (this module's, which overrides conftest's) into a test module, and every test
there that opens a runtime runs once on an SQLite file and once on a throwaway PostgreSQL
database (`pg_url`, tests/pg_cluster.py). `storage` opens a bare Storage on either.

A test that is SQLite's by nature (WAL, the loop writer, group commit, PRAGMAs) says so
with `sqlite_only(backend, "why")`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Settings
from bot.crypto import DataCipher, generate_key_setting
from bot.storage.postgres import PostgresStorage
from bot.storage.sqlite import SqliteStorage
from tests.conftest import BACKEND

# Both on the default pass; on the PostgreSQL pass of scripts/test (GOVBOT_TEST_BACKEND,
# tests/conftest.py), whose SQLite twin already ran, PostgreSQL alone.
BACKENDS = ("postgres",) if BACKEND == "postgres" else ("sqlite", "postgres")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(settings: Settings, backend: str, request: pytest.FixtureRequest) -> Settings:
    """conftest's settings; on PostgreSQL with DATABASE_URL set to a fresh database."""
    if backend == "sqlite":
        return settings
    url = request.getfixturevalue("pg_url")
    return replace(settings, database_url=url, database_pool_size=4)


@pytest.fixture
async def storage(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[SqliteStorage | PostgresStorage]:
    """An open Storage of the backend, on a fresh file or database."""
    cipher = DataCipher.from_setting(generate_key_setting())
    store: SqliteStorage | PostgresStorage
    if backend == "sqlite":
        store = SqliteStorage(tmp_path / "db.sqlite3", cipher)
    else:
        store = PostgresStorage(request.getfixturevalue("pg_url"), cipher, pool_size=4)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def sqlite_only(backend: str, why: str) -> None:
    if backend != "sqlite":
        pytest.skip(f"SQLite's by nature: {why}")
