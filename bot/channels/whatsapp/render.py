"""Replies as WhatsApp text: buttons become numbered options, long bodies are split.

A turn's replies are joined into one body (WhatsApp shows them in order that way; several
TwiML <Message>s may arrive out of order), then cut at paragraph, line or word boundaries
into pieces of at most 1,600 characters, Twilio's limit for a Body.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from xml.sax.saxutils import escape

from bot.commands import GLOBAL_PREFIX, Command, command_payload
from bot.domain import Reply
from bot.i18n import Translator
from bot.link_options import is_link
from handlers.main_choice import FLOW_PAYLOAD_PREFIX

MAX_BODY = 1600
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
_TWIML_HEAD = '<?xml version="1.0" encoding="UTF-8"?><Response>'
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
MENU_PAYLOAD = command_payload(Command.MENU)


def render_reply(reply: Reply, t: Translator) -> str:
    """The reply's text, then "1. label" per button (from `first_number`) and a line
    saying how to answer."""
    if not reply.buttons:
        return question_text(reply, t)
    lines = [question_text(reply, t), ""]
    lines += [f"{n}. {b.label}" for n, b in enumerate(reply.buttons, reply.first_number)]
    payloads = [button.payload for button in reply.buttons]
    if all(p.startswith(GLOBAL_PREFIX) for p in payloads):
        return "\n".join(lines)  # only Back / Main menu under a question to type an answer to
    lines.append("")
    at_main_menu = any(p.startswith(FLOW_PAYLOAD_PREFIX) for p in payloads)
    # A staff message's "Answer" is numbered after the options on screen (bot/link_options.py).
    if MENU_PAYLOAD in payloads or at_main_menu or all(is_link(p) for p in payloads):
        lines.append(t("whatsapp.reply_with_number"))
    else:
        lines.append(t("whatsapp.reply_with_number_or_menu"))
    return "\n".join(lines)


def question_text(reply: Reply, t: Translator) -> str:
    """The reply's text, and how to share a location where the question takes one (the
    attachment menu hides it: citizens who never sent one do not know where it is)."""
    if not reply.takes_location:
        return reply.text
    return f"{reply.text}\n\n{t('whatsapp.share_location')}"


def render(replies: Sequence[Reply], t: Translator) -> list[str]:
    """One turn's replies as WhatsApp bodies, each within MAX_BODY characters."""
    return [body for body, _ in render_counted(replies, t)]


def render_counted(replies: Sequence[Reply], t: Translator) -> list[tuple[str, int]]:
    """`render`, each body with how many of `replies` are complete once it has gone: a
    sender that stops part-way can say how many of the caller's replies went out in full."""
    texts = [render_reply(reply, t) if reply.text or reply.buttons else None for reply in replies]
    body = "\n\n".join(text for text in texts if text is not None)
    if not body.strip():
        return []
    ends: list[int] = []  # where each reply's text ends in `body` (trailing spaces aside)
    at, first = 0, True
    for text in texts:
        if text is not None:
            start = at if first else at + 2  # the "\n\n" that joins it to the one before
            first = False
            ends.append(start + len(text.rstrip()))
            at = start + len(text)
        else:
            ends.append(ends[-1] if ends else 0)
    counted: list[tuple[str, int]] = []
    cursor = 0
    for piece in split(body):
        cursor = body.index(piece, cursor) + len(piece)
        counted.append((piece, sum(1 for end in ends if end <= cursor)))
    return counted


def split(text: str, limit: int = MAX_BODY) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut where a reader expects a break."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            at = window.rfind(separator, 0, limit)
            if at > limit // 2:
                cut = at
                break
        if cut <= 0:
            cut = limit
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if piece:
            pieces.append(piece)
    if rest:
        pieces.append(rest)
    return pieces


def twiml(bodies: Sequence[str]) -> str:
    """A TwiML answer sending each body as its own message; <Response/> when there are none."""
    if not bodies:
        return EMPTY_TWIML
    messages = "".join(f"<Message>{escape(_NOT_XML.sub('', body))}</Message>" for body in bodies)
    return f"{_TWIML_HEAD}{messages}</Response>"
