"""Answers in the chat (issue 14): while staff wait for the citizen, what the citizen types,
sends or shares at the main menu joins that ticket's thread instead of "choose an option";
with several tickets waiting the bot asks which."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain import Location
from bot.flow import link_payload
from bot.runtime import Runtime
from bot.storage.records import Ticket, TicketDraft
from tests.chat import Chat
from tests.conftest import Clock
from tests.staff import console, post_form
from tests.test_api import bearer, token_for
from tests.test_complaint import LANGS, attach
from tests.test_status import QUESTION, file_complaint, staff_asks

ADDED = {
    "kk": "{ref} өтінішіне қосылды",
    "ru": "Добавлено к обращению {ref}",
    "en": "Added to {ref}",
}
WHICH = {
    "kk": "Бұл хабарлама қай өтінішке қатысты?",
    "ru": "К какому обращению относится это сообщение?",
    "en": "Which request is this message for?",
}
CHOOSE = "Please choose one of the options"


async def thread(runtime: Runtime, ticket: Ticket) -> list[tuple[str, str]]:
    async with runtime.storage.read() as tx:
        return [
            (m.author, m.body) for m in await tx.tickets.messages(ticket.id, include_internal=False)
        ]


async def current(runtime: Runtime, ticket: Ticket) -> Ticket:
    async with runtime.storage.read() as tx:
        found = await tx.tickets.get(ticket.id)
    assert found is not None
    return found


async def another_complaint(runtime: Runtime, clock: Clock, like: Ticket) -> Ticket:
    """A second complaint from the same chat, stored as the complaint flow stores one."""
    assert like.citizen_id is not None and like.channel is not None
    draft = TicketDraft("complaint", like.locale, like.citizen_id, like.channel, "healthcare")
    async with runtime.storage.transaction() as tx:
        return await tx.tickets.add(draft, reference="K7M-4QX9", now=clock())


@pytest.mark.parametrize("lang", LANGS)
async def test_text_at_the_main_menu_answers_the_waiting_ticket(
    new_chat, runtime: Runtime, clock: Clock, lang: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    ticket = await file_complaint(chat, runtime, lang)
    clock.advance(minutes=5)
    await staff_asks(runtime, clock, ticket, QUESTION)
    clock.advance(minutes=5)
    answer = "Чек № 12345 от 10.03, оплачено"
    await chat.send(answer)
    assert ADDED[lang].format(ref=ticket.reference) in chat.text
    assert chat.buttons and chat.buttons[0].payload.startswith("flow:")  # back at the menu
    assert await thread(runtime, ticket) == [("staff", QUESTION), ("citizen", answer)]
    after = await current(runtime, ticket)
    assert after.status == "in_review"
    assert after.last_citizen_at == clock()


async def test_without_a_waiting_ticket_the_menu_still_asks_for_a_choice(
    new_chat, runtime: Runtime, clock: Clock
) -> None:
    chat: Chat = new_chat(lang="en")
    ticket = await file_complaint(chat, runtime, "en")
    await chat.send("hello?")
    assert CHOOSE in chat.text
    assert await thread(runtime, ticket) == []
    await chat.send(attachments=[await attach(runtime)])
    assert "files" in chat.text.lower() and ticket.reference not in chat.text


async def test_several_waiting_tickets_ask_which(new_chat, runtime: Runtime, clock: Clock) -> None:
    chat: Chat = new_chat(lang="ru")
    first = await file_complaint(chat, runtime, "ru")
    second = await another_complaint(runtime, clock, first)
    await staff_asks(runtime, clock, first, "Когда это было?")
    await staff_asks(runtime, clock, second, "Где это было?")
    await chat.send("В понедельник, в ЦОН на Абая")
    assert WHICH["ru"] in chat.text
    labels = " ".join(b.label for b in chat.buttons)
    assert first.reference in labels and second.reference in labels
    await chat.press(second.reference)
    assert ADDED["ru"].format(ref=second.reference) in chat.text
    assert await thread(runtime, second) == [
        ("staff", "Где это было?"),
        ("citizen", "В понедельник, в ЦОН на Абая"),
    ]
    assert await thread(runtime, first) == [("staff", "Когда это было?")]
    assert (await current(runtime, first)).status == "waiting"


async def test_files_and_a_location_answer_the_waiting_ticket(
    new_chat, runtime: Runtime, clock: Clock
) -> None:
    chat: Chat = new_chat(lang="kk")
    ticket = await file_complaint(chat, runtime, "kk")
    async with runtime.storage.read() as tx:
        before = len(await tx.tickets.attachments(ticket.id))
    await staff_asks(runtime, clock, ticket, QUESTION)
    await chat.send("түбіртек", attachments=[await attach(runtime, name="receipt.pdf")])
    assert ADDED["kk"].format(ref=ticket.reference) in chat.text
    async with runtime.storage.read() as tx:
        files = await tx.tickets.attachments(ticket.id)
    assert len(files) == before + 1 and files[-1].file_name == "receipt.pdf"
    await staff_asks(runtime, clock, ticket, "Қай жерде?")
    await chat.send(location=Location(51.128, 71.430, "Астана, Мәңгілік Ел 8"))
    assert ADDED["kk"].format(ref=ticket.reference) in chat.text
    messages = await thread(runtime, ticket)
    assert messages[-1][0] == "citizen" and "51.128" in messages[-1][1]
    assert "Мәңгілік Ел 8" in messages[-1][1]


async def test_staff_ask_on_the_console_the_citizen_answers_at_the_menu(settings, clock) -> None:
    async with console(settings, clock) as c:
        await c.add_user("rita", "reviewer")
        ticket = await c.complaint("AB-7001", locale="ru", chat_key="asker")
        web = await c.login("rita")
        url = "/staff/tickets/AB-7001"
        assert 'name="needs_answer"' in (await web.get(url)).text
        form = {"text": "В каком ЦОН это было?", "needs_answer": "1"}
        assert (await post_form(web, url, url + "/reply", form)).status_code == 303
        assert (await current(c.runtime, ticket)).status == "waiting"

        clock.advance(minutes=30)
        chat = Chat(c.runtime.dispatcher, chat_key="asker", lang="ru")
        await chat.send("ЦОН Алмалинского района")
        assert ADDED["ru"].format(ref="AB-7001") in chat.text
        after = await current(c.runtime, ticket)
        assert after.status == "in_review" and after.last_citizen_at == clock()
        page = (await web.get(url)).text
        assert "ЦОН Алмалинского района" in page and "Citizen last wrote" in page


async def test_api_reply_with_needs_answer_waits_for_the_citizen(settings, clock) -> None:
    async with console(settings, clock) as c:
        rita = await c.add_user("rita", "reviewer")
        ticket = await c.complaint("AB-7002", locale="en", chat_key="api-asker")
        token = await token_for(c, rita)
        api = c.client()
        replied = await api.post(
            "/api/v1/tickets/AB-7002/replies",
            json={"text": "Which day?", "needs_answer": True},
            headers=bearer(token),
        )
        assert replied.status_code == 201
        assert (await current(c.runtime, ticket)).status == "waiting"
        detail = (await api.get("/api/v1/tickets/AB-7002", headers=bearer(token))).json()
        assert detail["status"] == "waiting" and detail["last_citizen_at"] is None
        spec = (await api.get("/api/v1/openapi.json")).json()
        body = spec["paths"]["/tickets/{reference}/replies"]["post"]["requestBody"]
        assert "needs_answer" in str(body)


async def test_a_closed_ticket_takes_no_more_answers(new_chat, runtime: Runtime, clock: Clock):
    """Found by an outside review: an old Answer button (or a reply to an old message) put
    text on a resolved ticket and told the citizen it was added, while nobody would read it."""
    chat: Chat = new_chat(lang="en")
    ticket = await file_complaint(chat, runtime, "en")
    async with runtime.storage.transaction() as tx:
        await tx.tickets.set_status(ticket.id, "resolved", now=clock())
    await chat.send(payload=link_payload("status", "reply", ticket.id))
    await chat.send("One more thing about the queue")
    assert f"Appeal {ticket.reference} is closed" in chat.text
    assert await thread(runtime, ticket) == []
    assert (await current(runtime, ticket)).status == "resolved"


async def test_an_answer_button_on_a_closed_ticket_says_so_before_anything_is_typed(
    new_chat, runtime: Runtime, clock: Clock
):
    """Found by an outside review: the step behind an old Answer button asked the citizen
    to write, then refused what they wrote because the ticket was closed."""
    chat: Chat = new_chat(lang="ru")
    ticket = await file_complaint(chat, runtime, "ru")
    async with runtime.storage.transaction() as tx:
        await tx.tickets.set_status(ticket.id, "resolved", now=clock())
    await chat.send(payload=link_payload("status", "reply", ticket.id))
    assert f"Обращение {ticket.reference} закрыто" in chat.text
    assert "g:back" not in [b.payload for b in chat.buttons]


async def test_a_closing_message_carries_no_answer_button(settings, clock) -> None:
    """Found by an outside review: on Telegram the closing message had an Answer button,
    whose step then took the place of the "was it solved?" question sent with it."""
    from bot.domain import Channel
    from tests.fakes.memory_sender import MemorySender

    async with console(settings, clock) as c:
        telegram = MemorySender(Channel.TELEGRAM)
        c.runtime.outbox.add_sender(telegram)
        await c.add_user("rita", "reviewer")
        citizen_id = await c.citizen("tg-1", "en", channel=Channel.TELEGRAM)
        draft = TicketDraft("complaint", "en", citizen_id, "telegram", "healthcare")
        async with c.runtime.storage.transaction() as tx:
            await tx.tickets.add(draft, reference="AB-7601", now=clock())
        web = await c.login("rita")
        url = "/staff/tickets/AB-7601"
        asked = await post_form(web, url, url + "/reply", {"text": "Which day?"})
        closed = await post_form(web, url, url + "/status", {"status": "resolved", "reason": "Ok"})
        assert asked.status_code == closed.status_code == 303
        for _ in range(300):
            if len(telegram.sent) == 2:
                break
            await asyncio.sleep(0.01)
        (_, question), (_, closing) = telegram.sent
        assert question.replies[0].buttons[0].payload.startswith("link:status:reply:")
        assert closing.replies[0].buttons == ()
        assert [b.payload for b in closing.replies[1].buttons][:2] == ["csat:yes", "csat:no"]


async def test_files_and_a_location_answer_through_the_answer_button(
    new_chat, runtime: Runtime, clock: Clock
) -> None:
    """Found by an outside review: the step behind the Answer button took text only, while
    the same file sent at the main menu joined the ticket."""
    chat: Chat = new_chat(lang="kk")
    ticket = await file_complaint(chat, runtime, "kk")
    await staff_asks(runtime, clock, ticket, "Түбіртектің суретін жіберіңіз")
    await chat.send(payload=link_payload("status", "reply", ticket.id))
    await chat.send(attachments=[await attach(runtime, name="receipt.pdf")])
    async with runtime.storage.read() as tx:
        files = await tx.tickets.attachments(ticket.id)
    assert files[-1].file_name == "receipt.pdf"
    assert (await thread(runtime, ticket))[-1][0] == "citizen"


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_number_typed_while_staff_wait_is_asked_about_not_taken_as_a_menu_choice(
    new_chat, runtime: Runtime, clock: Clock, lang: str
) -> None:
    """Found by an outside review: "3" in answer to "how many times did you go?" opened
    the menu's third option. A bare number while staff wait may be either: the bot asks."""
    chat: Chat = new_chat(lang=lang)
    ticket = await file_complaint(chat, runtime, lang)
    await staff_asks(runtime, clock, ticket, QUESTION)
    await chat.send("3")
    assert "«3»" in chat.text
    assert any(ticket.reference in b.label for b in chat.buttons)
    assert await thread(runtime, ticket) == [("staff", QUESTION)]
    await chat.press_payload(f"a:{ticket.id}")
    assert ADDED[lang].format(ref=ticket.reference) in chat.text
    assert await thread(runtime, ticket) == [("staff", QUESTION), ("citizen", "3")]

    await staff_asks(runtime, clock, ticket, "Қай жерде?")
    await chat.send("3")
    await chat.press_payload("a:choice")  # the menu's third option was meant: it opens
    assert "tip:anon" in [b.payload for b in chat.buttons]
    assert await thread(runtime, ticket) == [
        ("staff", QUESTION),
        ("citizen", "3"),
        ("staff", "Қай жерде?"),
    ]


