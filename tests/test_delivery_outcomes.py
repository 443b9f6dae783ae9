# ruff: noqa: F811 -- the tests take tests/backends.py's `settings`: both backends
"""Issue 11, "a timeout is unknown, not failed": a sender makes one attempt and says how it
ended; only the queue that owns the message tries again. The real python-telegram-bot and
twilio libraries talk HTTP to the fakes, which carry a send out at once and answer it after
the client has stopped waiting (a slow API): the request arrived, the client cannot know.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from twilio.rest import Client

from bot.attachments import AttachmentStore
from bot.campaigns.cli import report_table
from bot.campaigns.records import ReportRow
from bot.channels.telegram.request import AiohttpRequest
from bot.channels.telegram.sender import BotApi, TelegramSender
from bot.channels.whatsapp.sender import WhatsAppSender
from bot.channels.whatsapp.twilio_http import TwilioHttp
from bot.domain import Button, Channel, Reply
from bot.errors import DeliveryError
from bot.i18n import Catalogs
from bot.outbound import Outgoing, enqueue
from bot.pacing import Budget
from bot.runtime import Runtime, campaign_service
from bot.web.staff.campaign_view import KNOWN_REASONS, report
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.campaign_support import add_subscribers, draft
from tests.conftest import Clock
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.twilio_api import FakeTwilioApi
from tests.telegram_chat import TOKEN
from tests.whatsapp_chat import BOT_NUMBER, SID
from tests.whatsapp_chat import TOKEN as TWILIO_TOKEN

READ_TIMEOUT = 0.2  # the client's; the slow fakes answer after LATE
LATE = 0.6


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the adapter does on start: PTB's RetryAfter.retry_after warns otherwise."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        yield fake


@asynccontextmanager
async def telegram_sender(
    api: FakeTelegramApi,
    attachments: AttachmentStore,
    *,
    read_timeout: float = READ_TIMEOUT,
    per_second: float = 0.0,
) -> AsyncIterator[TelegramSender]:
    """The production sender on PTB's transport and error mapping, against the fake."""
    request = AiohttpRequest(read_timeout=read_timeout)
    await request.initialize()
    try:
        bot_api = BotApi(api.url, TOKEN, request, request)
        yield TelegramSender(bot_api, Budget(per_second, 0.0, chat_burst=3), attachments)
    finally:
        await request.shutdown()


async def run_campaign(
    runtime: Runtime, timeout: float = 10.0
) -> tuple[dict[str, int], list[ReportRow]]:
    """Send a campaign to every subscriber; its final counts and report rows."""
    service = campaign_service(runtime, poll_seconds=0.05)
    service.engine.poll_seconds = 0.05
    service.engine.backoff_seconds = 0.05
    await service.start()
    try:
        campaign = await service.create(draft())
        async with asyncio.timeout(timeout):
            while True:
                async with service.campaigns.read() as store:
                    progress = await store.progress(campaign.id, now=datetime.now(UTC))
                    if progress.run_status in ("done", "cancelled"):
                        assert progress.run_id is not None
                        return progress.counts, await store.report(progress.run_id)
                await asyncio.sleep(0.05)  # polling the database row, as `campaign show` does
    finally:
        await service.stop()


def assert_reported_unknown(rows: list[ReportRow], n: int) -> None:
    """`govbot campaign show` and the staff console both count them apart, as timeouts."""
    assert f"unknown: timeout: {n}" in report_table(rows)
    console = report(rows)
    assert console.totals == {"unknown": n}
    assert console.reasons == [("unknown", "timeout", n)]
    assert "timeout" in KNOWN_REASONS  # explained in the reader's language


# ---- (a) the slow-API campaign ---------------------------------------------------------------


async def test_slow_bot_api_campaign_reaches_nobody_twice_and_reports_unknown(
    live: Runtime, api: FakeTelegramApi
) -> None:
    members = await add_subscribers(live, 6, channels=("telegram",))
    api.answer_late("sendMessage", LATE)
    async with telegram_sender(api, live.attachments) as sender:
        live.outbox.senders["telegram"] = sender
        counts, report = await run_campaign(live)
    per_chat = Counter(c.params["chat_id"] for c in api.calls_to("sendMessage"))
    assert per_chat == {int(m.chat_key): 1 for m in members}  # each got it, nobody twice
    assert counts == {"unknown": 6}
    assert_reported_unknown(report, 6)


