"""Units of work side by side on PostgreSQL (READ COMMITTED, two instances): every
read-then-write in the stores gets the outcome it would get run one after the other.

Each test interleaves two units (tests/pg_race.py) or floods with many at once; SQLite
runs units one at a time, so these hold there by construction and run on PostgreSQL only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.campaigns.model import Audience, CampaignDraft
from bot.crypto import DataCipher, generate_key_setting
from bot.staff.throttle import Count
from bot.storage.postgres import PostgresStorage
from bot.storage.records import SessionRecord, TicketDraft
from bot.storage.sql import SqlTx
from bot.storage.sql.campaigns import SqlCampaignStore
from tests.pg_race import interleave

NOW = datetime(2026, 3, 16, 5, 0, tzinfo=UTC)


@pytest.fixture
async def pair(pg_url: str) -> AsyncIterator[tuple[PostgresStorage, PostgresStorage]]:
    """Two instances' storages on one database, with the same DATA_KEY."""
    cipher = DataCipher.from_setting(generate_key_setting())
    one = PostgresStorage(pg_url, cipher, pool_size=8)
    two = PostgresStorage(pg_url, cipher, pool_size=8)
    await one.open()
    await two.open()
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


async def _citizen(storage: PostgresStorage, key: str, *, subscribed: bool = False) -> int:
    async with storage.transaction() as tx:
        citizen, _ = await tx.citizens.get_or_create("telegram", key, now=NOW)
        if subscribed:
            citizen.subscribed = True
            citizen.locale = "kk"
            await tx.citizens.save(citizen)
    return citizen.id


# -- one chat's steps ------------------------------------------------------------------


async def _step(tx: SqlTx, key: str) -> int:
    """A step: find or create the citizen, read the session's counter, write it plus one."""
    citizen, _, session = await tx.citizens.get_or_create_with_session("telegram", key, now=NOW)
    seen = int(session.data.get("n", 0)) if session else 0
    record = SessionRecord(citizen.id, "menu", "start", {"n": seen + 1})
    await tx.sessions.save(record, now=NOW)
    return seen


async def test_two_first_messages_of_one_chat_make_one_citizen(
    pg_url: str, pair: tuple[PostgresStorage, PostgresStorage]
) -> None:
    one, two = pair
    first, second, waited = await interleave(
        pg_url, one, two, lambda tx: _step(tx, "chat-new"), lambda tx: _step(tx, "chat-new")
    )
    assert (first, second, waited) == (0, 1, True)
    async with one.read() as tx:
        rows = await tx.conn.execute_fetchall("SELECT count(*) FROM citizens")
    assert next(iter(rows))[0] == 1


async def test_one_chats_steps_on_two_instances_run_one_after_the_other(
    pair: tuple[PostgresStorage, PostgresStorage],
) -> None:
    one, two = pair
    await _citizen(one, "chat-1")

    async def step(storage: PostgresStorage) -> int:
        async with storage.transaction() as tx:
            return await _step(tx, "chat-1")

    seen = await asyncio.gather(*(step(one if i % 2 else two) for i in range(40)))
    assert sorted(seen) == list(range(40)), "every step saw the one before it"


async def test_other_chats_do_not_wait_for_a_chat_in_a_step(
    pg_url: str, pair: tuple[PostgresStorage, PostgresStorage]
) -> None:
    one, two = pair
    _, _, waited = await interleave(
        pg_url, one, two, lambda tx: _step(tx, "chat-a"), lambda tx: _step(tx, "chat-b")
    )
    assert not waited


async def test_a_staff_answer_waits_for_the_chats_step(
    pg_url: str, pair: tuple[PostgresStorage, PostgresStorage]
) -> None:
    """A unit that changes the citizen's session from outside a step holds the citizen:
    the step that had read the session commits first, and the answer then sees it."""
    one, two = pair
    citizen_id = await _citizen(one, "chat-1")

    async def answer(tx: SqlTx) -> int:
        await tx.citizens.hold(citizen_id)
        session = await tx.sessions.load(citizen_id)
        seen = int(session.data.get("n", 0)) if session else 0
        await tx.sessions.save(SessionRecord(citizen_id, "menu", "start", {"n": seen + 1}), now=NOW)
        return seen

    stepped, answered, waited = await interleave(
        pg_url, one, two, lambda tx: _step(tx, "chat-1"), answer
    )
    assert (stepped, answered, waited) == (0, 1, True)
    # And the other way round: a step waits for a unit holding the citizen.
    answered, stepped, waited = await interleave(
        pg_url, one, two, answer, lambda tx: _step(tx, "chat-1")
    )
    assert (answered, stepped, waited) == (2, 3, True)


async def test_dedupe_claims_an_update_once(
    pg_url: str, pair: tuple[PostgresStorage, PostgresStorage]
) -> None:
    one, two = pair
    first, second, _ = await interleave(
        pg_url,
        one,
        two,
        lambda tx: tx.processed.claim("tg:1", now=NOW),
        lambda tx: tx.processed.claim("tg:1", now=NOW),
    )
    assert (first, second) == (True, False)


