"""Telegram paid broadcasts (issue 17): the real python-telegram-bot speaking HTTP to the
fake Bot API on 127.0.0.1. A paid campaign's messages carry allow_paid_broadcast and go at
the paid rate; every other campaign's do not carry it and keep the free 30/s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.campaigns.model import Audience
from bot.campaigns.service import CampaignService
from bot.channels.telegram.request import AiohttpRequest
from bot.channels.telegram.sender import BotApi, TelegramSender
from bot.config import Settings
from bot.i18n import Catalogs
from bot.runtime import campaign_service, open_runtime
from tests.campaign_support import UNLIMITED, add_subscribers_in_bulk, draft
from tests.fakes.telegram_api import Call, FakeTelegramApi

TOKEN = "123456:" + "C" * 35


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        yield fake


@asynccontextmanager
async def sending(
    settings: Settings, catalogs: Catalogs, api: FakeTelegramApi, subscribers: int
) -> AsyncIterator[CampaignService]:
    """A runtime whose Telegram sender is the real one, pointed at the fake."""
    runtime = await open_runtime(settings, catalogs=catalogs)
    request = AiohttpRequest(connection_pool_size=64)
    await request.initialize()
    bot_api = BotApi(api.url, TOKEN, request, request)
    runtime.outbox.senders["telegram"] = TelegramSender(
        bot_api, runtime.pacing.telegram, runtime.attachments
    )
    await add_subscribers_in_bulk(runtime, subscribers, chats=subscribers)
    service = campaign_service(runtime, poll_seconds=0.2)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
        await request.shutdown()
        await runtime.close()


async def until_done(service: CampaignService, *ids: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with service.campaigns.read() as store:
            runs = [await store.latest_run(i) for i in ids]
        if all(run is not None and run[1] == "done" for run in runs):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"campaigns {ids} still sending")


def rate(calls: list[Call]) -> float:
    """Messages a second as the fake saw them arrive."""
    times = sorted(c.time for c in calls)
    return (len(times) - 1) / (times[-1] - times[0])


async def test_only_a_paid_campaign_asks_telegram_for_a_paid_broadcast(
    settings: Settings, catalogs: Catalogs, api: FakeTelegramApi
) -> None:
    unlimited = replace(settings, **UNLIMITED)
    async with sending(unlimited, catalogs, api, 30) as service:
        free = await service.create(draft(title="free"))
        await until_done(service, free.id)
        calls = api.calls_to("sendMessage")
        assert len(calls) == 30
        assert not any("allow_paid_broadcast" in c.params for c in calls)

        paid = await service.create(draft(title="paid", paid_broadcast=True))
        await until_done(service, paid.id)
        calls = api.calls_to("sendMessage")[30:]
        assert len(calls) == 30
        assert all(c.params["allow_paid_broadcast"] is True for c in calls)
        async with service.campaigns.read() as store:
            stored = await store.get(paid.id)
            progress = await store.progress(paid.id, now=datetime.now(UTC))
        assert stored is not None and stored.paid_broadcast
        assert progress.counts == {"sent": 30}


async def test_the_global_rate_follows_the_mode_and_other_traffic_keeps_its_own(
    settings: Settings, catalogs: Catalogs, api: FakeTelegramApi
) -> None:
    # The free limit as in production (30/s); a paid limit a test can reach on a busy CI.
    paced = replace(settings, telegram_rate_global=30.0, telegram_paid_rate=300.0)
    async with sending(paced, catalogs, api, 1200) as service:
        # One third of the subscribers speak each language: two audiences, no chat in both.
        free = await service.create(draft(title="free", audience=Audience(languages=("kk",))))
        paid = await service.create(
            draft(title="paid", paid_broadcast=True, audience=Audience(languages=("ru",)))
        )
        await until_done(service, paid.id)
        await asyncio.sleep(1.0)  # the free campaign, alone for a second
        await service.control(free.id, "cancel")
    calls = api.calls_to("sendMessage")
    paid_calls = [c for c in calls if c.params.get("allow_paid_broadcast")]
    free_calls = [c for c in calls if "allow_paid_broadcast" not in c.params]
    assert len(paid_calls) == 400
    paid_rate, free_rate = rate(paid_calls), rate(free_calls)
    print(f"paid {paid_rate:.0f} msg/s, free {free_rate:.1f} msg/s")
    assert 100 < paid_rate < 300 * 1.3  # far past the free 30/s, within its own limit
    assert 15 < free_rate < 30 * 1.25  # the free campaign kept to 30/s meanwhile
