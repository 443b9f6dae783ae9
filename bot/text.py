"""Text from outside made safe to keep: every channel's inbound mapping passes what a
citizen typed through `clean_text` before the core sees it.

JSON may carry a lone UTF-16 surrogate ("\\ud800"), and a terminal may hand one over
for a byte it could not decode. Python keeps such a string, but it cannot be encoded as
UTF-8, so the first save of the session (or a ticket) would fail, and with it every later
step of that chat. Replaced at the edge by U+FFFD, the text is valid everywhere after it.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD; a split pair is joined up."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    # UTF-16 round trip: a high and low surrogate side by side become the one character
    # they encode; any other surrogate is invalid UTF-16 and becomes U+FFFD.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def clean_optional(value: object) -> str | None:
    """A platform field that should be a string: cleaned if it is one, else None."""
    return clean_text(value) if isinstance(value, str) else None


def clean_json(value: object) -> object:
    """Every string in a parsed JSON document (keys too) through `clean_text`."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_json(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) for k, v in value.items()}
    return value
