"""A second `govbot run` in polling mode says in one line why it will not start.

Found while following docs/DEPLOY.md: uvicorn ends a failed start-up with sys.exit(3),
which left `run` before it could print the refusal, so the second poller exited 3 with
nothing on stderr (and a service manager would restart it in a loop).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from bot.channels.telegram.adapter import POLLING_LEASE
from bot.crypto import DataCipher, generate_key_setting
from bot.storage.sqlite import SqliteStorage
from tests.test_cli import environment, free_port

pytestmark = pytest.mark.slow

TOKEN = "123456:" + "A" * 35


async def hold_polling_lease(database: Path) -> None:
    """What a first poller does at start: it holds the polling lease (a minute here)."""
    storage = SqliteStorage(database, DataCipher.from_setting(generate_key_setting()))
    await storage.open()
    try:
        async with storage.transaction() as tx:
            assert await tx.leases.take(POLLING_LEASE, "first-poller", seconds=60)
    finally:
        await storage.close()


def test_a_second_poller_exits_2_naming_the_reason(tmp_path: Path) -> None:
    asyncio.run(hold_polling_lease(tmp_path / "var" / "govbot.sqlite3"))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=environment(
            tmp_path,
            PORT=str(free_port()),
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_MODE="polling",
            # Never reached: the lease is refused before the Bot API is called.
            TELEGRAM_API_URL="http://127.0.0.1:9",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "another govbot instance is polling this bot already" in done.stderr
    assert "TELEGRAM_MODE=webhook" in done.stderr
    assert "Traceback" not in done.stderr
