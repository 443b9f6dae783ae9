"""`govbot migrate` on PostgreSQL: each file once, in order, however many run at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from bot.crypto import generate_key_setting
from bot.storage.postgres.migrate import migrate, migration_files

ROOT = Path(__file__).resolve().parent.parent


def govbot_migrate(url: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DATA_"))}
    env |= {"DATABASE_URL": url, "SECRET_KEY": "s" * 40, "DATA_KEY": generate_key_setting()}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "migrate"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_processes_migrating_at_once_apply_each_file_once(
    pg_empty_url: str, tmp_path: Path
) -> None:
    runs = [govbot_migrate(pg_empty_url, tmp_path) for _ in range(3)]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], [err for _, err in outputs]
    lines = [line for out, _ in outputs for line in out.splitlines()]
    applied = [line for line in lines if line.startswith("applied")]
    assert sorted(applied) == [f"applied {name}" for _, name, _ in migration_files()]
    assert sum("up to date" in out for out, _ in outputs) == 2
    assert not list(tmp_path.iterdir())  # no secret generated, no SQLite file made
    conn = await asyncpg.connect(pg_empty_url)
    try:
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [(r["version"], r["name"]) for r in rows] == [(v, n) for v, n, _ in migration_files()]


async def test_migrating_twice_changes_nothing(pg_url: str) -> None:
    raw = await asyncpg.connect(pg_url)
    try:
        assert await migrate(raw) == []
        versions = [r[0] for r in await raw.fetch("SELECT version FROM schema_migrations")]
        assert sorted(versions) == [v for v, _, _ in migration_files()]
    finally:
        await raw.close()


async def test_concurrent_migrations_apply_each_file_once(pg_empty_url: str) -> None:
    conns = [await asyncpg.connect(pg_empty_url) for _ in range(4)]
    try:
        applied = await asyncio.gather(*(migrate(c) for c in conns))
        names = [name for run in applied for name in run]
        assert sorted(names) == [name for _, name, _ in migration_files()]
        count = await conns[0].fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(migration_files())
    finally:
        for c in conns:
            await c.close()


async def test_sqlite_and_postgres_ship_the_same_migration_numbers() -> None:
    from bot.storage.sqlite import migration_files as sqlite_files

    assert [v for v, _, _ in migration_files()] == [v for v, _, _ in sqlite_files()]
