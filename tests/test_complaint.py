"""The complaint conversation: end to end in kk, ru and en, the deadline across Nauryz and a
weekend, editing from the summary, long and split descriptions, evidence limits, names and
IINs, and every kind of bad input at every step."""

from __future__ import annotations

import re
from datetime import date

import pytest

from bot.attachments import kind_for
from bot.domain import Attachment, AttachmentKind, Location
from bot.iin import check_digit, make_iin
from bot.runtime import Runtime
from bot.storage.records import Ticket
from tests.backends import backend, settings  # noqa: F401  (every test on both backends)
from tests.chat import Chat
from tests.conftest import Clock, start_in

LANGS = ("kk", "ru", "en")
REFERENCE = re.compile(r"\b([2-9A-Z]{3}-[2-9A-Z]{4})\b")
IIN = make_iin(date(1985, 7, 14), "male", 1234)
STORY = {
    "kk": "Наурыздың 10-ы күні ХҚКО-да үш сағат кезекте тұрдым, содан кейін себепсіз бас тартты.",
    "ru": "10 марта в ЦОНе я простоял в очереди три часа, а потом мне отказали без объяснения.",
    "en": "On 10 March I queued for three hours at the centre and was then refused with no reason.",
}
BODY = {"kk": "Алмалы ауданының №3 ХҚКО", "ru": "ЦОН №3 Алмалинского района", "en": "PSC No. 3"}
REGION = {"kk": "Қарағанды", "ru": "Караганда", "en": "Karaganda"}
NAME = {"kk": "Әлиев Нұрлан Серікұлы", "ru": "Иванова Анна-Мария", "en": "Mary O'Brien"}
SAYS = {
    "kk": {
        "category": "Не туралы шағымданасыз",
        "summary": "Шағымыңызды тексеріңіз",
        "filed": "Шағымыңыз тіркелді",
        "due": "2026 ж. 9 сәуір",
        "due_friday": "2026 ж. 15 сәуір",
        "anonymous": "жасырын өтініштер ресми түрде қаралмайды",
        "menu": "Басты мәзір",
        "count": "Тіркелген файлдар: 1",
        "short": "тым қысқа",
        "sticker": "Стикерлерді",
    },
    "ru": {
        "category": "На что вы жалуетесь",
        "summary": "Проверьте вашу жалобу",
        "filed": "Ваша жалоба зарегистрирована",
        "due": "9 апреля 2026 г.",
        "due_friday": "15 апреля 2026 г.",
        "anonymous": "анонимные обращения официально не рассматриваются",
        "menu": "Главное меню",
        "count": "Приложено файлов: 1 из 5",
        "short": "слишком коротко",
        "sticker": "Стикеры",
    },
    "en": {
        "category": "What is your complaint about",
        "summary": "Please check your complaint",
        "filed": "Your complaint is registered",
        "due": "April 9, 2026",
        "due_friday": "April 15, 2026",
        "anonymous": "anonymous appeals are not formally considered",
        "menu": "Main menu",
        "count": "Attached: 1 file of at most 5",
        "short": "too short",
        "sticker": "Stickers",
    },
}
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def plain(text: str) -> str:
    """Dates and numbers come with narrow and no-break spaces; compare with plain ones."""
    return text.replace("\u202f", " ").replace("\xa0", " ")


async def attach(runtime: Runtime, data: bytes = PDF, name: str = "scan.pdf") -> Attachment:
    """Real bytes through the real attachment store, as a channel adapter would."""
    stored = await runtime.attachments.aput(data, declared_type=None, file_name=name)
    return Attachment(
        kind_for(stored.content_type), stored.content_type, stored.size, stored.blob_id, name
    )


async def by_reference(runtime: Runtime, text: str) -> Ticket:
    found = REFERENCE.search(text)
    assert found, f"no reference in {text!r}"
    async with runtime.storage.read() as tx:
        ticket = await tx.tickets.by_reference(found.group(1))
    assert ticket is not None
    return ticket


