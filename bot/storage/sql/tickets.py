"""Tickets, their thread, events, attachments and the service-quality ratings."""

from __future__ import annotations

import json
import secrets
import sqlite3
from datetime import date, datetime
from typing import Any

from bot.crypto import DataCipher
from bot.storage.records import (
    AttachmentRef,
    RatingRecord,
    ThreadMessage,
    Ticket,
    TicketDraft,
)
from bot.storage.sql.core import insert_id, parse_ts, ts
from bot.storage.sql.database import Database
from bot.storage.sql.dialect import SQLITE, Dialect
from bot.storage.sql.locks import lock_names
from bot.storage.tips import day_of

# Tips and their messages and events take random ids at or above this; everything else is
# numbered below it, so no id orders a tip among the other tickets (migration 011).
TIP_IDS = 1 << 40


def is_tip_id(ticket_id: int) -> bool:
    return ticket_id >= TIP_IDS


def random_tip_id() -> int:
    return TIP_IDS + secrets.randbelow((1 << 63) - TIP_IDS)


def low_id(table: str, dialect: Dialect = SQLITE) -> str:
    """The next id below TIP_IDS, as an SQL expression for an INSERT."""
    return dialect.next_id_below(table, TIP_IDS)


def ticket_from_row(row: sqlite3.Row) -> Ticket:
    created = parse_ts(row["created_at"])
    updated = parse_ts(row["updated_at"])
    assert created is not None and updated is not None
    return Ticket(
        id=row["id"],
        reference=row["reference"],
        kind=row["kind"],
        status=row["status"],
        privacy=row["privacy"],
        citizen_id=row["citizen_id"],
        channel=row["channel"],
        locale=row["locale"],
        category=row["category"],
        subject=row["subject"],
        region=row["region"],
        rating=row["rating"],
        summary=row["summary"],
        details=json.loads(row["details"]),
        due_on=date.fromisoformat(row["due_on"]) if row["due_on"] else None,
        created_at=created,
        updated_at=updated,
        assignee_id=row["assignee_id"],
        version=row["version"],
        redirected_to=row["redirected_to"],
        last_citizen_at=parse_ts(row["last_citizen_at"]),
    )


