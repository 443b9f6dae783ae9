"""One citizen, several keys (a WhatsApp user's number and BSUID), in the storage alone:
linking, the key answers go to, and merging two rows of one citizen deterministically,
once, in one transaction (bot/storage/sqlite/linked_keys.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.crypto import DataCipher, generate_key_setting
from bot.storage.records import SessionRecord, TicketDraft
from bot.storage.sqlite import SqliteStorage

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
WA = "whatsapp"
PHONE, BSUID = "+77015550123", "KZ.1502576394655843"


def query(path: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, args).fetchall()


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    store = SqliteStorage(tmp_path / "db.sqlite3", DataCipher.from_setting(generate_key_setting()))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def a_citizen(
    storage: SqliteStorage,
    key: str,
    *,
    locale: str,
    regions: tuple[str, ...],
    at: datetime,
    state: str,
    reference: str,
) -> int:
    """A citizen who wrote at `at`, subscribed to `regions`, with a session, a ticket, a
    held message and a delivery of campaign run 1."""
    async with storage.transaction() as tx:
        citizen, created, _ = await tx.citizens.get_or_create_with_session(WA, key, now=at)
        assert created
        citizen.locale, citizen.subscribed, citizen.sub_regions = locale, True, regions
        citizen.last_inbound_at = at
        await tx.citizens.save(citizen)
        await tx.sessions.save(SessionRecord(citizen.id, "complaint", state, {"s": state}), now=at)
        draft = TicketDraft("complaint", locale, citizen.id, WA, "healthcare")
        await tx.tickets.add(draft, reference=reference, now=at)
        await tx.outbox.enqueue(citizen.id, WA, "staff-reply", {"text": reference}, now=at)
        await tx.conn.execute(
            "INSERT INTO campaign_deliveries (run_id, citizen_id, channel, locale,"
            " next_attempt_at, updated_at) VALUES (1, ?, ?, ?, ?, ?)",
            (citizen.id, WA, locale, at.isoformat(), at.isoformat()),
        )
        return citizen.id


async def test_two_rows_of_one_citizen_merge_into_the_oldest_once(
    storage: SqliteStorage,
) -> None:
    path = storage.path
    with sqlite3.connect(path) as conn:  # the campaign run both rows were reached by
        conn.execute(
            "INSERT INTO campaigns (id, title, texts, created_by, created_at, updated_at)"
            " VALUES (1, 'News', '{}', 'op', ?, ?)",
            (NOW.isoformat(), NOW.isoformat()),
        )
        conn.execute(
            "INSERT INTO campaign_runs (id, campaign_id, planned_at, started_at)"
            " VALUES (1, 1, ?, ?)",
            (NOW.isoformat(), NOW.isoformat()),
        )
    older = await a_citizen(
        storage, PHONE, locale="ru", regions=("astana",), at=NOW, state="describe",
        reference="AB-1001",
    )  # fmt: skip
    later = NOW + timedelta(hours=1)
    newer = await a_citizen(
        storage, BSUID, locale="en", regions=("almaty",), at=later, state="region",
        reference="AB-1002",
    )  # fmt: skip
    assert older < newer

    async with storage.transaction() as tx:
        citizen, created, session = await tx.citizens.get_or_create_with_session(
            WA, PHONE, now=later, linked=(BSUID,)
        )
    assert (citizen.id, created, citizen.chat_key) == (older, False, PHONE)
    # The row used last says the language and holds the conversation; news for both regions.
    assert (citizen.locale, citizen.subscribed) == ("en", True)
    assert set(citizen.sub_regions) == {"astana", "almaty"}
    assert citizen.last_inbound_at == later
    assert session is not None and session.state == "region" and session.data == {"s": "region"}
    assert query(path, "SELECT id FROM citizens") == [(older,)]
    assert query(path, "SELECT DISTINCT citizen_id FROM tickets") == [(older,)]
    assert query(path, "SELECT count(*), min(citizen_id) FROM outbox") == [(2, older)]
    assert query(path, "SELECT citizen_id FROM campaign_deliveries") == [(older,)]
    assert query(path, "SELECT count(*) FROM sessions") == [(1,)]
    keys = query(path, "SELECT citizen_id FROM citizen_keys")
    assert keys == [(older,)]

    # Once: the same message again finds one row holding both keys, and changes nothing.
    before = query(path, "SELECT * FROM citizens"), query(path, "SELECT * FROM citizen_keys")
    async with storage.transaction() as tx:
        again, _, _ = await tx.citizens.get_or_create_with_session(
            WA, PHONE, now=later, linked=(BSUID,)
        )
    assert again.id == older
    assert (query(path, "SELECT * FROM citizens"), query(path, "SELECT * FROM citizen_keys")) == (
        before
    )


async def test_answers_go_to_the_key_the_citizen_last_wrote_from(storage: SqliteStorage) -> None:
    async with storage.transaction() as tx:
        first, _, _ = await tx.citizens.get_or_create_with_session(
            WA, PHONE, now=NOW, linked=(BSUID,)
        )
    async with storage.read() as tx:
        by_bsuid = await tx.citizens.find(WA, BSUID)
    assert by_bsuid is not None and (by_bsuid.id, by_bsuid.chat_key) == (first.id, PHONE)

    # The number is hidden: the BSUID is what answers go to now; the number still finds them.
    async with storage.transaction() as tx:
        hidden, created, _ = await tx.citizens.get_or_create_with_session(WA, BSUID, now=NOW)
    assert (hidden.id, created, hidden.chat_key) == (first.id, False, BSUID)
    async with storage.read() as tx:
        by_phone = await tx.citizens.find(WA, PHONE)
        assert by_phone is not None and (by_phone.id, by_phone.chat_key) == (first.id, BSUID)
        got = await tx.citizens.get(first.id)
        assert got is not None and got.chat_key == BSUID
    assert query(storage.path, "SELECT count(*) FROM citizens") == [(1,)]
    assert query(storage.path, "SELECT count(*) FROM citizen_keys") == [(1,)]
    # Another channel's chat with the same text is someone else.
    async with storage.read() as tx:
        assert await tx.citizens.find("telegram", BSUID) is None


async def test_a_merge_in_a_step_that_fails_is_undone_with_it(storage: SqliteStorage) -> None:
    for key in (PHONE, BSUID):
        async with storage.transaction() as tx:
            await tx.citizens.get_or_create_with_session(WA, key, now=NOW)
    before = query(storage.path, "SELECT * FROM citizens ORDER BY id")
    with pytest.raises(RuntimeError):
        async with storage.transaction() as tx:
            await tx.citizens.get_or_create_with_session(WA, BSUID, now=NOW, linked=(PHONE,))
            raise RuntimeError("the step failed")
    assert query(storage.path, "SELECT * FROM citizens ORDER BY id") == before
    assert query(storage.path, "SELECT count(*) FROM citizen_keys") == [(0,)]
