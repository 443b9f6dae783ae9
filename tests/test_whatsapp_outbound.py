"""Out-of-turn messages on WhatsApp: the 24-hour window, update templates, held messages
released by the citizen's next message, status callbacks, Twilio errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from bot.config import Settings
from bot.domain import Button, Channel, Reply
from bot.outbound import Outgoing, enqueue
from tests.conftest import Clock
from tests.whatsapp_chat import TEMPLATES, Bot, WhatsAppChat, running_bot

NUMBER = "+77017654321"
ADDRESS = "whatsapp:" + NUMBER
ANSWER_TEXT = "Ответ по обращению KZ-2026-000042: документы готовы."
ANSWER = Outgoing(
    (Reply(ANSWER_TEXT, (Button("rate:5", "Оценить"),)),),
    purpose="staff_answer",
    reference="KZ-2026-000042",
)


@pytest.fixture
async def bot(settings: Settings, clock: Clock) -> AsyncIterator[Bot]:
    async with running_bot(settings, clock) as running:
        yield running


async def russian_citizen(bot: Bot) -> WhatsAppChat:
    chat = bot.chat(NUMBER)
    await chat.send("Здравствуйте")
    await chat.send("2")
    return chat


async def queue(bot: Bot, outgoing: Outgoing = ANSWER) -> int:
    runtime = bot.runtime
    async with runtime.storage.transaction() as tx:
        citizen = await tx.citizens.find(Channel.WHATSAPP, NUMBER)
        assert citizen is not None
        outbox_id = await enqueue(tx, citizen, outgoing, now=runtime.dispatcher.clock())
    runtime.outbox.wake()
    return outbox_id


async def row_status(bot: Bot, outbox_id: int) -> tuple[str, str | None, str | None]:
    async with bot.runtime.storage.read() as tx:
        row = await tx.outbox.get(outbox_id)
    assert row is not None
    return row.status, row.error, row.external_id


async def settled(bot: Bot, outbox_id: int, *statuses: str) -> tuple[str, str | None, str | None]:
    """The row once its status is one of `statuses` (the outbox works in the background)."""
    for _ in range(250):
        current = await row_status(bot, outbox_id)
        if current[0] in statuses:
            return current
        await asyncio.sleep(0.02)
    raise AssertionError(f"outbox row {outbox_id} is {await row_status(bot, outbox_id)}")


async def test_inside_the_window_the_message_goes_free_form(bot: Bot) -> None:
    await russian_citizen(bot)
    outbox_id = await queue(bot)
    [sent] = await bot.api.wait_for_sent(ADDRESS)
    assert sent["Body"].startswith("Ответ по обращению KZ-2026-000042")
    assert "1. Оценить" in sent["Body"]
    assert sent["From"] == "whatsapp:+77010000000"
    assert sent["StatusCallback"] == "https://govbot.example.kz/webhooks/twilio/status"
    _, _, external_id = await settled(bot, outbox_id, "sent")
    assert external_id == sent["Sid"]


async def test_outside_the_window_a_template_goes_and_the_message_follows_the_reply(
    bot: Bot, clock: Clock
) -> None:
    chat = await russian_citizen(bot)
    clock.advance(hours=25)
    outbox_id = await queue(bot)
    [nudge] = await bot.api.wait_for_sent(ADDRESS)
    assert nudge["ContentSid"] == TEMPLATES["ru"]
    assert json.loads(nudge["ContentVariables"]) == {"1": "KZ-2026-000042"}
    assert nudge["Body"] == (
        "По вашему обращению KZ-2026-000042 есть новости. Ответьте, чтобы прочитать."
    )
    assert await settled(bot, outbox_id, "held") == ("held", "template_sent", nudge["Sid"])
    # The nudge's own delivery report leaves the message held.
    assert await bot.api.send_status(nudge["Sid"], "delivered") == 204
    assert (await row_status(bot, outbox_id))[0] == "held"
    # A second message while silent: held too, without a second nudge.
    second = await queue(bot, Outgoing((Reply("Второе сообщение"),), "staff_answer", "KZ-1"))
    assert (await settled(bot, second, "held"))[1] == "template_already_sent"
    assert len(bot.api.sent_to(ADDRESS)) == 1

    clock.advance(hours=1)
    await chat.send("Что случилось?")
    assert chat.texts  # the citizen's own turn is answered as usual
    sent = await bot.api.wait_for_sent(ADDRESS, 3)
    bodies = [m.get("Body", "") for m in sent[1:]]
    assert any(b.startswith("Ответ по обращению KZ-2026-000042") for b in bodies)
    assert "Второе сообщение" in bodies
    _, _, external_id = await settled(bot, outbox_id, "sent")
    assert external_id == next(m["Sid"] for m in sent[1:] if "KZ-2026-000042" in m["Body"])


async def test_outside_the_window_without_a_template_the_message_waits_visibly(
    settings: Settings, clock: Clock
) -> None:
    async with running_bot(settings, clock, twilio_update_templates={"en": TEMPLATES["en"]}) as bot:
        chat = await russian_citizen(bot)
        clock.advance(days=2)
        outbox_id = await queue(bot)
        assert await settled(bot, outbox_id, "held") == ("held", "no_template", None)
        assert bot.api.sent_to(ADDRESS) == []
        await chat.send("1")
        [sent] = await bot.api.wait_for_sent(ADDRESS)
        assert "KZ-2026-000042" in sent["Body"]


async def test_status_callbacks_are_recorded(bot: Bot) -> None:
    await russian_citizen(bot)
    outbox_id = await queue(bot)
    [sent] = await bot.api.wait_for_sent(ADDRESS)
    await settled(bot, outbox_id, "sent")
    for status in ("queued", "sent", "delivered", "read"):
        assert await bot.api.send_status(sent["Sid"], status) == 204
        expected = "sent" if status == "queued" else status
        assert (await row_status(bot, outbox_id))[:2] == (expected, None)
    failed = await queue(bot, Outgoing((Reply("Ещё одно"),), "status_update"))
    [_, second] = await bot.api.wait_for_sent(ADDRESS, 2)
    await settled(bot, failed, "sent")
    assert await bot.api.send_status(second["Sid"], "undelivered", error_code=30008) == 204
    assert (await row_status(bot, failed))[:2] == ("undelivered", "30008")


async def test_a_status_callback_needs_a_valid_signature(bot: Bot) -> None:
    await russian_citizen(bot)
    outbox_id = await queue(bot)
    [sent] = await bot.api.wait_for_sent(ADDRESS)
    await settled(bot, outbox_id, "sent")
    form = {"MessageSid": sent["Sid"], "MessageStatus": "read", "AccountSid": bot.api.account_sid}
    assert (await bot.post(form, path="/webhooks/twilio/status", signature="forged"))[0] == 403
    signed_for_inbound = "https://govbot.example.kz/webhooks/twilio"
    refused = await bot.post(form, path="/webhooks/twilio/status", signed_for=signed_for_inbound)
    assert refused[0] == 403
    assert (await row_status(bot, outbox_id))[0] == "sent"


async def test_twilio_errors_become_retries_or_an_unreachable_citizen(bot: Bot) -> None:
    await russian_citizen(bot)
    bot.api.fail_next(500)
    retried = await queue(bot)
    await bot.api.wait_for_sent(ADDRESS, 0)
    for _ in range(250):
        status, error, _ = await row_status(bot, retried)
        if error:
            break
        await asyncio.sleep(0.02)
    assert (status, error) == ("pending", "20500")  # due again after a backoff
    assert bot.api.sent_to(ADDRESS) == []

    bot.api.fail_next(400, 63024)
    blocked = await queue(bot, Outgoing((Reply("Ещё"),), "status_update"))
    assert (await settled(bot, blocked, "failed"))[1] == "blocked"
    assert bot.rows("SELECT unreachable FROM citizens") == [(1,)]


async def test_a_deferred_outside_window_failure_holds_the_message(bot: Bot) -> None:
    chat = await russian_citizen(bot)
    bot.api.fail_next(code=63016, deferred=True)
    outbox_id = await queue(bot)
    [first] = await bot.api.wait_for_sent(ADDRESS)
    assert await settled(bot, outbox_id, "held") == ("held", "63016", first["Sid"])
    assert chat.number == NUMBER


async def test_a_campaign_template_goes_outside_the_window_instead_of_waiting(
    bot: Bot, clock: Clock
) -> None:
    """The campaign engine calls the sender directly with its own approved template."""
    await russian_citizen(bot)
    clock.advance(days=3)
    campaign_sid = "HX" + "d4" * 16
    bot.api.define_template(campaign_sid, "Неделя открытых дверей в ЦОНах.")
    async with bot.runtime.storage.read() as tx:
        citizen = await tx.citizens.find(Channel.WHATSAPP, NUMBER)
    assert citizen is not None
    sender = bot.runtime.outbox.senders["whatsapp"]
    outgoing = Outgoing((Reply("Неделя открытых дверей"),), "campaign", template=campaign_sid)
    delivery = await sender.deliver(citizen, outgoing)
    [sent] = bot.api.sent_to(ADDRESS)
    assert sent["ContentSid"] == campaign_sid
    assert sent["Body"] == "Неделя открытых дверей в ЦОНах."
    assert (delivery.held, delivery.external_id) == (False, sent["Sid"])