async def test_slow_twilio_campaign_reaches_nobody_twice_and_reports_unknown(
    live: Runtime, catalogs: Catalogs
) -> None:
    members = await add_subscribers(live, 6, channels=("whatsapp",))
    assert all(m.fresh for m in members)  # inside the 24 hours: free-form messages
    settings = live.settings.with_overrides(
        twilio_account_sid=SID, twilio_auth_token=TWILIO_TOKEN, twilio_whatsapp_from=BOT_NUMBER
    )
    async with FakeTwilioApi(SID, TWILIO_TOKEN) as twilio:
        twilio.answer_late(LATE)
        async with TwilioHttp(twilio.url, timeout=READ_TIMEOUT) as http:
            client = Client(SID, TWILIO_TOKEN, http_client=http)
            sender = WhatsAppSender(
                settings,
                client,
                catalogs,
                status_callback=None,
                budget=live.pacing.whatsapp,
            )
            live.outbox.senders["whatsapp"] = sender
            counts, report = await run_campaign(live)
        per_number = Counter(m["To"] for m in twilio.sent)
    assert per_number == {f"whatsapp:{m.chat_key}": 1 for m in members}
    assert counts == {"unknown": 6}
    assert_reported_unknown(report, 6)


# ---- (b) one request per send --------------------------------------------------------------


async def test_a_telegram_timeout_is_one_request_and_unknown(
    runtime: Runtime, api: FakeTelegramApi
) -> None:
    api.answer_late("sendMessage", LATE)
    async with telegram_sender(api, runtime.attachments) as sender:
        with pytest.raises(DeliveryError) as caught:
            await sender.send_replies(42, [Reply("Ваше обращение принято.")])
    assert (caught.value.unknown, caught.value.retryable, caught.value.code) == (
        True,
        False,
        "timeout",
    )
    assert len(api.calls_to("sendMessage")) == 1
    assert len(api.sent_to(42)) == 1  # it did arrive: hence "unknown", never "failed"


async def test_no_connection_is_a_plain_failure_that_may_be_retried(runtime: Runtime) -> None:
    async with FakeTelegramApi() as gone:
        pass  # its port is closed now: the request cannot leave
    async with telegram_sender(gone, runtime.attachments) as sender:
        with pytest.raises(DeliveryError) as caught:
            await sender.send_replies(42, [Reply("x")])
    assert (caught.value.unknown, caught.value.retryable) == (False, True)


# ---- (c) the outbox owns the retry -----------------------------------------------------------


async def queue_staff_answer(runtime: Runtime, chat_key: str) -> int:
    async with runtime.storage.transaction() as tx:
        citizen, _ = await tx.citizens.get_or_create(
            Channel.TELEGRAM, chat_key, now=runtime.outbox.clock()
        )
        answer = Outgoing((Reply("Ответ по обращению KZ-2026-000042."),), "staff_answer")
        return await enqueue(tx, citizen, answer, now=runtime.outbox.clock())


async def test_outbox_retries_an_unknown_staff_message_later_with_backoff(
    runtime: Runtime, api: FakeTelegramApi, clock: Clock
) -> None:
    outbox_id = await queue_staff_answer(runtime, "4242")
    api.answer_late("sendMessage", LATE)
    async with telegram_sender(api, runtime.attachments) as sender:
        runtime.outbox.senders["telegram"] = sender
        assert await runtime.outbox.run_once() == 1
        assert len(api.calls_to("sendMessage")) == 1  # one try, not four
        async with runtime.storage.read() as tx:
            row = await tx.outbox.get(outbox_id)
        assert row is not None and (row.status, row.error) == ("pending", "timeout")

        api.answer_late("sendMessage", 0)
        assert await runtime.outbox.run_once() == 0  # backing off: not due yet
        clock.advance(seconds=0.9)
        assert await runtime.outbox.run_once() == 0
        clock.advance(seconds=0.2)  # the first backoff is 1 s, doubling after each try
        assert await runtime.outbox.run_once() == 1
    async with runtime.storage.read() as tx:
        row = await tx.outbox.get(outbox_id)
    assert row is not None and (row.status, row.attempts) == ("sent", 2)
    assert len(api.calls_to("sendMessage")) == 2  # at least once: the owner chose to repeat


async def test_outbox_waits_out_a_429_without_spending_an_attempt(
    runtime: Runtime, api: FakeTelegramApi, clock: Clock
) -> None:
    outbox_id = await queue_staff_answer(runtime, "4343")
    api.fail_next("sendMessage", status=429, retry_after=7)
    async with telegram_sender(api, runtime.attachments) as sender:
        runtime.outbox.senders["telegram"] = sender
        assert await runtime.outbox.run_once() == 1
    async with runtime.storage.read() as tx:
        row = await tx.outbox.get(outbox_id)
    assert row is not None and (row.status, row.attempts, row.error) == ("pending", 0, "429")
    assert len(api.calls_to("sendMessage")) == 1  # the sender did not wait and repeat
    clock.advance(seconds=6.9)
    async with runtime.storage.transaction() as tx:
        assert await tx.outbox.claim_due(["telegram"], now=clock()) == []
    clock.advance(seconds=0.2)
    async with runtime.storage.transaction() as tx:
        [due] = await tx.outbox.claim_due(["telegram"], now=clock())
    assert due.id == outbox_id


# ---- (d) a hold stops the sends already waiting for a slot ------------------------------------


