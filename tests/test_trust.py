"""Issue 15, "Trust": the personal-data notice before a name, shown once; what happens
after a complaint; the rating-to-tip hand-over; the tip notice and its short reminder."""

from __future__ import annotations

import pytest

from bot.runtime import Runtime
from tests.chat import Chat
from tests.test_complaint import NAME, STORY, to_describe, to_summary
from tests.test_feedback import WORDS, tickets, to_rating
from tests.test_tip import to_notice

CONSENT = {
    "kk": ("№ 94-V Заңына", "шағым қаралғаннан кейін 5 жыл", "Агенттік қызметкерлері ғана"),
    "ru": ("№ 94-V «О персональных данных и их защите»", "5 лет после", "только сотрудники"),
}
REMINDER = {"kk": "Еске саламыз:", "ru": "Напоминаем:"}
AFTER = {
    "kk": ("Жауап осы чатқа келеді.", "құзыретті органға жіберілуі мүмкін"),
    "ru": ("Ответ поступит в этот чат.", "может быть направлена в компетентный орган"),
}


async def to_name(chat: Chat, lang: str) -> None:
    await to_describe(chat, lang)
    await chat.send(STORY[lang])
    await chat.press_payload("more:next")
    await chat.press_payload("ev:skip")


@pytest.mark.parametrize("lang", ["kk", "ru"])
async def test_the_consent_notice_comes_before_the_name_and_only_once(
    new_chat, runtime: Runtime, lang: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    await to_name(chat, lang)
    first = chat.text
    assert all(part in first for part in CONSENT[lang])
    assert runtime.refdata.agency.names[lang] in first
    # A wrong name, twice: a one-line reminder each time, not the legal text again.
    for typed in ("😡😡", "99"):
        await chat.send(typed)
        assert REMINDER[lang] in chat.text
        assert CONSENT[lang][1] not in chat.text
        assert len(chat.text) < len(first)
    await chat.send(NAME[lang])
    await chat.press_payload("iin:skip")
    # Editing the name from the summary: the reminder again, not the notice.
    await chat.press_payload("sum:edit")
    await chat.press_payload("edit:name")
    assert REMINDER[lang] in chat.text
    assert CONSENT[lang][1] not in chat.text


@pytest.mark.parametrize("lang", ["kk", "ru"])
async def test_after_a_complaint_the_answer_comes_here_and_forwarding_is_announced(
    new_chat, lang: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    await to_summary(chat, lang)
    await chat.press_payload("sum:ok")
    assert all(part in chat.text for part in AFTER[lang])


# -- feedback: "Other" needs words; a bribe comment and the named ticket ------------------


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_one_star_with_other_asks_for_the_comment_first(
    new_chat, runtime: Runtime, lang: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    await to_rating(chat, lang)
    await chat.press("1 ⭐")
    await chat.press_payload("why:other")
    await chat.press_payload("fb:done")
    assert "fb:skip" not in [b.payload for b in chat.buttons]
    assert {"en": "You chose «Other»", "ru": "Вы выбрали «Другое»"}[lang] in chat.text
    await chat.send(payload="fb:skip")  # the Skip of an earlier question: refused
    assert await tickets(runtime, chat) == []
    await chat.send(WORDS[lang]["comment_text"])
    [ticket] = await tickets(runtime, chat)
    assert ticket.summary == WORDS[lang]["comment_text"]


KEPT_OUT = {
    "kk": ("Назар аударыңыз", "Бұл пікірді қайда сақтау керек?", "Сіз бұрын айтқанды"),
    "ru": ("Обратите внимание", "Где сохранить этот комментарий?", "Перенесено то"),
}


async def to_bribe_comment(chat: Chat, runtime: Runtime, lang: str) -> None:
    await to_rating(chat, lang)
    await chat.press("1 ⭐")
    await chat.press_payload("why:bribe")
    await chat.press_payload("fb:done")
    warning, question, _ = KEPT_OUT[lang]
    assert warning in chat.text  # before the comment is typed
    await chat.send(WORDS[lang]["comment_text"])
    assert question in chat.text
    assert await tickets(runtime, chat) == []  # nothing stored before the choice


@pytest.mark.parametrize("lang", ["kk", "ru"])
async def test_a_bribe_comment_can_be_kept_out_of_the_named_ticket(
    new_chat, runtime: Runtime, lang: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    await to_bribe_comment(chat, runtime, lang)
    await chat.press_payload("ko:out")
    [ticket] = await tickets(runtime, chat)
    assert ticket.summary is None
    assert ticket.details == {"reasons": []}  # kept out: the bribe is in the report only
    # The hand-over says the comment is carried over, and it is: the tip shows it.
    await chat.press_payload("tip:yes")
    assert KEPT_OUT[lang][2] in chat.text
    assert WORDS[lang]["comment_text"] in chat.text


@pytest.mark.parametrize("lang", ["kk", "ru"])
async def test_a_bribe_comment_in_the_named_ticket_is_not_said_to_be_carried(
    new_chat, runtime: Runtime, lang: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    await to_bribe_comment(chat, runtime, lang)
    await chat.press_payload("ko:in")
    [ticket] = await tickets(runtime, chat)
    assert ticket.summary == WORDS[lang]["comment_text"]
    offer = chat.text
    assert {"kk": "өз атыңыздағы өтініште қалады", "ru": "остаются в обращении"}[lang] in offer
    await chat.press_payload("tip:yes")
    assert WORDS[lang]["comment_text"] not in chat.text


# -- the tip notice ----------------------------------------------------------------------

LAW = {
    "kk": ("Заңының 24-бабы", "Қылмыстық кодексінің 419-бабы", "Толығырақ", "Еске саламыз:"),
    "ru": ("статья 24 Закона", "статья 419 Уголовного кодекса", "Подробнее", "Напоминаем:"),
}


@pytest.mark.parametrize("lang", ["kk", "ru"])
async def test_the_tip_notice_states_protection_and_false_report_liability(
    new_chat, lang: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    await to_notice(chat, lang)
    protection, liability, more, _ = LAW[lang]
    assert protection in chat.text
    assert liability in chat.text
    # Above the buttons: a one-line summary of the choice; the long text is behind "More".
    choice = chat.replies[-1]
    assert "\n" not in choice.text
    assert [b.payload for b in choice.buttons][:3] == ["tip:anon", "tip:conf", "tip:more"]
    assert more in chat.button(more).label
    assert "16" in choice.text


@pytest.mark.parametrize("lang", ["kk", "ru"])
async def test_more_and_help_inside_a_tip_do_not_repeat_the_long_notice(
    new_chat, lang: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    await to_notice(chat, lang)
    first = chat.text
    protection, _, more, reminder = LAW[lang]
    await chat.press(more)
    assert {"kk": "Құпия хабарлама:", "ru": "Конфиденциальное сообщение:"}[lang] in chat.text
    assert protection not in chat.text
    await chat.send({"kk": "көмек", "ru": "помощь"}[lang])
    asked = chat.replies[-1].text
    assert asked.startswith(reminder)
    assert protection not in asked
    assert len(asked) < len(first) / 2
    await chat.press_payload("tip:anon")  # the choice still works after both
    assert "tip:anon" not in [b.payload for b in chat.buttons]


@pytest.mark.parametrize("lang", ["kk", "ru"])
async def test_the_centre_typed_into_a_named_ticket_is_not_carried_into_the_report(
    new_chat, runtime: Runtime, lang: str
) -> None:
    """Found by an outside review: with the bribe comment kept out, the named ticket still
    held the centre as the citizen typed it (and the bribe reason), and the anonymous
    report carried the same typed words: the two could be matched."""
    chat: Chat = new_chat(lang=lang)
    await to_bribe_comment(chat, runtime, lang)  # centre typed: "ЦОН № 2"
    await chat.press_payload("ko:out")
    [ticket] = await tickets(runtime, chat)
    assert ticket.subject == "ЦОН № 2" and ticket.details == {"reasons": []}
    assert {"kk": "сіз атаған орталық тек", "ru": "центр остаётся только"}[lang] in chat.text
    await chat.press_payload("tip:yes")
    await chat.press_payload("tip:anon")
    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find(chat.channel, chat.chat_key)
        assert citizen is not None
        record = await tx.sessions.load(citizen.id)
    assert record is not None and record.flow == "tip"
    assert "ЦОН № 2" not in str(record.data)
