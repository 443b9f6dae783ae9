# ruff: noqa: F811 -- the tests take tests/backends.py's `settings`: both backends
"""Broadcast campaigns end to end in one process: real storage, engine and scheduler, with
fake Senders that record what each chat received (tests/test_campaign_channels.py uses the
real Telegram and WhatsApp adapters against fake servers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.campaigns.model import Audience, CampaignError
from bot.campaigns.service import CampaignService
from bot.config import Settings
from bot.domain import Channel
from bot.i18n import Catalogs
from bot.pacing import Budget
from bot.runtime import Runtime, campaign_service, open_runtime
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.campaign_support import (
    FOOTERS,
    TEMPLATES,
    TEXTS,
    UNLIMITED,
    FakeSender,
    add_subscribers,
    draft,
)
from tests.conftest import Clock


@pytest.fixture
def telegram(live: Runtime) -> FakeSender:
    sender = FakeSender(Channel.TELEGRAM)
    live.outbox.senders["telegram"] = sender
    return sender


@pytest.fixture
def whatsapp(live: Runtime) -> FakeSender:
    sender = FakeSender(Channel.WHATSAPP)
    live.outbox.senders["whatsapp"] = sender
    return sender


@pytest.fixture
async def service(
    live: Runtime, telegram: FakeSender, whatsapp: FakeSender
) -> AsyncIterator[CampaignService]:
    svc = campaign_service(live, poll_seconds=0.2)
    svc.engine.backoff_seconds = 0.05
    svc.engine.poll_seconds = 0.05
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


async def finished(
    service: CampaignService, campaign_id: int, timeout: float = 10
) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with service.campaigns.read() as store:
            progress = await store.progress(campaign_id, now=datetime.now(UTC))
        # A cancelled run's rows already on their way are recorded a moment later.
        if progress.run_status in ("done", "cancelled") and "sending" not in progress.counts:
            return progress.counts
        await asyncio.sleep(0.05)
    raise TimeoutError(f"campaign {campaign_id} still running: {progress}")


async def test_every_subscriber_gets_one_message_in_their_language(
    live: Runtime, service: CampaignService, telegram: FakeSender, whatsapp: FakeSender
) -> None:
    members = await add_subscribers(live, 300)
    await add_subscribers(live, 12, subscribed=False, start=1000)  # not subscribed: nothing
    campaign = await service.create(draft())
    counts = await finished(service, campaign.id)
    assert counts == {"sent": 300}
    for m in members:
        sender = telegram if m.channel == "telegram" else whatsapp
        [outgoing] = sender.sent[m.chat_key]
        assert outgoing.replies[0].text == f"{TEXTS[m.lang]}\n\n{FOOTERS[m.lang]}"
        # Outside WhatsApp's 24 hours the campaign's approved template carries it.
        expected = TEMPLATES[m.lang] if m.channel == "whatsapp" else None
        assert outgoing.template == expected
    assert sum(len(v) for v in telegram.sent.values()) == 150
    assert sum(len(v) for v in whatsapp.sent.values()) == 150
    async with service.campaigns.read() as store:
        run = await store.latest_run(campaign.id)
        assert run is not None
        report = await store.report(run[0])
    assert {(r.channel, r.locale): r.count for r in report} == {
        (c, lang): 50 for c in ("telegram", "whatsapp") for lang in ("kk", "ru", "en")
    }


async def test_audience_is_narrowed_and_counted_before_sending(
    live: Runtime, service: CampaignService, telegram: FakeSender, whatsapp: FakeSender
) -> None:
    await add_subscribers(live, 30, region="almaty_city")
    await add_subscribers(live, 30, region="astana", start=100)
    await add_subscribers(live, 6, start=200)  # chose no region: all of Kazakhstan
    audience = Audience(regions=("almaty_city",), languages=("ru",), channels=("telegram",))
    async with service.campaigns.read() as store:
        counts = await store.count_audience(audience, default_locale="kk")
    assert counts == [("telegram", "ru", 6)]  # 5 in Almaty and 1 who chose all regions
    campaign = await service.create(draft(audience=audience))
    assert await finished(service, campaign.id) == {"sent": 6}
    assert not whatsapp.sent
    assert all("Мобильный" in t for k in telegram.sent for t in telegram.texts(k))


async def test_missing_language_is_refused_or_falls_back_by_the_chosen_rule(
    live: Runtime, service: CampaignService, telegram: FakeSender
) -> None:
    members = await add_subscribers(live, 9, channels=("telegram",))
    no_english = {k: v for k, v in TEXTS.items() if k != "en"}
    with pytest.raises(CampaignError, match="text missing in en"):
        await service.create(draft(texts=dict(no_english)))
    skip = await service.create(draft(texts=dict(no_english), fallback="skip"))
    assert await finished(service, skip.id) == {"sent": 6, "skipped": 3}
    ru = await service.create(draft(texts=dict(no_english), fallback="ru"))
    assert await finished(service, ru.id) == {"sent": 9}
    english = next(m for m in members if m.lang == "en")
    # The Russian text, but the unsubscribe line in the citizen's own English.
    assert telegram.texts(english.chat_key)[-1] == f"{TEXTS['ru']}\n\n{FOOTERS['en']}"


async def test_whatsapp_outside_the_window_without_a_template_is_skipped_and_counted(
    live: Runtime, service: CampaignService, whatsapp: FakeSender
) -> None:
    members = await add_subscribers(live, 24, channels=("whatsapp",))
    campaign = await service.create(draft(templates={"ru": TEMPLATES["ru"]}))
    counts = await finished(service, campaign.id)
    stale_without = [m for m in members if not m.fresh and m.lang != "ru"]
    assert counts == {"sent": 24 - len(stale_without), "skipped": len(stale_without)}
    for m in stale_without:
        assert not whatsapp.sent.get(m.chat_key)


async def test_blocked_citizens_are_unsubscribed_and_not_tried_again(
    live: Runtime, service: CampaignService, telegram: FakeSender
) -> None:
    members = await add_subscribers(live, 20, channels=("telegram",))
    telegram.blocked = {m.chat_key for m in members[:4]}
    first = await service.create(draft())
    assert await finished(service, first.id) == {"sent": 16, "failed": 4}
    async with live.storage.read() as tx:
        citizen = await tx.citizens.find("telegram", members[0].chat_key)
    assert citizen is not None and citizen.unreachable and not citizen.subscribed
    calls = len(telegram.calls)
    second = await service.create(draft())
    assert await finished(service, second.id) == {"sent": 16}
    assert len(telegram.calls) == calls + 16


async def test_failures_are_retried_with_backoff_at_most_three_times(
    live: Runtime, service: CampaignService, telegram: FakeSender
) -> None:
    members = await add_subscribers(live, 10, channels=("telegram",))
    telegram.flaky = {members[0].chat_key: 2}  # third attempt succeeds
    telegram.broken = {members[1].chat_key}
    campaign = await service.create(draft())
    assert await finished(service, campaign.id) == {"sent": 9, "failed": 1}
    assert len(telegram.sent[members[0].chat_key]) == 1
    assert sum(1 for _, key in telegram.calls if key == members[1].chat_key) == 3
    async with service.campaigns.read() as store:
        run = await store.latest_run(campaign.id)
        assert run is not None
        report = await store.report(run[0])
    assert [(r.status, r.error, r.count) for r in report if r.status == "failed"] == [
        ("failed", "500", 1)
    ]


async def test_a_429_waits_its_retry_after_and_nobody_is_lost(
    live: Runtime, service: CampaignService, telegram: FakeSender
) -> None:
    members = await add_subscribers(live, 40, channels=("telegram",))
    telegram.throttle = 25
    campaign = await service.create(draft())
    assert await finished(service, campaign.id) == {"sent": 40}
    # Measured where the calls arrived: each throttled chat was tried again at least one
    # retry_after after the first 429 (the first 25 calls were answered 429).
    first_429 = telegram.calls[0][0]
    throttled = {key for _, key in telegram.calls[:25]}
    again = [at for at, key in telegram.calls[25:] if key in throttled]
    assert again and min(again) - first_429 >= 0.2
    assert all(len(telegram.sent[m.chat_key]) == 1 for m in members)


@pytest.mark.parametrize("action", ["pause", "cancel"])
async def test_pause_and_cancel_stop_sending_within_a_second(
    live: Runtime, service: CampaignService, telegram: FakeSender, action: str
) -> None:
    await add_subscribers(live, 200, channels=("telegram",))
    service.engine.budgets["telegram"] = Budget(50.0, 0.0, chat_burst=1)  # slow enough to interrupt
    campaign = await service.create(draft())
    await until(lambda: len(telegram.calls) >= 3, "the first sends")
    assert await service.control(campaign.id, action)
    # From here on only the rows claimed before the control committed may go out.
    claimed = await claimed_rows(service, campaign.id)
    assert 0 < claimed < 200
    # A later campaign to the same people goes out: the engine keeps claiming, and the
    # stopped rows, first in its order, would have been taken before any of these.
    later = await service.create(draft(texts={k: f"{v} (2)" for k, v in TEXTS.items()}))
    await until(lambda: len(texts_of(telegram, later=True)) >= 3, "the later campaign's sends")
    assert await service.control(later.id, "cancel")
    assert len(texts_of(telegram, later=False)) == claimed, "still sending"
    if action == "pause":
        assert await service.control(campaign.id, "resume")
        assert await finished(service, campaign.id, timeout=15) == {"sent": 200}
        assert all(len(texts) == 1 for texts in by_chat(telegram, later=False).values())
        assert len(by_chat(telegram, later=False)) == 200
    else:
        counts = await finished(service, campaign.id)
        assert counts == {"sent": claimed, "cancelled": 200 - claimed}


async def until(check: Callable[[], bool], what: str, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.005)


async def claimed_rows(service: CampaignService, campaign_id: int) -> int:
    """Rows of the latest run the engine has taken (sending, or done with)."""
    async with service.campaigns.read() as store:
        progress = await store.progress(campaign_id, now=datetime.now(UTC))
    return sum(n for status, n in progress.counts.items() if status not in ("pending", "cancelled"))


def by_chat(sender: FakeSender, *, later: bool) -> dict[str, list[str]]:
    """What each chat received of the first campaign, or of the later one."""
    return {
        key: [text for text in sender.texts(key) if ("(2)" in text) == later] for key in sender.sent
    }


def texts_of(sender: FakeSender, *, later: bool) -> list[str]:
    return [text for texts in by_chat(sender, later=later).values() for text in texts]


async def test_a_campaign_whose_time_passed_during_downtime_sends_once_on_start(
    settings: Settings, catalogs: Catalogs
) -> None:
    clock = Clock(datetime(2026, 3, 16, 5, 0, tzinfo=UTC))
    rt = await open_runtime(replace(settings, **UNLIMITED), clock=clock, catalogs=catalogs)
    sender = FakeSender(Channel.TELEGRAM)
    rt.outbox.senders["telegram"] = sender
    members = await add_subscribers(rt, 12, channels=("telegram",), now=clock())
    # Created for 11:00 Almaty (06:00 UTC); the bot is down from 10:00 to 13:00.
    svc = campaign_service(rt)
    async with svc.campaigns.transaction() as store:
        at = clock() + timedelta(hours=1)
        campaign_id = await store.create(draft(at=at), next_run_at=at, now=clock())
    clock.advance(hours=3)
    for _ in range(2):  # start, stop, start again: still once
        svc = campaign_service(rt)
        await svc.start()
        await finished_with(svc, campaign_id)
        await svc.stop()
    await rt.close()
    assert all(len(sender.sent[m.chat_key]) == 1 for m in members)


async def finished_with(svc: CampaignService, campaign_id: int) -> None:
    for _ in range(200):
        async with svc.campaigns.read() as store:
            progress = await store.progress(campaign_id, now=svc.engine.clock())
        if progress.run_status == "done":
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(progress)


async def test_a_recurring_campaign_fires_on_its_next_time(runtime: Runtime, clock: Clock) -> None:
    svc = campaign_service(runtime)  # not started: the job function is called by hand
    await add_subscribers(runtime, 3, channels=("telegram",), now=clock())
    weekly = draft(recurring="0 10 * * mon")  # every Monday at 10:00 Almaty
    weekly.check()
    async with svc.campaigns.transaction() as store:
        first = datetime(2026, 3, 23, 5, 0, tzinfo=UTC)  # next Monday 10:00 Almaty
        campaign_id = await store.create(weekly, next_run_at=first, now=clock())
    assert await svc.scheduler.fire_due() == []  # Monday 16 March, 10:00 has passed
    clock.now = first - timedelta(seconds=1)
    assert await svc.scheduler.fire_due() == []
    clock.now = first
    [run] = await svc.scheduler.fire_due()
    assert await svc.scheduler.fire_due() == []  # the same occurrence never twice
    async with svc.campaigns.read() as store:
        campaign = await store.get(campaign_id)
        progress = await store.progress(campaign_id, now=clock())
    assert campaign is not None
    assert campaign.next_run_at == datetime(2026, 3, 30, 5, 0, tzinfo=UTC)
    assert (progress.run_id, progress.counts) == (run, {"pending": 3})
