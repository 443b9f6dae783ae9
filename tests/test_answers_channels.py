"""Answers in the chat on the messengers (issue 14), through the real libraries against
fakes on 127.0.0.1: on Telegram a Reply to a staff message joins that message's ticket and
its "Answer" button opens the reply step; on WhatsApp plain text answers a waiting ticket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.config import Settings
from bot.domain import Channel
from bot.runtime import Runtime
from bot.staff import actions
from bot.staff.accounts import add_account
from bot.storage.records import Ticket, TicketDraft
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_chat import TgCitizen, running_bot, runtime_of, settle
from tests.test_answers import thread
from tests.whatsapp_chat import running_bot as whatsapp_bot

CHAT = 7001


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        yield fake


async def complaint(
    runtime: Runtime, reference: str, channel: Channel = Channel.TELEGRAM
) -> Ticket:
    now = runtime.dispatcher.clock()
    async with runtime.storage.transaction() as tx:
        if channel is Channel.TELEGRAM:
            citizen = await tx.citizens.find(channel, str(CHAT))
        else:
            rows = await tx.conn.execute_fetchall(
                "SELECT id FROM citizens WHERE channel = ?", (channel.value,)
            )
            citizen = await tx.citizens.get(next(iter(rows))[0])
        assert citizen is not None
        draft = TicketDraft("complaint", "ru", citizen.id, channel.value, "healthcare")
        return await tx.tickets.add(draft, reference=reference, now=now)


async def staff_reply(
    runtime: Runtime, ticket: Ticket, text: str, *, needs_answer: bool = False
) -> None:
    """What the console's reply form does, as a reviewer."""
    now = runtime.dispatcher.clock()
    async with runtime.storage.transaction() as tx:
        db = tx.for_staff
        user = await db.staff.by_username("rita")
        if user is None:
            user = await add_account(db, "rita", "reviewer", "pw-" + "x" * 20, locale="en", now=now)
        actor = actions.Actor(user, None, now)
        await actions.reply(
            db, runtime.catalogs, actor, ticket, text=text, needs_answer=needs_answer
        )
    runtime.outbox.wake()


async def test_a_reply_to_a_staff_message_joins_its_ticket(
    settings: Settings, api: FakeTelegramApi
) -> None:
    async with running_bot(settings, api, "polling") as app:
        runtime = runtime_of(app)
        citizen = TgCitizen(api, CHAT, "ru")
        await citizen.start()
        first = await complaint(runtime, "AB-1001")
        second = await complaint(runtime, "AB-1002")
        shown = len(citizen.messages)  # counted before the first may already have arrived
        await staff_reply(runtime, first, "Какой это был ЦОН?")
        await staff_reply(runtime, second, "Уточните дату")
        sent = await api.wait_for_sent(CHAT, shown + 2)
        asked: dict[str, Any] = next(m for m in sent if "Какой это был ЦОН?" in m["text"])

        before = len(citizen.messages)
        api.push_text(CHAT, "ЦОН №3 на Абая", from_lang="ru", reply_to=asked)
        await api.wait_for_sent(CHAT, before + 1)
        await settle(api)
        assert "Добавлено к обращению AB-1001" in citizen.messages[before]["text"]
        assert await thread(runtime, first) == [
            ("staff", "Какой это был ЦОН?"),
            ("citizen", "ЦОН №3 на Абая"),
        ]
        assert await thread(runtime, second) == [("staff", "Уточните дату")]

        await citizen.send("а без ответа?")  # not a reply, and no ticket waits
        assert "Выберите" in citizen.text
        assert len(await thread(runtime, first)) == 2


async def test_the_answer_button_under_a_staff_message_opens_the_reply_step(
    settings: Settings, api: FakeTelegramApi
) -> None:
    async with running_bot(settings, api, "polling") as app:
        runtime = runtime_of(app)
        citizen = TgCitizen(api, CHAT, "ru")
        await citizen.start()
        ticket = await complaint(runtime, "AB-2001")
        await staff_reply(runtime, ticket, "Пришлите номер талона")
        await api.wait_for_sent(CHAT, len(citizen.messages) + 1)
        asked = citizen.last
        [[button]] = asked["reply_markup"]["inline_keyboard"]
        assert button["text"] == "✍️ Ответить"
        assert button["callback_data"] == f"link:status:reply:{ticket.id}"

        before = len(citizen.messages)
        api.push_callback(CHAT, button["callback_data"], asked["message_id"], from_lang="ru")
        await api.wait_for_sent(CHAT, before + 1)
        await settle(api)
        assert "Напишите ответ одним сообщением" in citizen.text
        await citizen.send("Талон А-17")
        assert "ваш ответ добавлен к обращению AB-2001" in citizen.text
        assert await thread(runtime, ticket) == [
            ("staff", "Пришлите номер талона"),
            ("citizen", "Талон А-17"),
        ]

        # A link forged for a ticket of another chat opens nothing.
        before = len(citizen.messages)
        forged = f"link:status:reply:{ticket.id + 1}"
        api.push_callback(CHAT, forged, asked["message_id"], from_lang="ru")
        await api.wait_for_sent(CHAT, before + 1)
        await settle(api)
        assert "обращения с таким номером нет" in citizen.text


async def test_on_whatsapp_plain_text_answers_the_waiting_ticket(settings: Settings, clock) -> None:
    async with whatsapp_bot(settings, clock) as bot:
        chat = bot.chat("+77011234567")
        await chat.send("Сәлем")
        await chat.send("2")  # Русский
        assert "Главное меню" in chat.text
        ticket = await complaint(bot.runtime, "AB-3001", Channel.WHATSAPP)
        await staff_reply(bot.runtime, ticket, "В какое время вы были в ЦОН?", needs_answer=True)
        await bot.until(lambda: bot.api.sent_to(chat.address))
        await chat.send("Около 11 утра")
        assert "Добавлено к обращению AB-3001" in chat.text
        assert await thread(bot.runtime, ticket) == [
            ("staff", "В какое время вы были в ЦОН?"),
            ("citizen", "Около 11 утра"),
        ]
