"""Options shown a page at a time, where a channel cannot show a whole list at once.

A WhatsApp list picker holds 10 items; the regions (20), the complaint categories (15) and
the state bodies (13) are more. Which options go on which page is the channel's business
(bot/channels/whatsapp/pages.py). The page is kept nowhere: the "More…" option carries the
number of the page it shows, and pressing it asks the same question again with that page
(`Reply.page`). The options on offer stay the whole list, so a name or a number typed while
any page is on screen is taken as it would be from the whole list.
"""

from __future__ import annotations

PAGE_PREFIX = "page:"


def page_payload(page: int) -> str:
    """The payload of the option that shows page `page` (from 1) of the question's options."""
    return f"{PAGE_PREFIX}{page}"


def parse_page(payload: str | None) -> int | None:
    """The page a "More…" option asks for; None if `payload` is not one (or is malformed)."""
    if payload is None or not payload.startswith(PAGE_PREFIX):
        return None
    number = payload[len(PAGE_PREFIX) :]
    if not (number.isascii() and number.isdigit() and len(number) <= 3):
        return None
    return int(number) or None
