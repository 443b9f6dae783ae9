"""Options shown a page at a time, where a channel cannot show a whole list at once.

A WhatsApp list picker holds 10 items; the regions (20), the complaint categories (14) and
the state bodies (13) are more. Which options go on which page is the channel's business
(bot/channels/whatsapp/pages.py), so a page is named by an option on it: `Reply.page_of`,
the number of an option in the whole list. The page is kept nowhere: "More…" carries the
number of the first option of the page it shows, and pressing it asks the same question
again showing that page; a question asked again after one of its options was pressed (a
region ticked) shows the page holding that option. The options on offer stay the whole
list, so a name or a number typed while any page is on screen is taken as it would be from
the whole list.
"""

from __future__ import annotations

from dataclasses import replace

from bot.domain import Reply

PAGE_PREFIX = "page:"


def page_payload(option: int) -> str:
    """The payload of "More…" that shows the page holding option number `option`."""
    return f"{PAGE_PREFIX}{option}"


def parse_page(payload: str | None) -> int | None:
    """The option whose page a "More…" asks for; None if `payload` is not one (or is
    malformed)."""
    if payload is None or not payload.startswith(PAGE_PREFIX):
        return None
    number = payload[len(PAGE_PREFIX) :]
    if not (number.isascii() and number.isdigit() and len(number) <= 3):
        return None
    return int(number) or None


def holding(question: Reply, pressed: str | None) -> Reply:
    """`question` asked again after `pressed` was pressed (a region ticked): showing the
    page that holds that option, if it offers it."""
    payloads = [button.payload for button in question.buttons]
    if pressed is None or pressed not in payloads:
        return question
    return replace(question, page_of=payloads.index(pressed) + 1)