async def ticket_count(runtime: Runtime) -> int:
    async with runtime.storage.read() as tx, tx.conn.execute("SELECT count(*) FROM tickets") as c:
        row = await c.fetchone()
    return int(row[0]) if row else 0


async def to_describe(chat: Chat, lang: str) -> None:
    await start_in(chat, lang)
    await chat.press_payload("flow:complaint")
    assert SAYS[lang]["category"] in chat.text
    await chat.press_payload("cat:healthcare")
    await chat.send(BODY[lang])  # typed, not from the list
    await chat.send(REGION[lang])  # typed, matched to Karaganda Region
    assert [b.payload for b in chat.buttons][:1] == ["g:back"]


async def to_summary(chat: Chat, lang: str, *, iin: str | None = None) -> None:
    await to_describe(chat, lang)
    await chat.send(STORY[lang])
    await chat.press_payload("more:next")
    await chat.press_payload("ev:skip")
    await chat.send(NAME[lang])
    if iin:
        await chat.send(iin)
    else:
        await chat.press_payload("iin:skip")
    assert SAYS[lang]["summary"] in chat.text


@pytest.mark.parametrize("lang", LANGS)
async def test_complaint_end_to_end(new_chat, runtime: Runtime, lang: str) -> None:
    chat: Chat = new_chat(lang=lang)
    await to_describe(chat, lang)
    await chat.send(STORY[lang])
    await chat.press_payload("more:next")
    await chat.send(attachments=[await attach(runtime)])
    assert SAYS[lang]["count"] in chat.text
    await chat.send(location=Location(49.8, 73.1))
    await chat.press_payload("ev:done")
    assert SAYS[lang]["anonymous"] in chat.text
    assert "who:tip" in [b.payload for b in chat.buttons]
    await chat.send(NAME[lang])
    await chat.send(f"{IIN[:4]} {IIN[4:8]} {IIN[8:]}")  # spaces are fine
    summary = chat.text
    assert SAYS[lang]["summary"] in summary
    karaganda = runtime.refdata.region("karaganda")
    assert karaganda is not None
    for shown in (STORY[lang], BODY[lang], NAME[lang], IIN, karaganda.name(lang)):
        assert shown in summary
    await chat.press_payload("sum:ok")
    assert SAYS[lang]["filed"] in chat.text
    assert SAYS[lang]["due"] in plain(chat.text)  # 15 working days, Nauryz and weekends skipped
    assert SAYS[lang]["menu"] in chat.text
    ticket = await by_reference(runtime, chat.text)
    assert (ticket.kind, ticket.status, ticket.locale) == ("complaint", "new", lang)
    assert (ticket.category, ticket.region, ticket.subject) == (
        "healthcare",
        "karaganda",
        BODY[lang],
    )
    assert ticket.summary == STORY[lang]
    assert ticket.due_on == date(2026, 4, 9)
    assert ticket.details["applicant_name"] == NAME[lang]
    assert ticket.details["iin"] == IIN
    assert ticket.details["location"]["latitude"] == 49.8
    async with runtime.storage.read() as tx:
        files = await tx.tickets.attachments(ticket.id)
    assert [(f.content_type, f.file_name) for f in files] == [("application/pdf", "scan.pdf")]
    assert await runtime.attachments.aget(files[0].blob_id) == PDF


async def test_deadline_from_a_friday_skips_the_weekend_and_nauryz(
    new_chat, runtime: Runtime, clock: Clock
) -> None:
    clock.advance(days=4)  # Friday 2026-03-20; Nauryz days off run 21-25 March
    chat: Chat = new_chat(lang="ru")
    await to_summary(chat, "ru")
    await chat.press_payload("sum:ok")
    assert SAYS["ru"]["due_friday"] in plain(chat.text)
    ticket = await by_reference(runtime, chat.text)
    assert ticket.due_on == date(2026, 4, 15)
    assert "iin" not in ticket.details and "location" not in ticket.details


