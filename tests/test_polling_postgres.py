"""Long polling on PostgreSQL answers (one instance polls; the others use webhooks).

Found while following docs/DEPLOY.md: on PostgreSQL every chat's update was routed through
the chat turns of bot/chat_turns.py, which look for an inbox row of that chat; a polled
batch is one row with no chat, so each polled update was confirmed to Telegram, its row
deleted, and nothing answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Settings
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_chat import TgCitizen, running_bot, runtime_of


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        yield fake


async def test_a_polling_instance_on_postgresql_answers_every_chat(
    settings: Settings, pg_url: str, tmp_path: Path, api: FakeTelegramApi
) -> None:
    pg = replace(settings, database_url=pg_url, data_dir=tmp_path / "var", database_pool_size=4)
    async with running_bot(pg, api, "polling") as app:
        citizens = [TgCitizen(api, 700 + n) for n in range(3)]
        for citizen in citizens:
            assert await citizen.send("/start")
        # Handled rows are deleted in the outbox worker's next round (every second).
        storage = runtime_of(app).storage
        async with asyncio.timeout(5):
            while True:
                async with storage.read() as tx:
                    if await tx.inbox.pending("telegram") == []:
                        break
                await asyncio.sleep(0.05)
