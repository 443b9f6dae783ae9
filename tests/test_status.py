"""Checking a request: "my tickets", a typed reference (only from the filing chat), staff
messages and the citizen's reply, receipts handed to the tip inbox, and lookups slowed then
refused."""

from __future__ import annotations

import re

import pytest

from bot.domain import Location
from bot.runtime import Runtime
from bot.storage.records import Ticket
from handlers import load_flows
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.chat import Chat
from tests.conftest import Clock, start_in
from tests.test_complaint import LANGS, attach, plain, to_summary
from tests.test_tip import RECEIPT, fill_tip, to_notice

REFERENCE = re.compile(r"\b([2-9A-Z]{3}-[2-9A-Z]{4})\b")
SAYS = {
    "kk": {
        "pick": "соңғы шағымдарыңыз бен пікірлеріңіз",
        "none": "шағым да, пікір де берілмеген",
        "card": "Шағым {ref}",
        "new": "Мәртебесі: қабылданды, қарауды күтуде",
        "due": "Жауап беру мерзімі: 2026 ж. 9 сәуір",
        "no_message": "Агенттіктен әзірге хабарлама жоқ",
        "staff": "Агенттіктің соңғы хабарламасы",
        "asked": "Агенттік сіздің жауабыңызды күтуде",
        "sent": "жауабыңыз {ref} өтінішіне қосылды",
        "not_found": "мұндай нөмірлі өтініш жоқ",
        "locked": "1 минуттан кейін",
    },
    "ru": {
        "pick": "ваши последние обращения (жалобы и отзывы)",
        "none": "не подавались жалобы и отзывы",
        "card": "Жалоба {ref}",
        "new": "Статус: принято, ожидает рассмотрения",
        "due": "Срок ответа: 9 апреля 2026 г.",
        "no_message": "Сообщений от Агентства пока нет",
        "staff": "Последнее сообщение от Агентства",
        "asked": "Агентство ждёт вашего ответа",
        "sent": "ваш ответ добавлен к обращению {ref}",
        "not_found": "обращения с таким номером нет",
        "locked": "через 1 минуту",
    },
    "en": {
        "pick": "Your recent complaints and feedback",
        "none": "No complaints or feedback have been filed",
        "card": "Complaint {ref}",
        "new": "Status: received, waiting for review",
        "due": "Answer due by: April 9, 2026",
        "no_message": "There are no messages from the Agency yet",
        "staff": "Latest message from the Agency",
        "asked": "The Agency is waiting for your answer",
        "sent": "your answer has been added to request {ref}",
        "not_found": "I found no request with this reference",
        "locked": "in 1 minute",
    },
}
QUESTION = "Please send a photo of the receipt you were given. <b>Not</b> '; DROP TABLE x; --"


async def file_complaint(chat: Chat, runtime: Runtime, lang: str) -> Ticket:
    await to_summary(chat, lang)
    await chat.press_payload("sum:ok")
    found = REFERENCE.search(chat.text)
    assert found
    async with runtime.storage.read() as tx:
        ticket = await tx.tickets.by_reference(found.group(1))
    assert ticket is not None
    return ticket


async def staff_asks(runtime: Runtime, clock: Clock, ticket: Ticket, body: str) -> None:
    """What the staff console does when an officer asks the citizen something."""
    async with runtime.storage.transaction() as tx:
        await tx.tickets.add_message(
            ticket.id, author="staff", body="internal note", now=clock(), internal=True
        )
        await tx.tickets.add_message(ticket.id, author="staff", body=body, now=clock())
        await tx.tickets.set_status(ticket.id, "waiting", now=clock())


