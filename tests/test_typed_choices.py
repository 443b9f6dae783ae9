"""Input taken as data (issue 15): a number typed under a numbered list chooses an option
or nothing, never "option 1" for "-1" nor a body named "99"; a typed body name needs
letters. Each in the language it was seen in and one more."""

from __future__ import annotations

import pytest

from tests.chat import Chat
from tests.conftest import start_in

NOT_ON_LIST = {
    "kk": "Тізімде мұндай нөмір жоқ",
    "ru": "В списке нет такого номера",
    "en": "There is no such number in the list",
}
LETTERS = {
    "kk": "Мемлекеттік органның атауы әріппен жазылады",
    "ru": "Название государственного органа пишется буквами",
}


@pytest.mark.parametrize("lang", ["ru", "kk"])
@pytest.mark.parametrize("typed", ["-1", "0", "99", "−1"])
async def test_a_number_off_the_main_menu_opens_nothing(new_chat, lang: str, typed: str) -> None:
    chat: Chat = new_chat(lang=lang)
    await start_in(chat, lang)
    await chat.send(typed)
    if typed != "0":  # "0" is the main menu itself, said on every WhatsApp list
        assert NOT_ON_LIST[lang] in chat.text
        assert "1 " in chat.text and str(len(chat.buttons)) in chat.text
    assert any(b.payload == "flow:complaint" for b in chat.buttons)  # still the main menu
    assert not any(b.payload.startswith("cat:") for b in chat.buttons)


@pytest.mark.parametrize("lang", ["kk", "ru"])
@pytest.mark.parametrize("flow", ["complaint", "tip"])
async def test_a_body_name_needs_letters(new_chat, runtime, lang: str, flow: str) -> None:
    chat: Chat = new_chat(lang=lang)
    await start_in(chat, lang)
    await chat.press_payload(f"flow:{flow}")
    if flow == "complaint":
        await chat.press_payload("cat:healthcare")
    else:
        await chat.press_payload("tip:anon")
        await chat.send("Маман құжатты беру үшін ақша сұрады, чек жоқ." * 2)
        await chat.press_payload("more:next")
    assert any(b.payload.startswith("body:") for b in chat.buttons)
    await chat.send("😡😡")
    assert LETTERS[lang] in chat.text
    await chat.send("99")
    assert NOT_ON_LIST[lang] in chat.text
    assert any(b.payload.startswith("body:") for b in chat.buttons)  # the same question
    await chat.send("ЦОН № 3" if lang == "ru" else "№3 ХҚКО")
    assert any(b.payload.startswith("reg:") for b in chat.buttons)  # a name with letters is taken


@pytest.mark.parametrize("typed", ["6", "-1", "99"])
async def test_a_number_off_a_numbered_list_is_answered_with_the_range(
    new_chat, typed: str
) -> None:
    chat: Chat = new_chat(lang="en")
    await start_in(chat, "en")
    await chat.press_payload("flow:complaint")
    await chat.press_payload("cat:healthcare")
    await chat.press_payload(chat.buttons[0].payload)  # the first body on the list
    regions = len(chat.buttons)
    await chat.send(typed if typed != "6" else str(regions + 1))
    assert f"There is no such number in the list. Send a number from 1 to {regions}" in chat.text