async def test_a_429_holds_every_waiting_send_for_its_retry_after(
    runtime: Runtime, api: FakeTelegramApi
) -> None:
    """Two sends a second: the first two leave at once, one draws a 429 (retry after 1 s)
    while three more wait for a slot. None of them may reach Telegram during the hold."""
    api.fail_next("sendMessage", status=429, retry_after=1)
    async with telegram_sender(api, runtime.attachments, read_timeout=5, per_second=2) as sender:
        sends = [sender.send_replies(chat, [Reply("Неделя открытых дверей")]) for chat in range(5)]
        results = await asyncio.gather(*sends, return_exceptions=True)
    [throttled] = [c for c in api.calls_to("sendMessage") if c.status == 429]
    hold_end = throttled.time + 1.0
    during = [c for c in api.calls_to("sendMessage") if throttled.time + 0.2 < c.time < hold_end]
    assert during == []
    # The sender did not repeat the refused send: its owner decides.
    refused = [r for r in results if isinstance(r, DeliveryError)]
    assert [r.retry_after for r in refused] == [1.0]
    assert len(api.calls_to("sendMessage")) == 5


async def test_a_hold_set_while_waiting_for_a_slot_is_honoured_after_the_slot() -> None:
    """The same on a clock the test moves: the waiter's token comes during the hold."""
    now = [0.0]
    sleepers: list[tuple[float, asyncio.Future[None]]] = []
    asleep = asyncio.Event()

    async def sleep(seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        sleepers.append((now[0] + seconds, future))
        asleep.set()
        await future

    async def advance_to(moment: float, waiter: asyncio.Task[None]) -> None:
        """Move the clock; wake the sleepers due; return once the waiter slept or left."""
        now[0] = moment
        due = [s for s in sleepers if s[0] <= moment]
        if not due:
            return
        asleep.clear()
        for entry in due:
            sleepers.remove(entry)
            entry[1].set_result(None)
        sleeping = asyncio.ensure_future(asleep.wait())
        await asyncio.wait({waiter, sleeping}, return_when=asyncio.FIRST_COMPLETED)
        sleeping.cancel()

    pacer = Budget(1.0, 0.0, chat_burst=3, clock=lambda: now[0], sleep=sleep)
    await pacer.wait(1, urgent=True)  # takes the only token
    waiter = asyncio.create_task(pacer.wait(2, urgent=True))
    await asleep.wait()  # waiting for the next token, due at 1.0
    pacer.hold(5)  # Telegram said 429 meanwhile
    await advance_to(1.0, waiter)
    assert not waiter.done()  # the token's time came, but the hold has not ended
    await advance_to(4.9, waiter)
    assert not waiter.done()
    for moment in (5.0, 6.0, 7.0):
        await advance_to(moment, waiter)
    assert waiter.done() and now[0] >= 5.0
    await waiter


# ---- (e) how many replies went out ----------------------------------------------------------


async def test_send_replies_says_how_many_replies_went_before_the_failure(
    runtime: Runtime, api: FakeTelegramApi
) -> None:
    replies = [
        Reply("Обращение KZ-2026-000042 зарегистрировано.", (Button("m:menu", "Меню"),)),
        Reply("Оцените, пожалуйста, обслуживание.", (Button("rate:5", "5"),)),
        Reply("Спасибо!"),
    ]
    api.fail_next("sendMessage", status=502, retry_after=None, after=1)
    async with telegram_sender(api, runtime.attachments) as sender:
        with pytest.raises(DeliveryError) as caught:
            await sender.send_replies(77, replies)
    assert caught.value.delivered == 1
    assert caught.value.unknown  # a 502 may have been acted on
    assert [c.status for c in api.calls_to("sendMessage")] == [200, 502]  # then it stopped


async def test_whatsapp_send_replies_counts_whole_replies_before_the_failure(
    live: Runtime, catalogs: Catalogs
) -> None:
    settings = live.settings.with_overrides(
        twilio_account_sid=SID, twilio_auth_token=TWILIO_TOKEN, twilio_whatsapp_from=BOT_NUMBER
    )
    # Joined, the first two fill one body of at most 1,600 characters; the third its own.
    replies = [Reply("а" * 700), Reply("б" * 700), Reply("в" * 700)]
    async with FakeTwilioApi(SID, TWILIO_TOKEN) as twilio:
        twilio.fail_next(503, after=1)
        async with TwilioHttp(twilio.url) as http:
            client = Client(SID, TWILIO_TOKEN, http_client=http)
            sender = WhatsAppSender(
                settings,
                client,
                catalogs,
                status_callback=None,
                budget=live.pacing.whatsapp,
            )
            with pytest.raises(DeliveryError) as caught:
                await sender.send_replies("+77011234567", replies, "ru")
        [sent] = twilio.sent
    assert caught.value.delivered == 2
    assert sent["Body"] == "а" * 700 + "\n\n" + "б" * 700
