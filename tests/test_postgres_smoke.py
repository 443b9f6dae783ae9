"""End to end on PostgreSQL: `open_runtime` with a postgresql:// URL answers a terminal
conversation through the real dispatcher and the SQL stores (tests/pg_cluster.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Settings
from bot.i18n import Catalogs
from bot.runtime import Runtime, open_runtime
from bot.storage.postgres import PostgresStorage
from tests.chat import Chat
from tests.conftest import Clock, start_in
from tests.test_complaint import SAYS, by_reference, to_summary


@pytest.fixture
async def pg_runtime(
    settings: Settings, pg_url: str, tmp_path: Path, clock: Clock, catalogs: Catalogs
) -> AsyncIterator[Runtime]:
    pg = replace(settings, database_url=pg_url, data_dir=tmp_path / "var", database_pool_size=4)
    rt = await open_runtime(pg, clock=clock, catalogs=catalogs)
    try:
        yield rt
    finally:
        await rt.close()


async def test_the_runtime_opens_on_postgresql(pg_runtime: Runtime) -> None:
    assert isinstance(pg_runtime.storage, PostgresStorage)
    async with pg_runtime.storage.read() as tx:
        assert await tx.tips.recovery_public() is None


async def test_the_runtime_runs_on_postgresql(pg_runtime: Runtime) -> None:
    assert isinstance(pg_runtime.storage, PostgresStorage)
    chat = Chat(pg_runtime.dispatcher, lang="ru")
    await start_in(chat, "ru")
    assert SAYS["ru"]["menu"] in chat.text


async def test_a_complaint_is_filed_on_postgresql(pg_runtime: Runtime) -> None:
    chat = Chat(pg_runtime.dispatcher, lang="en")
    await to_summary(chat, "en")
    await chat.press_payload("sum:ok")
    assert SAYS["en"]["filed"] in chat.text
    ticket = await by_reference(pg_runtime, chat.text)
    assert (ticket.kind, ticket.status) == ("complaint", "new")
