"""Campaigns inside `govbot run`: the scheduler and the delivery engine, wired to the
runtime's storage, catalogs and the channels' senders (the outbox's registry)."""

from __future__ import annotations

from bot.campaigns.engine import DeliveryEngine
from bot.campaigns.model import Campaign, CampaignDraft, first_run
from bot.campaigns.scheduler import CampaignScheduler
from bot.runtime import Runtime
from bot.storage.sqlite.campaigns import SqliteCampaigns


class CampaignService:
    def __init__(self, runtime: Runtime, *, poll_seconds: float = 5.0) -> None:
        self.runtime = runtime
        self.campaigns = SqliteCampaigns(runtime.storage)
        clock = runtime.dispatcher.clock
        self.engine = DeliveryEngine(
            self.campaigns,
            runtime.outbox.senders,
            runtime.catalogs,
            runtime.settings,
            runtime.jobs,
            pacing=runtime.pacing,
            clock=clock,
        )
        self.scheduler = CampaignScheduler(
            self.campaigns,
            self.engine,
            runtime.jobs,
            default_locale=runtime.settings.default_language,
            clock=clock,
            poll_seconds=poll_seconds,
        )

    async def start(self) -> None:
        await self.engine.start()
        await self.scheduler.start()

    async def stop(self) -> None:
        await self.scheduler.stop()
        await self.engine.stop()

    async def create(self, draft: CampaignDraft) -> Campaign:
        """Check and store a campaign, and plan (or start) its first run."""
        draft.check({r.code: r for r in self.runtime.refdata.regions})
        now = self.engine.clock()
        async with self.campaigns.transaction() as store:
            campaign_id = await store.create(draft, next_run_at=first_run(draft, now), now=now)
            campaign = await store.get(campaign_id)
        assert campaign is not None and campaign.next_run_at is not None
        if campaign.next_run_at <= now:
            await self.scheduler.fire_due()
        else:
            self.scheduler.plan(campaign.id, campaign.next_run_at)
        return campaign

    async def control(self, campaign_id: int, action: str) -> bool:
        """pause, resume or cancel; True when the campaign's state changed."""
        now = self.engine.clock()
        async with self.campaigns.transaction() as store:
            changed: bool = await getattr(store, action)(campaign_id, now=now)
        if changed:
            self.engine.wake()
            if action == "resume":
                await self.scheduler.fire_due()
        return changed