async def test_body_from_the_list_and_official_conduct(new_chat, runtime: Runtime) -> None:
    chat: Chat = new_chat(lang="en")
    await start_in(chat, "en")
    await chat.press("File a complaint")
    await chat.press("Conduct of an official")
    await chat.press("Akimat")
    await chat.send("Astana")
    await chat.send(STORY["en"])
    await chat.press("Continue")
    await chat.press("Skip")
    await chat.send(NAME["en"])
    await chat.press("Skip")
    assert "Category: Conduct of an official" in chat.text
    assert "Body or centre: Akimat" in chat.text
    await chat.press("Confirm")
    ticket = await by_reference(runtime, chat.text)
    assert (ticket.category, ticket.region) == ("official_conduct", "astana")
    assert ticket.details["body"] == "akimat"


async def test_edit_from_the_summary_changes_one_field_only(new_chat, runtime: Runtime) -> None:
    chat: Chat = new_chat(lang="ru")
    await to_summary(chat, "ru", iin=IIN)
    await chat.press_payload("sum:edit")
    await chat.press_payload("edit:region")
    await chat.press_payload("reg:shymkent")
    assert SAYS["ru"]["summary"] in chat.text  # straight back, no other step asked again
    assert "Регион: город Шымкент" in chat.text
    for kept in (STORY["ru"], BODY["ru"], NAME["ru"], IIN, "Здравоохранение"):
        assert kept in chat.text
    await chat.press_payload("sum:edit")
    await chat.press_payload("edit:name")
    await chat.send("Петров Пётр")
    assert "ФИО: Петров Пётр" in chat.text
    await chat.press_payload("sum:edit")
    await chat.press_payload("edit:describe")
    new_story = "Сотрудник ЦОНа потребовал справку, которой нет в перечне документов."
    await chat.send(new_story)
    await chat.press_payload("more:next")
    assert new_story in chat.text and STORY["ru"] not in chat.text
    await chat.press_payload("sum:ok")
    ticket = await by_reference(runtime, chat.text)
    assert (ticket.region, ticket.summary, ticket.category) == ("shymkent", new_story, "healthcare")
    assert ticket.details == {"applicant_name": "Петров Пётр", "iin": IIN}


async def test_back_from_an_edit_returns_to_the_field_list(new_chat) -> None:
    chat: Chat = new_chat(lang="en")
    await to_summary(chat, "en")
    await chat.press_payload("sum:edit")
    await chat.press_payload("edit:category")
    await chat.press_payload("g:back")
    assert "What would you like to change" in chat.text
    await chat.press_payload("g:back")
    assert SAYS["en"]["summary"] in chat.text


async def test_cancel_at_the_summary_files_nothing(new_chat, runtime: Runtime) -> None:
    chat: Chat = new_chat(lang="kk")
    await to_summary(chat, "kk")
    await chat.press_payload("sum:cancel")
    await chat.press_payload("sum:drop")
    assert "Ештеңе жіберілген жоқ" in chat.text
    assert await ticket_count(runtime) == 0


