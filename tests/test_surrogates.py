"""A lone UTF-16 surrogate in what a citizen sends (JSON "\\ud800", or a byte the
terminal could not decode) is replaced at each channel's edge, so the session and the
ticket can be stored and the conversation goes on (bot/text.py)."""

from __future__ import annotations

from bot.app import channel_services
from bot.channels.console import ConsoleChat
from bot.channels.whatsapp.inbound import to_inbound as whatsapp_inbound
from bot.domain import Reply
from bot.runtime import Runtime
from bot.text import clean_optional, clean_text

APOLOGY = "Sorry, something went wrong"


def test_clean_text() -> None:
    assert clean_text("Сәлем, world") == "Сәлем, world"
    assert clean_text("a\ud800b") == "a\ufffdb"
    assert clean_text("\udcff\udcfe") == "\ufffd\ufffd"
    assert clean_text("\ud83d\ude00") == "😀"  # a pair split in two is joined, not lost
    assert clean_text("x\ud83d") == "x\ufffd"
    for text in ("a\ud800b", "\udfff", "\ud800\ud800\udc00"):
        clean_text(text).encode("utf-8")
    assert clean_optional(5) is None and clean_optional("\ud800") == "\ufffd"


def test_whatsapp_inbound_is_cleaned() -> None:
    form = {"From": "whatsapp:+77011234567", "Body": "a\ud800", "ProfileName": "\udc80"}
    inbound = whatsapp_inbound(form)
    assert (inbound.text, inbound.profile_name) == ("a\ufffd", "\ufffd")


def _press(replies: list[Reply], prefix: str) -> str:
    """The number to type for the first offered button whose payload starts with prefix."""
    buttons = [b for r in replies for b in r.buttons]
    return str(next(n for n, b in enumerate(buttons, 1) if b.payload.startswith(prefix)))


async def test_console_line_with_an_undecodable_byte_and_the_next_line(runtime: Runtime) -> None:
    """stdin decodes bytes it cannot read to lone surrogates (surrogateescape)."""
    chat = ConsoleChat(channel_services(runtime), runtime.settings, chat_key="terminal", lang="en")
    replies = await chat.send_line("/start")
    for prefix in ("lang:en", "flow:complaint", "cat:", "body:", "reg:"):
        replies = await chat.send_line(_press(replies, prefix))
    line = b"The clerk \xff asked for money to stamp my certificate.".decode(
        "utf-8", "surrogateescape"
    )
    replies = await chat.send_line(line)
    assert replies and all(APOLOGY not in r.text for r in replies)
    replies = await chat.send_line("menu")
    assert replies and all(APOLOGY not in r.text for r in replies)
