"""The "Answer" option under a staff message where options are numbered (issue 14): on
WhatsApp (the real twilio library against the fake Twilio API) and in the terminal chat.

It is numbered after the options on the citizen's screen, so its number (or its label, in
any language) opens the answer to that ticket, and the menu on screen keeps its numbers."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.channels.console import ConsoleSender, render
from bot.config import Settings
from bot.domain import Button, Channel, Reply
from bot.flow import link_payload
from bot.link_options import number_links
from bot.outbound import Delivery, Outgoing
from bot.runtime import Runtime
from bot.staff import actions
from bot.staff.accounts import add_account
from bot.storage.records import Citizen, Ticket, TicketDraft
from tests.chat import Chat
from tests.conftest import Clock, start_in
from tests.test_answers import thread
from tests.test_answers_channels import staff_reply
from tests.whatsapp_chat import running_bot

NUMBER = "+77011234567"
LANGUAGE_OPTION = {"kk": "1", "ru": "2", "en": "3"}
ANSWER = {"kk": "Жауап беру", "ru": "Ответить", "en": "Reply"}
WRITE = {
    "kk": "Жауабыңызды бір хабарламамен жазыңыз",
    "ru": "Напишите ответ одним сообщением",
    "en": "Write your answer in one message",
}
ADDED = {
    "kk": "Рақмет: жауабыңыз {ref} өтінішіне қосылды",
    "ru": "Спасибо: ваш ответ добавлен к обращению {ref}",
    "en": "Thank you: your answer has been added to request {ref}",
}
QUESTION = {
    "kk": "Қай ХҚКО-да болдыңыз?",
    "ru": "В каком ЦОН вы были?",
    "en": "Which service centre was it?",
}
OPTION = re.compile(r"^\s*(\d+)[.)] (.+)$", re.MULTILINE)


def options(text: str) -> dict[int, str]:
    """The numbered options in a text, as WhatsApp and the terminal show them."""
    return {int(number): label for number, label in OPTION.findall(text)}


def answer_number(text: str, lang: str) -> int:
    [number] = [n for n, label in options(text).items() if ANSWER[lang] in label]
    return number


async def filed(runtime: Runtime, reference: str, lang: str, channel: Channel) -> Ticket:
    """A complaint from the one citizen of `channel`, as the complaint flow stores one."""
    async with runtime.storage.transaction() as tx:
        rows = await tx.conn.execute_fetchall(
            "SELECT id FROM citizens WHERE channel = ?", (channel.value,)
        )
        draft = TicketDraft("complaint", lang, next(iter(rows))[0], channel.value, "healthcare")
        return await tx.tickets.add(draft, reference=reference, now=runtime.dispatcher.clock())


@pytest.mark.parametrize("lang", ["kk", "ru"])
async def test_on_whatsapp_the_answer_option_is_numbered_after_the_menu_and_answers(
    settings: Settings, clock: Clock, lang: str
) -> None:
    async with running_bot(settings, clock) as bot:
        chat = bot.chat(NUMBER)
        await chat.send("Сәлем")
        await chat.send(LANGUAGE_OPTION[lang])
        menu = options(chat.text)
        ticket = await filed(bot.runtime, "AB-3001", lang, Channel.WHATSAPP)
        await staff_reply(bot.runtime, ticket, QUESTION[lang])
        [staff] = await bot.api.wait_for_sent(chat.address)
        assert QUESTION[lang] in staff["Body"]
        number = answer_number(staff["Body"], lang)
        assert number == max(menu) + 1

        await chat.send(str(number))
        assert WRITE[lang] in chat.text
        await chat.send("ЦОН №3")
        assert ADDED[lang].format(ref="AB-3001") in chat.text
        assert await thread(bot.runtime, ticket) == [
            ("staff", QUESTION[lang]),
            ("citizen", "ЦОН №3"),
        ]


@pytest.mark.parametrize(
    ("lang", "typed"), [("kk", "жауап беру"), ("ru", "Ответить"), ("ru", "Reply")]
)
async def test_on_whatsapp_the_answer_option_is_taken_by_its_label_in_any_language(
    settings: Settings, clock: Clock, lang: str, typed: str
) -> None:
    async with running_bot(settings, clock) as bot:
        chat = bot.chat(NUMBER)
        await chat.send("Сәлем")
        await chat.send(LANGUAGE_OPTION[lang])
        ticket = await filed(bot.runtime, "AB-3002", lang, Channel.WHATSAPP)
        await staff_reply(bot.runtime, ticket, QUESTION[lang])
        await bot.api.wait_for_sent(chat.address)
        await chat.send(typed)
        assert WRITE[lang] in chat.text
        await chat.send("Абай 10")
        assert ADDED[lang].format(ref="AB-3002") in chat.text


async def test_on_whatsapp_a_menu_open_keeps_its_numbers_and_the_answer_comes_after(
    settings: Settings, clock: Clock
) -> None:
    async with running_bot(settings, clock) as bot:
        chat = bot.chat(NUMBER)
        await chat.send("Сәлем")
        await chat.send(LANGUAGE_OPTION["ru"])
        await chat.send("1")  # a complaint: its first question has options of its own
        question = chat.text
        menu = options(question)
        assert len(menu) > 2
        ticket = await filed(bot.runtime, "AB-3003", "ru", Channel.WHATSAPP)

        # The menu's own numbers still work after a staff message came in.
        await staff_reply(bot.runtime, ticket, "Уточните дату")
        [staff] = await bot.api.wait_for_sent(chat.address)
        assert answer_number(staff["Body"], "ru") == max(menu) + 1
        await chat.send("2")
        assert WRITE["ru"] not in chat.text and chat.text != question
        after = options(chat.text)

        # The next staff message is numbered after the question now on screen.
        await staff_reply(bot.runtime, ticket, "Уточните время")
        second = (await bot.api.wait_for_sent(chat.address, 2))[-1]
        number = answer_number(second["Body"], "ru")
        assert number == max(after, default=0) + 1
        await chat.send(str(number))
        assert WRITE["ru"] in chat.text
        await chat.send("16 марта, утром")
        assert ADDED["ru"].format(ref="AB-3003") in chat.text
        assert await thread(bot.runtime, ticket) == [
            ("staff", "Уточните дату"),
            ("staff", "Уточните время"),
            ("citizen", "16 марта, утром"),
        ]


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
async def test_in_the_terminal_the_answer_option_is_numbered_after_the_menu_and_answers(
    runtime: Runtime, new_chat, lang: str
) -> None:
    chat: Chat = new_chat(chat_key="local", lang=lang)
    await start_in(chat, lang)
    menu = options(render(chat.replies))
    printed: list[str] = []
    runtime.outbox.add_sender(ConsoleSender("local", printed.append))
    ticket = await filed(runtime, "AB-4001", lang, Channel.CONSOLE)
    await staff_reply(runtime, ticket, QUESTION[lang])
    await runtime.outbox.run_once()
    [staff] = printed
    number = answer_number(staff, lang)
    assert number == max(menu) + 1

    await chat.send(str(number))
    assert WRITE[lang] in chat.text
    await chat.send("ЦОН №3")
    assert ADDED[lang].format(ref="AB-4001") in chat.text
    assert await thread(runtime, ticket) == [("staff", QUESTION[lang]), ("citizen", "ЦОН №3")]


async def test_in_the_terminal_the_answer_option_still_works_after_the_session_went_idle(
    runtime: Runtime, new_chat, clock: Clock
) -> None:
    chat: Chat = new_chat(chat_key="local", lang="en")
    await start_in(chat, "en")
    await chat.send("1")  # a complaint, left unfinished
    menu = options(render(chat.replies))
    clock.advance(hours=5)
    printed: list[str] = []
    runtime.outbox.add_sender(ConsoleSender("local", printed.append))
    ticket = await filed(runtime, "AB-4002", "en", Channel.CONSOLE)
    await staff_reply(runtime, ticket, QUESTION["en"])
    await runtime.outbox.run_once()
    number = answer_number(printed[0], "en")
    assert number == max(menu) + 1

    await chat.send(str(number))
    assert WRITE["en"] in chat.text
    await chat.send("The one on Abai")
    assert ADDED["en"].format(ref="AB-4002") in chat.text


async def test_on_whatsapp_a_message_held_for_the_window_is_numbered_when_it_goes(
    settings: Settings, clock: Clock
) -> None:
    async with running_bot(settings, clock) as bot:
        chat = bot.chat(NUMBER)
        await chat.send("Сәлем")
        await chat.send(LANGUAGE_OPTION["ru"])
        await chat.send("1")  # a question with options of its own, then silence
        ticket = await filed(bot.runtime, "AB-3004", "ru", Channel.WHATSAPP)
        clock.advance(hours=30)
        await staff_reply(bot.runtime, ticket, QUESTION["ru"])
        [nudge] = await bot.api.wait_for_sent(chat.address)
        assert "ContentSid" in nudge

        await chat.send("Здравствуйте")  # the window opens; the held message goes after
        menu = options(chat.text)
        staff = (await bot.api.wait_for_sent(chat.address, 2))[-1]
        number = answer_number(staff["Body"], "ru")
        assert number == max(menu) + 1
        await chat.send(str(number))
        assert WRITE["ru"] in chat.text
        await chat.send("ЦОН №3")
        assert ADDED["ru"].format(ref="AB-3004") in chat.text


async def test_where_the_answer_is_free_text_a_staff_message_comes_without_the_option(
    runtime: Runtime, new_chat
) -> None:
    chat: Chat = new_chat(chat_key="local", lang="en")
    await start_in(chat, "en")
    first = await filed(runtime, "AB-4003", "en", Channel.CONSOLE)
    second = await filed(runtime, "AB-4004", "en", Channel.CONSOLE)
    await chat.send(payload=link_payload("status", "reply", first.id))
    assert WRITE["en"] in chat.text
    printed: list[str] = []
    runtime.outbox.add_sender(ConsoleSender("local", printed.append))
    await staff_reply(runtime, second, QUESTION["en"])
    await runtime.outbox.run_once()
    assert QUESTION["en"] in printed[0] and options(printed[0]) == {}

    await chat.send("3")  # the answer being written, not an option (1, 2: Back, Main menu)
    assert ADDED["en"].format(ref="AB-4003") in chat.text
    assert await thread(runtime, first) == [("citizen", "3")]


class GatedSender:
    """A terminal sender that holds each message until the test lets it go."""

    channel = Channel.CONSOLE

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.sending = asyncio.Event()
        self.go = asyncio.Event()

    async def deliver(self, citizen: Citizen, outgoing: Outgoing) -> Delivery:
        self.sending.set()
        await self.go.wait()
        self.events.append(render(outgoing.replies))
        return Delivery()


async def test_the_citizens_own_step_waits_while_a_numbered_message_is_sent(
    runtime: Runtime, new_chat
) -> None:
    """The outbox and the citizen on the same chat: the step typed against the menu runs
    after the staff message went, with the menu's numbers and the answer's both on offer."""
    chat: Chat = new_chat(chat_key="local", lang="en")
    await start_in(chat, "en")
    menu = options(render(chat.replies))
    events: list[str] = []
    sender = GatedSender(events)
    runtime.outbox.add_sender(sender)
    ticket = await filed(runtime, "AB-4005", "en", Channel.CONSOLE)
    await staff_reply(runtime, ticket, QUESTION["en"])
    delivering = asyncio.create_task(runtime.outbox.run_once())
    await sender.sending.wait()

    async def step() -> None:
        await chat.send("2")
        events.append("step")

    typing = asyncio.create_task(step())
    done, _ = await asyncio.wait({typing}, timeout=0.3)
    assert not done  # held by the chat's lock until the message is out
    sender.go.set()
    await delivering
    await typing
    assert events[1] == "step" and answer_number(events[0], "en") == max(menu) + 1
    async with runtime.storage.read() as tx:
        session = await tx.sessions.load(ticket.citizen_id or 0)
    assert session is not None and session.flow == "feedback"  # the menu's own "2"


def test_links_are_numbered_after_the_options_and_keep_their_number_when_sent_again() -> None:
    menu = [Button("flow:complaint", "Complaint"), Button("flow:tip", "Tip")]
    answer = Button(link_payload("status", "reply", 7), "Reply")
    staff = (Reply("Which centre?", (answer,)),)
    numbered, offered = number_links(staff, menu)
    assert numbered[0].first_number == 3 and offered == [*menu, answer]
    again, offered_again = number_links(staff, offered)
    assert again[0].first_number == 3 and offered_again == offered
    question = Reply("Solved?", (Button("csat:yes", "Yes"), Button("csat:no", "No")))
    kept, _ = number_links((question,), menu)
    assert kept == (question,)


async def test_on_whatsapp_a_closing_carries_no_answer_option_and_its_question_keeps_1_and_2(
    settings: Settings, clock: Clock
) -> None:
    async with running_bot(settings, clock) as bot:
        chat = bot.chat(NUMBER)
        await chat.send("Сәлем")
        await chat.send(LANGUAGE_OPTION["ru"])
        ticket = await filed(bot.runtime, "AB-3005", "ru", Channel.WHATSAPP)
        async with bot.runtime.storage.transaction() as tx:
            db = tx.for_staff
            rita = await add_account(db, "rita", "reviewer", "x" * 16, locale="ru", now=clock())
            await actions.change_status(
                db, bot.runtime.catalogs, actions.Actor(rita, None, clock()), ticket,
                version=ticket.version, status="resolved", reason="Справка выдана",
            )  # fmt: skip
        bot.runtime.outbox.wake()
        [closing] = await bot.api.wait_for_sent(chat.address)
        assert ANSWER["ru"] not in closing["Body"]
        assert set(options(closing["Body"])) == {1, 2}
        await chat.send("2")  # "No, not solved": the question's own number
        assert "от 1 (очень плохо) до 5" in chat.text
