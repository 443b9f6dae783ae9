"""No timing link: tips filed among complaints from many chats leave nothing on disk that
orders them against the other tickets or the chats finer than their day. Issue 12's
attack matched sequential row ids, files' modification times and exact timestamps to
`citizens.created_at`; here every such place is read back after a busy morning."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime

import pytest

from bot.runtime import Runtime
from bot.staff import actions
from bot.storage.sql.tickets import TIP_IDS
from tests.chat import Chat
from tests.conftest import Clock
from tests.test_complaint import to_summary
from tests.test_tip import fill_tip, to_notice

MIDNIGHT = datetime(2026, 3, 16, tzinfo=UTC).isoformat()


def rows(runtime: Runtime, sql: str) -> list[sqlite3.Row]:
    with sqlite3.connect(runtime.settings.database_path) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql).fetchall()


@pytest.mark.sqlite_only("rows read with sqlite3.Row (to port: tests/db.py)")
async def test_tips_among_complaints_keep_nothing_finer_than_their_day(
    new_chat, runtime: Runtime, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    tip_chats: list[str] = []
    for i in range(9):
        chat: Chat = new_chat(chat_key=f"chat-{i}", lang="ru")
        clock.advance(minutes=7)
        if i % 3 == 1:
            await to_notice(chat, "ru")
            await chat.press_payload("tip:anon" if i != 4 else "tip:conf")
            await fill_tip(chat, runtime, "ru")
            if i == 4:
                await chat.press_payload("tip:chat")
            with caplog.at_level(logging.DEBUG):
                caplog.clear()
                await chat.press_payload("tip:ok")
                # Not a line at any level while a tip is filed.
                assert [r for r in caplog.records if r.name.startswith(("bot", "handlers"))] == []
            tip_chats.append(f"chat-{i}")
        else:
            await to_summary(chat, "ru")
            await chat.press_payload("sum:ok")

    tickets = rows(runtime, "SELECT * FROM tickets")
    tips = [t for t in tickets if t["kind"] == "tip"]
    complaints = [t for t in tickets if t["kind"] != "tip"]
    assert len(tips) == 3 and len(complaints) == 6
    # The other tickets are numbered 1, 2, 3… as if no tip had come between them; tips
    # take random ids far above, so neither sequence says where a tip fell.
    assert sorted(t["id"] for t in complaints) == [1, 2, 3, 4, 5, 6]
    assert all(t["id"] >= TIP_IDS for t in tips)
    for tip in tips:
        assert (tip["created_at"], tip["updated_at"]) == (MIDNIGHT, MIDNIGHT)
        assert tip["citizen_id"] is None and tip["channel"] is None
    complaint_times = {t["created_at"] for t in complaints}
    assert len(complaint_times) == 6 and MIDNIGHT not in complaint_times  # exact, as before

    # Files: sealed in the database, no row time; the drafts' files are gone from disk.
    assert rows(runtime, "SELECT * FROM ticket_attachments") == []
    assert {tuple(r.keys()) for r in rows(runtime, "SELECT * FROM tip_files")} == {
        ("id", "ticket_id", "kind", "content_type", "size", "sealed")
    }
    assert [p for p in runtime.settings.attachments_dir.rglob("*") if p.is_file()] == []
    # No event for a filing: "created" events are exact for complaints only.
    tip_ids = {t["id"] for t in tips}
    events = rows(runtime, "SELECT * FROM ticket_events")
    assert [e for e in events if e["ticket_id"] in tip_ids] == []

    # Staff work on a tip: its thread, events and audit entries carry the day only, under
    # random ids.
    clock.advance(minutes=43)
    [tip] = [t for t in tips if t["privacy"] == "anonymous"][:1]
    async with runtime.storage.transaction() as tx:
        db = tx.for_staff
        user = await db.staff.add("ivan", password_hash="x", role="investigator", locale="ru",
                                   now=clock())  # fmt: skip
        actor = actions.Actor(user, None, clock())
        ticket = await tx.tickets.get(tip["id"])
        assert ticket is not None
        await actions.reply(db, runtime.catalogs, actor, ticket, text="Какой кабинет?")
        ticket = await tx.tickets.get(tip["id"])
        assert ticket is not None
        await actions.change_status(
            db, runtime.catalogs, actor, ticket, version=ticket.version, status="waiting",
            reason="ждём ответа",
        )  # fmt: skip
    for message in rows(runtime, f"SELECT * FROM ticket_messages WHERE ticket_id = {tip['id']}"):
        assert message["created_at"] == MIDNIGHT and message["id"] >= TIP_IDS
        assert message["body"] is None and message["sealed"] is not None
    for event in rows(runtime, f"SELECT * FROM ticket_events WHERE ticket_id = {tip['id']}"):
        assert event["created_at"] == MIDNIGHT and event["id"] >= TIP_IDS
    audit = rows(runtime, "SELECT * FROM audit_log WHERE target = '" + tip["reference"] + "'")
    assert audit and {a["at"] for a in audit} == {MIDNIGHT}
    [row] = rows(runtime, f"SELECT * FROM tickets WHERE id = {tip['id']}")
    assert row["updated_at"] == MIDNIGHT

    # What stays exact belongs to chats, not tips: a tipster's chat looks like any other.
    citizens = rows(runtime, "SELECT * FROM citizens")
    assert len(citizens) == 9
