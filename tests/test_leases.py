"""Leases (bot/leases.py) on a real database: one holder at a time, renewals, expiry,
release, and the leader-only jobs of bot/jobs.py following the leader lease."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Settings
from bot.crypto import DataCipher, generate_key_setting
from bot.jobs import Jobs
from bot.leases import LEADER, Lease, Leases
from bot.maintenance import Maintenance
from bot.runtime import Runtime, campaign_service, open_runtime
from bot.storage import Storage
from bot.storage.postgres import PostgresStorage
from bot.storage.sqlite import SqliteStorage

FAST = {"lease_seconds": 1.0, "lease_renew_seconds": 0.1}


@pytest.fixture(params=["sqlite", "postgres"])
async def storage(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Storage]:
    """The same lease statements on both backends."""
    if request.param == "postgres":
        url = await request.getfixturevalue("pg_cluster").fresh_database()
        assert settings.data_key is not None
        postgres = PostgresStorage(url, DataCipher.from_setting(settings.data_key))
        await postgres.open()
        try:
            yield postgres
        finally:
            await postgres.close()
        return
    rt = await open_runtime(settings)
    try:
        yield rt.storage
    finally:
        await rt.close()


async def take(storage: Storage, name: str, holder: str, seconds: float = 10.0) -> bool:
    async with storage.transaction() as tx:
        return await tx.leases.take(name, holder, seconds=seconds)


async def holder(storage: Storage, name: str) -> str | None:
    async with storage.read() as tx:
        return await tx.leases.holder(name)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_one_holder_at_a_time_until_it_renews_releases_or_expires(
    storage: Storage,
) -> None:
    assert await take(storage, "leader", "a")
    assert not await take(storage, "leader", "b")
    assert await take(storage, "leader", "a")  # a renewal
    assert await holder(storage, "leader") == "a"
    assert await take(storage, "other", "b")  # names are apart
    async with storage.transaction() as tx:
        assert not await tx.leases.release("leader", "b")  # not b's to give
        assert await tx.leases.release("leader", "a")
    assert await holder(storage, "leader") is None
    assert await take(storage, "leader", "b", seconds=0.2)
    assert not await take(storage, "leader", "a")
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not await take(storage, "leader", "a"):  # b died: its lease runs out
        await asyncio.sleep(0.02)
    assert loop.time() - started < 1.0
    assert await holder(storage, "leader") == "a"


async def test_many_contenders_at_once_one_gets_it(storage: Storage) -> None:
    results = await asyncio.gather(*(take(storage, "leader", f"h{n}") for n in range(20)))
    assert sum(results) == 1


async def test_an_instance_counts_on_its_lease_no_longer_than_it_asked(
    storage: Storage,
) -> None:
    """Fencing by time: a paused holder sees its lease over on its own clock, even
    before it can ask the database."""
    now = [100.0]
    lease = Lease(storage, "leader", "a", seconds=5.0, monotonic=lambda: now[0])
    assert await lease.take()
    assert lease.remaining() == pytest.approx(5.0)
    now[0] += 4.0
    assert lease.held
    now[0] += 1.5  # paused past it
    assert not lease.held
    assert not await Lease(storage, "leader", "b", seconds=5.0).take()  # db: still a's


class Leading:
    """A leadership the test sets by hand."""

    def __init__(self) -> None:
        self.left = 0.0

    def remaining(self) -> float:
        return self.left


async def test_leader_only_jobs_run_only_while_leading() -> None:
    jobs = Jobs()
    leading = Leading()
    jobs.led_by(leading)
    ran: list[str] = []

    async def leader_job() -> None:
        ran.append("leader")

    async def everyone_job() -> None:
        ran.append("everyone")

    jobs.start()
    try:
        jobs.every(0.01, leader_job, name="leader-job", leader=True, now=True)
        jobs.every(0.01, everyone_job, name="everyone-job", now=True)
        await until(lambda: ran.count("everyone") >= 5)
        assert "leader" not in ran
        leading.left = 60.0
        jobs.leadership_changed(True)
        await until(lambda: "leader" in ran)
    finally:
        await jobs.stop()


async def test_losing_the_lease_stops_a_leader_run_under_way_at_once() -> None:
    jobs = Jobs()
    leading = Leading()
    leading.left = 60.0
    jobs.led_by(leading)
    started = asyncio.Event()
    finished: list[bool] = []

    async def slow() -> None:
        started.set()
        await asyncio.sleep(30)
        finished.append(True)

    jobs.start()
    try:
        jobs.every(60, slow, name="slow", leader=True, now=True)
        await asyncio.wait_for(started.wait(), 5)
        leading.left = 0.0
        jobs.leadership_changed(False)
        await until(lambda: not jobs._running)
        assert not finished
        assert jobs.runs.get("slow", 0) == 0
    finally:
        await jobs.stop()


async def test_a_leader_run_ends_when_its_lease_time_does() -> None:
    """A renewal that hangs cannot let a run outlive the lease."""
    jobs = Jobs()
    leading = Leading()
    leading.left = 0.2
    jobs.led_by(leading)
    started = asyncio.Event()
    finished: list[bool] = []

    async def slow() -> None:
        started.set()
        await asyncio.sleep(30)
        finished.append(True)

    jobs.start()
    try:
        jobs.every(60, slow, name="slow", leader=True, now=True)
        await asyncio.wait_for(started.wait(), 5)
        await until(lambda: not jobs._running, timeout=5)
        assert not finished
    finally:
        await jobs.stop()


class Instance:
    """One `govbot run`'s leader machinery: it contends for the lease; its clean-up and
    campaign scheduler are leader-only, its campaign engine runs everywhere."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.jobs = runtime.jobs
        self.maintenance = Maintenance(
            runtime.storage, runtime.settings, sensitive=(), every_seconds=0.02
        )
        self.campaigns = campaign_service(runtime, poll_seconds=0.02)

    @classmethod
    async def start(cls, settings: Settings) -> Instance:
        self = cls(await open_runtime(settings))
        await self.runtime.leases.lead()
        await self.campaigns.start()
        self.maintenance.start(self.jobs)
        return self

    def ran(self, job: str) -> int:
        return self.jobs.runs.get(job, 0)

    async def stop(self) -> None:
        self.maintenance.stop()
        await self.campaigns.stop()
        await self.runtime.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def shared(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Settings of instances sharing one database: an SQLite file, or PostgreSQL."""
    if request.param == "postgres":
        url = await request.getfixturevalue("pg_cluster").fresh_database()
        settings = replace(settings, database_url=url)
    return replace(settings, **FAST)


async def test_two_runtimes_on_one_database_one_leads_the_other_takes_over(
    shared: Settings,
) -> None:
    first = await Instance.start(shared)
    second = await Instance.start(shared)
    try:
        assert first.runtime.leases.holder != second.runtime.leases.holder
        await until(lambda: first.ran("maintenance") >= 10 and first.ran("campaigns:poll") >= 10)
        assert second.ran("maintenance") == second.ran("campaigns:poll") == 0
        assert second.ran("campaigns:flush") > 0  # the engine runs on every instance
        assert await holder(first.runtime.storage, LEADER) == first.runtime.leases.holder
        # A clean stop releases the lease: the other leads at its next renewal.
        await first.stop()
        loop = asyncio.get_running_loop()
        stopped = loop.time()
        await until(lambda: second.ran("maintenance") >= 1 and second.ran("campaigns:poll") >= 1)
        assert loop.time() - stopped < shared.lease_renew_seconds + 0.5
    finally:
        await second.stop()


async def test_a_held_lease_is_renewed_lost_and_taken_back(settings: Settings) -> None:
    settings = replace(settings, **FAST)
    rt = await open_runtime(settings)
    changes: list[bool] = []

    async def on_change(held: bool) -> None:
        changes.append(held)

    try:
        lease = await rt.leases.hold("telegram-polling", on_change=on_change)
        assert lease is not None
        other = Leases(rt.storage, rt.jobs, seconds=1.0)
        assert await other.hold("telegram-polling", on_change=on_change) is None
        renewals = rt.jobs.runs.get("lease:telegram-polling", 0)
        # Renewed past the first expiry, and still held.
        await until(lambda: rt.jobs.runs.get("lease:telegram-polling", 0) >= renewals + 15)
        assert lease.held and changes == []
        async with rt.storage.transaction() as tx:  # as if it had expired and been taken
            await tx.conn.execute(  # type: ignore[attr-defined]
                "UPDATE leases SET holder = 'someone-else' WHERE name = 'telegram-polling'"
            )
        await until(lambda: changes == [False])
        assert not lease.held
        async with rt.storage.transaction() as tx:  # the other instance stopped cleanly
            assert await tx.leases.release("telegram-polling", "someone-else")
        await until(lambda: changes == [False, True])
        assert lease.held
    finally:
        await rt.close()


async def test_a_leader_job_longer_than_the_lease_finishes_while_the_lease_is_kept(
    tmp_path: Path,
) -> None:
    """Each renewal moves the cut-off of the runs under way (review finding: a run longer
    than one lease, such as the start of a million-recipient campaign, was stopped every
    time although the lease was never lost)."""
    storage = SqliteStorage(
        tmp_path / "db.sqlite3", DataCipher.from_setting(generate_key_setting())
    )
    await storage.open()
    jobs = Jobs()
    jobs.start()
    leases = Leases(storage, jobs, seconds=1.0, renew_seconds=0.3)
    lease = await leases.lead()
    finished: list[int] = []

    async def long_job() -> None:
        await asyncio.sleep(1.5)
        finished.append(1)

    try:
        jobs.every(0.2, long_job, name="long", now=True, leader=True)
        for _ in range(40):
            await asyncio.sleep(0.1)
            assert lease.held
            if finished:
                break
        assert finished, "the run was cut off although the lease was kept"
    finally:
        await jobs.stop()
        await storage.close()