# -- outbox and campaign rows ----------------------------------------------------------


async def test_outbox_rows_claimed_at_once_are_never_taken_twice(
    pg_url: str, pair: tuple[PostgresStorage, PostgresStorage]
) -> None:
    one, two = pair
    citizen_id = await _citizen(one, "chat-1")
    async with one.transaction() as tx:
        for i in range(10):
            await tx.outbox.enqueue(citizen_id, "telegram", "staff", {"i": i}, now=NOW)

    async def claim(tx: SqlTx) -> list[int]:
        return [row.id for row in await tx.outbox.claim_due(["telegram"], now=NOW, limit=6)]

    first, second, waited = await interleave(pg_url, one, two, claim, claim)
    assert not waited, "the second instance skips the rows the first holds"
    assert len(first) == 6 and len(second) == 4
    assert not set(first) & set(second)


async def test_a_flood_of_outbox_claims_takes_each_row_once(
    pair: tuple[PostgresStorage, PostgresStorage],
) -> None:
    one, two = pair
    citizen_id = await _citizen(one, "chat-1")
    async with one.transaction() as tx:
        for i in range(300):
            await tx.outbox.enqueue(citizen_id, "telegram", "staff", {"i": i}, now=NOW)
    taken: list[int] = []

    async def worker(storage: PostgresStorage) -> None:
        while True:
            async with storage.transaction() as tx:
                rows = await tx.outbox.claim_due(["telegram"], now=NOW, limit=7)
            if not rows:
                return
            taken.extend(row.id for row in rows)
            assert all(row.attempts == 0 for row in rows)

    await asyncio.gather(*(worker(one if i % 2 else two) for i in range(8)))
    assert len(taken) == 300 and len(set(taken)) == 300


async def _campaign_run(storage: PostgresStorage, recipients: int) -> None:
    for i in range(recipients):
        await _citizen(storage, f"sub-{i}", subscribed=True)
    async with storage.transaction() as tx:
        store = SqlCampaignStore(tx.conn, tx.cipher, tx.dialect)
        draft = CampaignDraft("news", {"kk": "a", "ru": "b", "en": "c"}, Audience())
        campaign_id = await store.create(draft, next_run_at=NOW, now=NOW)
        campaign = await store.get(campaign_id)
        assert campaign is not None
        run = await store.start_run(
            campaign, planned_at=NOW, next_run_at=None, now=NOW, default_locale="kk"
        )
        assert run is not None
        again = await store.start_run(
            campaign, planned_at=NOW, next_run_at=None, now=NOW, default_locale="kk"
        )
        assert again is None, "an occurrence starts once"


async def test_campaign_rows_claimed_at_once_are_never_taken_twice(
    pg_url: str, pair: tuple[PostgresStorage, PostgresStorage]
) -> None:
    one, two = pair
    await _campaign_run(one, 10)

    async def claim(tx: SqlTx) -> list[int]:
        store = SqlCampaignStore(tx.conn, tx.cipher, tx.dialect)
        return [c.delivery_id for c in await store.claim("telegram", now=NOW, limit=6)]

    first, second, waited = await interleave(pg_url, one, two, claim, claim)
    assert not waited
    assert len(first) == 6 and len(second) == 4
    assert not set(first) & set(second)


# -- other read-then-writes ------------------------------------------------------------


async def test_sign_in_failures_counted_at_once_are_each_counted(
    pg_url: str, pair: tuple[PostgresStorage, PostgresStorage]
) -> None:
    one, two = pair

    async def fail(tx: SqlTx) -> int:
        throttle = tx.for_staff.throttle
        count = await throttle.get("account:alice")
        failures = (count.failures if count else 0) + 1
        await throttle.put("account:alice", Count(failures, NOW, None))
        return failures

    first, second, waited = await interleave(pg_url, one, two, fail, fail)
    assert (first, second, waited) == (1, 2, True)


async def test_receipt_lookup_failures_counted_at_once_are_each_counted(
    pg_url: str, pair: tuple[PostgresStorage, PostgresStorage]
) -> None:
    one, two = pair
    first, second, _ = await interleave(
        pg_url,
        one,
        two,
        lambda tx: tx.lookups.failure("chat-1", now=NOW),
        lambda tx: tx.lookups.failure("chat-1", now=NOW),
    )
    assert (first, second) == (1, 2)


async def test_a_reference_drawn_twice_at_once_is_taken_once(
    pg_url: str, pair: tuple[PostgresStorage, PostgresStorage]
) -> None:
    one, two = pair
    citizen_id = await _citizen(one, "chat-1")

    async def file(tx: SqlTx) -> bool:
        if await tx.tickets.reference_exists("K7M-4QX9"):
            return False
        draft = TicketDraft("complaint", "kk", citizen_id, "telegram", summary="x")
        await tx.tickets.add(draft, reference="K7M-4QX9", now=NOW)
        return True

    first, second, waited = await interleave(pg_url, one, two, file, file)
    assert (first, second, waited) == (True, False, True)


