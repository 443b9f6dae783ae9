"""Every budget in bot/pacing.py on a clock the test moves: no real sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

import pytest

from bot.config import Settings
from bot.domain import Channel
from bot.i18n import Catalogs
from bot.pacing import Budget, ChatBuckets, Pacing
from bot.runtime import campaign_service, open_runtime
from tests.campaign_support import UNLIMITED, FakeSender, add_subscribers, draft
from tests.test_campaigns import finished


class FakeTime:
    """Virtual time: it moves to the next sleeper's wake-up only when every task waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        future = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        await future

    async def run(self, *steps: Coroutine[Any, Any, None]) -> None:
        tasks = [asyncio.ensure_future(step) for step in steps]
        while True:
            for _ in range(10):  # let every task run until it sleeps or ends
                await asyncio.sleep(0)
            if all(task.done() for task in tasks):
                await asyncio.gather(*tasks)
                return
            self.now = min(when for when, _ in self._sleepers)
            for entry in [s for s in self._sleepers if s[0] <= self.now]:
                self._sleepers.remove(entry)
                if not entry[1].done():  # a sleeper cancelled meanwhile
                    entry[1].set_result(None)


def budget(time: FakeTime, per_second: float, per_chat: float, burst: int = 3) -> Budget:
    return Budget(per_second, per_chat, chat_burst=burst, clock=time, sleep=time.sleep)


async def test_the_bot_keeps_to_its_overall_rate() -> None:
    time = FakeTime()
    paced = budget(time, 30.0, 0.0)
    await time.run(*(paced.wait(chat, urgent=True) for chat in range(90)))
    # A second's burst at once, then 30 a second.
    assert time.now == pytest.approx(2.0)


async def test_one_chat_keeps_to_its_rate_after_a_burst() -> None:
    time = FakeTime()
    paced = budget(time, 0.0, 1.0, burst=2)
    await time.run(*(paced.wait(1, urgent=True) for _ in range(4)))
    assert time.now == pytest.approx(2.0)  # a burst of two, then one a second
    await time.run(paced.wait(2, urgent=True))  # another chat has its own budget
    assert time.now == pytest.approx(2.0)


async def test_waiting_sends_sleep_once_until_their_slot_in_the_order_they_asked() -> None:
    """Issue 16: thousands of tap-to-answer sends waiting for WHATSAPP_RATE each woke at
    every slot to find it taken, and that polling cost the webhook half its throughput."""
    time = FakeTime()
    paced = budget(time, 10.0, 0.0)
    left: list[tuple[int, float]] = []

    async def send(n: int) -> None:
        await paced.wait(n, urgent=True)
        left.append((n, time.now))

    await time.run(*(send(n) for n in range(100)))
    # A second's burst at once, then one every 0.1 s: each at its slot, none before.
    assert [n for n, _ in left] == list(range(100))
    assert [at for _, at in left] == pytest.approx([max(0, n - 9) / 10 for n in range(100)])
    assert time.sleeps == 90  # one sleep per slot waited for, not one per waiter per slot


async def test_sends_to_one_chat_leave_in_order_each_sleeping_once() -> None:
    time = FakeTime()
    paced = budget(time, 0.0, 1.0, burst=2)
    left: list[int] = []

    async def send(n: int) -> None:
        await paced.wait("chat", urgent=True)
        left.append(n)

    await time.run(*(send(n) for n in range(20)))
    assert left == list(range(20))
    assert time.now == pytest.approx(18.0)
    assert time.sleeps == 18


async def test_a_reply_goes_ahead_of_sends_already_in_line() -> None:
    time = FakeTime()
    paced = budget(time, 1.0, 0.0)
    await time.run(paced.wait(0, urgent=True))  # the only token
    order: list[str] = []

    async def send(name: str, urgent: bool) -> None:
        await paced.wait(name, urgent=urgent)
        order.append(name)

    async def reply_later() -> None:
        await time.sleep(1.5)  # the first broadcast has gone; two still wait
        await send("reply", True)

    await time.run(*(send(f"broadcast {n}", False) for n in range(3)), reply_later())
    assert order == ["broadcast 0", "reply", "broadcast 1", "broadcast 2"]
    assert time.now == pytest.approx(4.0)


