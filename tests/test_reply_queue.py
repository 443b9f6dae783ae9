"""Conversation replies are written before they are sent: a crash between the step's
commit and the send leaves them for the outbox worker, a sent reply is not sent again,
a retried Twilio webhook gets its answer, and a tip's replies are not kept.

Each test repeats a fault that lost answers before: the process dying after the step
committed, and Twilio retrying a webhook whose first answer it never got.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.config import Settings
from bot.domain import Channel, Inbound, Reply
from bot.errors import DeliveryError
from bot.i18n import Catalogs
from bot.maintenance import purge
from bot.runtime import open_runtime
from tests.conftest import Clock
from tests.db import sql
from tests.fakes.memory_sender import MemorySender
from tests.fakes.twilio_api import inbound_params
from tests.whatsapp_chat import BOT_NUMBER, SID, WEBHOOK, bodies, running_bot


def rows(settings: Settings, statement: str) -> list[tuple[object, ...]]:
    return sql(settings, statement)


def telegram(text: str, update: str, chat: str = "4242") -> Inbound:
    return Inbound(
        channel=Channel.TELEGRAM, chat_key=chat, text=text, locale_hint="en", external_id=update
    )


async def test_a_reply_not_sent_before_a_crash_is_delivered_after_the_restart(
    settings: Settings, clock: Clock, catalogs: Catalogs
) -> None:
    runtime = await open_runtime(settings, clock=clock, catalogs=catalogs)
    answer = await runtime.dispatcher.answer(telegram("/start", "u1"))
    assert answer.replies and answer.reply_seq is not None
    # The process dies here: the step committed (the update is marked processed), the
    # reply never left. Closing without sending is what kill -9 leaves on disk.
    await runtime.storage.close()

    restarted = await open_runtime(settings, clock=clock, catalogs=catalogs)
    try:
        sender = MemorySender(Channel.TELEGRAM)
        await restarted.outbox.start()
        restarted.outbox.add_sender(sender)
        assert (await restarted.dispatcher.answer(telegram("/start", "u1"))).duplicate
        await restarted.outbox.stop()
        await restarted.outbox.run_once()
        [(chat_key, outgoing)] = sender.sent
        assert chat_key == "4242"
        assert [r.text for r in outgoing.replies] == [r.text for r in answer.replies]
        assert outgoing.replies[-1].buttons  # the language choice, pressable again
    finally:
        await restarted.close()


async def test_a_sent_reply_is_settled_and_never_sent_again(
    settings: Settings, clock: Clock, catalogs: Catalogs
) -> None:
    runtime = await open_runtime(settings, clock=clock, catalogs=catalogs)
    answer = await runtime.dispatcher.answer(telegram("/start", "u2"))
    delivered = []

    async def send(replies: list[object]) -> None:
        delivered.append(replies)

    await runtime.replies.deliver(answer.reply_seq, answer.replies, send)
    assert delivered == [answer.replies]
    await runtime.close()  # the worker's last round records what was sent
    assert rows(settings, "SELECT count(*) FROM outbox") == [(0,)]
    # One instance keeps one watermark; several (PostgreSQL) one each.
    table = "reply_watermarks" if settings.database_url else "reply_watermark"
    watermark = rows(settings, f"SELECT sent_to FROM {table}")
    assert watermark == [(answer.reply_seq,)]

    restarted = await open_runtime(settings, clock=clock, catalogs=catalogs)
    try:
        sender = MemorySender(Channel.TELEGRAM)
        await restarted.outbox.start()
        restarted.outbox.add_sender(sender)
        await restarted.outbox.stop()
        assert await restarted.outbox.run_once() == 0
        assert sender.sent == []
    finally:
        await restarted.close()


async def test_a_failed_send_hands_the_rest_to_the_worker(
    settings: Settings, clock: Clock, catalogs: Catalogs
) -> None:
    runtime = await open_runtime(settings, clock=clock, catalogs=catalogs)
    try:
        answer = await runtime.dispatcher.answer(telegram("/start", "u3"))

        async def times_out(_: object) -> None:
            raise DeliveryError("read timeout", retryable=False, unknown=True)

        with pytest.raises(DeliveryError):
            await runtime.replies.deliver(answer.reply_seq, answer.replies, times_out)
        sender = MemorySender(Channel.TELEGRAM)
        runtime.outbox.add_sender(sender)
        assert await runtime.outbox.run_once() == 0  # not before its backoff
        clock.advance(seconds=2)
        assert await runtime.outbox.run_once() == 1
        assert [r.text for r in sender.sent[0][1].replies] == [r.text for r in answer.replies]
    finally:
        await runtime.close()


async def test_a_retried_twilio_webhook_gets_the_same_answer(
    settings: Settings, clock: Clock
) -> None:
    async with running_bot(settings, clock) as bot:
        params = inbound_params(
            account_sid=SID, from_="whatsapp:+77011234567", to=BOT_NUMBER, body="hi"
        )
        status, first = await bot.api.deliver_inbound(
            bot.url + "/webhooks/twilio", params, signed_url=WEBHOOK
        )
        assert status == 200 and bodies(first)
        await bot.runtime.outbox.run_once()
        # Twilio never got that answer and retries the same MessageSid.
        status, again = await bot.api.deliver_inbound(
            bot.url + "/webhooks/twilio", params, signed_url=WEBHOOK
        )
        assert status == 200
        assert bodies(again) == bodies(first)
        # Nothing went out by REST besides: the retry's answer is the only copy.
        assert bot.api.sent == []


async def test_a_twilio_retry_after_a_crash_is_answered_once(
    settings: Settings, clock: Clock, catalogs: Catalogs
) -> None:
    # The step committed, then the process died before answering Twilio. On the restart
    # the worker would send the reply by REST; Twilio's retry takes it for its answer
    # instead, and the worker then has nothing left to send: one copy, not two.
    params = inbound_params(
        account_sid=SID, from_="whatsapp:+77011234567", to=BOT_NUMBER, body="hi"
    )
    runtime = await open_runtime(settings, clock=clock, catalogs=catalogs)
    msg = Inbound(
        channel=Channel.WHATSAPP,
        chat_key="+77011234567",
        text="hi",
        external_id=params["MessageSid"],
    )
    answer = await runtime.dispatcher.answer(msg)
    await runtime.storage.close()

    async with running_bot(settings, clock) as bot:
        status, retried = await bot.api.deliver_inbound(
            bot.url + "/webhooks/twilio", params, signed_url=WEBHOOK
        )
        assert status == 200
        await bot.runtime.outbox.run_once()
        # Whichever came first, the worker's REST send or the retry's answer, the citizen
        # reads the language choice exactly once.
        in_answer = bodies(retried)
        by_rest = [m.get("Body", "") for m in bot.api.sent]
        copies = [text for text in in_answer + by_rest if "Қазақша" in text]
        assert len(copies) == 1, (in_answer, by_rest)
        assert len(in_answer + by_rest) == len(answer.replies)


async def test_a_receipts_own_row_is_deleted_once_sent(
    settings: Settings, clock: Clock, catalogs: Catalogs
) -> None:
    # A step that deletes its session (an anonymous tip's receipt) cannot keep its answer
    # there: it gets a row of its own, which must not outlive the sending.
    runtime = await open_runtime(settings, clock=clock, catalogs=catalogs)
    try:
        async with runtime.storage.transaction() as tx:
            citizen, _, _ = await tx.citizens.get_or_create_with_session(
                Channel.TELEGRAM, "5151", now=clock()
            )
            seq, kept = await runtime.replies.record(
                tx, citizen, [Reply("receipt")], inbound_key=None, sensitive=True, own_row=True
            )
        assert kept is None
        assert rows(settings, "SELECT purpose, status FROM outbox") == [
            ("reply-sensitive", "sending")
        ]
        runtime.replies.sent(seq)
        await runtime.outbox.run_once()
        assert rows(settings, "SELECT count(*) FROM outbox") == [(0,)]
    finally:
        await runtime.close()


async def test_an_answer_is_kept_with_its_session_not_in_a_row(
    settings: Settings, clock: Clock, catalogs: Catalogs
) -> None:
    runtime = await open_runtime(settings, clock=clock, catalogs=catalogs)
    try:
        answer = await runtime.dispatcher.answer(telegram("/start", "u9"))
        assert rows(settings, "SELECT count(*) FROM outbox") == [(0,)]
        [(seq, sealed)] = rows(settings, "SELECT reply_seq, reply FROM sessions")
        assert seq == answer.reply_seq
        assert b"Hello" not in sealed  # encrypted like the session
    finally:
        await runtime.close()


# -- found by an outside fault-injection review -----------------------------------------


class HangingSender:
    """Claims the row then the process dies mid-send: never returns."""

    channel = Channel.TELEGRAM

    def __init__(self):
        self.started = asyncio.Event()

    async def deliver(self, citizen, outgoing):
        self.started.set()
        await asyncio.Event().wait()  # the process dies before any answer


async def test_a_reply_waiting_for_its_retry_survives_a_crash_after_a_later_step(
    settings, clock, catalogs
):
    rt = await open_runtime(settings, clock=clock, catalogs=catalogs)
    a1 = await rt.dispatcher.answer(telegram("/start", "u1"))

    async def throttled(replies):
        raise DeliveryError("flood control", retryable=True, retry_after=5, code="429")

    with pytest.raises(DeliveryError):
        await rt.replies.deliver(a1.reply_seq, a1.replies, throttled)
    # citizen writes again 1 s later: in-turn reply goes out at once (before reply 1)
    clock.advance(seconds=1)
    a2 = await rt.dispatcher.answer(telegram("/help", "u2"))

    async def ok(replies):
        pass

    await rt.replies.deliver(a2.reply_seq, a2.replies, ok)
    # retry_after elapses: worker claims reply 1 (status sending) and the process dies mid-send
    clock.advance(seconds=5)
    hs = HangingSender()
    rt.outbox.add_sender(hs)
    t = asyncio.create_task(rt.outbox.run_once())
    await hs.started.wait()
    t.cancel()
    await rt.storage.close()  # kill -9
    rt2 = await open_runtime(settings, clock=clock, catalogs=catalogs)
    s = MemorySender(Channel.TELEGRAM)
    await rt2.outbox.start()
    rt2.outbox.add_sender(s)
    await rt2.outbox.catch_up(seconds=1)
    await rt2.close()
    assert s.sent, "reply 1 (the /start answer) was never delivered: lost"


async def test_a_receipt_sent_by_the_worker_is_deleted_at_once(settings, clock, catalogs):
    rt = await open_runtime(settings, clock=clock, catalogs=catalogs)
    async with rt.storage.transaction() as tx:
        citizen, _, _ = await tx.citizens.get_or_create_with_session(
            Channel.TELEGRAM, "5151", now=clock()
        )
        seq, _ = await rt.replies.record(
            tx,
            citizen,
            [Reply("receipt ABCD-1234 reference T-XYZ")],
            inbound_key=None,
            sensitive=True,
            own_row=True,
        )

    async def throttled(replies):
        raise DeliveryError("flood control", retryable=True, retry_after=1, code="429")

    with pytest.raises(DeliveryError):
        await rt.replies.deliver(seq, [Reply("receipt ABCD-1234 reference T-XYZ")], throttled)
    clock.advance(seconds=2)
    s = MemorySender(Channel.TELEGRAM)
    rt.outbox.add_sender(s)
    await rt.outbox.run_once()
    await rt.outbox.run_once()
    assert len(s.sent) == 1
    clock.advance(minutes=59)

    await purge(rt.storage, rt.settings, clock(), sensitive=())
    left = rows(settings, "SELECT citizen_id, purpose, status, inbound_key FROM outbox")
    await rt.close()
    assert left == [], "tip receipt row (citizen_id + receipt) outlives sending"


async def test_a_failure_that_cannot_be_written_keeps_the_answer_for_the_restart(
    settings, clock, catalogs
):
    rt = await open_runtime(settings, clock=clock, catalogs=catalogs)
    a1 = await rt.dispatcher.answer(telegram("/start", "u1"))

    async def timeout(replies):
        raise DeliveryError("no answer in time", retryable=False, unknown=True, code="timeout")

    # the failure's own transaction hits a full disk / busy db
    real = rt.storage.transaction

    def broken():
        raise sqlite3.OperationalError("database or disk is full")

    rt.storage.transaction = broken
    with pytest.raises(sqlite3.OperationalError):
        await rt.replies.deliver(a1.reply_seq, a1.replies, timeout)
    rt.storage.transaction = real
    await rt.outbox.run_once()  # settle
    await rt.storage.close()  # kill -9
    rt2 = await open_runtime(settings, clock=clock, catalogs=catalogs)
    s = MemorySender(Channel.TELEGRAM)
    await rt2.outbox.start()
    rt2.outbox.add_sender(s)
    clock.advance(seconds=10)
    await rt2.outbox.catch_up(seconds=1)
    await rt2.close()
    assert s.sent, "the /start answer was never delivered"


async def test_a_second_start_of_the_worker_recovers_nothing_twice(settings, clock, catalogs):
    rt = await open_runtime(settings, clock=clock, catalogs=catalogs)
    await rt.outbox.start()
    s = MemorySender(Channel.TELEGRAM)
    rt.outbox.add_sender(s)
    sent_in_turn = 0

    async def ok(replies):
        nonlocal sent_in_turn
        sent_in_turn += 1

    for i in range(20):
        a = await rt.dispatcher.answer(telegram("/start", f"w{i}", chat=str(200 + i)))
        await rt.replies.deliver(a.reply_seq, a.replies, ok)
    # `govbot run --shell`: run_shell calls outbox.start() again on the live runtime
    await rt.outbox.start()
    await rt.outbox.run_once()
    await rt.close()
    assert sent_in_turn == 20
    assert s.sent == []  # nothing sent a second time
