"""Rendering replies for Telegram: splitting, keyboards, merging notes, pacing."""

from __future__ import annotations

import pytest

from bot.channels.telegram.render import MAX_TEXT, keyboard, merge, render, split_text
from bot.domain import Button, Reply


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_short_text_is_one_part() -> None:
    assert split_text("Сәлем") == ["Сәлем"]


def test_long_text_splits_at_paragraphs_then_sentences() -> None:
    paragraph = "Бірінші сөйлем. " * 150  # ~2,400 characters
    text = f"{paragraph.strip()}\n\n{paragraph.strip()}\n\n{paragraph.strip()}"
    parts = split_text(text)
    assert len(parts) == 3
    assert all(units(p) <= MAX_TEXT for p in parts)
    assert all(p.endswith(".") for p in parts)
    assert "".join(parts).replace(" ", "") == text.replace("\n", "").replace(" ", "")


def test_no_boundary_means_a_hard_cut_that_keeps_emoji_whole() -> None:
    text = "😀" * 3000  # 6,000 UTF-16 units
    parts = split_text(text)
    assert all(units(p) <= MAX_TEXT for p in parts)
    assert "".join(parts) == text


def test_keyboard_on_the_last_part_only() -> None:
    reply = Reply("сөз " * 2000, (Button("g:menu", "Мәзір"),))
    out = render(reply)
    assert len(out) == 2
    assert out[0].markup is None
    assert out[1].markup == {"inline_keyboard": [[{"text": "Мәзір", "callback_data": "g:menu"}]]}


def test_markup_characters_are_sent_as_typed() -> None:
    [out] = render(Reply("<b>*_[x](y)`"))
    assert out.text == "<b>*_[x](y)`"


def test_callback_data_over_64_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        keyboard((Button("ж" * 33, "too long"),))


def test_notes_merge_into_the_next_message() -> None:
    menu = Reply("Басты мәзір", (Button("flow:tip", "Хабарлау"),))
    merged = merge([Reply("Бас тартылды."), menu])
    assert merged == [Reply("Бас тартылды.\n\nБасты мәзір", menu.buttons)]
    # A message with buttons is never merged into the next one; neither is a huge note.
    assert len(merge([menu, Reply("келесі")])) == 2
    assert len(merge([Reply("x" * 4090), menu])) == 2
