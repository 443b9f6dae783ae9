""" "Алматы" alone at a region step (issue 15): the city or the region? Two buttons, not
"could not tell"; the same in every flow that asks for a region (handlers/pickers.py)."""

from __future__ import annotations

import pytest

from tests.chat import Chat
from tests.conftest import start_in

ASKS = {
    "kk": "Қаланы айтып тұрсыз ба, әлде облысты ма?",
    "ru": "Вы имеете в виду город или область?",
    "en": "Do you mean the city or the region?",
}
CHOICES = ["reg:almaty_city", "reg:almaty_region", "g:back", "g:menu"]


async def to_region(chat: Chat, lang: str) -> None:
    await start_in(chat, lang)
    await chat.press_payload("flow:complaint")
    await chat.press_payload("cat:healthcare")
    await chat.press_payload(chat.buttons[0].payload)  # the first body on the list
    assert any(b.payload.startswith("reg:") for b in chat.buttons)


async def region(runtime, chat: Chat) -> str | None:
    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find(chat.channel, chat.chat_key)
        assert citizen is not None
        record = await tx.sessions.load(citizen.id)
    assert record is not None
    found: str | None = record.data["d"].get("region")
    return found


@pytest.mark.parametrize(
    ("lang", "typed", "answer", "code"),
    [
        ("kk", "Алматы", "2", "almaty_region"),  # as it was seen
        ("ru", "«Алматы»", "1", "almaty_city"),
        ("en", "Almaty", "Almaty Region", "almaty_region"),
        ("ru", "алматы", "Алматы қаласы", "almaty_city"),  # a name in another language
    ],
)
async def test_almaty_asks_the_city_or_the_region(
    new_chat, runtime, lang: str, typed: str, answer: str, code: str
) -> None:
    chat: Chat = new_chat(lang=lang)
    await to_region(chat, lang)
    await chat.send(typed)
    assert ASKS[lang] in chat.text
    assert [b.payload for b in chat.buttons] == CHOICES
    assert await region(runtime, chat) is None
    await chat.send(answer)  # its number, or its name in any language
    assert await region(runtime, chat) == code
    assert not any(b.payload.startswith("reg:") for b in chat.buttons)  # the next question


@pytest.mark.parametrize(("lang", "typed"), [("kk", "Алматы облысы"), ("ru", "город Алматы")])
async def test_a_name_that_says_which_is_taken_at_once(new_chat, runtime, lang, typed) -> None:
    chat: Chat = new_chat(lang=lang)
    await to_region(chat, lang)
    await chat.send(typed)
    assert ASKS[lang] not in chat.text
    expected = "almaty_region" if "облысы" in typed else "almaty_city"
    assert await region(runtime, chat) == expected


async def test_the_tip_asks_the_same(new_chat, runtime) -> None:
    chat: Chat = new_chat(lang="kk")
    await start_in(chat, "kk")
    await chat.press_payload("flow:tip")
    await chat.press_payload("tip:anon")
    await chat.send("Маман құжатты тез беру үшін қолма-қол ақша талап етті.")
    await chat.press_payload("more:next")
    await chat.send("Әкімдіктің бас маманы")
    await chat.send("Алматы")
    assert ASKS["kk"] in chat.text
    await chat.press_payload("reg:almaty_region")
    assert await region(runtime, chat) == "almaty_region"