@pytest.mark.parametrize("lang", LANGS)
async def test_too_short_description_is_refused_in_the_citizens_language(
    new_chat, lang: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    await to_describe(chat, lang)
    await chat.send("   ЦОН плохо   ")
    assert SAYS[lang]["short"] in chat.text
    assert "30" in chat.text
    await chat.send(STORY[lang])
    assert "more:next" in [b.payload for b in chat.buttons]


async def test_over_the_limit_keeps_the_beginning_and_says_so(new_chat, runtime: Runtime) -> None:
    chat: Chat = new_chat(lang="ru")
    await to_describe(chat, "ru")
    chunk = "Қазақша мәтін, русский текст, English text 🙂👍🏽 ✍️ — 漢字. "
    long_text = (chunk * 100)[:4500]  # mixed scripts and emoji, over 4,000 characters
    await chat.send(long_text)
    assert "длиннее допустимых 4 000 символов" in plain(chat.text)
    assert "more:next" in [b.payload for b in chat.buttons]
    await chat.press_payload("more:next")
    await chat.press_payload("ev:skip")
    await chat.send(NAME["ru"])
    await chat.press_payload("iin:skip")
    shown = next(r.text for r in chat.replies if r.text.startswith("Что произошло"))
    kept = shown.removeprefix("Что произошло:\n")
    assert 3800 <= len(kept) <= 4000 and long_text.startswith(kept)
    await chat.press_payload("sum:ok")
    ticket = await by_reference(runtime, chat.text)
    assert ticket.summary == kept


async def test_a_text_split_in_two_messages_is_joined_not_overwritten(
    new_chat, runtime: Runtime
) -> None:
    chat: Chat = new_chat(lang="en")
    await to_describe(chat, "en")
    first, second = "A" * 40 + " first part.", "Second part, sent as another message."
    await chat.send(first)
    await chat.send(second)
    assert "more:next" in [b.payload for b in chat.buttons]
    await chat.press_payload("more:next")
    await chat.press_payload("ev:skip")
    await chat.send(NAME["en"])
    await chat.press_payload("iin:skip")
    await chat.press_payload("sum:ok")
    ticket = await by_reference(runtime, chat.text)
    assert ticket.summary == f"{first}\n\n{second}"


async def test_start_over_replaces_the_description(new_chat) -> None:
    chat: Chat = new_chat(lang="en")
    await to_describe(chat, "en")
    await chat.send("X" * 40)
    await chat.press_payload("more:clear")
    await chat.send(STORY["en"])
    assert "87 characters" in chat.text


async def test_markup_and_sql_are_stored_and_shown_verbatim(new_chat, runtime: Runtime) -> None:
    chat: Chat = new_chat(lang="en")
    await to_describe(chat, "en")
    hostile = "<b>bold</b> *star* _u_ [x](http://e.x) {name} %s '); DROP TABLE tickets; --"
    await chat.send(hostile)
    await chat.press_payload("more:next")
    await chat.press_payload("ev:skip")
    await chat.send(NAME["en"])
    await chat.press_payload("iin:skip")
    assert hostile in chat.text
    await chat.press_payload("sum:ok")
    ticket = await by_reference(runtime, chat.text)
    assert ticket.summary == hostile
    assert await ticket_count(runtime) == 1


async def test_evidence_count_limit_and_refusals_are_explained(new_chat, runtime: Runtime) -> None:
    chat: Chat = new_chat(lang="ru")
    await to_describe(chat, "ru")
    await chat.send(STORY["ru"])
    await chat.press_payload("more:next")
    await chat.send(
        attachments=[await attach(runtime, b"note %d\n" % i, f"n{i}.txt") for i in range(3)]
    )
    assert "Приложено файлов: 3 из 5" in chat.text
    sticker = Attachment(AttachmentKind.STICKER, "image/webp", 900, "b" * 32, "s.webp")
    await chat.send(attachments=[sticker])
    assert "не добавлен (s.webp)" in chat.text and "тип файла не принимается" in chat.text
    huge = Attachment(AttachmentKind.VIDEO, "video/mp4", 21 * 1024 * 1024, "c" * 32, "v.mp4")
    await chat.send(attachments=[huge])
    assert "слишком большой" in chat.text and "20 МБ" in chat.text
    more = [await attach(runtime, b"more %d\n" % i, f"m{i}.txt") for i in range(3)]
    await chat.send(attachments=more)
    assert "Приложено файлов: 5 из 5" in chat.text
    assert "не добавлен (m2.txt)" in chat.text and "максимальное число файлов — 5" in chat.text
    await chat.press_payload("ev:clear")
    assert "Пропустить" in [b.label for b in chat.buttons]
    await chat.send(attachments=[await attach(runtime)])
    await chat.press_payload("ev:done")
    await chat.send(NAME["ru"])
    await chat.press_payload("iin:skip")
    assert "Доказательства: 1 файл" in chat.text
    await chat.press_payload("sum:ok")
    ticket = await by_reference(runtime, chat.text)
    async with runtime.storage.read() as tx:
        assert [f.file_name for f in await tx.tickets.attachments(ticket.id)] == ["scan.pdf"]


@pytest.mark.parametrize(
    "typed",
    ["Иван", "Иван Иванов Иванович Петрович Сидоров", "Ivan2 Petrov", "Иван @petrov", "- -"],
)
async def test_bad_names_are_refused(new_chat, typed: str) -> None:
    chat: Chat = new_chat(lang="ru")
    await to_describe(chat, "ru")
    await chat.send(STORY["ru"])
    await chat.press_payload("more:next")
    await chat.press_payload("ev:skip")
    await chat.send(typed)
    assert "двумя–четырьмя словами" in chat.text
    await chat.send("Ахметов Нұрлан Серік ұлы")  # a Kazakh patronymic written apart
    assert "ИИН" in chat.text


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("12345", "ровно из 12 цифр"),
        (IIN[:11] + str((int(IIN[11]) + 1) % 10), "контрольная"),
        (make_iin(date(2099, 1, 1), "male", 5), "дату рождения"),  # born in the future
        ("85131430000" + str(check_digit("85131430000")), "дату рождения"),  # month 13
    ],
)
async def test_invalid_iin_is_refused_and_valid_one_accepted(
    new_chat, runtime: Runtime, typed: str, says: str
) -> None:
    chat: Chat = new_chat(lang="ru")
    await to_describe(chat, "ru")
    await chat.send(STORY["ru"])
    await chat.press_payload("more:next")
    await chat.press_payload("ev:skip")
    await chat.send(NAME["ru"])
    await chat.send(typed)
    assert says in chat.text
    assert "iin:skip" in [b.payload for b in chat.buttons]
    await chat.send(IIN)
    assert f"ИИН: {IIN}" in chat.text


