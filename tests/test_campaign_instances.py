"""Several instances sending one campaign (issue 17): progress and the report are counts of
the delivery rows, whichever instance sent them, and an instance that starts while another
is sending never takes that one's rows as interrupted; a dead one's rows are, once their
lease runs out. Two engines, each with its own jobs, on one real database."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from bot.campaigns.engine import DeliveryEngine
from bot.campaigns.records import Progress
from bot.campaigns.service import CampaignService
from bot.domain import Channel
from bot.jobs import Jobs
from bot.outbound import Delivery, Outgoing
from bot.runtime import Runtime
from bot.storage.records import Citizen
from tests.campaign_support import FakeSender, add_subscribers, draft


@asynccontextmanager
async def instance(live: Runtime, *, lease_seconds: float = 10.0) -> AsyncIterator[CampaignService]:
    """One more `govbot run`'s campaign engine and scheduler on the same database."""
    jobs = Jobs()
    jobs.start()
    engine = DeliveryEngine(
        live.campaigns,
        live.outbox.senders,
        live.catalogs,
        live.settings,
        jobs,
        refdata=live.refdata,
        pacing=live.pacing,
        lease_seconds=lease_seconds,
    )
    engine.poll_seconds = 0.05
    service = CampaignService(engine, poll_seconds=0.2)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
        await jobs.stop()


async def progress_of(service: CampaignService, campaign_id: int) -> Progress:
    async with service.campaigns.read() as store:
        return await store.progress(campaign_id, now=datetime.now(UTC))


async def until_done(service: CampaignService, campaign_id: int, timeout: float = 20) -> Progress:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = await progress_of(service, campaign_id)
        if progress.run_status == "done":
            return progress
        await asyncio.sleep(0.05)
    raise TimeoutError(f"campaign {campaign_id} still sending: {progress}")


async def test_an_instance_that_starts_meanwhile_leaves_the_others_rows_alone(
    live: Runtime,
) -> None:
    members = await add_subscribers(live, 120, channels=("telegram",))
    sender = FakeSender(Channel.TELEGRAM, delay=0.3)  # rows stay 'sending' a while
    live.outbox.senders["telegram"] = sender
    async with instance(live) as first:
        campaign = await first.create(draft())
        while not (await progress_of(first, campaign.id)).count("sending"):
            await asyncio.sleep(0.01)
        async with instance(live) as second:  # starts while the first is sending
            done = await until_done(second, campaign.id)
    # Every row was sent once, by one or the other, and the counts say so.
    assert done.counts == {"sent": 120}
    assert sorted(len(sender.sent[m.chat_key]) for m in members) == [1] * 120
    async with first.campaigns.read() as store:
        report = await store.report(done.run_id or 0)
    assert sum(r.count for r in report if r.status == "sent") == 120


class Hanging:
    """A sender whose sends never come back: its instance dies with them in flight."""

    channel = Channel.TELEGRAM

    def __init__(self) -> None:
        self.calls = 0

    async def deliver(self, citizen: Citizen, outgoing: Outgoing) -> Delivery:
        self.calls += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_dead_instances_rows_become_unknown_when_their_lease_runs_out(
    live: Runtime,
) -> None:
    await add_subscribers(live, 40, channels=("telegram",))
    hanging = Hanging()
    live.outbox.senders["telegram"] = hanging
    jobs = Jobs()
    jobs.start()
    engine = DeliveryEngine(
        live.campaigns,
        live.outbox.senders,
        live.catalogs,
        live.settings,
        jobs,
        refdata=live.refdata,
        pacing=live.pacing,
        max_in_flight=10,
    )
    dead = CampaignService(engine)
    await dead.start()
    campaign = await dead.create(draft())
    while hanging.calls < 10:
        await asyncio.sleep(0.01)
    # kill -9: its jobs and tasks stop; nothing more of it is recorded.
    await jobs.stop(wait=0)
    for task in [*engine._tasks, *(t for lane in engine._in_flight.values() for t in lane)]:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert (await progress_of(dead, campaign.id)).counts == {"sending": 10, "pending": 30}
    live.outbox.senders["telegram"] = FakeSender(Channel.TELEGRAM)
    async with instance(live, lease_seconds=0.6) as survivor:
        done = await until_done(survivor, campaign.id)
    # The ten in flight may have arrived: unknown, never resent; the rest went once.
    assert done.counts == {"unknown": 10, "sent": 30}


async def test_a_run_with_nobody_to_send_to_is_done_without_a_restart(live: Runtime) -> None:
    live.outbox.senders["telegram"] = FakeSender(Channel.TELEGRAM)
    async with instance(live, lease_seconds=0.3) as service:
        campaign = await service.create(draft())  # nobody subscribed
        done = await until_done(service, campaign.id, timeout=5)
    assert done.counts == {}
