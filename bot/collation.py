"""Alphabetical order per language, for lists a citizen scans (regions).

Babel has no collation and ICU is not a dependency, so each language's alphabet is spelled
out: Kazakh puts ә after а, ғ after г, қ after к and і after ы, which code-point order and
the Russian alphabet both get wrong.
"""

from __future__ import annotations

_ALPHABETS = {
    "kk": "аәбвгғдеёжзийкқлмнңоөпрстуұүфхһцчшщъыіьэюя",
    "ru": "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    "en": "abcdefghijklmnopqrstuvwxyz",
}


def sort_key(lang: str, text: str) -> tuple[int, ...]:
    """A key that orders `text` by the alphabet of `lang`; a space or hyphen sorts first,
    and characters outside the alphabet after every letter of it."""
    alphabet = _ALPHABETS.get(lang, _ALPHABETS["en"])
    return tuple(_rank(alphabet, ch) for ch in text.casefold())


def _rank(alphabet: str, ch: str) -> int:
    if not ch.isalnum():
        return -1
    index = alphabet.find(ch)
    return index if index >= 0 else len(alphabet) + ord(ch)