async def test_typed_region_that_is_ambiguous_asks_to_choose(new_chat) -> None:
    chat: Chat = new_chat(lang="ru")
    await start_in(chat, "ru")
    await chat.press_payload("flow:complaint")
    await chat.press_payload("cat:tax")
    await chat.press_payload("body:state_revenue")
    await chat.send("Алматы")  # the city and the region share the name
    assert "Вы имеете в виду город или область?" in chat.text
    await chat.send("Восточно-Казахстанская")
    assert "Опишите, что произошло" in chat.text


async def test_anonymous_route_switches_to_the_tip_flow(new_chat, runtime: Runtime) -> None:
    if "tip" not in runtime.flows:
        pytest.skip("the tip flow is not installed")
    chat: Chat = new_chat(lang="kk")
    await to_describe(chat, "kk")
    await chat.send(STORY["kk"])
    await chat.press_payload("more:next")
    await chat.press_payload("ev:skip")
    await chat.press_payload("who:tip")
    assert "мессенджер компаниясының өзі" in chat.text  # the tip flow's honest notice
    assert await ticket_count(runtime) == 0


# Every step, and how to get the chat there from the region question.
STEPS = ("category", "body", "region", "describe", "more", "evidence", "name", "iin", "summary")


async def reach(chat: Chat, step: str) -> None:
    await start_in(chat, "ru")
    await chat.press_payload("flow:complaint")
    path = [
        ("category", lambda: chat.press_payload("cat:healthcare")),
        ("body", lambda: chat.press_payload("body:gov4c")),
        ("region", lambda: chat.press_payload("reg:pavlodar")),
        ("describe", lambda: chat.send(STORY["ru"])),
        ("more", lambda: chat.press_payload("more:next")),
        ("evidence", lambda: chat.press_payload("ev:skip")),
        ("name", lambda: chat.send(NAME["ru"])),
        ("iin", lambda: chat.press_payload("iin:skip")),
    ]
    for name, go in path:
        if name == step:
            return
        await go()