class SqlTicketStore:
    def __init__(self, conn: Database, cipher: DataCipher, dialect: Dialect = SQLITE) -> None:
        self._conn = conn
        self._cipher = cipher
        self._dialect = dialect

    async def add(self, draft: TicketDraft, *, reference: str, now: datetime) -> Ticket:
        ticket_id = await insert_id(
            self._conn,
            "INSERT INTO tickets (id, reference, kind, citizen_id, channel, locale, category,"
            " subject, region, rating, summary, details, due_on, created_at, updated_at)"
            f" VALUES ({low_id('tickets', self._dialect)}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?) RETURNING id",
            (
                reference,
                draft.kind,
                draft.citizen_id,
                draft.channel,
                draft.locale,
                draft.category,
                draft.subject,
                draft.region,
                draft.rating,
                draft.summary,
                json.dumps(draft.details, ensure_ascii=False),
                draft.due_on.isoformat() if draft.due_on else None,
                ts(now),
                ts(now),
            ),
        )
        await self.add_attachments(ticket_id, draft.attachments)
        await self.add_event(ticket_id, actor="citizen", action="created", now=now)
        ticket = await self.get(ticket_id)
        assert ticket is not None
        return ticket

    async def add_attachments(
        self, ticket_id: int, refs: tuple[AttachmentRef, ...], *, message_id: int | None = None
    ) -> None:
        """`message_id`: the staff message the files went with (a citizen's have none)."""
        await self._conn.executemany(
            "INSERT INTO ticket_attachments (ticket_id, blob_id, kind, content_type, size,"
            " file_name, message_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (ticket_id, a.blob_id, a.kind, a.content_type, a.size, a.file_name, message_id)
                for a in refs
            ],
        )

    async def get(self, ticket_id: int) -> Ticket | None:
        return await self._one("SELECT * FROM tickets WHERE id = ?", ticket_id)

    async def by_reference(self, reference: str) -> Ticket | None:
        return await self._one("SELECT * FROM tickets WHERE reference = ?", reference)

    async def reference_exists(self, reference: str) -> bool:
        """Whether a ticket holds `reference`. The reference's lock is held until the unit
        ends: a unit drawing the same one meanwhile waits, then finds it taken."""
        await lock_names(self._conn, self._dialect, [f"reference:{reference}"])
        async with self._conn.execute(
            "SELECT 1 FROM tickets WHERE reference = ?", (reference,)
        ) as cur:
            return await cur.fetchone() is not None

    async def for_citizen(self, citizen_id: int, *, limit: int = 10) -> list[Ticket]:
        async with self._conn.execute(
            "SELECT * FROM tickets WHERE citizen_id = ? ORDER BY id DESC LIMIT ?",
            (citizen_id, limit),
        ) as cur:
            return [ticket_from_row(row) for row in await cur.fetchall()]

    async def awaiting_answer(self, citizen_id: int) -> list[Ticket]:
        """The citizen's tickets whose staff wait for them (status "waiting"), oldest first."""
        async with self._conn.execute(
            "SELECT * FROM tickets WHERE citizen_id = ? AND status = 'waiting' ORDER BY id",
            (citizen_id,),
        ) as cur:
            return [ticket_from_row(row) for row in await cur.fetchall()]

    async def for_sent_message(self, citizen_id: int, external_id: str) -> Ticket | None:
        """The citizen's ticket whose staff message was sent under this platform id."""
        return await self._one(
            "SELECT t.* FROM outbox o JOIN ticket_messages m ON m.outbox_id = o.id"
            " JOIN tickets t ON t.id = m.ticket_id"
            " WHERE o.external_id = ? AND o.citizen_id = ? AND t.citizen_id = ? LIMIT 1",
            external_id,
            citizen_id,
            citizen_id,
        )

    async def set_status(self, ticket_id: int, status: str, *, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE tickets SET status = ?, updated_at = ?, version = version + 1 WHERE id = ?",
            (status, ts(now), ticket_id),
        )

    async def _one(self, sql: str, *params: object) -> Ticket | None:
        async with self._conn.execute(sql, params) as cur:
            row = await cur.fetchone()
        return ticket_from_row(row) if row else None

    async def add_message(
        self,
        ticket_id: int,
        *,
        author: str,
        body: str,
        now: datetime,
        staff_id: int | None = None,
        internal: bool = False,
        sealed: bool = False,
    ) -> ThreadMessage:
        """Append to the thread; `sealed` encrypts the body (a tip's thread)."""
        plain, blob = (None, self._seal(body, ticket_id)) if sealed else (body, None)
        message_id = await insert_id(
            self._conn,
            "INSERT INTO ticket_messages (id, ticket_id, author, staff_id, internal, body,"
            f" sealed, created_at) VALUES ({low_id('ticket_messages', self._dialect)},"
            " ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (ticket_id, author, staff_id, int(internal), plain, blob, ts(now)),
        )
        # The citizen's own words also move last_citizen_at (the inbox's "citizen answered").
        touched = ", last_citizen_at = ?" if author == "citizen" else ""
        stamps = (ts(now), ts(now)) if author == "citizen" else (ts(now),)
        await self._conn.execute(
            f"UPDATE tickets SET updated_at = ?{touched} WHERE id = ?", (*stamps, ticket_id)
        )
        return ThreadMessage(message_id, ticket_id, author, body, now, staff_id, internal)

    async def messages(self, ticket_id: int, *, include_internal: bool) -> list[ThreadMessage]:
        sql = "SELECT * FROM ticket_messages WHERE ticket_id = ?"
        if not include_internal:
            sql += " AND internal = 0"
        async with self._conn.execute(sql + " ORDER BY id", (ticket_id,)) as cur:
            rows = await cur.fetchall()
        return [
            ThreadMessage(
                id=row["id"],
                ticket_id=ticket_id,
                author=row["author"],
                body=row["body"]
                if row["sealed"] is None
                else self._unseal(row["sealed"], ticket_id),
                created_at=parse_ts(row["created_at"]) or datetime.min,
                staff_id=row["staff_id"],
                internal=bool(row["internal"]),
            )
            for row in rows
        ]

    async def add_event(
        self, ticket_id: int, *, actor: str, action: str, now: datetime, **detail: Any
    ) -> None:
        if is_tip_id(ticket_id):
            # A tip's timeline: a random id, the day only, and its place in the tip's own
            # order kept in the detail: counted with the tip's row locked, so two events
            # added at once (PostgreSQL) get n and n + 1.
            if self._dialect.for_update:
                await self._conn.execute_fetchall(
                    "SELECT id FROM tickets WHERE id = ?" + self._dialect.for_update, (ticket_id,)
                )
            async with self._conn.execute(
                "SELECT count(*) FROM ticket_events WHERE ticket_id = ?", (ticket_id,)
            ) as cur:
                row = await cur.fetchone()
            detail["n"] = (row[0] if row else 0) + 1
            event_id, when = random_tip_id(), day_of(now)
        else:
            event_id, when = None, now
        await self._conn.execute(
            "INSERT INTO ticket_events (id, ticket_id, actor, action, detail, created_at)"
            f" VALUES (coalesce(CAST(? AS BIGINT), {low_id('ticket_events', self._dialect)}),"
            " ?, ?, ?, ?, ?)",
            (event_id, ticket_id, actor, action, json.dumps(detail, ensure_ascii=False), ts(when)),
        )

    async def attachments(self, ticket_id: int) -> list[AttachmentRef]:
        async with self._conn.execute(
            "SELECT * FROM ticket_attachments WHERE ticket_id = ? ORDER BY id", (ticket_id,)
        ) as cur:
            rows = await cur.fetchall()
        return [
            AttachmentRef(r["blob_id"], r["kind"], r["content_type"], r["size"], r["file_name"])
            for r in rows
        ]

    async def add_rating(self, rating: RatingRecord, *, now: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO ratings (category, centre, region, rating, reasons, ticket_id, locale,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rating.category,
                rating.centre,
                rating.region,
                rating.rating,
                json.dumps(list(rating.reasons)),
                rating.ticket_id,
                rating.locale,
                ts(now),
            ),
        )

    def _seal(self, text: str, ticket_id: int) -> bytes:
        return self._cipher.encrypt(text.encode(), context=f"ticket:{ticket_id}".encode())

    def _unseal(self, blob: bytes, ticket_id: int) -> str:
        return self._cipher.decrypt(blob, context=f"ticket:{ticket_id}".encode()).decode()
