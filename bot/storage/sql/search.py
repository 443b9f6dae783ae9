"""The inbox's text search as an FTS5 query over `ticket_search` (migration 017).

Each word the staff member typed becomes a quoted prefix term, so "цон" also finds "ЦОНе"
and nothing typed is read as FTS5 syntax; words are ANDed. Case folding happens in the
unicode61 tokenizer, on both sides, for every alphabet.
"""

from __future__ import annotations


def match_expression(text: str) -> str | None:
    """The MATCH argument for `text`, or None when it has no letter or digit to look for."""
    terms = [word for word in text.split() if any(ch.isalnum() for ch in word)]
    if not terms:
        return None
    return " ".join('"{}"*'.format(word.replace('"', '""')) for word in terms)
