"""pick_language is total: a platform's language hint can be any JSON value."""

from __future__ import annotations

from typing import Any

import pytest

from bot.i18n import pick_language
from tests.chat import Chat


@pytest.mark.parametrize(
    ("hint", "expected"),
    [("ru-RU", "ru"), ("kk_KZ", "kk"), ("EN", "en"), ("de", "kk"), ("", "kk"), (None, "kk")],
)
def test_hints_we_know(hint: str | None, expected: str) -> None:
    assert pick_language(hint, "kk") == expected


@pytest.mark.parametrize("hint", [5, 1.5, [], ["ru"], {}, {"ru": 1}, True, b"ru", float("inf")])
def test_a_hint_that_is_not_a_string_gives_the_default(hint: Any) -> None:
    """Issue: language_code 5 raised AttributeError, and again inside the apology."""
    assert pick_language(hint, "ru") == "ru"


async def test_the_dispatcher_answers_whatever_the_hint(runtime: Any) -> None:
    chat = Chat(runtime.dispatcher, lang=5)  # type: ignore[arg-type]
    await chat.send("/start")
    assert "Тілді таңдаңыз" in chat.text
