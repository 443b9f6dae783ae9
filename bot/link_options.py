"""Link buttons (a staff message's "Answer") where options are numbered: WhatsApp and the
terminal.

A typed number is read against the options on offer, which are those of the last thing
the bot showed. A message from outside the conversation arrives after that, so its links
are numbered after the options on screen and added to them: the number the citizen sees
is the one that selects it, and the menu on screen keeps its own. The dispatcher does it
in one transaction, under the chat's lock, before the message is sent (`Dispatcher.offering`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.domain import Button, Channel, Reply
from bot.flow import LINK_PREFIX

NUMBERED = frozenset({Channel.WHATSAPP, Channel.CONSOLE})


def is_link(payload: str) -> bool:
    return payload.startswith(LINK_PREFIX)


def has_links(replies: Sequence[Reply]) -> bool:
    return any(is_link(b.payload) for r in replies for b in r.buttons)


def without_links(replies: Sequence[Reply]) -> tuple[Reply, ...]:
    """Where a typed number is not an option (a step whose answer is free text)."""
    return tuple(
        replace(r, buttons=tuple(b for b in r.buttons if not is_link(b.payload))) for r in replies
    )


def number_links(
    replies: Sequence[Reply], offered: Sequence[Button]
) -> tuple[tuple[Reply, ...], list[Button]]:
    """Each reply of links numbered after `offered`, and the options on offer with them.

    Links already on offer (the same message tried again) keep their number. A reply with
    other buttons is left as it is: those are on offer already (the question asked at a
    closing, bot/satisfaction.py)."""
    on_offer = list(offered)
    numbered = []
    for reply in replies:
        links = [b.payload for b in reply.buttons]
        if not links or not all(is_link(p) for p in links):
            numbered.append(reply)
            continue
        payloads = [b.payload for b in on_offer]
        start = _position(payloads, links)
        if start is None:
            start = len(on_offer)
            on_offer += reply.buttons
        numbered.append(replace(reply, first_number=start + 1))
    return tuple(numbered), on_offer


def _position(payloads: list[str], wanted: list[str]) -> int | None:
    for start in range(len(payloads) - len(wanted) + 1):
        if payloads[start : start + len(wanted)] == wanted:
            return start
    return None
