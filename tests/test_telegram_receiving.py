"""Receiving and handling on their own: the `Receiver` stores each update in the inbox
before it is queued, skips repeats and sets aside what it cannot parse; `ChatQueues` runs
one chat's updates one at a time, chats in parallel, and lets an inbox row go only once
every update in it was handled. Real SQLite, no network."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import defaultdict
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from bot.channels.telegram.chat_queues import ChatQueues
from bot.channels.telegram.dead_letters import DeadLetters
from bot.channels.telegram.inbound import Incoming, parse_update
from bot.channels.telegram.polling import Poller
from bot.channels.telegram.receiver import Receiver
from bot.errors import DeliveryError
from bot.runtime import Runtime
from tests.full_disk import fill, free

WAIT = 5.0


def update(update_id: int, chat: int, text: str = "hi") -> dict[str, Any]:
    user = {"id": chat, "is_bot": False, "first_name": "A", "language_code": "kk"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": user,
            "chat": {"id": chat, "type": "private"},
            "date": 1,
            "text": text,
        },
    }


def parsed(update_id: int, chat: int) -> Incoming:
    incoming = parse_update(update(update_id, chat))
    assert incoming is not None
    return incoming


class Recorder:
    """A handler that records what it was given and waits until it is let go."""

    def __init__(self, *, hold: bool = False) -> None:
        self.seen: list[int | None] = []
        self.running: dict[int, int] = defaultdict(int)
        self.overlap = False
        self.go = asyncio.Event()
        self.arrived = asyncio.Condition()
        if not hold:
            self.go.set()

    async def __call__(self, incoming: Incoming) -> None:
        self.running[incoming.chat_id] += 1
        self.overlap |= self.running[incoming.chat_id] > 1
        async with self.arrived:
            self.seen.append(incoming.update_id)
            self.arrived.notify_all()
        await self.go.wait()
        self.running[incoming.chat_id] -= 1

    async def until(self, count: int) -> None:
        async with asyncio.timeout(WAIT), self.arrived:
            await self.arrived.wait_for(lambda: len(self.seen) >= count)


def queues_for(recorder: Recorder) -> ChatQueues:
    return ChatQueues(recorder, wake=lambda: None)


def receiver_for(runtime: Runtime, queues: ChatQueues) -> Receiver:
    clock = runtime.dispatcher.clock
    dead = DeadLetters(runtime.storage, runtime.metrics, clock)
    return Receiver(runtime.storage, clock, dead, queues)


async def inbox_rows(runtime: Runtime) -> list[Any]:
    async with runtime.storage.read() as tx:
        return list(await tx.inbox.pending("telegram"))


async def test_a_polled_batch_is_in_the_inbox_before_it_is_handled(runtime: Runtime) -> None:
    recorder = Recorder(hold=True)
    queues = queues_for(recorder)
    receiver = receiver_for(runtime, queues)
    await receiver.take_polled([update(1, 10), update(2, 20)])
    await recorder.until(2)
    assert len(await inbox_rows(runtime)) == 1  # one row holds the batch
    recorder.go.set()
    await queues.stop()
    async with runtime.storage.transaction() as tx:
        assert await queues.settle(tx) == 1
    assert await inbox_rows(runtime) == []


async def test_a_repeated_update_id_is_skipped_before_any_work(runtime: Runtime) -> None:
    recorder = Recorder()
    queues = queues_for(recorder)
    receiver = receiver_for(runtime, queues)
    await receiver.take_polled([update(1, 10)])
    await receiver.take_polled([update(1, 10), update(2, 10)])
    await recorder.until(2)
    await queues.stop()
    assert recorder.seen == [1, 2]


@pytest.mark.sqlite_only("fills the SQLite file (tests/full_disk.py)")
async def test_a_batch_that_could_not_be_stored_is_not_remembered(runtime: Runtime) -> None:
    # The poller fetches it again: the second time it must not count as a repeat.
    recorder = Recorder()
    queues = queues_for(recorder)
    receiver = receiver_for(runtime, queues)
    big = update(1, 10, text="x" * 4000)  # needs a new page
    await fill(runtime.storage)
    with pytest.raises(sqlite3.OperationalError):
        await receiver.take_polled([big])
    free(runtime.storage)
    await receiver.take_polled([big])
    await recorder.until(1)
    await queues.stop()
    assert recorder.seen == [1]


async def test_what_cannot_be_parsed_is_a_dead_letter_and_the_rest_goes_on(
    runtime: Runtime,
) -> None:
    recorder = Recorder()
    queues = queues_for(recorder)
    receiver = receiver_for(runtime, queues)
    broken = {"update_id": 3, "message": {"chat": "not a chat"}}
    await receiver.take_polled([broken, update(4, 10)])
    await recorder.until(1)
    await queues.stop()
    assert recorder.seen == [4]
    async with runtime.storage.read() as tx:
        assert len(await tx.dead_letters.recent()) == 1


async def test_leftovers_are_handled_at_the_next_start(runtime: Runtime) -> None:
    now = runtime.dispatcher.clock()
    async with runtime.storage.transaction() as tx:
        await tx.inbox.add("telegram", b'{"update_id": 5, "message": {}}', now=now)
        await tx.inbox.add("telegram", json.dumps([update(6, 9)]).encode(), now=now)
    recorder = Recorder()
    queues = queues_for(recorder)
    await receiver_for(runtime, queues).resume()
    await recorder.until(1)
    await queues.stop()
    assert recorder.seen == [6]


async def test_one_chat_at_a_time_chats_in_parallel() -> None:
    recorder = Recorder(hold=True)
    queues = queues_for(recorder)
    queues.put([parsed(1, 10), parsed(2, 10), parsed(3, 20)], None)
    await recorder.until(2)
    assert sorted(recorder.seen) == [1, 3]  # chat 10's second waits for its first
    recorder.go.set()
    await recorder.until(3)
    await queues.stop()
    assert recorder.seen[-1] == 2 and not recorder.overlap


async def test_an_inbox_row_goes_after_the_last_of_its_updates(runtime: Runtime) -> None:
    async def settled() -> int:
        async with runtime.storage.transaction() as tx:
            return await queues.settle(tx)

    recorder = Recorder(hold=True)
    queues = queues_for(recorder)
    queues.put([parsed(1, 10), parsed(2, 20)], 77)
    queues.put([], 78)  # nothing to handle: the row goes at once
    await recorder.until(2)
    assert await settled() == 1  # 78 only: 77's updates are still running
    recorder.go.set()
    await queues.stop()
    assert await settled() == 1


async def test_the_poller_waits_out_a_429_and_backs_off_on_other_failures() -> None:
    answers: list[object] = [
        DeliveryError("flood control", retryable=True, retry_after=7.0, code="429"),
        DeliveryError("network", retryable=False, unknown=True, code="network"),
        [update(1, 10)],
        asyncio.CancelledError(),
    ]
    naps: list[float] = []
    taken: list[list[Any]] = []

    async def call(method: str, params: dict[str, Any], **_: object) -> object:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def take(updates: list[Any]) -> None:
        taken.append(updates)

    async def room() -> None:
        return None

    async def nap(seconds: float) -> None:
        naps.append(seconds)

    with pytest.raises(asyncio.CancelledError):
        await Poller(call, take, wait_for_room=room, sleep=nap, monotonic=lambda: 0.0).run()
    assert naps == [7.0, 1.0]  # the 429's wait, then the first backoff step
    assert taken == [[update(1, 10)]]


async def test_two_retries_of_one_webhook_update_arriving_together_are_taken_once(
    runtime: Runtime,
) -> None:
    """Found by an outside review: the id was remembered only after the store, so a retry
    that arrived while the first delivery was being stored was stored and queued too."""
    recorder = Recorder()
    queues = queues_for(recorder)
    clock = runtime.dispatcher.clock
    dead = DeadLetters(runtime.storage, runtime.metrics, clock)
    receiver = Receiver(runtime.storage, clock, dead, queues, webhook_secret="s3cret")
    app = Starlette(routes=[Route("/hook", receiver.webhook, methods=["POST"])])
    body = json.dumps(update(7, 10)).encode()
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as web:
        answers = await asyncio.gather(
            *(web.post("/hook", content=body, headers=headers) for _ in range(2))
        )
    assert [a.status_code for a in answers] == [200, 200]
    await recorder.until(1)
    await queues.stop()
    assert recorder.seen == [7]
    assert len(await inbox_rows(runtime)) == 1