@pytest.mark.parametrize("lang", ["ru", "kk"])
@pytest.mark.parametrize("typed", ["1", "2"])
async def test_on_telegram_a_number_is_the_answer_not_a_button_nobody_sees(
    new_chat, runtime: Runtime, clock: Clock, lang: str, typed: str
) -> None:
    """Found by an outside review: typed numbers were matched to the step's options on
    every channel, so on Telegram, where options are buttons with no numbers, "2" in
    answer to "how many times?" went to the main menu and was lost."""
    from bot.domain import Channel

    chat: Chat = new_chat(lang=lang, channel=Channel.TELEGRAM)
    ticket = await file_complaint(chat, runtime, lang)
    await staff_asks(runtime, clock, ticket, QUESTION)
    await chat.press_payload("flow:status")
    await chat.press_payload(f"t:{ticket.id}")
    await chat.press_payload("tk:reply")
    await chat.send(typed)
    assert ("citizen", typed) in await thread(runtime, ticket)
    await staff_asks(runtime, clock, ticket, QUESTION)
    await chat.send("3")  # at the main menu: the answer too (no number is on screen)
    assert ADDED[lang].format(ref=ticket.reference) in chat.text


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_number_off_the_menu_while_staff_wait_is_the_answer(
    new_chat, runtime: Runtime, clock: Clock, lang: str
) -> None:
    """Found by an outside review: "12" ("12 times") while staff waited was refused as a
    number that is not on the menu. Off the list it can only be the answer."""
    chat: Chat = new_chat(lang=lang)
    ticket = await file_complaint(chat, runtime, lang)
    await staff_asks(runtime, clock, ticket, QUESTION)
    await chat.send("12")
    assert ADDED[lang].format(ref=ticket.reference) in chat.text
    assert await thread(runtime, ticket) == [("staff", QUESTION), ("citizen", "12")]
    await chat.send("12")  # nothing waits now: the menu's "no such number"
    assert "12" not in [m for _, m in (await thread(runtime, ticket))[2:]]
    assert ("В списке нет такого номера" if lang == "ru" else "Тізімде мұндай нөмір жоқ") in (
        chat.text
    )
