"""Conversation replies are written before they are sent: a crash between the step's
commit and the send leaves them for the outbox worker, a sent reply is not sent again,
a retried Twilio webhook gets its answer, and a tip's replies are not kept.

Each test repeats a fault that lost answers before: the process dying after the step
committed, and Twilio retrying a webhook whose first answer it never got.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.config import Settings
from bot.domain import Channel, Inbound, Reply
from bot.i18n import Catalogs
from bot.outbound import MemorySender
from bot.runtime import open_runtime
from tests.conftest import Clock
from tests.fakes.twilio_api import inbound_params
from tests.whatsapp_chat import BOT_NUMBER, SID, WEBHOOK, bodies, running_bot


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def telegram(text: str, update: str) -> Inbound:
    return Inbound(
        channel=Channel.TELEGRAM, chat_key="4242", text=text, locale_hint="en", external_id=update
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
    assert rows(settings.database_path, "SELECT count(*) FROM outbox") == [(0,)]
    watermark = rows(settings.database_path, "SELECT sent_to FROM reply_watermark")
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
    from bot.errors import DeliveryError

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
        assert rows(settings.database_path, "SELECT purpose, status FROM outbox") == [
            ("reply-sensitive", "sending")
        ]
        runtime.replies.sent(seq)
        await runtime.outbox.run_once()
        assert rows(settings.database_path, "SELECT count(*) FROM outbox") == [(0,)]
    finally:
        await runtime.close()


async def test_an_answer_is_kept_with_its_session_not_in_a_row(
    settings: Settings, clock: Clock, catalogs: Catalogs
) -> None:
    runtime = await open_runtime(settings, clock=clock, catalogs=catalogs)
    try:
        answer = await runtime.dispatcher.answer(telegram("/start", "u9"))
        assert rows(settings.database_path, "SELECT count(*) FROM outbox") == [(0,)]
        [(seq, sealed)] = rows(settings.database_path, "SELECT reply_seq, reply FROM sessions")
        assert seq == answer.reply_seq
        assert b"Hello" not in sealed  # encrypted like the session
    finally:
        await runtime.close()
