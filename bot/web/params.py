"""Typed readers for the query and path parameters of console pages and the API.

Every parameter passes through here, so nothing a URL carries reaches SQLite or date
arithmetic unchecked: a 20-digit id once raised OverflowError in the driver and year 9999
overflowed `date + timedelta`, each a 500. A value that cannot be right raises
`BadParameter(name)`; the console answers with its message page in the staff member's
language, the API with a JSON 400, both naming the parameter. An empty value means absent
(forms submit empty fields).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from datetime import date

MAX_ID = 2**53  # row ids: far above any real one, far below SQLite's 2**63
MAX_PAGE = 10**6  # a page beyond the last is shown as the last; this keeps OFFSET small
FIRST_DAY = date(2000, 1, 1)  # date filters: wide enough for any ticket, narrow enough
LAST_DAY = date(2100, 12, 31)  # that "the day after" never leaves the calendar
_INTEGER = re.compile(r"-?[0-9]+")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

Params = Mapping[str, str]


class BadParameter(ValueError):
    """A query or path parameter that cannot be what the page expects."""

    def __init__(self, name: str) -> None:
        super().__init__(f"bad value for parameter {name!r}")
        self.name = name


def _raw(params: Params, name: str) -> str | None:
    value = params.get(name)
    return value if value else None


def integer(
    params: Params, name: str, *, default: int, low: int, high: int, clamp: bool = False
) -> int:
    """An integer in [low, high]; outside it, the nearer bound if `clamp`, else an error.

    Only ASCII digits with an optional minus: Python's `int` also takes "1_0", " 7 " and
    Arabic-Indic digits, none of which a link of ours produces.
    """
    raw = _raw(params, name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):
        raise BadParameter(name)
    digits = raw.lstrip("-").lstrip("0") or "0"
    # Past 30 digits the exact value cannot matter, and int() of 10k digits is refused.
    number = int(digits) if len(digits) <= 30 else 10**30
    number = -number if raw.startswith("-") else number
    if low <= number <= high:
        return number
    if clamp:
        return min(max(number, low), high)
    raise BadParameter(name)


def page(params: Params, name: str = "page") -> int:
    """A page number from 1; a huge one is clamped (the store then shows the last page)."""
    return integer(params, name, default=1, low=1, high=MAX_PAGE, clamp=True)


def row_id(value: int) -> int | None:
    """A path's `{x:int}` id, or None when no row could have it (answer 404)."""
    return value if 1 <= value <= MAX_ID else None


def form_id(value: object) -> int | None:
    """A form's id or version; one no row could have (not a number, or beyond what SQLite
    stores) is None."""
    try:
        number = int(str(value))
    except ValueError:  # not a number, or more digits than int() reads
        return None
    return number if abs(number) <= MAX_ID else None


def day(params: Params, name: str) -> date | None:
    """A YYYY-MM-DD date between FIRST_DAY and LAST_DAY."""
    raw = _raw(params, name)
    if raw is None:
        return None
    if not _DAY.fullmatch(raw):
        raise BadParameter(name)
    try:
        found = date.fromisoformat(raw)
    except ValueError:
        raise BadParameter(name) from None
    if not FIRST_DAY <= found <= LAST_DAY:
        raise BadParameter(name)
    return found


def choice(params: Params, name: str, allowed: Collection[str]) -> str | None:
    """One of `allowed`, or None when absent."""
    raw = _raw(params, name)
    if raw is not None and raw not in allowed:
        raise BadParameter(name)
    return raw


def notice(params: Params, name: str, allowed: Collection[str]) -> str | None:
    """A "done" notice shown after a redirect: one of `allowed`, anything else dropped.

    Dropped rather than refused: it only decorates the page, and an unknown one must never
    be shown (the page would print whatever text the link carried).
    """
    raw = _raw(params, name)
    return raw if raw in allowed else None


def text(params: Params, name: str, *, max_length: int) -> str | None:
    """Free text, stripped; too long or carrying control characters (NUL…) is refused."""
    raw = _raw(params, name)
    if raw is None:
        return None
    if len(raw) > max_length or any(unicodedata.category(c) == "Cc" for c in raw):
        raise BadParameter(name)
    return raw.strip() or None
