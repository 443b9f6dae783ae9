"""The inbox's text search: the query a staff member typed, in each backend's syntax.

SQLite: an FTS5 MATCH over `ticket_search` (sqlite/017). PostgreSQL: a tsquery over the
`document` column of its plain `ticket_search` table (postgres/017), GIN-indexed. Either
way each word becomes a prefix term, so "цон" also finds "ЦОНе"; words are ANDed, and
nothing typed is read as query syntax. Case folding happens on both sides, in the
unicode61 tokenizer or in to_tsvector/to_tsquery('simple'), for every alphabet.
"""

from __future__ import annotations

from bot.storage.sql.dialect import Dialect


def _words(text: str) -> list[str]:
    # NUL is no character PostgreSQL's text can hold: a separator here.
    words = text.replace("\x00", " ").split()
    return [word for word in words if any(ch.isalnum() for ch in word)]


def match_expression(text: str) -> str | None:
    """The MATCH argument for `text`, or None when it has no letter or digit to look for."""
    terms = _words(text)
    if not terms:
        return None
    return " ".join('"{}"*'.format(word.replace('"', '""')) for word in terms)


def tsquery_expression(text: str) -> str | None:
    """The to_tsquery('simple', ...) argument for `text`, or None as above. Each word is a
    quoted lexeme (quotes and backslashes doubled or escaped: `&`, `|`, `!`, `:` inside
    stay text) with `:*`; a word the parser splits (K7M-4QX9) becomes its parts in a row."""
    terms = _words(text)
    if not terms:
        return None
    quoted = ("'{}'".format(word.replace("\\", "\\\\").replace("'", "''")) for word in terms)
    return " & ".join(f"{term}:*" for term in quoted)


def search_clause(dialect: Dialect, text: str) -> tuple[str, str] | None:
    """(SQL that is true for tickets whose indexed text holds every word, its parameter)."""
    if dialect.postgres:
        query = tsquery_expression(text)
        if query is None:
            return None
        return (
            "t.id IN (SELECT ticket_id FROM ticket_search"
            " WHERE document @@ to_tsquery('simple', ?))",
            query,
        )
    match = match_expression(text)
    if match is None:
        return None
    return "t.id IN (SELECT rowid FROM ticket_search WHERE ticket_search MATCH ?)", match
