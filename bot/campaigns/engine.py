"""The delivery engine: sends every run's rows through the channels' Senders, paced.

Protocol for one delivery row (the database is the source of truth):

    pending ──claim (committed)──▶ sending ──one send──▶ sent | failed | skipped | unknown
       ▲                              │                  (recorded in bulk, ~50 ms)
       └──── later: 429 (after its ───┘
             retry_after, not counted as a failure), or a plain failure (backoff)

Delivery is at most once: nobody gets a campaign twice. The engine is the one owner of a
row's retries (a sender tries once and says what happened), and it only repeats sends that
certainly did not arrive: a 429, or a failure before the request left (no connection, a
503). A send that timed out, lost its connection or drew a 5xx may have arrived: its row
becomes 'unknown' and is never sent again (a slow Bot API once turned every retry into
another copy while the report said "sent"). A row is marked 'sending' and committed
*before* its HTTP call starts, in batches no larger than what may go out at once, so after a
crash a row still 'sending' becomes 'unknown' the same way. The report counts 'unknown' apart.
Several instances may send at once, so "left by a crash" is a lease: a row claimed more
than `lease_seconds` ago and not renewed (its instance renews the rows it still holds) is
interrupted; a starting instance never takes the rows a live one is sending.

Each lane (a channel; Telegram twice: free, and the paid broadcasts of campaigns whose
operator chose allow_paid_broadcast) has its own task and takes its pace from that
channel's `Budget` (bot/pacing.py), the one its sender uses: a WhatsApp backlog never
slows Telegram, a paid campaign goes at the paid rate while others keep 30/s, each
channel's own per-chat rate spaces one citizen's broadcasts, and nothing free is claimed
while a conversation reply waits for a slot.

Memory does not grow with the audience: the rows are selected inside the database, the
engine holds only the batch in flight and the outcomes of the last ~50 ms, and progress
and the report are counts of the delivery rows, the same whichever instance sent them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from bot.campaigns.model import CHANNELS, Campaign
from bot.campaigns.records import Campaigns, Claimed, Outcome
from bot.campaigns.variables import fill
from bot.config import Settings
from bot.domain import Media, Reply
from bot.errors import DeliveryError
from bot.i18n import TIMEZONE, Catalogs
from bot.jobs import Jobs
from bot.outbound import Outgoing, Sender
from bot.pacing import Pacing
from bot.refdata import RefData
from bot.reply_window import in_window
from bot.storage.records import Citizen

log = logging.getLogger(__name__)

Lane = tuple[str, bool]  # (channel, paid broadcast)
LANES: tuple[Lane, ...] = (("telegram", False), ("telegram", True), ("whatsapp", False))
MAX_ATTEMPTS = 3
MAX_THROTTLED = 20  # 429 answers one row may receive before it is given up
PURPOSE = "campaign"


def compose(campaign: Campaign, text_lang: str, citizen_lang: str, catalogs: Catalogs) -> str:
    """The campaign text, then how to unsubscribe in the citizen's own language."""
    footer = catalogs[citizen_lang].gettext("campaign.footer")
    return f"{campaign.texts[text_lang]}\n\n{footer}"


def outgoing_for(
    campaign: Campaign,
    text_lang: str,
    citizen_lang: str,
    catalogs: Catalogs,
    *,
    template: str | None,
    variables: Mapping[str, str] | None = None,
    paid: bool = False,
) -> Outgoing:
    media = (Media(campaign.image.blob_id, campaign.image.content_type),) if campaign.image else ()
    reply = Reply(compose(campaign, text_lang, citizen_lang, catalogs), media=media)
    return Outgoing(
        (reply,), PURPOSE, template=template, variables=variables or {}, paid_broadcast=paid
    )


def region_name(refdata: RefData, campaign: Campaign, citizen: Citizen, lang: str) -> str | None:
    """The region a template's "region" names: the citizen's own, else the one region they
    follow, else the one the campaign is for; None when none is known."""
    if citizen.region:
        codes: tuple[str, ...] = (citizen.region,)
    else:
        codes = citizen.sub_regions if len(citizen.sub_regions) == 1 else campaign.audience.regions
    region = refdata.region(codes[0]) if len(codes) == 1 else None
    return region.name(lang) if region else None


