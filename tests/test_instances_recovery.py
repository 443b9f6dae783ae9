"""Several instances on one PostgreSQL database: what an instance recovers is a dead
instance's, never a live one's. Outbox rows record which instance marked them 'sending'
(migration 027), every instance holds an "instance:<id>" lease while it runs
(bot/leases.py), and a starting instance or the periodic round recovers only the rows of
instances whose lease has expired."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from bot.crypto import generate_key_setting
from bot.domain import Channel
from bot.runtime import open_runtime
from tests.chat import Chat


def shared(pg_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=pg_url,
        data_key=generate_key_setting(),
        secret_key="s" * 40,
        data_dir=tmp_path,
        lease_seconds=0.6,
        lease_renew_seconds=0.2,
    )


async def test_a_starting_instance_leaves_another_instances_reply_in_flight_alone(
    pg_url: str, tmp_path: Path
) -> None:
    settings = shared(pg_url, tmp_path)
    first = await open_runtime(settings)
    await first.leases.join()
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


async def test_a_dead_instances_reply_goes_out_from_another(pg_url: str, tmp_path: Path) -> None:
    settings = shared(pg_url, tmp_path)
    dead = await open_runtime(settings)
    await dead.leases.join()
    now = datetime.now(UTC)
    async with dead.storage.transaction() as tx:
        citizen, _ = await tx.citizens.get_or_create(Channel.TELEGRAM, "42", now=now)
        row = await tx.outbox.enqueue(
            citizen.id, Channel.TELEGRAM, "reply", {"text": "x"}, now=now, sending=True
        )
    await dead.jobs.stop(wait=0)  # kill -9: it renews nothing more
    survivor = await open_runtime(settings)
    try:
        await survivor.leases.join()
        await survivor.outbox.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            await survivor.outbox._recover_the_dead()
            async with survivor.storage.read() as tx:
                found = await tx.outbox.get(row)
            assert found is not None
            if found.status == "pending":
                break
            assert loop.time() < deadline, "the dead instance's row was never recovered"
            await asyncio.sleep(0.1)
    finally:
        await survivor.close()
        await dead.storage.close()


async def test_two_survivors_recovering_one_dead_instance_hand_its_answers_over_once(
    pg_url: str, tmp_path: Path
) -> None:
    """Review finding: both survivors read the dead one's watermark and each handed every
    unsent answer to the outbox, so every answer went out twice."""
    settings = replace(shared(pg_url, tmp_path), flood_burst=1000, flood_per_second=1000.0)
    dead = await open_runtime(settings)
    await dead.leases.join()
    await dead.outbox.start()
    for i in range(100):
        await Chat(dead.dispatcher, chat_key=str(1000 + i), channel=Channel.TELEGRAM).send("/start")
    await dead.jobs.stop(wait=0)  # kill -9: renews nothing more, its answers never sent
    await asyncio.sleep(1.0)  # its instance lease expires
    b, c = await open_runtime(settings), await open_runtime(settings)
    try:
        await b.leases.join()
        await c.leases.join()
        await asyncio.gather(b.outbox._recover_the_dead(), c.outbox._recover_the_dead())
        async with b.storage.read() as tx:
            rows = await tx.conn.execute_fetchall("SELECT citizen_id FROM outbox")
        per = Counter(row[0] for row in rows)
        assert len(per) == 100 and set(per.values()) == {1}
    finally:
        await b.close()
        await c.close()
        await dead.storage.close()
