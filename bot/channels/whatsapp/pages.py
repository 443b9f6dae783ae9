"""A list of more than 10 options as WhatsApp list pickers, a page at a time.

Each page holds the next options in the flow's order (spread evenly over the pages),
"More…" (the next page; on the last one, back to the first) and the step's Back / Main
menu, so those are a tap away on every page. Page 1 shows the first options in the flow's
order, so that order decides what a citizen sees without turning a page:

- regions (complaint, rating, tip): the 3 cities first, home to about a quarter of the
  people, then the 17 regions in the citizen's alphabet. Paging, not a two-level choice
  (city or region, then which): the 17 regions alone are more than a list holds, so the
  second level would still need a page, and every citizen would pay an extra tap;
- complaint and rating categories: in the order of data/categories.json, which the agency
  keeps (putting the most used first there puts them on page 1 on every channel). Groups
  of categories were the other choice: a group's name says less than the names in it, and
  a second level costs every citizen a tap; 14 categories are two pages;
- state bodies (complaint, tip): as listed in data/categories.json, the service centres and
  the akimat first; a body's name may also be typed on any page, which the step takes;
- the regions whose campaign news a citizen wants (ticked several at a time): paging too,
  and a region ticked is shown ticked on its own page, so the next one is a tap away;
  «All of Kazakhstan» is on the first page and «Done» on the last.

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
    """What one page shows: its options with their numbers in the whole list, the page
    "More…" turns to and its payload, and the navigation buttons."""

    number: int
    count: int
    options: tuple[tuple[int, Button], ...]
    turns_to: int
    turn_payload: str
    nav: tuple[Button, ...]


def page(buttons: Sequence[Button], holding: int, capacity: int) -> Page | None:
    """The page of `buttons` that holds option number `holding` (the first page if that is
    no option: a navigation button, or a number from an older list) for a list of
    `capacity` items; None if a page would not leave room for one option."""
    nav = tuple(b for b in buttons if b.payload.startswith(GLOBAL_PREFIX))
    numbered = enumerate(buttons, start=1)
    options = [(n, b) for n, b in numbered if not b.payload.startswith(GLOBAL_PREFIX)]
    room = capacity - 1 - len(nav)
    if room < 1 or not options:
        return None
    count = math.ceil(len(options) / room)
    size = math.ceil(len(options) / count)  # evenly: 22 in 4 pages are 6, 6, 6, 4
    at = next((i for i, (n, _) in enumerate(options) if n == holding), 0)
    number = at // size + 1
    turns_to = number % count + 1
    first_there = options[(turns_to - 1) * size][0]
    shown = tuple(options[(number - 1) * size : number * size])
    return Page(number, count, shown, turns_to, page_payload(first_there), nav)