class DeliveryEngine:
    def __init__(
        self,
        campaigns: Campaigns,
        senders: Mapping[str, Sender],
        catalogs: Catalogs,
        settings: Settings,
        jobs: Jobs,
        *,
        refdata: RefData,
        pacing: Pacing,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_in_flight: int = 100,
        poll_seconds: float = 0.5,
        flush_seconds: float = 0.05,
        backoff_seconds: float = 1.0,
        lease_seconds: float = 10.0,
    ) -> None:
        self.campaigns = campaigns
        self.senders = senders  # the outbox's dict: adapters register as they start
        self.catalogs = catalogs
        self.refdata = refdata  # region names for templates' variables
        self.settings = settings
        self.jobs = jobs
        self.clock = clock
        self.max_in_flight = max_in_flight
        self.poll_seconds = poll_seconds
        self.flush_seconds = flush_seconds
        self.backoff_seconds = backoff_seconds
        self.lease_seconds = lease_seconds
        # Shared with the senders: a row is claimed only when its send slot is reserved,
        # so it does not wait once claimed (a crash then leaves little unsent 'sending').
        self.budgets = {channel: pacing[channel] for channel in CHANNELS}
        self._cache: dict[int, Campaign] = {}
        self._outcomes: list[Outcome] = []
        self._in_flight: dict[Lane, set[asyncio.Task[None]]] = {lane: set() for lane in LANES}
        self._wakes = {lane: asyncio.Event() for lane in LANES}
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        # Rows on their way out (at most max_in_flight a lane): id -> when claimed or renewed.
        self._sending: dict[int, datetime] = {}

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self.keep_leases()
        self._tasks = [
            asyncio.create_task(self._lane_loop((c, paid)), name=f"campaign-{c}{'-paid' * paid}")
            for c, paid in LANES
        ]
        # Rows come due without a wake-up too (backoff, retry_after, a chat's spacing).
        self.jobs.every(self.poll_seconds, self._poll, name="campaigns:wake")
        self.jobs.every(self.flush_seconds, self.flush, name="campaigns:flush")
        self.jobs.every(self.lease_seconds / 3, self.keep_leases, name="campaigns:leases")

    async def keep_leases(self) -> None:
        """Renew the leases of the rows this instance still holds, record as interrupted
        the rows whose instance stopped renewing theirs (it died), and close the runs with
        nothing left (one whose audience was empty has no outcome to close it)."""
        now = self.clock()
        renew_before = now - timedelta(seconds=self.lease_seconds / 3)
        held = [i for i, at in self._sending.items() if at < renew_before]
        async with self.campaigns.transaction() as store:
            if held:
                await store.renew(held, now=now)
            lost = await store.recover_interrupted(
                now=now, claimed_before=now - timedelta(seconds=self.lease_seconds)
            )
            await store.finish_runs(now=now)
        for i in held:
            if i in self._sending:
                self._sending[i] = now
        if lost:
            log.warning("campaign rows interrupted while sending, not resent: %d", lost)

    async def stop(self) -> None:
        self._stopping = True
        self.jobs.remove("campaigns:wake")
        self.jobs.remove("campaigns:leases")
        for task in self._tasks:
            task.cancel()
        in_flight = [t for tasks in self._in_flight.values() for t in tasks]
        if in_flight:
            await asyncio.wait(in_flight, timeout=5)
        self.jobs.remove("campaigns:flush")
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.flush()

    def wake(self) -> None:
        for event in self._wakes.values():
            event.set()

    async def _poll(self) -> None:
        self.wake()

    # ---- sending ------------------------------------------------------------------------

    async def _lane_loop(self, lane: Lane) -> None:
        wake = self._wakes[lane]
        while not self._stopping:
            try:
                if await self._round(lane):
                    continue
            except Exception:
                log.exception("campaign round failed on %s", lane[0])
            await wake.wait()  # set by a new run, a flush with retries, or the poll job
            wake.clear()

    async def _round(self, lane: Lane) -> bool:
        """Claim what may go out now and start sending it; False when there was nothing."""
        channel, paid = lane
        sender = self.senders.get(channel)
        if sender is None:
            return False
        budget, in_flight = self.budgets[channel], self._in_flight[lane]
        room = await budget.broadcast_room(paid=paid)
        # Claim only what can start at once: every claimed row is on the wire within
        # moments, so a crash leaves few rows 'sending' that never left.
        # The paid lane keeps twice as many on the wire: 1,000/s with Telegram answering
        # in 200 ms is 200 sends at once.
        cap = self.max_in_flight * (2 if paid else 1)
        while len(in_flight) > cap * 3 // 4:
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        limit = min(room, cap - len(in_flight))
        if limit <= 0:
            return True
        now = self.clock()

        def defer(citizen_id: int) -> datetime | None:
            wait = budget.broadcast_delay(citizen_id)  # 0: this chat's slot is taken
            return now + timedelta(seconds=wait) if wait > 0 else None

        async with self.campaigns.transaction() as store:
            rows = await store.claim(channel, now=now, limit=limit, defer=defer, paid=paid)
            for campaign_id in {r.campaign_id for r in rows} - self._cache.keys():
                campaign = await store.get(campaign_id)
                assert campaign is not None
                self._cache[campaign_id] = campaign
            named = channel == "whatsapp" and self._named(rows)
            names = await store.names([r.citizen.id for r in rows]) if named else {}
        if not rows:
            return False
        budget.reserve(len(rows), paid=paid)
        for row in rows:
            self._sending[row.delivery_id] = now
            name = names.get(row.citizen.id)
            task = asyncio.create_task(self._deliver(lane, sender, row, name))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        return True

    def _named(self, rows: list[Claimed]) -> bool:
        """Whether a template of these rows' campaigns names its recipient."""
        return any(
            "name" in mapping.values()
            for campaign_id in {r.campaign_id for r in rows}
            for mapping in self._cache[campaign_id].template_variables.values()
        )

    async def _deliver(self, lane: Lane, sender: Sender, row: Claimed, name: str | None) -> None:
        try:
            outcome = await self._attempt(lane, sender, row, name)
        except Exception:  # never lose a row's outcome to a bug in a sender
            log.exception("campaign delivery %d failed unexpectedly", row.delivery_id)
            unexpected = DeliveryError("unexpected", retryable=False, unknown=True)
            outcome = self._failure(row, unexpected)
        finally:
            self._sending.pop(row.delivery_id, None)
        self._outcomes.append(outcome)

    async def _attempt(self, lane: Lane, sender: Sender, row: Claimed, name: str | None) -> Outcome:
        channel, paid = lane
        campaign = self._cache[row.campaign_id]
        text_lang = campaign.text_language(row.locale)
        if text_lang is None:
            self.budgets[channel].release(paid=paid)
            return Outcome(row.delivery_id, row.citizen.id, "skipped", error="no_text")
        template, variables = None, {}
        if channel == "whatsapp":
            # The sender judges the window; without a template an expired one means skip.
            template = campaign.templates.get(text_lang)
            if template is None and not in_window(row.citizen.last_inbound_at, self.clock()):
                self.budgets[channel].release(paid=paid)
                return Outcome(row.delivery_id, row.citizen.id, "skipped", error="no_template")
        if template is not None:
            variables = fill(
                campaign.template_variables.get(text_lang, {}),
                self.catalogs[text_lang],
                name=name,
                region=region_name(self.refdata, campaign, row.citizen, text_lang),
                today=self.clock().astimezone(TIMEZONE).date(),
            )
        outgoing = outgoing_for(
            campaign,
            text_lang,
            row.locale,
            self.catalogs,
            template=template,
            variables=variables,
            paid=paid,
        )
        try:
            result = await sender.deliver(row.citizen, outgoing)
        except DeliveryError as err:
            return self._failure(row, err)
        if result.held:
            return Outcome(row.delivery_id, row.citizen.id, "skipped", error="outside_window")
        return Outcome(row.delivery_id, row.citizen.id, "sent", external_id=result.external_id)

    def _failure(self, row: Claimed, err: DeliveryError) -> Outcome:
        delivery, citizen = row.delivery_id, row.citizen.id
        reason = err.code or str(err)
        if err.blocked:
            return Outcome(delivery, citizen, "failed", error="blocked", blocked=True)
        if err.unknown:
            # It may have arrived: never again (at most once), and counted apart.
            return Outcome(delivery, citizen, "unknown", reason, failed_attempt=True)
        if err.retry_after is not None:
            self.budgets[row.citizen.channel].hold(err.retry_after)
            if row.throttled + 1 < MAX_THROTTLED:
                retry_at = self.clock() + timedelta(seconds=err.retry_after)
                return Outcome(
                    delivery, citizen, "pending", reason, retry_at=retry_at, throttled=True
                )
            return Outcome(delivery, citizen, "failed", "rate_limited", throttled=True)
        if err.retryable and row.attempts + 1 < MAX_ATTEMPTS:
            retry_at = self.clock() + timedelta(seconds=self.backoff_seconds * 2**row.attempts)
            return Outcome(
                delivery, citizen, "pending", reason, retry_at=retry_at, failed_attempt=True
            )
        return Outcome(delivery, citizen, "failed", reason, failed_attempt=True)

    # ---- recording ----------------------------------------------------------------------

    async def flush(self) -> None:
        """Record the outcomes gathered so far, and close runs with nothing left (a job
        every `flush_seconds`, so outcomes are written in bulk)."""
        outcomes, self._outcomes = self._outcomes, []
        if not outcomes:
            return
        try:
            async with self.campaigns.transaction() as store:
                await store.record(outcomes, now=self.clock())
                await store.finish_runs(now=self.clock())
        except BaseException:
            self._outcomes[:0] = outcomes
            raise
        if any(o.status == "pending" for o in outcomes):
            self.wake()

    # ---- a test send ---------------------------------------------------------------------

    async def test_send(self, campaign: Campaign, channel: str, chat_key: str, lang: str) -> None:
        """Send the campaign to one chat (the operator's own) now, recording nothing."""
        sender = self.senders.get(channel)
        if sender is None:
            raise DeliveryError(f"{channel} is not configured", retryable=False)
        text_lang = campaign.text_language(lang) or lang
        citizen = Citizen(
            id=0, channel=channel, chat_key=chat_key, locale=lang, last_inbound_at=self.clock()
        )
        await sender.deliver(
            citizen, outgoing_for(campaign, text_lang, lang, self.catalogs, template=None)
        )