@pytest.mark.parametrize("lang", LANGS)
async def test_my_tickets_then_staff_question_then_reply(
    new_chat, runtime: Runtime, clock: Clock, lang: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    ticket = await file_complaint(chat, runtime, lang)
    says = {k: v.format(ref=ticket.reference) for k, v in SAYS[lang].items()}
    await chat.press_payload("flow:status")
    assert says["pick"] in chat.text
    assert ticket.reference in chat.buttons[0].label
    await chat.press_payload(f"t:{ticket.id}")
    for shown in ("card", "new", "due", "no_message"):
        assert says[shown] in plain(chat.text)
    assert "tk:reply" not in [b.payload for b in chat.buttons]

    clock.advance(minutes=5)
    await staff_asks(runtime, clock, ticket, QUESTION)
    await chat.press_payload("tk:other")
    await chat.send(ticket.reference.lower().replace("-", " "))  # typed loosely
    assert says["staff"] in chat.text and QUESTION in chat.text
    assert "internal note" not in chat.text
    assert says["asked"] in chat.text
    await chat.press_payload("tk:reply")
    answer = "Вот чек: № 12345 от 10.03 — <i>оплачено</i> 🙂"
    await chat.send(answer)
    assert says["sent"] in chat.text
    async with runtime.storage.read() as tx:
        after = await tx.tickets.get(ticket.id)
        thread = await tx.tickets.messages(ticket.id, include_internal=False)
    assert after is not None and after.status == "in_review"
    assert [(m.author, m.body) for m in thread] == [("staff", QUESTION), ("citizen", answer)]
    async with (
        runtime.storage.read() as tx,
        tx.conn.execute(
            "SELECT action FROM ticket_events WHERE ticket_id = ? ORDER BY id", (ticket.id,)
        ) as cur,
    ):
        actions = [row[0] for row in await cur.fetchall()]
    assert "citizen_replied" in actions


async def test_staff_message_after_the_citizens_offers_reply_without_waiting(
    new_chat, runtime: Runtime, clock: Clock
) -> None:
    chat: Chat = new_chat(lang="en")
    ticket = await file_complaint(chat, runtime, "en")
    async with runtime.storage.transaction() as tx:
        await tx.tickets.add_message(ticket.id, author="citizen", body="hello", now=clock())
        await tx.tickets.add_message(ticket.id, author="staff", body="Which day?", now=clock())
        await tx.tickets.set_status(ticket.id, "in_review", now=clock())
    await chat.press_payload("flow:status")
    await chat.press_payload(f"t:{ticket.id}")
    assert "Status: under review" in chat.text and "Which day?" in chat.text
    await chat.press_payload("tk:reply")
    await chat.send("Monday, 10 March.")
    async with runtime.storage.read() as tx:
        after = await tx.tickets.get(ticket.id)
    assert after is not None and after.status == "in_review"


async def test_closed_ticket_shows_no_deadline(new_chat, runtime: Runtime, clock: Clock) -> None:
    chat: Chat = new_chat(lang="ru")
    ticket = await file_complaint(chat, runtime, "ru")
    async with runtime.storage.transaction() as tx:
        await tx.tickets.set_status(ticket.id, "resolved", now=clock())
    await chat.press_payload("flow:status")
    await chat.send(ticket.reference)
    assert "Статус: рассмотрено, ответ дан" in chat.text
    assert "Срок ответа" not in chat.text


@pytest.mark.parametrize("lang", LANGS)
async def test_another_chat_learns_nothing_from_a_reference(
    new_chat, runtime: Runtime, lang: str
) -> None:
    owner: Chat = new_chat("owner", lang=lang)
    ticket = await file_complaint(owner, runtime, lang)
    stranger: Chat = new_chat("stranger", lang=lang)
    await start_in(stranger, lang)
    await stranger.press_payload("flow:status")
    assert SAYS[lang]["none"] in stranger.text
    await stranger.send(ticket.reference)
    real = stranger.text
    await stranger.send("ZZZ-ZZZZ")
    assert real == stranger.text  # the same answer as for a reference that does not exist
    assert SAYS[lang]["not_found"] in real
    assert ticket.reference not in real and "Иван" not in real


async def test_wrong_references_are_slowed_then_refused(
    new_chat, runtime: Runtime, clock: Clock
) -> None:
    chat: Chat = new_chat(lang="ru")
    ticket = await file_complaint(chat, runtime, "ru")
    await chat.press_payload("flow:status")
    for _ in range(4):
        await chat.send("ABC-DEFG")
        assert SAYS["ru"]["not_found"] in chat.text
    await chat.send("ABC-DEFG")  # the fifth miss locks lookups for a minute
    assert SAYS["ru"]["locked"] in chat.text
    await chat.send("ZZZ-ZZZZ")  # any other reference waits
    assert SAYS["ru"]["locked"] in chat.text and "Срок ответа" not in chat.text
    await chat.send(ticket.reference)  # the chat's own does not (issue 15)
    assert f"Жалоба {ticket.reference}" in chat.text
    clock.advance(minutes=1, seconds=1)
    await chat.send("ABC-DEFG")  # the next miss locks for longer
    assert "через 2 минуты" in chat.text
    clock.advance(minutes=2, seconds=1)
    await chat.send(ticket.reference)
    assert f"Жалоба {ticket.reference}" in chat.text
    await chat.press_payload("tk:other")
    assert chat.buttons[0].payload == f"t:{ticket.id}"  # own tickets never wait


async def test_lookup_lock_is_per_chat(new_chat, runtime: Runtime) -> None:
    guesser: Chat = new_chat("guesser", lang="en")
    await start_in(guesser, "en")
    await guesser.press_payload("flow:status")
    for _ in range(5):
        await guesser.send("ABC-DEFG")
    assert "checking is paused" in guesser.text
    other: Chat = new_chat("other", lang="en")
    ticket = await file_complaint(other, runtime, "en")
    await other.press_payload("flow:status")
    await other.send(ticket.reference)
    assert f"Complaint {ticket.reference}" in other.text


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("hello", "does not look like a reference"),
        ("12345", "does not look like a reference"),
        ("ABC-DEF0", "does not look like a reference"),  # 0 is not in the alphabet
        ("x" * 4500 + " 🙂 Қазақша", "does not look like a reference"),
        ("'; DROP TABLE tickets; --", "does not look like a reference"),
    ],
)
async def test_malformed_input_is_explained_and_not_counted(
    new_chat, runtime: Runtime, typed: str, says: str
) -> None:
    chat: Chat = new_chat(lang="en")
    await start_in(chat, "en")
    await chat.press_payload("flow:status")
    for _ in range(6):
        await chat.send(typed)
        assert says in chat.text
    assert "checking is paused" not in chat.text


