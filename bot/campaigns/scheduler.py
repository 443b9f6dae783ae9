"""When campaigns start: the runtime's scheduler (bot/jobs.py) fires, the database decides.

Every job runs `fire_due`, an async function scheduled by reference: it starts every
campaign whose `next_run_at` has come, in one transaction that also moves `next_run_at` to
the next occurrence (or clears it). A run is unique per (campaign, planned time), so a
second firing, a restart or a second process never starts the same occurrence twice. On
start the planned times are restored from the database and anything overdue (the bot was
down) starts once, straight away; missed weekly occurrences collapse into that one run.
A slow poll also picks up campaigns created by `govbot campaign create` in another process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from bot.campaigns.engine import DeliveryEngine
from bot.campaigns.model import next_occurrence
from bot.campaigns.records import Campaigns
from bot.jobs import Jobs

log = logging.getLogger(__name__)


class CampaignScheduler:
    def __init__(
        self,
        campaigns: Campaigns,
        engine: DeliveryEngine | None,
        jobs: Jobs,
        *,
        default_locale: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        poll_seconds: float = 5.0,
    ) -> None:
        self.campaigns = campaigns
        self.engine = engine
        self.default_locale = default_locale
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.jobs = jobs
        self._planned: set[str] = set()  # names of this scheduler's jobs; empty when stopped
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._planned.add("campaigns:poll")
        # Leader-only (bot/leases.py): one instance starts the runs, every one sends them.
        self.jobs.every(self.poll_seconds, self.fire_due, name="campaigns:poll", leader=True)
        if self.jobs.leading:
            await self.fire_due()
        async with self.campaigns.read() as store:
            planned = await store.planned()
        for campaign_id, at in planned:
            self.plan(campaign_id, at)

    async def stop(self) -> None:
        for name in self._planned:
            self.jobs.remove(name)
        self._planned.clear()

    def plan(self, campaign_id: int, at: datetime) -> None:
        """A job at the campaign's next time (the poll would find it too, a little later)."""
        if not self._planned:  # not started: `start` plans from the database
            return
        name = f"campaign:{campaign_id}"
        self._planned.add(name)
        self.jobs.at(at, self.fire_due, name=name, leader=True)

    async def fire_due(self) -> list[int]:
        """Start every due occurrence once; returns the new run ids."""
        async with self._lock:
            now = self.clock()
            runs: list[int] = []
            planned: list[tuple[int, datetime]] = []
            async with self.campaigns.transaction() as store:
                for campaign in await store.due(now):
                    assert campaign.next_run_at is not None
                    following = (
                        next_occurrence(campaign.recurring, now) if campaign.recurring else None
                    )
                    run_id = await store.start_run(
                        campaign,
                        planned_at=campaign.next_run_at,
                        next_run_at=following,
                        now=now,
                        default_locale=self.default_locale,
                    )
                    if run_id is not None:
                        runs.append(run_id)
                        log.info("campaign %d: run %d started", campaign.id, run_id)
                    if following is not None:
                        planned.append((campaign.id, following))
        for campaign_id, at in planned:
            self.plan(campaign_id, at)
        if runs and self.engine is not None:
            self.engine.wake()
        return runs
