"""Ticket references and anonymous-tip receipts: random, short, easy to dictate and type.

A reference looks like "K7M-4QX9": seven symbols from an alphabet without the look-alikes
0/O, 1/I/L, so it survives being read aloud over the 1424 line or typed on a phone. A receipt
is 16 random decimal digits shown as "1234 5678 9012 3456"; it is the tipster's only key.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_SYMBOLS = 7  # 31**7, about 2.7e10 references
_MAX_PREFIX = 2
_SEPARATORS = re.compile(r"[\s\-‐‑–—]+")
# A citizen on a Cyrillic keyboard layout types these instead of the Latin letters.
_CYRILLIC = str.maketrans("АВЕКМНРСТХУҮ", "ABEKMHPCTXYY")
_RECEIPT = re.compile(r"[0-9]{16}")


def new_reference(prefix: str = "", rng: secrets.SystemRandom | None = None) -> str:
    """A fresh reference; `prefix` (up to 2 alphabet symbols, e.g. "C") starts the first group.

    The prefix replaces random symbols rather than lengthening the reference, so every
    reference has the same shape and normalize_reference needs no knowledge of prefixes.
    """
    if len(prefix) > _MAX_PREFIX or any(ch not in ALPHABET for ch in prefix):
        raise ValueError(f"prefix must be up to {_MAX_PREFIX} symbols of {ALPHABET}: {prefix!r}")
    rng = rng or secrets.SystemRandom()
    body = prefix + "".join(rng.choice(ALPHABET) for _ in range(_SYMBOLS - len(prefix)))
    return f"{body[:3]}-{body[3:]}"


def normalize_reference(text: str) -> str | None:
    """The canonical "XXX-XXXX" form of what the citizen typed, or None if it cannot be one."""
    compact = _SEPARATORS.sub("", text).upper().translate(_CYRILLIC)
    if len(compact) != _SYMBOLS or any(ch not in ALPHABET for ch in compact):
        return None
    return f"{compact[:3]}-{compact[3:]}"


def new_receipt() -> str:
    return f"{secrets.randbelow(10**16):016d}"


def format_receipt(receipt: str) -> str:
    if not _RECEIPT.fullmatch(receipt):
        raise ValueError("a receipt is 16 digits")
    return " ".join(receipt[i : i + 4] for i in range(0, 16, 4))


def normalize_receipt(text: str) -> str | None:
    """The 16 digits of what the tipster typed, or None if it is not exactly 16 digits."""
    compact = _SEPARATORS.sub("", text)
    return compact if _RECEIPT.fullmatch(compact) else None