REFUSALS = {
    "empty": "Сообщение пустое",
    "sticker": "Стикеры здесь прочитать нельзя",
    "location": "геолокация не нужна",
    "file": "файлы не принимаются",
    "stale": "Эта кнопка из предыдущего сообщения",
    "text": "Выберите один из вариантов ниже",
}
TAKES = {"evidence": {"location", "file"}}  # what a step accepts that others refuse
# The evidence step (handlers/evidence.py, shared with tips) says it wants a file, not words.
SAYS_INSTEAD = {("evidence", "text"): "На этом шаге отправьте файл"}
TEXT_REFUSED = {"category", "evidence", "summary"}
CASES = [
    (step, bad)
    for step in STEPS
    for bad in sorted(REFUSALS)
    if bad not in TAKES.get(step, set()) and (bad != "text" or step in TEXT_REFUSED)
]


@pytest.mark.parametrize(("step", "bad"), CASES)
async def test_bad_input_keeps_the_step_and_everything_entered(
    new_chat, runtime: Runtime, step: str, bad: str
) -> None:
    chat: Chat = new_chat(lang="ru")
    await reach(chat, step)
    asked = [r.text for r in chat.replies][-1]
    offered = [b.payload for b in chat.buttons]
    if bad == "empty":
        await chat.send("   ")
    elif bad == "sticker":
        await chat.send(unsupported="input.sticker")
    elif bad == "location":
        await chat.send(location=Location(43.2, 76.9))
    elif bad == "file":
        await chat.send(attachments=[await attach(runtime)])
    elif bad == "stale":
        await chat.send(payload="lang:en")
    else:
        await chat.send("какой-то текст вместо кнопки")
    assert SAYS_INSTEAD.get((step, bad), REFUSALS[bad]) in chat.text
    # The name step asks again after a one-line reminder, not the full notice (issue 15).
    assert chat.replies[-1].text.endswith(asked)
    assert [b.payload for b in chat.buttons] == offered
    if step == "summary":
        await chat.press_payload("sum:ok")
        ticket = await by_reference(runtime, chat.text)
        assert (ticket.category, ticket.region, ticket.summary) == (
            "healthcare",
            "pavlodar",
            STORY["ru"],
        )
        assert ticket.details == {"applicant_name": NAME["ru"], "body": "gov4c"}


@pytest.mark.parametrize("lang", LANGS)
async def test_a_sticker_is_answered_in_the_citizens_language(new_chat, lang: str) -> None:
    chat: Chat = new_chat(lang=lang)
    await to_describe(chat, lang)
    await chat.send(unsupported="input.sticker")
    assert SAYS[lang]["sticker"] in chat.text


async def test_start_over_keeps_the_description_until_a_new_one_arrives(new_chat) -> None:
    """Issue 15: «Начать заново» cleared the text at once, and Back showed "0 characters"."""
    chat = new_chat(lang="en")
    await start_in(chat, "en")
    await chat.press_payload("flow:complaint")
    await chat.press_payload(chat.buttons[0].payload)  # first category
    await chat.press_payload(chat.buttons[0].payload)  # first body
    await chat.send("Astana")
    story = "At the service centre I waited four hours and was refused."
    await chat.send(story)
    await chat.press_payload("more:clear")
    assert f"({len(story)} characters)" in chat.text  # says what the new text replaces
    await chat.send("back")
    assert f"{len(story)} characters" in chat.text and "0 characters" not in chat.text
    await chat.press_payload("more:next")
    assert any(b.payload == "ev:skip" for b in chat.buttons)
