"""First contact, language choice and the main menu, in all three languages."""

from __future__ import annotations

import pytest

from tests.chat import Chat
from tests.conftest import start_in


@pytest.mark.parametrize(
    ("lang", "title"),
    [("kk", "Басты мәзір"), ("ru", "Главное меню"), ("en", "Main menu")],
)
async def test_language_choice_reaches_the_main_menu(new_chat, lang: str, title: str) -> None:
    chat: Chat = new_chat(lang=None)
    await chat.send("/start")
    assert [b.payload for b in chat.buttons] == ["lang:kk", "lang:ru", "lang:en"]
    await chat.press_payload(f"lang:{lang}")
    assert title in chat.text
    assert chat.button("🌐")


async def test_platform_hint_preselects_the_language(new_chat) -> None:
    chat: Chat = new_chat(lang="ru-RU")
    await chat.send("привет")
    assert "Выберите язык" in chat.text
    assert chat.buttons[0].payload == "lang:ru"


async def test_language_can_be_typed_and_changed_any_time(new_chat) -> None:
    chat: Chat = new_chat(lang="en")
    await chat.send("/start")
    await chat.send("русский")
    assert "Главное меню" in chat.text
    await chat.send("тіл")
    assert chat.buttons[0].payload == "lang:ru"  # the current language comes first
    await chat.send("Қазақша")
    assert "қазақ тілінде" in chat.text
    assert "Басты мәзір" in chat.text


async def test_help_mentions_the_hotline(new_chat) -> None:
    chat: Chat = new_chat(lang="kk")
    await start_in(chat, "kk")
    await chat.send("көмек")
    assert "1424" in chat.text
    assert "Басты мәзір" in chat.text


@pytest.mark.parametrize("typed", ["9" * 4301, "0" * 5000 + "2", "፩", "᧚"])
async def test_a_number_int_cannot_read_is_not_a_crash(new_chat, typed: str, caplog) -> None:
    """Found by fuzzing (WhatsApp Body of 4,301 zeros): int() refuses a string of more than
    4,300 digits, and "፩" passes isdigit() but not int(); both raised ValueError in
    match_button, so the citizen got the apology instead of an answer."""
    chat: Chat = new_chat(lang="en")
    await chat.send("/start")
    await chat.send(typed)
    assert "choose your language" in chat.text.lower()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
