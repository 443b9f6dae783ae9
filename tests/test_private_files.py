"""The database, its WAL and shared memory, the keys and attachments are for the service
account only: created 0700/0600 whatever the umask, and a looser existing file is named in
a warning at start."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.runtime import open_runtime


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The umask many service managers leave: 022 (files 0644, folders 0755)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


async def test_var_and_database_files_are_private(
    tmp_path: Path, clock, catalogs, open_umask: None
) -> None:
    var = tmp_path / "srv" / "var"
    settings = Settings(database_path=var / "govbot.sqlite3")
    runtime = await open_runtime(settings, clock=clock, catalogs=catalogs)
    try:
        async with runtime.storage.transaction() as tx:
            await tx.conn.execute("CREATE TABLE IF NOT EXISTS probe (x)")
        stored = await runtime.attachments.aput(
            b"%PDF-1.4 a small document", declared_type="application/pdf", file_name="a.pdf"
        )
        names = ["govbot.sqlite3", "govbot.sqlite3-wal", "govbot.sqlite3-shm"]
        assert {n: mode(var / n) for n in names} == dict.fromkeys(names, 0o600)
        assert mode(var) == 0o700
        assert mode(var / "secret_key") == 0o600 and mode(var / "data_key") == 0o600
        assert mode(settings.attachments_dir) == 0o700
        blob = next(p for p in settings.attachments_dir.rglob("*") if p.is_file())
        assert mode(blob) == 0o600 and stored.size > 0
        for folder in [p for p in settings.attachments_dir.rglob("*") if p.is_dir()]:
            assert mode(folder) == 0o700, folder
    finally:
        await runtime.close()


async def test_a_loose_existing_database_is_named_in_a_warning(
    tmp_path: Path, clock, catalogs, open_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    (var / "govbot.sqlite3").touch(mode=0o644)
    os.chmod(var, 0o755)
    os.chmod(var / "govbot.sqlite3", 0o644)
    caplog.set_level(logging.WARNING)
    runtime = await open_runtime(
        Settings(database_path=var / "govbot.sqlite3"), clock=clock, catalogs=catalogs
    )
    await runtime.close()
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(var / "govbot.sqlite3") in m and "644" in m for m in warned), warned
    assert any(m.startswith(f"{var} is open") for m in warned), warned
