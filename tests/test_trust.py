"""Issue 15, "Trust": the personal-data notice before a name, shown once; what happens
after a complaint; the rating-to-tip hand-over; the tip notice and its short reminder."""

from __future__ import annotations

import pytest

from bot.runtime import Runtime
from tests.chat import Chat
from tests.test_complaint import NAME, STORY, to_describe, to_summary

CONSENT = {
    "kk": ("№ 94-V Заңына", "шағым қаралғаннан кейін 5 жыл", "Агенттік қызметкерлері ғана"),
    "ru": ("№ 94-V «О персональных данных и их защите»", "5 лет после", "только сотрудники"),
}
REMINDER = {"kk": "Еске саламыз:", "ru": "Напоминаем:"}
AFTER = {
    "kk": ("Жауап осы чатқа келеді.", "уәкілетті органға жіберілуі мүмкін"),
    "ru": ("Ответ поступит в этот чат.", "может быть направлена в уполномоченный орган"),
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
