"""Shared pieces of the fuzz suite (tests/test_fuzz_*.py): hostile values as hypothesis
strategies, JSON text that `json.dumps` cannot write (1e400, 5,000-deep nesting), the
settings profile, an event loop the sync hypothesis test drives, and a log watcher.

CI runs a fixed, derandomized set of examples per channel; `GOVBOT_FUZZ_EXAMPLES=20000`
runs that many per channel with fresh randomness (and prints the seed of any failure).
Every property: no 500, no exception escaping the app, nothing logged at ERROR and no
logged traceback (the dispatcher's error boundary logs one when a step crashes).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

T = TypeVar("T")

LONG_RUN = int(os.environ.get("GOVBOT_FUZZ_EXAMPLES", "0") or 0)
# pytest-timeout's limit for one fuzz test: the project's 120 s, and more for a long run.
TIMEOUT = 120 + LONG_RUN // 20


def fuzz_settings(ci_examples: int) -> settings:
    """`ci_examples` reproducible examples, or GOVBOT_FUZZ_EXAMPLES random ones."""
    return settings(
        max_examples=LONG_RUN or ci_examples,
        deadline=None,
        derandomize=not LONG_RUN,
        database=None,
        print_blob=bool(LONG_RUN),
        suppress_health_check=list(HealthCheck),
    )


# ---- values ---------------------------------------------------------------------------------

# Right-to-left marks and overrides, zero-width joiners and spaces, the BOM, a family emoji
# built with joiners, a flag, combining marks, NUL and other controls, both halves of a
# surrogate pair on their own, the last code point, and text the bot reacts to.
SPECIAL = [
    "\u202e",
    "\u200f",
    "\u061c",
    "\u200b",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0001f1f0\U0001f1ff",
    "e\u0301\u0301\u0301",
    "\x00",
    "\x1b[31m",
    "\r\n",
    "\ud800",
    "\udfff",
    "\U0010ffff",
    "مرحبا",
    "Сәлем",
    "/start",
    "/start@govbot x",
    "menu",
    "STOP",
    "1",
    "0",
    "-1",
    "lang:ru",
    "flow:complaint",
    "<script>alert(1)</script>",
    "'; DROP TABLE tickets; --",
    "%s%n{0}{{1}}",
    "../../etc/passwd",
]


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of the strategies, picked in proportion to its weight (st.one_of picks evenly,
    and folds repeats of one strategy into one)."""
    picks = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(picks) - 1).flatmap(lambda i: picks[i])


_characters = st.one_of(
    st.characters(),  # any code point but the surrogates
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),  # lone surrogates
    st.sampled_from(SPECIAL),
)


def texts(*, surrogates: bool = True, max_size: int = 60) -> st.SearchStrategy[str]:
    """Short hostile text, or (one in eight) one that runs to 10,000 characters."""
    alphabet = _characters if surrogates else _characters.filter(_encodable)
    short = st.lists(alphabet, max_size=max_size).map("".join)
    long = st.builds(lambda piece, n: (piece * n)[:10_000], alphabet, st.integers(4000, 10_000))
    return weighted((7, short), (1, long))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class Raw:
    """JSON text put into a document as it is: numbers and nesting json.dumps cannot make."""

    text: str


RAW_VALUES = [
    "1e400",
    "-1e400",
    "1e-400",
    "NaN",
    "Infinity",
    "-0",
    "123456789012345678901234567890",
    "1.0",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
]

big_ints = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30]),
)
numbers = st.one_of(
    big_ints,
    st.floats(),
    st.sampled_from(RAW_VALUES).map(Raw),
)
scalars: st.SearchStrategy[Any] = st.one_of(st.none(), st.booleans(), numbers, texts(max_size=20))


def nested(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


_trees: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(texts(max_size=8), inner, max_size=4),
    ),
    max_leaves=12,
)
# One value in forty is a deep nest: past the depth cap (64) or about at it.
json_values: st.SearchStrategy[Any] = weighted(
    (39, _trees), (1, st.one_of(st.integers(1, 5000), st.integers(60, 68)).map(nested))
)


def dump(value: Any) -> str:
    """JSON text of `value`, with `Raw` pieces written verbatim."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}:{dump(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)  # ensure_ascii: a lone surrogate travels as "\ud800"


# ---- running -----------------------------------------------------------------------------


class ErrorLog(logging.Handler):
    """Every record at ERROR or above, and every record that carries a traceback."""

    # The fake servers' own complaints are theirs, not the bot's.
    IGNORED = ("aiohttp.server", "aiohttp.access", "aiohttp.web")

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(self.IGNORED):
            return
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def take(self) -> list[str]:
        found = [self.format(r) for r in self.records]
        self.records.clear()
        return found


@contextmanager
def watched_logs() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


class Loop:
    """The event loop a sync hypothesis test drives: one app for all examples."""

    def __init__(self) -> None:
        self._runner = asyncio.Runner()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)

    def close(self) -> None:
        self._runner.close()


async def until(check: Any, timeout: float = 10.0) -> None:
    """Wait until the async `check()` is true (the bot works after its 200)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.002)
