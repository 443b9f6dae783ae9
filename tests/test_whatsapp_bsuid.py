# ruff: noqa: F811 -- the tests take tests/backends.py's `settings`: both backends
"""WhatsApp usernames (issue 16): since 2026 a WhatsApp user has a business-scoped user ID
(BSUID, "KZ.1502576394655843"), and one who hides their number reaches us as
From=whatsapp:KZ.… . Twilio adds the BSUID beside a number it still shows (ExternalUserId);
that links the two, so the citizen keeps their tickets, news, conversation and status
whichever of the two the next message comes from."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import pytest

from bot.config import Settings
from bot.domain import Channel, Reply
from bot.outbound import Outgoing, enqueue
from bot.storage.records import TicketDraft
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.conftest import Clock
from tests.fakes.twilio_api import inbound_params
from tests.test_answers_channels import staff_reply
from tests.whatsapp_chat import BOT_NUMBER, SID, TEMPLATES, Bot, running_bot

PHONE = "+77015550123"
BSUID = "KZ.1502576394655843"
REFERENCE = re.compile(r"Номер: (\S+)")


@pytest.fixture
async def bot(settings: Settings, clock: Clock) -> AsyncIterator[Bot]:
    async with running_bot(settings, clock) as running:
        yield running


async def file_complaint(bot: Bot) -> str:
    """A complaint in Russian from the phone number, answered by numbers; its reference."""
    chat = bot.chat(PHONE)
    await chat.send("Здравствуйте")
    await chat.send("2")  # Русский
    for step in ("1", "1", "1", "1"):  # complaint, category, body, region
        await chat.send(step)
    await chat.send("Очень долгая очередь в ЦОНе, ждала три часа и не приняли документы")
    await chat.send("1")  # Продолжить
    await chat.send("1")  # no files: Готово
    await chat.send("Сапарова Айгерим Нурлановна")
    await chat.send("1")  # ИИН: Пропустить
    await chat.send("1")  # Подтвердить
    found = REFERENCE.search(chat.text)
    assert found, chat.text
    return found.group(1)


async def test_a_citizen_who_hides_their_number_keeps_tickets_news_and_status(
    bot: Bot, clock: Clock
) -> None:
    reference = await file_complaint(bot)
    phone = bot.chat(PHONE)
    await phone.send("подписаться")
    assert "Вы подписаны" in phone.text

    # Twilio now names the BSUID beside the number: the two are linked.
    linked = bot.chat(PHONE, bsuid=BSUID)
    await linked.send("меню")
    assert "Главное меню" in linked.text  # the same conversation, in Russian

    # The citizen hides the number: From is the BSUID, with nothing alongside.
    hidden = bot.chat(BSUID)
    await hidden.send("меню")
    assert "Главное меню" in hidden.text, hidden.text
    assert bot.rows("SELECT count(*), sum(subscribed) FROM citizens") == [(1, 1)]
    # The status of the complaint: a typed reference answers only in the chat that filed it.
    await hidden.send("🔎 Проверить статус")
    await hidden.send(reference)
    assert reference in hidden.text and "Статус: принято" in hidden.text, hidden.text

    # Staff's answer goes to the address the citizen writes from now, within the window.
    async with bot.runtime.storage.read() as tx:
        ticket = await tx.tickets.by_reference(reference)
    assert ticket is not None
    await staff_reply(bot.runtime, ticket, "Уточните, пожалуйста, дату визита")
    [sent] = await bot.until(lambda: bot.api.sent_to("whatsapp:" + BSUID))
    assert "Уточните, пожалуйста, дату визита" in bot.api.seen(sent)
    assert "ContentSid" not in sent or not sent["ContentSid"]  # free-form: in the window
    assert bot.api.sent_to("whatsapp:" + PHONE) == []

    # Writing from the number again (Twilio shows it again): still the one citizen.
    await linked.send("меню")
    assert "Главное меню" in linked.text
    assert bot.rows("SELECT count(*) FROM citizens") == [(1,)]
    assert bot.rows("SELECT count(*) FROM citizen_keys") == [(1,)]


async def test_the_bsuid_and_the_number_are_never_stored_in_plaintext(bot: Bot) -> None:
    await bot.chat(PHONE, bsuid=BSUID).send("Сәлем")
    await bot.chat(BSUID).send("Сәлем")
    stored = bot.database_text()
    assert "1502576394655843" not in stored and "7015550123" not in stored


async def test_two_rows_of_one_citizen_are_merged_once_when_a_message_links_them(
    bot: Bot, clock: Clock
) -> None:
    """The BSUID wrote first (a new phone that hid its number) while the number had a row
    of its own: the first message that names both merges them into the older row, once."""
    by_phone, by_bsuid = bot.chat(PHONE), bot.chat(BSUID)
    await by_phone.send("Сәлем")
    await by_phone.send("2")  # Русский
    await by_phone.send("подписаться")
    await by_bsuid.send("Hello")
    await by_bsuid.send("3")  # English
    rows = bot.rows("SELECT id FROM citizens ORDER BY id")
    assert len(rows) == 2
    (older,), (newer,) = rows
    async with bot.runtime.storage.transaction() as tx:
        now = clock()
        for citizen_id, reference in ((older, "AB-1001"), (newer, "AB-1002")):
            draft = TicketDraft("complaint", "ru", citizen_id, Channel.WHATSAPP.value, "healthcare")
            await tx.tickets.add(draft, reference=reference, now=now)

    both = bot.chat(PHONE, bsuid=BSUID)
    await both.send("menu")
    assert bot.rows("SELECT id, subscribed FROM citizens") == [(older, 1)]
    tickets = bot.rows("SELECT reference, citizen_id FROM tickets ORDER BY reference")
    assert tickets == [("AB-1001", older), ("AB-1002", older)]
    assert bot.rows("SELECT count(*) FROM citizen_keys WHERE citizen_id = ?", older) == [(1,)]
    # The language of the conversation the citizen held last (English) is kept.
    assert "Main menu" in both.text, both.text

    await both.send("menu")  # linked already: nothing to merge
    await bot.chat(BSUID).send("menu")
    assert bot.rows("SELECT id FROM citizens") == [(older,)]
    assert bot.rows("SELECT count(*) FROM citizen_keys") == [(1,)]


async def test_the_window_templates_and_campaigns_reach_a_bsuid(bot: Bot, clock: Clock) -> None:
    hidden = bot.chat(BSUID)
    await hidden.send("Здравствуйте")
    await hidden.send("2")  # Русский
    await hidden.send("подписаться")
    address = "whatsapp:" + BSUID
    async with bot.runtime.storage.read() as tx:
        citizen = await tx.citizens.find(Channel.WHATSAPP, BSUID)
    assert citizen is not None and citizen.subscribed

    # Outside the 24-hour window: the update template goes to the BSUID, the answer waits.
    clock.advance(hours=25)
    answer = Outgoing((Reply("Документы готовы"),), "staff_answer", reference="AB-1001")
    async with bot.runtime.storage.transaction() as tx:
        await enqueue(tx, citizen, answer, now=clock())
    bot.runtime.outbox.wake()
    [nudge] = await bot.api.wait_for_sent(address)
    assert nudge["ContentSid"] == TEMPLATES["ru"]
    # The citizen writes again: the window opens, the answer follows to the same address.
    await hidden.send("Что нового?")
    sent = await bot.api.wait_for_sent(address, 2)
    assert sent[1]["Body"] == "Документы готовы"

    # A campaign outside the window: its own template, to the BSUID.
    clock.advance(days=3)
    campaign_sid = "HX" + "d4" * 16
    bot.api.define_template(campaign_sid, "Неделя открытых дверей в ЦОНах.")
    async with bot.runtime.storage.read() as tx:
        citizen = await tx.citizens.find(Channel.WHATSAPP, BSUID)
    assert citizen is not None
    sender = bot.runtime.outbox.senders["whatsapp"]
    news = Outgoing((Reply("Неделя открытых дверей"),), "campaign", template=campaign_sid)
    delivery = await sender.deliver(citizen, news)
    assert bot.api.sent_to(address)[-1]["Sid"] == delivery.external_id
    assert bot.api.sent == bot.api.sent_to(address)  # nothing went anywhere else


async def test_no_bsuid_in_logs(bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await bot.chat(PHONE, bsuid=BSUID).send("hi")
    await bot.chat(BSUID).send("1")
    parent = inbound_params(
        account_sid=SID, from_="whatsapp:KZ.ENT.1502576394655843", to=BOT_NUMBER, body="hi"
    )
    assert (await bot.post(parent))[0] == 400  # a parent BSUID names no chat: refused
    assert "1502576394655843" not in caplog.text and "7015550123" not in caplog.text


async def test_tap_to_answer_menus_reach_a_bsuid(settings: Settings, clock: Clock) -> None:
    async with running_bot(settings, clock, interactive=True) as bot:
        hidden = bot.chat(BSUID)
        await hidden.send("Сәлем")
        assert hidden.options and all(m["To"] == "whatsapp:" + BSUID for m in hidden.messages)
        await hidden.tap("Русский")
        assert "Главное меню" in hidden.text, hidden.text


OTHER_BSUID = "KZ.9999999999999999"


async def test_a_number_that_comes_with_another_users_id_has_changed_hands(settings, clock) -> None:
    """Found by an outside review: a recycled number written from by a new owner (another
    WhatsApp account, so another BSUID) was linked to the old owner's row, and the new
    owner, writing with the number hidden, then read the old owner's tickets. A number
    already linked to one BSUID that arrives with a different one belongs to someone
    else now: it leaves the old row, which keeps its own BSUID and tickets."""
    async with running_bot(settings, clock) as bot:
        reference = await file_complaint(bot)
        await bot.chat(PHONE, bsuid=BSUID).send("меню")  # the owner's BSUID is linked
        newcomer = bot.chat(PHONE, bsuid=OTHER_BSUID)
        await newcomer.send("Здравствуйте")
        assert bot.rows("SELECT count(*) FROM citizens") == [(2,)]
        hidden = bot.chat(OTHER_BSUID)
        await hidden.send("🔎 Проверить статус")
        await hidden.send(reference)
        assert "Статус: принято" not in hidden.text
        owner = bot.chat(BSUID)  # the owner, by their own id, still has their ticket
        await owner.send("🔎 Проверить статус")
        await owner.send(reference)
        assert reference in owner.text and "не найдено" not in owner.text.lower()


async def test_an_unsubscribe_under_one_key_is_not_undone_when_the_rows_merge(
    settings, clock
) -> None:
    """Found by an outside review: news was "on if any row had it", so an «отписаться»
    sent with the number hidden was undone when a later message named both keys."""
    async with running_bot(settings, clock) as bot:
        await file_complaint(bot)
        phone = bot.chat(PHONE)
        await phone.send("подписаться")
        clock.advance(days=30)
        hidden = bot.chat(BSUID)  # a username now: the number is not shown
        await hidden.send("Здравствуйте")
        await hidden.send("2")  # Русский
        await hidden.send("отписаться")
        clock.advance(minutes=5)
        await bot.chat(BSUID, bsuid=PHONE).send("меню")
        assert bot.rows("SELECT count(*), sum(subscribed) FROM citizens") == [(1, 0)]
