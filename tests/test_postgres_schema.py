"""What the PostgreSQL migrations promise beyond table shapes: explicit ids beside the
identity (tips), the search rows the triggers keep, append-only audit, case-blind names."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

TIP_ID = 2**40 + 12345


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_url)
    try:
        yield conn
    finally:
        await conn.close()


async def add_ticket(db: asyncpg.Connection, reference: str, kind: str, **columns: object) -> int:
    values = {"reference": reference, "kind": kind, "locale": "ru", "created_at": "t",
              "updated_at": "t", **columns}  # fmt: skip
    names = ", ".join(values)
    marks = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    return int(
        await db.fetchval(
            f"INSERT INTO tickets ({names}) VALUES ({marks}) RETURNING id", *values.values()
        )
    )


async def test_explicit_tip_ids_and_the_identity_live_side_by_side(db: asyncpg.Connection) -> None:
    assert await add_ticket(db, "TIP-0001", "tip", id=TIP_ID) == TIP_ID
    assert await add_ticket(db, "ABC-0001", "complaint") == 1
    assert await add_ticket(db, "ABC-0002", "complaint") == 2


async def search(db: asyncpg.Connection, words: str) -> list[int]:
    query = " & ".join(f"{word}:*" for word in words.split())
    rows = await db.fetch(
        "SELECT ticket_id FROM ticket_search WHERE document @@ to_tsquery('simple', $1)"
        " ORDER BY ticket_id",
        query,
    )
    return [row[0] for row in rows]


async def test_search_rows_follow_tickets_and_citizen_messages(db: asyncpg.Connection) -> None:
    details = '{"applicant_name": "Әлиев Нұрлан", "iin": "850714300123"}'
    first = await add_ticket(db, "ABC-0001", "complaint", summary="Очередь в ЦОНе", details=details)
    await add_ticket(db, "TIP-0001", "tip", id=TIP_ID, summary="ЦОН")
    assert await search(db, "цон") == [first]  # Cyrillic folded; the tip is never indexed
    assert await search(db, "әлиев 850714") == [first]
    await db.execute(
        "INSERT INTO ticket_messages (ticket_id, author, body, created_at) VALUES"
        " ($1, 'citizen', 'Ещё жду', 't'), ($1, 'staff', 'Секретно', 't')",
        first,
    )
    assert await search(db, "жду") == [first]
    assert await search(db, "секретно") == []  # staff words stay out
    await db.execute("UPDATE tickets SET summary = 'Поликлиника' WHERE id = $1", first)
    assert await search(db, "цон") == []
    assert await search(db, "поликлин") == [first]
    await db.execute("DELETE FROM ticket_messages")
    await db.execute("DELETE FROM tickets WHERE id = $1", first)
    assert await db.fetchval("SELECT count(*) FROM ticket_search") == 0


async def test_a_ticket_may_be_redirected(db: asyncpg.Connection) -> None:
    await add_ticket(db, "ABC-0001", "complaint", status="redirected", redirected_to="Акимат")
    with pytest.raises(asyncpg.CheckViolationError):
        await add_ticket(db, "ABC-0002", "complaint", status="lost")


async def test_the_audit_log_is_append_only(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO audit_log (at, actor, action, prev_hash, hash) VALUES ('t', 'a', 'b', '', 'h')"
    )
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        # An integrity violation, as SQLite's RAISE(ABORT): the adapter's IntegrityError.
        with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
            await db.execute(sql)


async def test_staff_names_are_unique_whatever_their_case(db: asyncpg.Connection) -> None:
    add = (
        "INSERT INTO staff_users (username, password_hash, role, created_at)"
        " VALUES ($1, 'h', 'admin', 't')"
    )
    await db.execute(add, "Aigerim")
    with pytest.raises(asyncpg.UniqueViolationError):
        await db.execute(add, "AIGERIM")
    assert await db.fetchval("SELECT id FROM staff_users WHERE username = $1", "aigerim") == 1
