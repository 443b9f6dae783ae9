"""JSON from outside (webhook bodies, API requests, stored raw updates), parsed with a cap
on nesting depth.

`json.loads` recurses once per nested array or object: a body of a few kilobytes nested a
thousand deep raises RecursionError (not ValueError), which no caller expects, and
anything that walks the result later recurses as deep. No message or request of ours nests
beyond a dozen levels, so deeper input is refused before the parser sees it.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64

# A JSON string (escapes included), so that brackets inside text are not counted. The
# closing quote is optional: an unterminated string then runs to the end in one match,
# where a required quote would make the search retry from every later quote (quadratic).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
for _byte in b"[{":
    _STEP[_byte] = 1
for _byte in b"]}":
    _STEP[_byte] = -1


class JsonTooDeep(ValueError):
    """The document nests deeper than allowed: a ValueError, like any malformed JSON."""


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads`, but JsonTooDeep (a ValueError) for input nested beyond `max_depth`."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    # Fewer opening brackets than the cap cannot nest beyond it: two scans in C, and the
    # usual case (every Bot API answer, every update) needs no more.
    if data.count(b"[") + data.count(b"{") > max_depth and depth(data) > max_depth:
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels")
    return json.loads(raw)


def depth(raw: bytes) -> int:
    """How deep the brackets outside strings nest: a linear scan, in C, before any parse.

    Malformed input gets a number too (json.loads then refuses it with its own message).
    """
    skeleton = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, skeleton)), default=0)
