"""A campaign's memory does not grow with its audience: the engine streams the delivery
rows in batches and keeps no per-recipient state for the run (issue 17)."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Settings
from bot.domain import Channel
from bot.i18n import Catalogs
from bot.runtime import Runtime, campaign_service, open_runtime
from tests.campaign_support import UNLIMITED, CountingSender, add_subscribers_in_bulk, draft


async def peak_while_sending(live: Runtime, recipients: int) -> tuple[int, int]:
    """(tracemalloc peak in bytes while the campaign ran, messages sent)."""
    await add_subscribers_in_bulk(live, recipients)
    sender = CountingSender(Channel.TELEGRAM)
    live.outbox.senders["telegram"] = sender
    service = campaign_service(live, poll_seconds=0.2)
    await service.start()
    try:
        tracemalloc.start()
        tracemalloc.reset_peak()
        campaign = await service.create(draft(audience=draft().audience))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            async with service.campaigns.read() as store:
                run = await store.latest_run(campaign.id)
            if run is not None and run[1] == "done":
                break
            await asyncio.sleep(0.1)
        _, peak = tracemalloc.get_traced_memory()
        async with service.campaigns.read() as store:
            progress = await store.progress(campaign.id, now=datetime.now(UTC))
    finally:
        tracemalloc.stop()
        await service.stop()
    assert progress.counts == {"sent": recipients}
    return peak, sender.count


async def peak_for(settings: Settings, catalogs: Catalogs, path: Path, recipients: int) -> int:
    live = await open_runtime(replace(settings, database_path=path, **UNLIMITED), catalogs=catalogs)
    try:
        peak, sent = await peak_while_sending(live, recipients)
    finally:
        await live.close()
    assert sent == recipients
    return peak


@pytest.mark.sqlite_only(
    "seeds its two audiences into one database; the engine's memory is the same on both"
)
async def test_peak_memory_does_not_grow_with_the_audience(
    settings: Settings, catalogs: Catalogs, tmp_path: Path
) -> None:
    small = await peak_for(settings, catalogs, tmp_path / "small.sqlite3", 2_000)
    large = await peak_for(settings, catalogs, tmp_path / "large.sqlite3", 20_000)
    print(f"tracemalloc peak: 2,000 -> {small / 1e6:.2f} MB; 20,000 -> {large / 1e6:.2f} MB")
    # Ten times the audience: the same batches, the same few campaigns in memory.
    assert large < small * 1.25 + 300_000
