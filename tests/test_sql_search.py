"""The inbox search's query in each backend's syntax: nothing typed is read as syntax."""

from __future__ import annotations

import pytest

from bot.storage.sql.search import match_expression, tsquery_expression


@pytest.mark.parametrize(
    ("typed", "fts5", "tsquery"),
    [
        ("цон", '"цон"*', "'цон':*"),
        ("ЦОН  Алматы", '"ЦОН"* "Алматы"*', "'ЦОН':* & 'Алматы':*"),
        ("it's", '"it\'s"*', "'it''s':*"),
        ('a"b', '"a""b"*', "'a\"b':*"),
        ("x&y|!z:*", '"x&y|!z:*"*', "'x&y|!z:*':*"),
        ("back\\slash", '"back\\slash"*', "'back\\\\slash':*"),
        ("!!! ---", None, None),
        ("", None, None),
    ],
)
def test_each_word_is_a_quoted_prefix_term(
    typed: str, fts5: str | None, tsquery: str | None
) -> None:
    assert match_expression(typed) == fts5
    assert tsquery_expression(typed) == tsquery


HOSTILE = [
    "x&y|!z:*", "it's", "back\\slash", "a:*b", "(a | b)", "'x'", "a<->b", "K7M-4QX9", "½",
    "ab\x00c",  # NUL: no character PostgreSQL's text holds
]  # fmt: skip


@pytest.mark.parametrize("typed", HOSTILE)
async def test_postgresql_takes_any_typed_text_as_words(pg_url: str, typed: str) -> None:
    import asyncpg

    query = tsquery_expression(typed)
    assert query is not None
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.fetchval("SELECT to_tsquery('simple', $1)", query)
    finally:
        await conn.close()