@pytest.mark.skipif("tip_inbox" not in load_flows(), reason="the tip_inbox flow is absent")
async def test_a_receipt_goes_to_the_tip_inbox(new_chat, runtime: Runtime) -> None:
    chat: Chat = new_chat(lang="en")
    await start_in(chat, "en")
    await chat.press_payload("flow:status")
    await chat.send("1234 5678 9012 3456")
    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find(chat.channel, chat.chat_key)
        assert citizen is not None
        session = await tx.sessions.load(citizen.id)
    assert session is not None and session.flow == "tip_inbox"


REFUSALS = {
    "empty": "Сообщение пустое",
    "sticker": "Стикеры здесь прочитать нельзя",
    "location": "геолокация не нужна",
    "file": "файлы не принимаются",
    "stale": "Эта кнопка из предыдущего сообщения",
}


# The reply step takes files and a location: they are an answer (tests/test_answers.py).
BAD_AT = [
    (step, bad)
    for step in ("pick", "ticket", "reply")
    for bad in sorted(REFUSALS)
    if not (step == "reply" and bad in ("file", "location"))
]


@pytest.mark.parametrize(("step", "bad"), BAD_AT)
async def test_bad_input_keeps_the_step(
    new_chat, runtime: Runtime, clock: Clock, step: str, bad: str
) -> None:
    chat: Chat = new_chat(lang="ru")
    ticket = await file_complaint(chat, runtime, "ru")
    await staff_asks(runtime, clock, ticket, QUESTION)
    await chat.press_payload("flow:status")
    if step in ("ticket", "reply"):
        await chat.press_payload(f"t:{ticket.id}")
    if step == "reply":
        await chat.press_payload("tk:reply")
    asked = chat.replies[-1].text
    offered = [b.payload for b in chat.buttons]
    if bad == "empty":
        await chat.send(" ")
    elif bad == "sticker":
        await chat.send(unsupported="input.sticker")
    elif bad == "location":
        await chat.send(location=Location(51.1, 71.4))
    elif bad == "file":
        await chat.send(attachments=[await attach(runtime)])
    else:
        await chat.send(payload="cat:healthcare")
    assert REFUSALS[bad] in chat.text
    assert chat.replies[-1].text == asked
    assert [b.payload for b in chat.buttons] == offered