async def test_a_waiter_that_gives_up_passes_its_turn_on() -> None:
    time = FakeTime()
    paced = budget(time, 1.0, 0.0)
    await time.run(paced.wait(0, urgent=True))
    first = asyncio.ensure_future(paced.wait(1, urgent=True))
    second = asyncio.ensure_future(paced.wait(2, urgent=True))
    for _ in range(5):
        await asyncio.sleep(0)
    first.cancel()
    await time.run(second)
    assert time.now == pytest.approx(1.0)


async def test_a_hold_stops_everything_then_refills_from_empty() -> None:
    time = FakeTime()
    paced = budget(time, 10.0, 0.0)
    await time.run(paced.wait(1, urgent=True))
    paced.hold(5.0)
    await time.run(paced.wait(2, urgent=True))
    assert time.now == pytest.approx(5.1, abs=0.01)  # the hold, then one token's time


async def test_a_broadcast_waits_while_a_reply_needs_the_slot() -> None:
    time = FakeTime()
    paced = budget(time, 1.0, 0.0)
    await time.run(paced.wait(1, urgent=True))  # the only token
    order: list[str] = []

    async def send(name: str, urgent: bool) -> None:
        await paced.wait(name, urgent=urgent)
        order.append(name)

    await time.run(send("broadcast", False), send("reply", True))  # the broadcast asked first
    assert order == ["reply", "broadcast"]


async def test_the_campaign_engine_gets_no_room_while_a_reply_waits() -> None:
    time = FakeTime()
    paced = budget(time, 1.0, 0.0)
    rooms: list[tuple[int, float]] = []

    async def engine_round() -> None:
        rooms.append((await paced.broadcast_room(), time.now))

    await time.run(engine_round())
    assert rooms == [(1, 0.0)]
    await time.run(paced.wait(1, urgent=True))  # takes it
    replied: list[float] = []

    async def reply() -> None:
        await paced.wait(2, urgent=True)
        replied.append(time.now)

    await time.run(reply(), engine_round())
    [(room, at)] = rooms[1:]
    assert room == 1 and at > replied[0] >= 1.0  # the reply's slot, then the next one


async def test_a_reserved_broadcast_send_takes_no_second_slot() -> None:
    time = FakeTime()
    paced = budget(time, 10.0, 0.0)
    paced.reserve(1)  # the engine claimed a row
    await time.run(paced.wait("citizen", urgent=False))
    paced.reserve(1)
    paced.release(1)  # skipped: the slot goes back
    await time.run(*(paced.wait(chat, urgent=True) for chat in range(9)))
    assert time.now == 0.0  # ten sends, ten tokens: none taken twice


def test_broadcasts_to_one_chat_are_spaced_at_the_channels_own_rate() -> None:
    time = FakeTime()
    pacing = Pacing(Settings(telegram_rate_per_chat=1.0, whatsapp_rate_per_chat=0.25), clock=time)
    assert pacing["telegram"].broadcast_delay(7) == 0
    assert pacing["telegram"].broadcast_delay(7) == pytest.approx(1.0)
    assert pacing["whatsapp"].broadcast_delay(7) == 0
    assert pacing["whatsapp"].broadcast_delay(7) == pytest.approx(4.0)


def test_full_buckets_are_forgotten_when_there_are_too_many() -> None:
    time = FakeTime()
    chats = ChatBuckets(1.0, 2.0, time, max_chats=3)
    for chat in range(3):
        chats.take(chat)
    time.now = 5.0  # all full again
    chats.take("new")
    assert "new" in chats and 0 not in chats