async def test_tickets_and_messages_filed_at_once_get_ids_of_their_own(
    pair: tuple[PostgresStorage, PostgresStorage],
) -> None:
    one, two = pair
    citizen_id = await _citizen(one, "chat-1")

    async def file(storage: PostgresStorage, i: int) -> int:
        async with storage.transaction() as tx:
            draft = TicketDraft("complaint", "kk", citizen_id, "telegram", summary=f"n{i}")
            ticket = await tx.tickets.add(draft, reference=f"REF-{i:04d}", now=NOW)
            await tx.tickets.add_message(ticket.id, author="citizen", body="hi", now=NOW)
            return ticket.id

    ids = await asyncio.gather(*(file(one if i % 2 else two, i) for i in range(30)))
    assert len(set(ids)) == 30 and max(ids) < 1 << 40


async def test_audit_entries_appended_at_once_keep_one_chain(
    pair: tuple[PostgresStorage, PostgresStorage],
) -> None:
    one, two = pair

    async def append(storage: PostgresStorage, i: int) -> None:
        async with storage.transaction() as tx:
            await tx.for_staff.audit.append(actor="admin", action="test", now=NOW, n=i)

    await asyncio.gather(*(append(one if i % 2 else two, i) for i in range(20)))
    with pytest.raises(RuntimeError):  # a unit that appends and rolls back leaves no gap
        async with one.transaction() as tx:
            await tx.for_staff.audit.append(actor="admin", action="undone", now=NOW)
            raise RuntimeError("rolled back")
    async with one.transaction() as tx:
        await tx.for_staff.audit.append(actor="admin", action="last", now=NOW)
    async with one.read() as tx:
        count, problems = await tx.for_staff.audit.verify()
    assert (count, problems) == (21, [])


async def test_a_tips_events_added_at_once_keep_their_order(
    pair: tuple[PostgresStorage, PostgresStorage],
) -> None:
    one, two = pair
    tip_id = (1 << 40) + 12345
    async with one.transaction() as tx:
        await tx.conn.execute(
            "INSERT INTO tickets (id, reference, kind, locale, created_at, updated_at)"
            " VALUES (?, 'TIP-1', 'tip', 'kk', ?, ?)",
            (tip_id, NOW.isoformat(), NOW.isoformat()),
        )

    async def event(storage: PostgresStorage, i: int) -> None:
        async with storage.transaction() as tx:
            await tx.tickets.add_event(tip_id, actor="staff", action=f"a{i}", now=NOW)

    await asyncio.gather(*(event(one if i % 2 else two, i) for i in range(12)))
    async with one.read() as tx:
        events = await tx.for_staff.console.events(tip_id)
    assert len(events) == 12
    async with one.read() as tx:
        rows = await tx.conn.execute_fetchall(
            "SELECT detail FROM ticket_events WHERE ticket_id = ?", (tip_id,)
        )
    import json

    assert sorted(json.loads(row[0])["n"] for row in rows) == list(range(1, 13))


async def test_satisfaction_answers_given_at_once_are_both_kept(
    pair: tuple[PostgresStorage, PostgresStorage],
) -> None:
    one, two = pair
    citizen_id = await _citizen(one, "chat-1")
    async with one.transaction() as tx:
        draft = TicketDraft("complaint", "kk", citizen_id, "telegram", summary="x")
        ticket = await tx.tickets.add(draft, reference="AAA-0001", now=NOW)
        survey = await tx.satisfaction.ask(
            ticket.id, outcome="resolved", closed_on=NOW.date(), now=NOW
        )

    async def solved(storage: PostgresStorage) -> None:
        async with storage.transaction() as tx:
            await tx.satisfaction.answer(survey, solved=True, now=NOW)

    async def rated(storage: PostgresStorage) -> None:
        async with storage.transaction() as tx:
            await tx.satisfaction.answer(survey, rating=4, reopened=True, now=NOW)

    await asyncio.gather(solved(one), rated(two))
    async with one.read() as tx:
        got = await tx.satisfaction.latest(ticket.id)
    assert got is not None and (got.solved, got.rating, got.reopened) == (True, 4, True)


async def test_a_version_check_lets_one_of_two_staff_edits_through(
    pg_url: str, pair: tuple[PostgresStorage, PostgresStorage]
) -> None:
    one, two = pair
    citizen_id = await _citizen(one, "chat-1")
    async with one.transaction() as tx:
        draft = TicketDraft("complaint", "kk", citizen_id, "telegram", summary="x")
        ticket = await tx.tickets.add(draft, reference="AAA-0002", now=NOW)
    later = NOW + timedelta(minutes=1)
    first, second, waited = await interleave(
        pg_url,
        one,
        two,
        lambda tx: tx.for_staff.console.update_ticket(
            ticket.id, version=ticket.version, now=later, status="in_review"
        ),
        lambda tx: tx.for_staff.console.update_ticket(
            ticket.id, version=ticket.version, now=later, status="rejected"
        ),
    )
    assert (first, second, waited) == (True, False, True)