async def test_an_over_long_reply_is_refused_and_the_state_kept(
    new_chat, runtime: Runtime, clock: Clock
) -> None:
    chat: Chat = new_chat(lang="kk")
    ticket = await file_complaint(chat, runtime, "kk")
    await staff_asks(runtime, clock, ticket, QUESTION)
    await chat.press_payload("flow:status")
    await chat.press_payload(f"t:{ticket.id}")
    await chat.press_payload("tk:reply")
    await chat.send("Қазақша мәтін 🙂 " * 300)
    assert "Қысқартып, қайта жіберіңіз" in chat.text
    await chat.send("Түбіртекті ертең жіберемін.")
    assert SAYS["kk"]["sent"].format(ref=ticket.reference) in chat.text


async def test_reply_is_not_offered_when_nobody_asked(new_chat, runtime: Runtime) -> None:
    chat: Chat = new_chat(lang="ru")
    ticket = await file_complaint(chat, runtime, "ru")
    await chat.press_payload("flow:status")
    await chat.press_payload(f"t:{ticket.id}")
    await chat.send(payload="tk:reply")
    assert "Эта кнопка из предыдущего сообщения" in chat.text


@pytest.mark.skipif(
    not {"tip", "tip_inbox"} <= set(load_flows()), reason="the tip flows are absent"
)
async def test_a_confidential_tip_opens_by_its_receipt_in_any_chat_never_by_reference(
    new_chat, runtime: Runtime
) -> None:
    tipster: Chat = new_chat("tipster", lang="en")
    await to_notice(tipster, "en")
    await tipster.press_payload("tip:conf")
    await fill_tip(tipster, runtime, "en")
    await tipster.send("Aigerim, +7 701 234 5678")
    await tipster.press_payload("tip:ok")
    found, receipt = REFERENCE.search(tipster.text), RECEIPT.search(tipster.text)
    assert found and receipt
    await tipster.press_payload("flow:status")
    await tipster.send(found.group(1))  # nothing of the chat is kept to find it by
    assert SAYS["en"]["not_found"] in tipster.text and "16-digit receipt" in tipster.text
    await tipster.send(receipt.group(1))
    assert "ti:answer" in [b.payload for b in tipster.buttons]  # the tip inbox, opened

    stranger: Chat = new_chat("stranger", lang="en")
    await start_in(stranger, "en")
    await stranger.press_payload("flow:status")
    await stranger.send(receipt.group(1))
    assert "ti:answer" in [b.payload for b in stranger.buttons]


