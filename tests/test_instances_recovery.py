"""What one instance recovers at start must be its own: pinned for the integrator of
issue 17 (the outbox is not part of the leases work). Today `OutboxWorker.start` puts every
row 'sending' back to 'pending', including a reply another live instance is sending right
now, which the starting one then sends again. Fix: rows record which instance claimed
them (the lease holder id, bot/leases.py), and only rows of instances whose lease expired
are recovered, by the leader, periodically (so a dead instance's rows are not left
'sending' while the others run on either)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.config import Settings
from bot.domain import Channel
from bot.runtime import open_runtime


@pytest.mark.xfail(strict=True, reason="issue 17: start-up recovery takes other instances' rows")
async def test_a_starting_instance_leaves_another_instances_reply_in_flight_alone(
    settings: Settings,
) -> None:
    first = await open_runtime(settings)
    second = None
    try:
        now = datetime.now(UTC)
        async with first.storage.transaction() as tx:
            citizen, _ = await tx.citizens.get_or_create(Channel.TELEGRAM, "42", now=now)
            row = await tx.outbox.enqueue(
                citizen.id, Channel.TELEGRAM, "reply", {"text": "x"}, now=now, sending=True
            )
        second = await open_runtime(settings)
        await second.outbox.start()  # as `govbot run` starts beside the first
        async with second.storage.read() as tx:
            found = await tx.outbox.get(row)
        assert found is not None
        assert found.status == "sending"  # still the first instance's to finish
    finally:
        if second is not None:
            await second.close()
        await first.close()