async def test_whatsapp_broadcasts_do_not_take_telegrams_per_chat_rate(
    settings: Settings, catalogs: Catalogs
) -> None:
    """The engine once spaced WhatsApp broadcasts by TELEGRAM_RATE_PER_CHAT: with it at one
    message a minute, a second campaign to the same WhatsApp chats waited a minute."""
    paced = replace(settings, **{**UNLIMITED, "telegram_rate_per_chat": 1 / 60})
    runtime = await open_runtime(paced, catalogs=catalogs)
    whatsapp = runtime.outbox.senders["whatsapp"] = FakeSender(Channel.WHATSAPP)
    service = campaign_service(runtime, poll_seconds=0.2)
    await service.start()
    try:
        members = await add_subscribers(runtime, 6, channels=("whatsapp",))
        for _ in range(2):
            campaign = await service.create(draft())
            assert await finished(service, campaign.id, timeout=5) == {"sent": 6}
        assert all(len(whatsapp.sent[m.chat_key]) == 2 for m in members)
    finally:
        await service.stop()
        await runtime.close()


async def test_a_broadcast_alone_does_not_burst_past_the_rate() -> None:
    """A campaign starting on an idle bot: not a whole second's worth at once."""
    time = FakeTime()
    paced = budget(time, 30.0, 0.0)
    sent = 0

    async def engine() -> None:
        nonlocal sent
        while sent < 91:
            room = await paced.broadcast_room()
            paced.reserve(room)
            sent += room

    await time.run(engine())
    assert time.now == pytest.approx(3.0, abs=0.1)  # one at once, then 30 a second


async def test_an_unlimited_budget_still_waits_out_a_hold_before_broadcasting() -> None:
    """Found by an outside review: with no rate set, the engine got room at once after a
    429, claimed rows and left them in 'sending' for the whole hold."""
    time = FakeTime()
    paced = budget(time, 0.0, 0.0)
    paced.hold(5.0)

    async def room() -> None:
        assert await paced.broadcast_room() > 0

    await time.run(room())
    assert time.now == pytest.approx(5.0)


async def _settled(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def test_a_cancelled_send_gives_back_the_chat_slot_it_booked() -> None:
    """Found by an outside review: a send booked its chat's slot before sleeping, and a
    cancelled one kept it, so the next send to that chat waited behind dead bookings."""
    time = FakeTime()
    paced = budget(time, 0.0, 1.0, burst=1)
    await time.run(paced.wait("c", urgent=True))  # the burst is spent at t=0
    doomed = [asyncio.ensure_future(paced.wait("c", urgent=True)) for _ in range(5)]
    await _settled()
    for send in doomed:
        send.cancel()
    await _settled()
    done: list[float] = []

    async def later() -> None:
        await paced.wait("c", urgent=True)
        done.append(time())

    await time.run(later())
    assert done == [pytest.approx(1.0)]


async def test_slots_reserved_before_a_429_are_not_a_burst_after_it() -> None:
    """Found by an outside review: reserved slots whose sends never came survived a hold
    and were spent the moment it ended, on top of the refill."""
    time = FakeTime()
    paced = budget(time, 10.0, 0.0)
    paced.reserve(10)  # the engine claimed ten rows; their sends never came
    await time.run(time.sleep(2.0))
    paced.hold(5.0)
    sent: list[float] = []

    async def outbox(n: int) -> None:
        await paced.wait(n, urgent=False)
        sent.append(time())

    await time.run(*(outbox(n) for n in range(30)))
    sent.sort()
    busiest = max(sum(1 for t in sent if start <= t < start + 1.0) for start in sent)
    assert busiest <= 11


async def test_paid_broadcasts_have_a_lane_of_their_own() -> None:
    """Issue 17: sends marked paid go at the paid rate; the free 30/s is neither used by
    them nor lifted for anyone else; a 429 holds both."""
    time = FakeTime()
    paced = Budget(30.0, 0.0, chat_burst=3, paid_per_second=200.0, clock=time, sleep=time.sleep)
    await time.run(*(paced.wait(chat, urgent=False, paid=True) for chat in range(400)))
    assert 1.9 <= time.now <= 2.0  # 400 at 200 a second (a burst of 10 first)
    start = time.now
    await time.run(*(paced.wait(chat, urgent=True) for chat in range(90)))
    assert time.now - start == pytest.approx(2.0, abs=0.05)  # the free 30/s, its burst of 30
    paced.hold(5.0)
    held = time.now

    async def paid_room() -> None:
        assert await paced.broadcast_room(paid=True) >= 1

    await time.run(paid_room())
    assert time.now >= held + 5.0
