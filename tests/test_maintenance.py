"""The clean-up job: a corruption report's conversation goes as soon as it is idle; other
conversations after DRAFT_KEEP_DAYS; attachment files nothing refers to once a draft could
not live."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from bot.campaigns.model import Image
from bot.flow import sensitive_flows
from bot.maintenance import Maintenance, draft_lifetime, purge, sweep_files
from bot.runtime import Runtime
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.campaign_support import draft
from tests.chat import Chat
from tests.conftest import Clock, start_in
from tests.test_complaint import PDF, STORY, attach, to_describe


async def _sessions(runtime: Runtime) -> dict[int, str]:
    async with runtime.storage.read() as tx:
        rows = await tx.conn.execute_fetchall("SELECT citizen_id, flow FROM sessions")
    return {row[0]: row[1] for row in rows}


async def test_idle_tip_drafts_go_at_once_other_drafts_after_draft_keep_days(
    runtime: Runtime, new_chat, clock: Clock
) -> None:
    tipster = new_chat("tipster", lang="en")
    await start_in(tipster, "en")
    await tipster.press_payload("flow:tip")
    await tipster.press_payload("tip:anon")
    await tipster.send("An official asked me for money to register my land plot.")
    complainant = new_chat("complainant", lang="en")
    await start_in(complainant, "en")
    await complainant.press_payload("flow:complaint")
    await complainant.press_payload(complainant.buttons[0].payload)  # a draft: its category
    assert sorted((await _sessions(runtime)).values()) == ["complaint", "tip"]

    clock.advance(minutes=runtime.settings.session_idle_minutes - 1)
    assert (
        await purge(
            runtime.storage, runtime.settings, clock(), sensitive=sensitive_flows(runtime.flows)
        )
    )["tip_sessions"] == 0

    clock.advance(minutes=2)
    await purge(
        runtime.storage, runtime.settings, clock(), sensitive=sensitive_flows(runtime.flows)
    )
    assert list((await _sessions(runtime)).values()) == ["complaint"]

    # The tip draft is not kept like the others (docs/THREAT_MODEL.md); a complaint's is.
    clock.advance(days=runtime.settings.draft_keep_days, minutes=-60)
    await purge(
        runtime.storage, runtime.settings, clock(), sensitive=sensitive_flows(runtime.flows)
    )
    assert list((await _sessions(runtime)).values()) == ["complaint"]
    clock.advance(minutes=60)
    await purge(
        runtime.storage, runtime.settings, clock(), sensitive=sensitive_flows(runtime.flows)
    )
    assert await _sessions(runtime) == {}


async def test_dead_letters_are_kept_thirty_days(runtime: Runtime, clock: Clock) -> None:
    # Nothing deleted them: every unparsable update kept its (sealed) body for ever.
    async with runtime.storage.transaction() as tx:
        await tx.dead_letters.add("telegram", "MalformedUpdate", b'{"x": 1}', now=clock())
    clock.advance(days=29)
    assert (
        await purge(
            runtime.storage, runtime.settings, clock(), sensitive=sensitive_flows(runtime.flows)
        )
    )["dead_letters"] == 0
    clock.advance(days=2)
    assert (
        await purge(
            runtime.storage, runtime.settings, clock(), sensitive=sensitive_flows(runtime.flows)
        )
    )["dead_letters"] == 1


# Attachment files ------------------------------------------------------------------------


def file_of(runtime: Runtime, blob_id: str) -> Path:
    return runtime.settings.attachments_dir / blob_id[:2] / blob_id


def written_at(runtime: Runtime, blob_id: str, moment: datetime) -> None:
    """Files age by their modification time; the test clock is not the wall clock."""
    os.utime(file_of(runtime, blob_id), (moment.timestamp(), moment.timestamp()))


async def sweep(runtime: Runtime, clock: Clock) -> int:
    await purge(
        runtime.storage, runtime.settings, clock(), sensitive=sensitive_flows(runtime.flows)
    )  # as the job does, first
    return await sweep_files(runtime.storage, runtime.attachments, runtime.settings, clock())


async def draft_with_a_file(runtime: Runtime, chat: Chat, clock: Clock) -> str:
    """A complaint draft at the evidence step, holding one file (dated now)."""
    await to_describe(chat, "en")
    await chat.send(STORY["en"])
    await chat.press_payload("more:next")
    evidence = await attach(runtime)
    written_at(runtime, evidence.blob_id, clock())
    await chat.send(attachments=[evidence])
    return evidence.blob_id


async def test_files_of_abandoned_drafts_go_once_a_draft_could_no_longer_live(
    runtime: Runtime, new_chat, clock: Clock
) -> None:
    age = draft_lifetime(runtime.settings)
    assert age == timedelta(days=7)  # DRAFT_KEEP_DAYS: how long an idle draft is kept
    cancelled = new_chat("cancelled", lang="en")
    cancelled_file = await draft_with_a_file(runtime, cancelled, clock)
    await cancelled.send("cancel")
    expired = new_chat("expired", lang="en")
    expired_file = await draft_with_a_file(runtime, expired, clock)
    # A refused upload: the channel stored it, the flow refused it.
    refused = await attach(runtime)
    written_at(runtime, refused.blob_id, clock())
    filed = new_chat("filed", lang="en")
    filed_file = await draft_with_a_file(runtime, filed, clock)
    await filed.press_payload("ev:done")
    await filed.send("Mary O'Brien")
    await filed.press_payload("iin:skip")
    await filed.press_payload("sum:ok")
    assert "registered" in filed.text
    every = {cancelled_file, expired_file, refused.blob_id, filed_file}

    clock.advance(seconds=age.total_seconds() - 60)
    assert await sweep(runtime, clock) == 0  # younger than a draft may live: all stay
    assert all(runtime.attachments.exists(blob_id) for blob_id in every)

    clock.advance(minutes=2)
    assert await sweep(runtime, clock) == 3
    assert [b for b in every if runtime.attachments.exists(b)] == [filed_file]
    async with runtime.storage.read() as tx:
        rows = await tx.conn.execute_fetchall("SELECT blob_id FROM ticket_attachments")
    assert [row[0] for row in rows] == [filed_file]
    assert runtime.attachments.get(filed_file) == PDF


async def test_a_draft_kept_busy_past_the_age_keeps_its_file(
    runtime: Runtime, new_chat, clock: Clock
) -> None:
    busy = new_chat("busy", lang="en")
    blob_id = await draft_with_a_file(runtime, busy, clock)
    for _ in range(2 * 8):  # a message every 12 hours for 8 days: never idle for long
        clock.advance(hours=12)
        await busy.send("?")
    assert runtime.attachments.older_than(clock() - draft_lifetime(runtime.settings))
    assert await sweep(runtime, clock) == 0
    assert runtime.attachments.exists(blob_id)
    await busy.press_payload("draft:continue")
    await busy.press_payload("ev:done")
    await busy.send("Mary O'Brien")
    await busy.press_payload("iin:skip")
    await busy.press_payload("sum:ok")
    assert "registered" in busy.text


async def test_a_campaign_image_and_young_files_stay_leftovers_of_a_crash_go(
    runtime: Runtime, clock: Clock
) -> None:
    image = await attach(runtime, b"campaign poster\n")
    written_at(runtime, image.blob_id, clock())
    async with runtime.campaigns.transaction() as store:
        await store.create(
            draft(image=Image(image.blob_id, image.content_type)),
            next_run_at=clock() + timedelta(days=7),
            now=clock(),
        )
    leftover = file_of(runtime, image.blob_id).with_name(".tmp-abc123_x")
    leftover.write_bytes(b"half a file")
    os.utime(leftover, (clock().timestamp(), clock().timestamp()))
    clock.advance(days=8)
    young = await attach(runtime, b"sent a minute ago\n")
    written_at(runtime, young.blob_id, clock() - timedelta(minutes=1))
    assert await sweep(runtime, clock) == 1  # the leftover only
    assert runtime.attachments.exists(image.blob_id) and runtime.attachments.exists(young.blob_id)
    assert not leftover.exists()


async def test_the_job_sweeps_files_hourly(runtime: Runtime, clock: Clock) -> None:
    job = Maintenance(
        runtime.storage,
        runtime.settings,
        sensitive=sensitive_flows(runtime.flows),
        attachments=runtime.attachments,
        clock=clock,
    )
    orphan = await attach(runtime, b"orphan\n")
    written_at(runtime, orphan.blob_id, clock() - timedelta(days=8))
    await job.round()
    assert not runtime.attachments.exists(orphan.blob_id)
    second = await attach(runtime, b"orphan too\n")
    written_at(runtime, second.blob_id, clock() - timedelta(days=8))
    clock.advance(minutes=59)
    await job.round()
    assert runtime.attachments.exists(second.blob_id)  # not yet an hour since the last sweep
    clock.advance(minutes=1)
    await job.round()
    assert not runtime.attachments.exists(second.blob_id)
