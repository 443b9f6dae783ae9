"""Records that cross the campaign store's boundary, and the store's protocol."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.campaigns.model import Audience, Campaign, CampaignDraft
from bot.storage.records import Citizen

OPEN = ("pending", "sending")


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery row marked 'sending', with the citizen to send it to."""

    delivery_id: int
    run_id: int
    campaign_id: int
    locale: str
    citizen: Citizen
    attempts: int
    throttled: int


@dataclass(frozen=True, slots=True)
class Outcome:
    delivery_id: int
    citizen_id: int
    status: str  # sent | failed | skipped | unknown (may have arrived) | pending (retry later)
    error: str | None = None
    external_id: str | None = None
    retry_at: datetime | None = None
    failed_attempt: bool = False
    throttled: bool = False
    blocked: bool = False


@dataclass(frozen=True, slots=True)
class Progress:
    run_id: int | None
    run_status: str | None
    counts: dict[str, int]
    rate: float  # messages a second over the last ten seconds

    def count(self, status: str) -> int:
        return self.counts.get(status, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def left(self) -> int:
        return self.count("pending") + self.count("sending")

    @property
    def seconds_left(self) -> float | None:
        if self.left == 0:
            return 0.0
        return self.left / self.rate if self.rate > 0 else None


@dataclass(frozen=True, slots=True)
class ReportRow:
    channel: str
    locale: str
    status: str
    error: str
    count: int


class CampaignStore(Protocol):
    async def create(
        self, draft: CampaignDraft, *, next_run_at: datetime, now: datetime
    ) -> int: ...
    async def get(self, campaign_id: int) -> Campaign | None: ...
    async def recent(self, *, limit: int = 50) -> list[Campaign]: ...
    async def planned(self) -> list[tuple[int, datetime]]: ...
    async def due(self, now: datetime) -> list[Campaign]: ...
    async def count_audience(
        self, audience: Audience, *, default_locale: str
    ) -> list[tuple[str, str, int]]: ...
    async def start_run(
        self,
        campaign: Campaign,
        *,
        planned_at: datetime,
        next_run_at: datetime | None,
        now: datetime,
        default_locale: str,
    ) -> int | None: ...
    async def pause(self, campaign_id: int, *, now: datetime) -> bool: ...
    async def resume(self, campaign_id: int, *, now: datetime) -> bool: ...
    async def cancel(self, campaign_id: int, *, now: datetime) -> bool: ...
    async def recover_interrupted(
        self, *, now: datetime, claimed_before: datetime | None = None
    ) -> int: ...
    async def renew(self, delivery_ids: Sequence[int], *, now: datetime) -> None: ...
    async def claim(
        self,
        channel: str,
        *,
        now: datetime,
        limit: int,
        defer: Callable[[int], datetime | None] = ...,
        paid: bool = False,
    ) -> list[Claimed]: ...
    async def names(self, citizen_ids: Sequence[int]) -> dict[int, str]: ...
    async def record(self, outcomes: Sequence[Outcome], *, now: datetime) -> None: ...
    async def finish_runs(self, *, now: datetime) -> list[int]: ...
    async def latest_run(self, campaign_id: int) -> tuple[int, str] | None: ...
    async def progress(self, campaign_id: int, *, now: datetime) -> Progress: ...
    async def report(self, run_id: int) -> list[ReportRow]: ...


class Campaigns(Protocol):
    """Units of work on the campaign tables (the SQLite one shares the app's writer)."""

    def transaction(self) -> AbstractAsyncContextManager[CampaignStore]: ...
    def read(self) -> AbstractAsyncContextManager[CampaignStore]: ...
