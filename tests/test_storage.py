"""SQLite storage: migrations, WAL, atomic units of work, and personal data at rest —
session data encrypted, chat keys kept only as a keyed hash and an encrypted address."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.crypto import DataCipher, generate_key_setting
from bot.dispatcher import Dispatcher
from bot.domain import Channel, Inbound, Reply
from bot.flow import TEXT, Context, Flow, Go
from bot.runtime import Runtime
from bot.storage.records import SessionRecord
from bot.storage.sqlite import SqliteStorage, migration_files, open_and_migrate
from handlers import load_flows
from tests.chat import Chat
from tests.conftest import start_in

NOW = datetime(2026, 3, 16, 5, 0, tzinfo=UTC)


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def raw_bytes(path: Path) -> bytes:
    """Everything SQLite has on disk for this database: the file, its WAL and journal."""
    parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    store = SqliteStorage(tmp_path / "db.sqlite3", DataCipher.from_setting(generate_key_setting()))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


# -- migrations and pragmas --------------------------------------------------------------


async def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "db.sqlite3"
    shipped = migration_files()
    assert shipped[0][1] == "001_core.sql"
    assert [v for v, _, _ in shipped] == sorted({v for v, _, _ in shipped}), "duplicate versions"
    first = await open_and_migrate(path)
    assert first == [name for _, name, _ in shipped]
    assert await open_and_migrate(path) == []
    recorded = query(path, "SELECT version, name FROM schema_migrations ORDER BY version")
    assert recorded == [(v, name) for v, name, _ in shipped]
    # Opening the storage on a migrated file applies nothing and keeps the record.
    store = SqliteStorage(path, DataCipher.from_setting(generate_key_setting()))
    await store.open()
    await store.close()
    assert query(path, "SELECT count(*) FROM schema_migrations") == [(len(shipped),)]


async def test_the_schema_has_the_core_tables(storage: SqliteStorage) -> None:
    tables = {row[0] for row in query(storage.path, "SELECT name FROM sqlite_master")}
    for table in ("citizens", "sessions", "processed_ids", "tickets", "ratings", "outbox"):
        assert table in tables


async def test_wal_mode_is_on(storage: SqliteStorage) -> None:
    assert query(storage.path, "PRAGMA journal_mode") == [("wal",)]


async def test_a_unit_of_work_commits_all_or_nothing(storage: SqliteStorage) -> None:
    with pytest.raises(RuntimeError):
        async with storage.transaction() as tx:
            citizen, created = await tx.citizens.get_or_create("console", "ghost", now=NOW)
            assert created
            await tx.sessions.save(SessionRecord(citizen.id, "menu", "main", {"d": {}}), now=NOW)
            await tx.processed.mark("ghost-msg", now=NOW)
            raise RuntimeError("the step failed")
    async with storage.read() as tx:
        assert await tx.citizens.find("console", "ghost") is None
        assert not await tx.processed.seen("ghost-msg")
    assert query(storage.path, "SELECT count(*) FROM sessions") == [(0,)]
    # A unit of work that ends normally commits.
    async with storage.transaction() as tx:
        await tx.citizens.get_or_create("console", "real", now=NOW)
    async with storage.read() as tx:
        assert await tx.citizens.find("console", "real") is not None


async def test_readers_do_not_wait_for_a_writer(storage: SqliteStorage) -> None:
    async with storage.transaction() as tx:
        await tx.citizens.get_or_create("console", "before", now=NOW)
    async with storage.transaction() as tx:
        await tx.citizens.get_or_create("console", "during", now=NOW)

        async def look() -> tuple[bool, bool]:
            async with storage.read() as view:
                before = await view.citizens.find("console", "before")
                during = await view.citizens.find("console", "during")
            return before is not None, during is not None

        # The writer holds its transaction open; the reader sees the last commit at once.
        assert await asyncio.wait_for(look(), timeout=5) == (True, False)


async def test_writes_are_serialised_without_losing_any(storage: SqliteStorage) -> None:
    async def add(n: int) -> None:
        async with storage.transaction() as tx:
            await tx.citizens.get_or_create("console", f"c{n}", now=NOW)
            await asyncio.sleep(0)
            await tx.processed.mark(f"m{n}", now=NOW)

    await asyncio.gather(*(add(n) for n in range(40)))
    assert query(storage.path, "SELECT count(*) FROM citizens") == [(40,)]
    assert query(storage.path, "SELECT count(*) FROM processed_ids") == [(40,)]


# -- personal data at rest ---------------------------------------------------------------


def recorder() -> Flow:
    """A flow that keeps whatever the citizen types in its session data."""
    flow = Flow("recorder", entry="note", menu_title="menu.help", menu_order=999)

    @flow.prompt("note")
    async def ask(ctx: Context) -> Reply:
        return Reply("type a note")

    @flow.on("note", accepts=frozenset({TEXT}))
    async def keep(msg: Inbound, ctx: Context) -> Go:
        ctx.data["note"] = msg.text
        return Go(state="note", say=(Reply("kept"),), ask=False)

    return flow


@pytest.mark.sqlite_only("reads the raw bytes of the SQLite file")
async def test_session_data_is_encrypted_at_rest(runtime: Runtime) -> None:
    dispatcher = Dispatcher(
        flows={**load_flows(), "recorder": recorder()},
        storage=runtime.storage,
        catalogs=runtime.catalogs,
        settings=runtime.settings,
        refdata=runtime.refdata,
        cipher=runtime.cipher,
        clock=runtime.dispatcher.clock,
    )
    chat = Chat(dispatcher, chat_key="secretive", lang="ru")
    await start_in(chat, "ru")
    await chat.press_payload("flow:recorder")
    marker = "Мой ИИН 900101300123 MARKER-7f3a"
    await chat.send(marker)
    assert chat.text == "kept"
    # The marker is really in the session (control), but not readable on disk.
    async with runtime.storage.read() as tx:
        citizen = await tx.citizens.find(Channel.CONSOLE, "secretive")
        assert citizen is not None
        session = await tx.sessions.load(citizen.id)
    assert session is not None and session.data["d"]["note"] == marker
    disk = raw_bytes(runtime.settings.database_path)
    for needle in (marker, "MARKER-7f3a", "900101300123"):
        assert needle.encode() not in disk
        assert needle.encode("utf-16-le") not in disk
    (blob,) = query(runtime.settings.database_path, "SELECT data FROM sessions")[0]
    assert isinstance(blob, bytes)
    assert b"MARKER" not in blob and b'"d"' not in blob


@pytest.mark.parametrize(
    ("channel", "chat_key"),
    [(Channel.TELEGRAM, "5512349876"), (Channel.WHATSAPP, "whatsapp:+77015550123")],
)
async def test_chat_keys_are_not_stored_in_plaintext(
    storage: SqliteStorage, channel: Channel, chat_key: str
) -> None:
    async with storage.transaction() as tx:
        citizen, created = await tx.citizens.get_or_create(channel, chat_key, now=NOW)
        again, created_again = await tx.citizens.get_or_create(channel, chat_key, now=NOW)
    assert created and not created_again and again.id == citizen.id
    assert citizen.chat_key == chat_key
    ((chat_hash, address),) = query(storage.path, "SELECT chat_hash, address FROM citizens")
    assert isinstance(chat_hash, str) and len(chat_hash) == 64 and chat_key not in chat_hash
    assert isinstance(address, bytes) and chat_key.encode() not in address
    digits = "".join(ch for ch in chat_key if ch.isdigit())
    assert digits.encode() not in raw_bytes(storage.path)
    # The encrypted address is what outbound messages use: it decrypts to the key.
    async with storage.read() as tx:
        found = await tx.citizens.get(citizen.id)
        assert found is not None and found.chat_key == chat_key
        # The same key on another channel is another citizen.
        assert await tx.citizens.find("console", chat_key) is None


async def test_citizens_and_sessions_survive_a_data_key_rotation(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    old = generate_key_setting()
    store = SqliteStorage(path, DataCipher.from_setting(old))
    await store.open()
    async with store.transaction() as tx:
        citizen, _ = await tx.citizens.get_or_create("telegram", "4242", now=NOW)
        await tx.sessions.save(SessionRecord(citizen.id, "menu", "main", {"d": {"x": 1}}), now=NOW)
    await store.close()

    new = generate_key_setting().replace("v1:", "v2:")
    store = SqliteStorage(path, DataCipher.from_setting(f"{new},{old}"))
    await store.open()
    try:
        async with store.transaction() as tx:
            found, created = await tx.citizens.get_or_create("telegram", "4242", now=NOW)
            assert not created and found.id == citizen.id
            session = await tx.sessions.load(found.id)
            assert session is not None and session.data == {"d": {"x": 1}}
    finally:
        await store.close()


async def test_wal_checkpoints_run_while_a_reader_holds_a_cursor(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.jobs import Jobs
    from bot.storage.sqlite import SqliteStorage

    storage = SqliteStorage(
        tmp_path / "db.sqlite3", DataCipher.from_setting(generate_key_setting())
    )
    await storage.open()
    jobs = Jobs()
    jobs.every(0.01, storage.checkpoint_job, name="storage:checkpoint")
    jobs.start()
    try:
        async with storage.read() as tx:
            cursor = await tx.conn.execute("SELECT * FROM schema_migrations")  # left open
            await asyncio.sleep(0.1)
            await cursor.close()
    finally:
        await jobs.stop()
        await storage.close()
    assert "WAL checkpoint failed" not in caplog.text
