"""Chat turns (bot/chat_turns.py) on a real PostgreSQL server: two instances' worth of
`ChatTurns` over one database, each with its own pool, handing one chat's inbox rows
back and forth."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.channels.telegram.chat_queues import ChatQueues
from bot.channels.telegram.inbound import Incoming
from bot.chat_turns import ChatTurns
from bot.crypto import DataCipher, generate_key_setting
from bot.domain import Channel, Inbound
from bot.storage.base import InboxRow
from bot.storage.postgres import PostgresStorage

CHANNEL = "telegram"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def two(pg_url: str):  # type: ignore[no-untyped-def]
    cipher = DataCipher.from_setting(generate_key_setting())
    first, second = PostgresStorage(pg_url, cipher), PostgresStorage(pg_url, cipher)
    await first.open()
    await second.open()
    yield first, second
    await first.close()
    await second.close()


async def accept(storage: PostgresStorage, chat: str, n: int, *, now: datetime = NOW) -> int:
    async with storage.transaction() as tx:
        return await tx.inbox.add(CHANNEL, json.dumps({"n": n}).encode(), now=now, chat_key=chat)


class Recorder:
    """What an instance's handler saw; `delay` makes each update take a while."""

    def __init__(self, name: str, log: list[tuple[str, str, int]], delay: float = 0.0) -> None:
        self.name, self.log, self.delay = name, log, delay

    async def __call__(self, row: InboxRow) -> None:
        assert row.payload is not None
        body = json.loads(row.payload)
        await asyncio.sleep(self.delay)
        self.log.append((self.name, body.get("chat", ""), body["n"]))


async def test_one_chat_runs_in_accepted_order_and_once_across_instances(two) -> None:  # type: ignore[no-untyped-def]
    a, b = two
    turns_a, turns_b = ChatTurns(a, "holder-a"), ChatTurns(b, "holder-b")
    seen: list[tuple[str, str, int]] = []
    handle_a, handle_b = Recorder("a", seen, 0.002), Recorder("b", seen, 0.002)
    jobs = []
    for n in range(30):
        storage, turns, handle = (a, turns_a, handle_a) if n % 3 else (b, turns_b, handle_b)
        inbox_id = await accept(storage, "42", n)
        # Each instance starts its own update's turn at once, without waiting.
        jobs.append(asyncio.create_task(turns.handle(CHANNEL, "42", inbox_id, handle)))
    await asyncio.gather(*jobs)
    assert [n for _, _, n in seen] == list(range(30))
    async with a.read() as tx:
        assert await tx.inbox.for_chat(CHANNEL, "42") == []


async def test_chats_go_on_side_by_side(two) -> None:  # type: ignore[no-untyped-def]
    a, b = two
    seen: list[tuple[str, str, int]] = []
    slow = Recorder("a", seen, 0.2)
    first = await accept(a, "1", 0)
    other = await accept(b, "2", 0)
    held = asyncio.create_task(ChatTurns(a, "holder-a").handle(CHANNEL, "1", first, slow))
    await asyncio.sleep(0.05)
    # Chat 2 does not wait for chat 1's slow turn.
    await asyncio.wait_for(
        ChatTurns(b, "holder-b").handle(CHANNEL, "2", other, Recorder("b", seen)), 0.15
    )
    await held
    assert sorted(n for _, _, n in seen) == [0, 0]


async def test_a_dead_holders_chat_goes_on_once_its_lease_expires(two) -> None:  # type: ignore[no-untyped-def]
    a, b = two
    inbox_id = await accept(a, "7", 1)
    async with a.transaction() as tx:  # the holder took the turn and died
        name = f"chat:{tx.inbox.chat_tag(CHANNEL, '7')}"
        assert await tx.leases.take(name, "dead-holder", seconds=0.5)
    seen: list[tuple[str, str, int]] = []
    turns = ChatTurns(b, "holder-b", lease_seconds=5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(turns.handle(CHANNEL, "7", inbox_id, Recorder("b", seen)), 5)
    assert seen == [("b", "", 1)]
    assert loop.time() - started >= 0.3  # it waited for the lease, not past it


async def test_rows_left_behind_are_found_by_age(two) -> None:  # type: ignore[no-untyped-def]
    a, _ = two
    old = await accept(a, "9", 1, now=NOW - timedelta(seconds=30))
    await accept(a, "9", 2, now=NOW)
    rows = await ChatTurns(a, "x").left_behind(CHANNEL, before=NOW - timedelta(seconds=5))
    assert [row.id for row in rows] == [old]


async def test_a_slow_update_keeps_its_turn(two) -> None:  # type: ignore[no-untyped-def]
    """Review finding: the lease was renewed only between updates, so an update longer
    than the lease (a file download) was taken over and handled twice, out of order."""
    a, b = two
    seen: list[tuple[str, str, int]] = []
    first = await accept(a, "42", 1)
    slow = asyncio.create_task(
        ChatTurns(a, "holder-a", lease_seconds=0.3).handle(
            CHANNEL, "42", first, Recorder("a", seen, 0.8)
        )
    )
    await asyncio.sleep(0.4)
    second = await accept(b, "42", 2)
    await ChatTurns(b, "holder-b", lease_seconds=0.3).handle(
        CHANNEL, "42", second, Recorder("b", seen)
    )
    await slow
    assert [n for _, _, n in seen] == [1, 2]


async def test_a_turn_that_fails_leaves_its_update_for_a_later_one(two) -> None:  # type: ignore[no-untyped-def]
    """Review finding: a database error while an update waited for its turn had the chat
    queue count it as done, and the next outbox round deleted it unanswered."""
    a, _ = two
    inbox_id = await accept(a, "9", 1)

    async def turn(incoming: Incoming, row_id: int) -> None:
        raise ConnectionError("the database went away for a moment")

    queues = ChatQueues(lambda incoming: asyncio.sleep(0), wake=lambda: None, turn=turn)
    incoming = Incoming(
        Inbound(channel=Channel.TELEGRAM, chat_key="9", text="hi", external_id="1"),
        chat_id=9,
        update_id=1,
    )
    queues.put([incoming], inbox_id)
    await queues.wait_until_idle()
    async with a.transaction() as tx:
        assert await queues.settle(tx) == 0
    async with a.read() as tx:
        assert [row.id for row in await tx.inbox.pending(CHANNEL)] == [inbox_id]
