"""Campaigns inside `govbot run`: the scheduler beside the delivery engine, and what the
staff console asks of both (create, control). Wired by bot/runtime.py."""

from __future__ import annotations

from bot.campaigns.engine import DeliveryEngine
from bot.campaigns.model import Campaign, CampaignDraft, TemplateVariableError, first_run
from bot.campaigns.scheduler import CampaignScheduler
from bot.campaigns.variables import TemplateLookup, problem


class CampaignService:
    def __init__(self, engine: DeliveryEngine, *, poll_seconds: float = 5.0) -> None:
        self.engine = engine
        self.campaigns = engine.campaigns
        self.scheduler = CampaignScheduler(
            self.campaigns,
            engine,
            engine.jobs,
            default_locale=engine.settings.default_language,
            clock=engine.clock,
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
        draft.check({r.code: r for r in self.engine.refdata.regions})
        declared = await self.declared(tuple(draft.templates.values()))
        if found := problem(draft.templates, draft.template_variables, declared):
            raise TemplateVariableError(found)
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

    async def declared(self, sids: tuple[str, ...]) -> dict[str, frozenset[str]]:
        """The placeholders each approved template declares, where the running WhatsApp
        channel can ask (Twilio's Content API); a template it cannot ask about is left out."""
        lookup = self.engine.senders.get("whatsapp")
        if not isinstance(lookup, TemplateLookup):
            return {}
        found = {sid: await lookup.template_variables(sid) for sid in dict.fromkeys(sids)}
        return {sid: numbers for sid, numbers in found.items() if numbers is not None}

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
