"""Service-quality feedback: a rating in kk, ru and en, reasons, the follow-up ticket for
low ratings, the hand-off to a corruption tip, and the bad inputs of issue 3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import handlers
from bot.dispatcher import Dispatcher
from bot.domain import Attachment, AttachmentKind, Inbound, Location, Reply
from bot.flow import Context, Flow, Go
from bot.runtime import Runtime
from bot.storage.records import Ticket
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.chat import Chat
from tests.conftest import start_in

TIP_PRESENT = (Path(handlers.__file__).parent / "tip.py").exists()

# What the citizen reads at each step, in each language: literal, so a missing or
# mistranslated catalog entry fails here.
WORDS: dict[str, dict[str, str]] = {
    "kk": {
        "menu": "Мемлекеттік көрсетілетін қызметті бағалау",
        "category": "Қандай қызмет алдыңыз?",
        "service": "Денсаулық сақтау",
        "region": "Облысты немесе қаланы таңдаңыз",
        "place": "Қарағанды облысы",
        "centre": "мекенжайын жазыңыз",
        "rating": "Қызмет көрсетуді қалай бағалайсыз",
        "reasons": "Не дұрыс болмады?",
        "wait": "Ұзақ күту",
        "bribe": "Пара сұралды",
        "rude": "Дөрекілік",
        "done": "Дайын",
        "comment": "Қосарыңыз бар ма?",
        "skip": "Өткізіп жіберу",
        "thanks": "Бағаңызға рақмет!",
        "thanks_low": "кемшіліктер тіркелді",
        "ticket": "Өтініш нөмірі:",
        "due": "2026\u202fж. 9 сәуір",
        "offer": "сыбайлас жемқорлық",
        "no": "Жоқ, рақмет",
        "main": "Басты мәзір",
        "comment_text": "Екі сағат күттім, кезексіз өту үшін ақша сұрады.",
    },
    "ru": {
        "menu": "Оценить госуслугу",
        "category": "Какую услугу вы получали?",
        "service": "Здравоохранение",
        "region": "Выберите область или город",
        "place": "Карагандинская область",
        "centre": "Напишите название или адрес",
        "rating": "Как вы оцениваете обслуживание",
        "reasons": "Что пошло не так?",
        "wait": "Долгое ожидание",
        "bribe": "Вымогали взятку",
        "rude": "Грубость",
        "done": "Готово",
        "comment": "Хотите что-то добавить?",
        "skip": "Пропустить",
        "thanks": "Спасибо за оценку!",
        "thanks_low": "отмеченные недостатки записаны",
        "ticket": "Номер обращения:",
        "due": "9 апреля 2026\u202fг.",
        "offer": "Это коррупция",
        "no": "Нет, спасибо",
        "main": "Главное меню",
        "comment_text": "Ждал два часа, за проход без очереди просили деньги.",
    },
    "en": {
        "menu": "Rate a public service",
        "category": "Which service did you receive?",
        "service": "Healthcare",
        "region": "Choose the region or city",
        "place": "Karaganda Region",
        "centre": "Type its name or address",
        "rating": "How would you rate the service",
        "reasons": "What went wrong?",
        "wait": "Long waiting time",
        "bribe": "A bribe was demanded",
        "rude": "Rudeness",
        "done": "Done",
        "comment": "Anything to add?",
        "skip": "Skip",
        "thanks": "Thank you for your rating!",
        "thanks_low": "what went wrong are recorded",
        "ticket": "Reference:",
        "due": "April 9, 2026",
        "offer": "That is corruption",
        "no": "No, thank you",
        "main": "Main menu",
        "comment_text": "I waited two hours; they asked for money to skip the queue.",
    },
}
LANGS = ["kk", "ru", "en"]
PHOTO = Attachment(AttachmentKind.PHOTO, "image/jpeg", 2048, "blob-1", "receipt.jpg")

# A stand-in for the tip flow (another module's business): its first question shows what
# it was handed, so the prefill contract is checked whether or not handlers/tip.py exists.
FAKE_TIP = Flow("tip", entry="what")


@FAKE_TIP.prompt("what")
async def _fake_tip_prompt(ctx: Context) -> Reply:
    return Reply("TIP " + json.dumps(ctx.data, ensure_ascii=False, sort_keys=True))


@FAKE_TIP.on("what")
async def _fake_tip_answer(msg: Inbound, ctx: Context) -> Go:
    return Go(state=None)


def with_flows(chat: Chat, runtime: Runtime, **changes: Flow | None) -> Chat:
    """The same chat through a dispatcher whose flows differ: added, replaced or removed."""
    flows = {name: flow for name, flow in runtime.flows.items() if name not in changes}
    flows.update({name: flow for name, flow in changes.items() if flow is not None})
    chat.dispatcher = Dispatcher(
        storage=runtime.storage,
        catalogs=runtime.catalogs,
        flows=flows,
        settings=runtime.settings,
        refdata=runtime.refdata,
        cipher=runtime.cipher,
        clock=runtime.dispatcher.clock,
    )
    return chat


async def to_rating(chat: Chat, lang: str, centre: str | None = "ЦОН № 2") -> None:
    """Main menu → feedback → healthcare → Karaganda → centre (or Skip) → the rating question."""
    w = WORDS[lang]
    await start_in(chat, lang)
    await chat.press(w["menu"])
    assert w["category"] in chat.text
    await chat.press(w["service"])
    assert w["region"] in chat.text
    await chat.press(w["place"])
    assert w["centre"] in chat.text
    if centre is None:
        await chat.press(w["skip"])
    else:
        await chat.send(centre)
    assert w["rating"] in chat.text
    assert [b.payload for b in chat.buttons] == ["r:1", "r:2", "r:3", "r:4", "r:5"]


async def ratings(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.storage.read() as tx:
        conn = tx.conn  # type: ignore[attr-defined]  # the SQLite backend's own connection
        async with conn.execute("SELECT * FROM ratings ORDER BY id") as cur:
            rows = await cur.fetchall()
    return [{**dict(row), "reasons": json.loads(row["reasons"])} for row in rows]


async def tickets(runtime: Runtime, chat: Chat) -> list[Ticket]:
    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find(chat.channel, chat.chat_key)
        assert citizen is not None
        return await tx.tickets.for_citizen(citizen.id)


async def session(runtime: Runtime, chat: Chat) -> tuple[str, str] | None:
    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find(chat.channel, chat.chat_key)
        assert citizen is not None
        record = await tx.sessions.load(citizen.id)
    return (record.flow, record.state) if record else None


def marked(chat: Chat) -> list[str]:
    return [b.payload for b in chat.buttons if b.label.startswith("✅")]


# -- end to end ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_low_rating_files_a_ticket_and_offers_a_tip(new_chat, runtime, lang: str) -> None:
    w = WORDS[lang]
    chat = with_flows(new_chat(lang=lang), runtime, tip=FAKE_TIP)
    await to_rating(chat, lang)
    await chat.press("2 ⭐⭐")
    assert w["reasons"] in chat.text
    assert marked(chat) == []

    await chat.press(w["wait"])
    assert marked(chat) == ["why:wait"]
    await chat.press(w["rude"])
    assert marked(chat) == ["why:wait", "why:rude"]
    await chat.press(w["rude"])  # pressed again: unmarked
    assert marked(chat) == ["why:wait"]
    assert chat.button(w["wait"]).label.startswith("✅")
    await chat.press(w["bribe"])
    assert marked(chat) == ["why:wait", "why:bribe"]
    await chat.press(w["done"])

    assert w["comment"] in chat.text
    await chat.send(w["comment_text"])
    await chat.press_payload("ko:in")  # the bribe comment stored in the named ticket
    assert w["ticket"] in chat.text
    assert w["due"] in chat.text  # 15 working days from 16 March 2026, Nauryz 23-25 March skipped
    assert ".." not in chat.text
    assert w["offer"] in chat.text
    assert "1424" in chat.text

    [ticket] = await tickets(runtime, chat)
    assert ticket.reference in chat.text
    assert (ticket.kind, ticket.rating, ticket.category, ticket.region) == (
        "feedback",
        2,
        "healthcare",
        "karaganda",
    )
    assert ticket.subject == "ЦОН № 2"
    assert ticket.summary == w["comment_text"]
    assert ticket.details == {"reasons": ["wait", "bribe"]}
    assert ticket.locale == lang
    [row] = await ratings(runtime)
    assert row["rating"] == 2
    assert row["reasons"] == ["wait", "bribe"]
    assert row["ticket_id"] == ticket.id
    assert (row["category"], row["region"], row["centre"]) == ("healthcare", "karaganda", "ЦОН № 2")

    await chat.press(w["no"])
    assert w["main"] in chat.text
    assert await session(runtime, chat) == ("menu", "main")
    assert len(await ratings(runtime)) == 1


@pytest.mark.parametrize("lang", LANGS)
async def test_report_now_carries_over_what_is_known(new_chat, runtime, lang: str) -> None:
    w = WORDS[lang]
    chat = with_flows(new_chat(lang=lang), runtime, tip=FAKE_TIP)
    await to_rating(chat, lang, centre=None)
    await chat.send("1")
    await chat.press(w["bribe"])
    await chat.press(w["done"])
    await chat.send(w["comment_text"])
    await chat.press_payload("ko:in")
    assert len(await ratings(runtime)) == 1  # stored before the hand-off
    await chat.press("🛡")
    handed = json.loads(chat.text.removeprefix("TIP "))
    assert handed == {
        "prefill": {
            "category": "healthcare",
            "region": "karaganda",
            "subject": None,
            # The rating of 1 filed a ticket in the citizen's name with this comment: the
            # same words in an anonymous tip would tie the two together, so they stay out.
            "what": None,
        }
    }
    assert await session(runtime, chat) == ("tip", "what")


@pytest.mark.parametrize("lang", LANGS)
async def test_high_rating_skips_reasons_and_files_no_ticket(new_chat, runtime, lang: str) -> None:
    w = WORDS[lang]
    chat: Chat = new_chat(lang=lang)
    await to_rating(chat, lang, centre=None)
    await chat.send("4")
    assert w["comment"] in chat.text  # no "what went wrong" step
    await chat.press(w["skip"])
    assert w["thanks"] in chat.text
    assert w["main"] in chat.text
    assert await tickets(runtime, chat) == []
    [row] = await ratings(runtime)
    assert (row["rating"], row["reasons"], row["ticket_id"], row["centre"]) == (4, [], None, None)
    assert row["locale"] == lang


@pytest.mark.parametrize("lang", LANGS)
async def test_rating_three_asks_reasons_but_files_no_ticket(new_chat, runtime, lang: str) -> None:
    w = WORDS[lang]
    chat: Chat = new_chat(lang=lang)
    await to_rating(chat, lang)
    await chat.press("3 ⭐⭐⭐")
    assert w["reasons"] in chat.text
    await chat.press(w["rude"])
    await chat.press(w["done"])
    await chat.press(w["skip"])
    assert w["thanks_low"] in chat.text
    assert w["offer"] not in chat.text
    assert await tickets(runtime, chat) == []
    [row] = await ratings(runtime)
    assert (row["rating"], row["reasons"], row["ticket_id"]) == (3, ["rude"], None)


async def test_rating_one_files_a_ticket_without_a_comment(new_chat, runtime) -> None:
    chat: Chat = new_chat(lang="en")
    await to_rating(chat, "en")
    await chat.send("very poor")  # the rating's word alone picks it
    await chat.press("Documents were lost")
    await chat.press("Done")
    await chat.press("Skip")
    [ticket] = await tickets(runtime, chat)
    assert (ticket.rating, ticket.summary, ticket.details) == (1, None, {"reasons": ["lost"]})
    assert f"Reference: {ticket.reference}" in chat.text
    assert "That is corruption" not in chat.text


# -- the hand-off to a corruption tip -----------------------------------------------------


async def to_tip_offer(chat: Chat) -> None:
    """In Russian: a rating of 1 for an informal payment, up to the offer to report it."""
    await to_rating(chat, "ru", centre="ЦОН Алихана Бокейханова, 7")
    await chat.press("1 ⭐")
    await chat.press("Вымогали взятку")
    await chat.press("Готово")
    await chat.send("Сказали заплатить 20 000 тенге «за скорость».")
    await chat.press_payload("ko:in")
    assert "Сообщить о коррупции" in chat.button("коррупц").label


@pytest.mark.skipif(not TIP_PRESENT, reason="handlers/tip.py is not written yet")
async def test_informal_payment_hands_over_to_the_tip_flow(new_chat, runtime) -> None:
    chat: Chat = new_chat(lang="ru")
    await to_tip_offer(chat)
    assert len(await ratings(runtime)) == 1  # stored before the hand-off
    await chat.press("Сообщить о коррупции")
    state = await session(runtime, chat)
    assert state is not None and state[0] == "tip"
    assert len(await ratings(runtime)) == 1
    assert len(await tickets(runtime, chat)) == 1


async def test_without_a_tip_flow_the_hotline_is_given(new_chat, runtime: Runtime) -> None:
    chat = with_flows(new_chat(lang="kk"), runtime, tip=None)
    await to_rating(chat, "kk")
    await chat.send("2")
    await chat.press("Пара сұралды")
    await chat.press("Дайын")
    await chat.press("Өткізіп жіберу")
    assert "Өтініш нөмірі:" in chat.text
    assert "1424" in chat.text
    assert "Басты мәзір" in chat.text
    assert len(await ratings(runtime)) == 1


async def test_back_after_submitting_never_stores_twice(new_chat, runtime) -> None:
    chat = with_flows(new_chat(lang="ru"), runtime, tip=FAKE_TIP)
    await to_tip_offer(chat)
    await chat.send("назад")
    assert "Где сохранить этот комментарий?" in chat.text
    await chat.press_payload("ko:out")
    assert "уже сохранена" in chat.text
    assert "Главное меню" in chat.text
    assert len(await ratings(runtime)) == 1
    assert len(await tickets(runtime, chat)) == 1


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("6", "от 1 до 5"),
        ("10", "от 1 до 5"),
        ("100", "от 1 до 5"),
        ("⭐⭐⭐⭐⭐⭐", "от 1 до 5"),
        ("нормально было", "Здесь нужна оценка"),
        ("<b>5</b>", "Здесь нужна оценка"),
    ],
)
async def test_a_rating_outside_one_to_five_is_refused(
    new_chat, runtime, typed: str, answer: str
) -> None:
    chat: Chat = new_chat(lang="ru")
    await to_rating(chat, "ru")
    await chat.send(typed)
    assert answer in chat.text
    assert "Как вы оцениваете обслуживание" in chat.text  # asked again, state kept
    await chat.send("⭐⭐⭐⭐⭐")
    await chat.press("Пропустить")
    [row] = await ratings(runtime)
    assert (row["rating"], row["centre"], row["category"]) == (5, "ЦОН № 2", "healthcare")


async def test_zero_is_the_menu_word_not_a_rating(new_chat, runtime) -> None:
    chat: Chat = new_chat(lang="en")
    await to_rating(chat, "en")
    await chat.send("0")
    assert "Stopped. Nothing was submitted." in chat.text
    assert "Main menu" in chat.text
    assert await ratings(runtime) == []


async def test_wrong_kinds_of_input_keep_the_state(new_chat, runtime) -> None:
    chat: Chat = new_chat(lang="kk")
    await start_in(chat, "kk")
    await chat.press("Мемлекеттік көрсетілетін қызметті бағалау")

    await chat.send("денсаулық туралы")  # text where a button is expected
    assert "Төмендегі нұсқалардың бірін таңдаңыз" in chat.text
    await chat.send(unsupported="input.sticker")
    assert "Стикерлерді" in chat.text
    await chat.send(attachments=[PHOTO])
    assert "файл қабылданбайды" in chat.text
    await chat.send(location=Location(43.24, 76.91))
    assert "орналасқан жер сұралмаған" in chat.text
    await chat.send(payload="r:5")  # a button from another message
    assert "алдыңғы хабарламадан" in chat.text
    assert "Қандай қызмет алдыңыз?" in chat.text
    await chat.send("Денсаулық сақтау")  # the label typed in full works
    await chat.press("Қарағанды облысы")

    await chat.send("Ұ" * 201)
    assert "201 таңба" in chat.text
    assert "мекенжайын жазыңыз" in chat.text
    await chat.send("№ 3 ХҚКО")
    await chat.send(payload="cat:healthcare")
    assert "алдыңғы хабарламадан" in chat.text
    await chat.send(unsupported="input.sticker")
    assert "Қызмет көрсетуді қалай бағалайсыз" in chat.text
    await chat.send(attachments=[PHOTO])
    assert "файл қабылданбайды" in chat.text
    await chat.send("2")

    await chat.press("Дайын")  # nothing marked yet
    assert "Кемінде бір нұсқаны белгілеңіз" in chat.text
    await chat.send("2")  # the number of "Дөрекілік"
    assert marked(chat) == ["why:rude"]
    await chat.send("дөрекілік")  # the label typed: unmarked again
    assert marked(chat) == []
    await chat.send("Rudeness")  # the label in another language
    assert marked(chat) == ["why:rude"]
    await chat.send("бәрі жаман")
    assert "Төмендегі нұсқалардың бірін таңдаңыз" in chat.text
    assert marked(chat) == ["why:rude"]
    await chat.press("Дайын")

    await chat.send("ж" * 2001)
    assert "2\xa0001 таңба" in chat.text
    assert "Қосарыңыз бар ма?" in chat.text
    await chat.send(attachments=[PHOTO])
    assert "файл қабылданбайды" in chat.text
    assert await ratings(runtime) == []
    comment = ("Кезек 3 сағат 🙁 очередь <script>alert(1)</script>'; DROP TABLE ratings;-- " * 30)[
        :2000
    ]
    await chat.send(comment)
    [ticket] = await tickets(runtime, chat)
    assert ticket.summary == comment.strip()  # stored verbatim, never interpreted
    assert ticket.subject == "№ 3 ХҚКО"
    assert ticket.details == {"reasons": ["rude"]}


async def test_markup_in_the_centre_is_stored_verbatim(new_chat, runtime) -> None:
    chat: Chat = new_chat(lang="en")
    centre = "<b>PSC</b> #1'; DELETE FROM ratings; --"
    await to_rating(chat, "en", centre=centre)
    await chat.send("5")
    await chat.send("Thank you, staff!")
    [row] = await ratings(runtime)
    assert row["centre"] == centre


async def test_back_and_numbers_for_navigation(new_chat) -> None:
    chat: Chat = new_chat(lang="en")
    await to_rating(chat, "en")
    await chat.send("back")
    assert "Type its name or address" in chat.text
    await chat.send("2")  # "2) « Back" on WhatsApp: the command, not a centre named "2"
    assert "Choose the region or city" in chat.text
    await chat.send("22")  # "22) Main menu"
    assert "Main menu. What would you like to do?" in chat.text


async def test_a_typed_region_name_is_understood(new_chat) -> None:
    chat = new_chat(lang="ru")
    await start_in(chat, "ru")
    await chat.press_payload("flow:feedback")
    await chat.press_payload(chat.buttons[0].payload)
    await chat.send("Караганда")
    assert not any(b.payload.startswith("reg:") for b in chat.buttons)  # moved on
    await chat.send("back")
    await chat.send("Алматы")  # the city or the region: ambiguous, asked again
    assert any(b.payload.startswith("reg:") for b in chat.buttons)
