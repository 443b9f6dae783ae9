"""A list of more than 10 options as WhatsApp list pickers, a page at a time.

Each page holds the next options in the flow's order, "More…" (the next page; on the last
one, back to the first) and the step's Back / Main menu, so those are a tap away on every
page. Page 1 shows the first options in the flow's order, so that order decides what a
citizen sees without turning a page:

- regions (complaint, rating, tip): the 3 cities first, home to about a quarter of the
  people, then the 17 regions in the citizen's alphabet. Paging, not a two-level choice
  (city or region, then which): the 17 regions alone are more than a list holds, so the
  second level would still need a page, and every citizen would pay an extra tap;
- complaint and rating categories: in the order of data/categories.json, which the agency
  keeps (putting the most used first there puts them on page 1 on every channel). Groups
  of categories were the other choice: a group's name says less than the names in it, and
  a second level costs every citizen a tap; 14 categories are two pages;
- state bodies (complaint, tip): as listed in data/categories.json, the service centres and
  the akimat first; a body's name may also be typed on any page, which the step takes.

The page is not kept (bot/paging.py): the options on offer stay the whole list, numbered as
in the numbered text, and each item's description shows its number, so a number typed on
any page means the same option as it would under the whole list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bot.commands import GLOBAL_PREFIX
from bot.domain import Button
from bot.paging import page_payload


@dataclass(frozen=True, slots=True)
class Page:
    """What one page shows: its options with their numbers in the whole list, the option
    that turns the page (its payload asks for `turns_to`), and the navigation buttons."""

    number: int
    count: int
    options: tuple[tuple[int, Button], ...]
    turns_to: int
    nav: tuple[Button, ...]

    @property
    def turn_payload(self) -> str:
        return page_payload(self.turns_to)


def page(buttons: Sequence[Button], wanted: int, capacity: int) -> Page | None:
    """Page `wanted` (wrapping past the last) of `buttons` for a list of `capacity` items;
    None if even one option a page would not leave room for the navigation."""
    numbered = list(enumerate(buttons, start=1))
    nav = tuple(b for b in buttons if b.payload.startswith(GLOBAL_PREFIX))
    options = [(n, b) for n, b in numbered if not b.payload.startswith(GLOBAL_PREFIX)]
    per_page = capacity - 1 - len(nav)
    if per_page < 1 or not options:
        return None
    count = math.ceil(len(options) / per_page)
    number = (max(wanted, 1) - 1) % count + 1
    shown = options[(number - 1) * per_page : number * per_page]
    return Page(number, count, tuple(shown), number % count + 1, nav)
