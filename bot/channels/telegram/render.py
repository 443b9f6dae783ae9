"""Our `Reply` as Telegram messages: plain text, inline keyboards, 4,096-character parts.

Texts are sent without a parse mode, so nothing a citizen typed (and that a flow echoes
back) can ever be read as markup: "<b>" or "*bold*" arrive exactly as written. Buttons are
one per row; callback data is the button's short payload (checked against the 64 bytes).
Consecutive plain notes are merged into the message that follows them (`merge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain import Button, Media, Reply

MAX_TEXT = 4096  # Telegram counts UTF-16 code units
MAX_CALLBACK_BYTES = 64
_BREAKS = ("\n\n", "\n", ". ", "! ", "? ", "; ", ", ", " ")


@dataclass(frozen=True, slots=True)
class OutMessage:
    """One Bot API send: a text with an optional keyboard, or one media file."""

    text: str
    markup: dict[str, Any] | None = None
    media: Media | None = None


def merge(replies: Sequence[Reply]) -> list[Reply]:
    """A plain note followed by another text becomes one message ("Cancelled." and the main
    menu's question): half the sends, so half of Telegram's 30-a-second budget, and one
    notification instead of two. Notes with media, or too long together, stay apart."""
    return [reply for reply, _ in merge_counted(replies)]


def merge_counted(replies: Sequence[Reply]) -> list[tuple[Reply, int]]:
    """`merge`, with how many of the given replies each merged one carries: a sender that
    stops part-way can then say how many of the caller's replies went out in full."""
    merged: list[tuple[Reply, int]] = []
    for reply in replies:
        last = merged[-1][0] if merged else None
        if (
            last is not None
            and not last.buttons
            and not last.media
            and not reply.media
            and last.text.strip()
            and _units(last.text) + _units(reply.text) + 2 <= MAX_TEXT
        ):
            merged[-1] = (Reply(f"{last.text}\n\n{reply.text}", reply.buttons), merged[-1][1] + 1)
        else:
            merged.append((reply, 1))
    return merged


def render(reply: Reply) -> list[OutMessage]:
    """Media first (one message each), then the text; the keyboard rides on the last part."""
    out = [OutMessage("", media=m) for m in reply.media]
    parts = split_text(reply.text) if reply.text.strip() else []
    if not parts and reply.buttons:
        parts = ["…"]  # Telegram refuses an empty text, and buttons need a message
    out += [OutMessage(part) for part in parts]
    if reply.buttons and out:
        out[-1] = OutMessage(out[-1].text, keyboard(reply.buttons), out[-1].media)
    return out


def keyboard(buttons: tuple[Button, ...]) -> dict[str, Any]:
    for button in buttons:
        if not 1 <= len(button.payload.encode()) <= MAX_CALLBACK_BYTES:
            raise ValueError(f"button payload {button.payload[:20]!r}… exceeds 64 bytes")
    return {"inline_keyboard": [[{"text": b.label, "callback_data": b.payload}] for b in buttons]}


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Parts of at most `limit` UTF-16 units, cut at the strongest boundary available:
    a blank line, a line end, a sentence end, a comma, a space, and only then anywhere."""
    parts: list[str] = []
    rest = text
    while _units(rest) > limit:
        window = _prefix(rest, limit)
        cut = -1
        for mark in _BREAKS:
            at = window.rfind(mark)
            if at > len(window) // 3:  # never a uselessly short part
                cut = at + len(mark.rstrip(" ")) if mark.strip() else at
                break
        if cut <= 0:
            cut = len(window)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _prefix(text: str, limit: int) -> str:
    """The longest prefix of `text` within `limit` UTF-16 units (never half an emoji)."""
    if len(text) <= limit // 2:
        return text
    prefix = text[:limit]
    while _units(prefix) > limit:
        over = _units(prefix) - limit
        prefix = prefix[: len(prefix) - max(1, over // 2)]
    return prefix