@pytest.mark.parametrize("answer", ["3", "0", "9"])
async def test_a_one_digit_answer_to_staff_joins_the_thread(
    new_chat, runtime: Runtime, clock: Clock, answer: str
) -> None:
    # "How many times did you go there?" — "3": the answer, not "0 = main menu". The
    # numbers on the list ("1. Back", "2. Main menu") are those options, as everywhere
    # (issue 15; tests/test_whatsapp_navigation.py).
    chat: Chat = new_chat(lang="en")
    ticket = await file_complaint(chat, runtime, "en")
    async with runtime.storage.transaction() as tx:
        await tx.tickets.add_message(ticket.id, author="staff", body="How many?", now=clock())
    await chat.press_payload("flow:status")
    await chat.press_payload(f"t:{ticket.id}")
    await chat.press_payload("tk:reply")
    await chat.send(answer)
    async with runtime.storage.read() as tx:
        thread = await tx.tickets.messages(ticket.id, include_internal=False)
    assert [m.body for m in thread if m.author == "citizen"] == [answer]


# -- issue 15: a mistyped receipt does not trap the citizen's own reference ------------------

WRONG_RECEIPT = "1234 5678 9012 3456"
RECEIPT_NOT_FOUND = {"ru": "Сообщение не найдено", "kk": "Хабарлама табылмады"}


@pytest.mark.skipif("tip_inbox" not in load_flows(), reason="the tip_inbox flow is absent")
@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_own_reference_after_mistyped_receipts_opens_and_is_never_counted(
    new_chat, runtime: Runtime, lang: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    ticket = await file_complaint(chat, runtime, lang)
    card = SAYS[lang]["card"].format(ref=ticket.reference)
    await chat.press_payload("flow:status")
    await chat.send(WRONG_RECEIPT)  # miss 1: the receipt prompt of the tip inbox
    assert RECEIPT_NOT_FOUND[lang] in chat.text
    await chat.send(ticket.reference)  # typed at the receipt prompt: a reference all the same
    assert card in chat.text
    await chat.send(WRONG_RECEIPT)  # miss 2
    await chat.send(WRONG_RECEIPT)  # miss 3
    for _ in range(3):
        await chat.send(ticket.reference.lower())  # never a miss
        assert card in chat.text
        await chat.press_payload("tk:other")
    await chat.send(WRONG_RECEIPT)  # miss 4: still not locked
    assert RECEIPT_NOT_FOUND[lang] in chat.text and SAYS[lang]["locked"] not in chat.text
    await chat.send(WRONG_RECEIPT)  # miss 5 locks
    assert SAYS[lang]["locked"] in chat.text
    await chat.send(ticket.reference)  # the citizen's own request never waits
    assert card in chat.text
    await chat.send("ZZZ-ZZZZ")  # anything else does
    assert SAYS[lang]["locked"] in chat.text and "ZZZ-ZZZZ" not in chat.text


RECEIPT_PATH = {
    "en": ("Corruption reports are not linked to any chat", "16-digit receipt you received"),
    "ru": ("Сообщения о коррупции не связаны ни с каким чатом", "16-значную квитанцию, которую"),
}


@pytest.mark.skipif(
    not {"tip", "tip_inbox"} <= set(load_flows()), reason="the tip flows are absent"
)
@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_after_a_confidential_tip_status_offers_the_receipt_and_reveals_nothing(
    new_chat, runtime: Runtime, lang: str
) -> None:
    stranger: Chat = new_chat("stranger", lang=lang)
    await start_in(stranger, lang)
    await stranger.press_payload("flow:status")
    tipster: Chat = new_chat("tipster", lang=lang)
    await to_notice(tipster, lang)
    await tipster.press_payload("tip:conf")
    await fill_tip(tipster, runtime, lang)
    await tipster.send("Aigerim, +7 701 234 5678")
    await tipster.press_payload("tip:ok")
    receipt = RECEIPT.search(tipster.text)
    assert receipt
    await tipster.press_payload("flow:status")
    said, asks = RECEIPT_PATH[lang]
    assert said in tipster.text
    # The same words and buttons as in a chat that never filed anything.
    assert tipster.replies == stranger.replies
    await tipster.press_payload("st:receipt")
    assert asks in tipster.text
    await tipster.send(receipt.group(1))
    assert "ti:answer" in [b.payload for b in tipster.buttons]
