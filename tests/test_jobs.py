"""The one scheduler of periodic work (bot/jobs.py): what runs when, no run twice at once,
and a stop that lets the run under way end."""

from __future__ import annotations

import asyncio
import time

from bot.jobs import Jobs
from bot.maintenance import Maintenance
from bot.runtime import Runtime, campaign_service


async def test_a_running_bot_lists_every_periodic_job_in_one_place(runtime: Runtime) -> None:
    await runtime.outbox.start()
    campaigns = campaign_service(runtime)
    await campaigns.start()
    maintenance = Maintenance(runtime.storage, runtime.settings, sensitive=())
    maintenance.start(runtime.jobs)
    try:
        table = dict(runtime.jobs.table())
        sqlite = set() if runtime.settings.postgres else {"storage:checkpoint"}
        assert set(table) == {
            *sqlite,
            "outbox:poll",
            "maintenance",
            "campaigns:poll",
            "campaigns:wake",
            "campaigns:flush",
            "campaigns:leases",
            # Several instances (PostgreSQL): what a dead one left is looked for.
            *(("outbox:recover",) if runtime.settings.database_url else ()),
        }
        assert table.get("storage:checkpoint", "every 2 s") == "every 2 s"
        assert table["maintenance"] == "every 60 s"
    finally:
        maintenance.stop()
        await campaigns.stop()
        await runtime.outbox.stop()
    assert [name for name, _ in runtime.jobs.table()] == sorted(sqlite)


async def test_a_slow_run_delays_the_next_and_is_never_overlapped() -> None:
    jobs = Jobs()
    running = 0
    most = 0
    runs = 0
    release = asyncio.Event()
    third = asyncio.Event()

    async def slow() -> None:
        nonlocal running, most, runs
        running += 1
        most = max(most, running)
        runs += 1
        if runs == 1:
            await release.wait()  # held over several of its times
        if runs == 3:
            third.set()
        running -= 1

    jobs.every(0.01, slow, name="slow", now=True)
    jobs.start()
    try:
        await asyncio.sleep(0.1)
        assert runs == 1
        release.set()
        await asyncio.wait_for(third.wait(), 5)
    finally:
        await jobs.stop()
    assert most == 1


async def test_stop_lets_the_run_under_way_end() -> None:
    jobs = Jobs()
    started = asyncio.Event()
    finished: list[bool] = []

    async def job() -> None:
        started.set()
        await asyncio.sleep(0.05)
        finished.append(True)

    jobs.every(3600, job, name="job", now=True)
    jobs.start()
    await asyncio.wait_for(started.wait(), 5)
    await jobs.stop()
    assert finished == [True]


async def test_a_failing_job_is_logged_and_runs_again() -> None:
    jobs = Jobs()
    runs: list[int] = []
    twice = asyncio.Event()

    async def failing() -> None:
        runs.append(1)
        if len(runs) == 2:
            twice.set()
        raise RuntimeError("disk on fire")

    jobs.every(0.01, failing, name="failing", now=True)
    jobs.start()
    try:
        await asyncio.wait_for(twice.wait(), 5)
    finally:
        await jobs.stop()


async def test_a_busy_loop_never_drops_a_periodic_job() -> None:
    """Found by an outside review: each run plans the next from its own `finally`, while
    APScheduler still counts it as running; a loop busy past the interval made the next
    run "too many instances", and a one-off trigger then left no job at all."""
    jobs = Jobs()
    runs = 0
    more = asyncio.Event()

    async def tick() -> None:
        nonlocal runs
        runs += 1
        if runs == 3:  # a busy step holds the loop past the next run's time
            asyncio.get_running_loop().call_soon(time.sleep, 0.05)
        if runs >= 6:
            more.set()

    jobs.every(0.01, tick, name="tick")
    jobs.start()
    try:
        await asyncio.wait_for(more.wait(), timeout=5)
    finally:
        await jobs.stop()
    assert runs >= 6
