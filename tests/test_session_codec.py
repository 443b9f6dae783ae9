"""The session codec's shortcuts never change what a load returns: a rolled-back save, a
restart or another writer's blob is read from the database, in full."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.crypto import DataCipher, generate_key_setting
from bot.domain import Channel
from bot.storage.records import SessionRecord
from bot.storage.sqlite import SqliteStorage

NOW = datetime(2026, 3, 16, 5, 0, tzinfo=UTC)
OFFERED = (("cat:a", "Денсаулық", ("Денсаулық", "Здоровье", "Health")), ("g:menu", "Menu", ()))


def as_json(data: object) -> object:
    """What a full parse returns (tuples become lists)."""
    return json.loads(json.dumps(data))


async def session_of(store: SqliteStorage, chat: str) -> SessionRecord | None:
    async with store.transaction() as tx:
        _, _, record = await tx.citizens.get_or_create_with_session(Channel.WHATSAPP, chat, now=NOW)
    return record


async def test_loads_match_a_full_parse_and_survive_rollback_and_restart(tmp_path: Path) -> None:
    key = generate_key_setting()
    path = tmp_path / "db.sqlite3"
    store = SqliteStorage(path, DataCipher.from_setting(key))
    await store.open()
    async with store.transaction() as tx:
        citizen, created, record = await tx.citizens.get_or_create_with_session(
            Channel.WHATSAPP, "whatsapp:+77010000001", now=NOW
        )
        assert created and record is None
        first = {"d": {"n": [1, 2]}, "h": ["a"], "o": OFFERED}
        await tx.sessions.save(SessionRecord(citizen.id, "f", "s", dict(first)), now=NOW)
    loaded = await session_of(store, "whatsapp:+77010000001")
    assert loaded is not None and as_json(loaded.data) == as_json(first)
    # The caller owns what it loaded: mutating it changes nothing stored or remembered.
    loaded.data["d"]["n"].append(3)
    again = await session_of(store, "whatsapp:+77010000001")
    assert again is not None and as_json(again.data) == as_json(first)

    # A save that rolls back leaves the committed session.
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            second = {"d": {"n": [9]}, "h": [], "o": OFFERED[:1]}
            await tx.sessions.save(SessionRecord(citizen.id, "f", "t", second), now=NOW)
            raise RuntimeError("boom")
    after = await session_of(store, "whatsapp:+77010000001")
    assert after is not None and after.state == "s" and as_json(after.data) == as_json(first)

    # Another writer changes the row: its blob is read, not the remembered one.
    other = DataCipher.from_setting(key)
    sealed = other.encrypt(b'{"d":{"w":1},"h":[],"o":[]}', context=b"session")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE sessions SET data = ? WHERE citizen_id = ?", (sealed, citizen.id))
    changed = await session_of(store, "whatsapp:+77010000001")
    assert changed is not None and changed.data == {"d": {"w": 1}, "h": [], "o": []}
    await store.close()

    # What is on disk is the plain JSON of the data, readable after a restart.
    reopened = SqliteStorage(path, DataCipher.from_setting(key))
    await reopened.open()
    try:
        async with reopened.transaction() as tx:
            await tx.sessions.save(SessionRecord(citizen.id, "f", "s", dict(first)), now=NOW)
        (blob,) = sqlite3.connect(path).execute("SELECT data FROM sessions").fetchone()
        plain = DataCipher.from_setting(key).decrypt(blob, context=b"session")
        assert json.loads(plain) == as_json(first)
    finally:
        await reopened.close()
    restarted = SqliteStorage(path, DataCipher.from_setting(key))
    await restarted.open()
    try:
        record = await session_of(restarted, "whatsapp:+77010000001")
        assert record is not None and record.data == as_json(first)
    finally:
        await restarted.close()
