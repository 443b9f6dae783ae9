"""SQLite tip store: a tip's row in `tickets` (kind 'tip', a random id above TIP_IDS), its
wrapped keys in `tip_keys`, its sealed files in `tip_files`, its thread in
`ticket_messages` under random ids. Nothing here can open what it stores.

The plaintext columns of a tip row stay empty (no citizen, channel, summary, region); every
time on it, its thread and its events is cut to the day.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime

from bot.crypto import DataCipher
from bot.storage.records import Ticket
from bot.storage.sql.core import parse_ts, ts
from bot.storage.sql.database import Database
from bot.storage.sql.dialect import SQLITE, Dialect
from bot.storage.sql.tickets import random_tip_id, ticket_from_row
from bot.storage.tips import (
    RECOVERY,
    LegacyMessage,
    LegacyTip,
    SealedBundle,
    SealedMessage,
    SealedTip,
    TipFile,
    day_of,
    staff_holder,
)


class SqlTipStore:
    def __init__(self, conn: Database, cipher: DataCipher, dialect: Dialect = SQLITE) -> None:
        self._conn = conn
        self._cipher = cipher  # only to open tips stored before sealing (migration 011)
        self._dialect = dialect

    async def recipients(self) -> list[tuple[str, bytes]]:
        found: list[tuple[str, bytes]] = []
        recovery = await self.recovery_public()
        if recovery is not None:
            found.append((RECOVERY, recovery))
        # Endorsed keys only: one an admin could have made waits for a trusted grant.
        rows = await self._conn.execute_fetchall(
            "SELECT k.staff_id, k.public_key FROM staff_keys k"
            " JOIN staff_users u ON u.id = k.staff_id WHERE k.endorsed = 1"
            " AND u.role = 'investigator' AND u.disabled = 0 ORDER BY k.staff_id"
        )
        found += [(staff_holder(row[0]), bytes(row[1])) for row in rows]
        return found

    async def add(
        self,
        sealed: SealedTip,
        *,
        privacy: str,
        locale: str,
        due_on: date | None,
        reference: str,
        now: datetime,
    ) -> Ticket:
        day = ts(day_of(now))
        while True:
            ticket_id = random_tip_id()
            # A clash of random ids (one chance in 2^62) draws again; no failed statement,
            # which would end a PostgreSQL transaction.
            inserted = await self._conn.execute_fetchall(
                "INSERT INTO tickets (id, reference, kind, privacy, locale, details, sealed,"
                " identity, tip_public, receipt_locator, due_on, created_at,"
                " updated_at) VALUES (?, ?, 'tip', ?, ?, '{}', ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO NOTHING RETURNING id",
                (
                    ticket_id,
                    reference,
                    privacy,
                    locale,
                    sealed.contents,
                    sealed.identity,
                    sealed.public,
                    sealed.receipt_locator,
                    due_on.isoformat() if due_on else None,
                    day,
                    day,
                ),
            )
            if list(inserted):
                break
        await self._add_keys_and_files(ticket_id, sealed)
        ticket = await self._one("SELECT * FROM tickets WHERE id = ?", ticket_id)
        assert ticket is not None
        return ticket

    async def _add_keys_and_files(self, ticket_id: int, sealed: SealedTip) -> None:
        await self._conn.executemany(
            "INSERT INTO tip_keys (ticket_id, holder, wrapped) VALUES (?, ?, ?)",
            [(ticket_id, holder, wrapped) for holder, wrapped in sealed.keys.items()],
        )
        await self._conn.executemany(
            "INSERT INTO tip_files (id, ticket_id, kind, content_type, size, sealed)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (random_tip_id(), ticket_id, f.kind, f.content_type, f.size, f.sealed)
                for f in sealed.files
            ],
        )

    async def by_locator(self, locator: str) -> list[Ticket]:
        async with self._conn.execute(
            "SELECT * FROM tickets WHERE kind = 'tip' AND receipt_locator = ?", (locator,)
        ) as cur:
            return [ticket_from_row(row) for row in await cur.fetchall()]

    async def by_receipt_hash(self, hashes: Sequence[str]) -> Ticket | None:
        """A tip sealed from before migration 011, by the keyed hash of its receipt."""
        if not hashes:
            return None
        marks = ", ".join("?" for _ in hashes)
        return await self._one(
            f"SELECT * FROM tickets WHERE kind = 'tip' AND receipt_hash IN ({marks})", *hashes
        )

    async def public(self, ticket_id: int) -> bytes | None:
        return await self._blob("SELECT tip_public FROM tickets WHERE id = ?", ticket_id)

    async def contents(self, ticket_id: int) -> bytes | None:
        return await self._blob(
            "SELECT sealed FROM tickets WHERE id = ? AND kind = 'tip'", ticket_id
        )

    async def identity(self, ticket_id: int) -> bytes | None:
        return await self._blob(
            "SELECT identity FROM tickets WHERE id = ? AND kind = 'tip'", ticket_id
        )

    async def wrapped(self, ticket_id: int, holder: str) -> bytes | None:
        return await self._blob(
            "SELECT wrapped FROM tip_keys WHERE ticket_id = ? AND holder = ?", ticket_id, holder
        )

    async def put_key(self, ticket_id: int, holder: str, wrapped: bytes) -> None:
        await self._conn.execute(
            "INSERT INTO tip_keys (ticket_id, holder, wrapped) VALUES (?, ?, ?)"
            " ON CONFLICT (ticket_id, holder) DO UPDATE SET wrapped = excluded.wrapped",
            (ticket_id, holder, wrapped),
        )

    async def drop_keys(self, holder: str) -> int:
        cur = await self._conn.execute("DELETE FROM tip_keys WHERE holder = ?", (holder,))
        return cur.rowcount

    async def count_for(self, holder: str) -> int:
        rows = await self._conn.execute_fetchall(
            "SELECT count(*) FROM tip_keys WHERE holder = ?", (holder,)
        )
        return int(next(iter(rows))[0])

    async def ids(self) -> list[tuple[int, str]]:
        rows = await self._conn.execute_fetchall(
            "SELECT id, reference FROM tickets WHERE kind = 'tip' AND tip_public IS NOT NULL"
            " ORDER BY id"
        )
        return [(row[0], row[1]) for row in rows]

    async def add_message(
        self,
        ticket: Ticket,
        *,
        author: str,
        sealed: bytes,
        now: datetime,
        staff_id: int | None = None,
        internal: bool = False,
    ) -> int:
        message_id = random_tip_id()
        day = ts(day_of(now))
        await self._conn.execute(
            "INSERT INTO ticket_messages (id, ticket_id, author, staff_id, internal, sealed,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (message_id, ticket.id, author, staff_id, int(internal), sealed, day),
        )
        status = "in_review" if author == "citizen" and ticket.status == "waiting" else None
        # The answer investigators waited for puts the tip back in review.
        await self._conn.execute(
            "UPDATE tickets SET updated_at = ?, status = coalesce(CAST(? AS TEXT), status),"
            " version = version + ? WHERE id = ?",
            (day, status, int(status is not None), ticket.id),
        )
        return message_id

    async def messages(self, ticket_id: int) -> list[SealedMessage]:
        rows = await self._conn.execute_fetchall(
            "SELECT * FROM ticket_messages WHERE ticket_id = ? AND sealed IS NOT NULL",
            (ticket_id,),
        )
        return [_message(row) for row in rows]

    async def bundles(self, ids: Sequence[int], holder: str) -> list[SealedBundle]:
        # Three queries for a whole batch: a search opens up to thousands of tips.
        wanted = json.dumps(list(ids))
        tips = await self._conn.execute_fetchall(
            "SELECT t.id, t.reference, t.sealed, k.wrapped FROM tickets t"
            " JOIN tip_keys k ON k.ticket_id = t.id AND k.holder = ?"
            f" WHERE t.id IN ({self._dialect.json_ints('?')}) AND t.kind = 'tip'",
            (holder, wanted),
        )
        thread: dict[int, list[SealedMessage]] = {}
        for row in await self._conn.execute_fetchall(
            "SELECT * FROM ticket_messages"
            f" WHERE ticket_id IN ({self._dialect.json_ints('?')}) AND sealed IS NOT NULL",
            (wanted,),
        ):
            thread.setdefault(row["ticket_id"], []).append(_message(row))
        found = {
            row[0]: SealedBundle(
                row[0],
                row[1],
                bytes(row[3]),
                None if row[2] is None else bytes(row[2]),
                tuple(thread.get(row[0], ())),
            )
            for row in tips
        }
        return [found[ticket_id] for ticket_id in ids if ticket_id in found]

    async def files(self, ticket_id: int) -> list[TipFile]:
        rows = await self._conn.execute_fetchall(
            "SELECT id, kind, content_type, size FROM tip_files WHERE ticket_id = ?", (ticket_id,)
        )
        return [TipFile(row[0], row[1], row[2], row[3]) for row in rows]

    async def file(self, ticket_id: int, file_id: int) -> tuple[TipFile, bytes] | None:
        rows = list(
            await self._conn.execute_fetchall(
                "SELECT id, kind, content_type, size, sealed FROM tip_files"
                " WHERE ticket_id = ? AND id = ?",
                (ticket_id, file_id),
            )
        )
        if not rows:
            return None
        row = rows[0]
        return TipFile(row[0], row[1], row[2], row[3]), bytes(row[4])

    # Tips from before sealing: encrypted with DATA_KEY, numbered in the shared sequence.

    async def legacy(self) -> list[LegacyTip]:
        rows = await self._conn.execute_fetchall(
            "SELECT * FROM tickets WHERE kind = 'tip' AND tip_public IS NULL ORDER BY id"
        )
        found = []
        for row in rows:
            ticket = ticket_from_row(row)
            ref = ticket.reference
            contents = row["sealed"] and self._cipher.decrypt_text(
                row["sealed"], context=f"tip:{ref}".encode()
            )
            identity = row["identity"] and self._cipher.decrypt_text(
                row["identity"], context=f"tip-identity:{ref}".encode()
            )
            messages = [
                LegacyMessage(
                    m["author"],
                    m["staff_id"],
                    bool(m["internal"]),
                    m["body"]
                    if m["sealed"] is None
                    else self._cipher.decrypt_text(
                        m["sealed"], context=f"ticket:{ticket.id}".encode()
                    ),
                )
                for m in await self._conn.execute_fetchall(
                    "SELECT * FROM ticket_messages WHERE ticket_id = ? ORDER BY id", (ticket.id,)
                )
            ]
            files = [
                (f["blob_id"], f["kind"], f["content_type"])
                for f in await self._conn.execute_fetchall(
                    "SELECT * FROM ticket_attachments WHERE ticket_id = ? ORDER BY id",
                    (ticket.id,),
                )
            ]
            found.append(
                LegacyTip(
                    ticket,
                    row["receipt_hash"],
                    json.loads(contents) if contents else {},
                    json.loads(identity) if identity else None,
                    messages,
                    files,
                )
            )
        return found

    async def replace_legacy(
        self, legacy: LegacyTip, sealed: SealedTip, messages: list[tuple[LegacyMessage, bytes]]
    ) -> int:
        """The sealed tip takes the old one's place: a random id, day-only times, its
        thread and events moved over; the old row (and its DATA_KEY blobs) is deleted."""
        old = legacy.ticket
        day = ts(day_of(old.created_at))
        new_id = random_tip_id()
        await self._conn.execute(
            "INSERT INTO tickets (id, reference, kind, status, privacy, locale, details,"
            " sealed, identity, tip_public, receipt_hash, due_on, created_at,"
            " updated_at, assignee_id, version)"
            " VALUES (?, ?, 'tip', ?, ?, ?, '{}', ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
            (
                new_id,
                old.reference + "~",
                old.status,
                old.privacy,
                old.locale,
                sealed.contents,
                sealed.identity,
                sealed.public,
                old.due_on.isoformat() if old.due_on else None,
                day,
                day,
                old.assignee_id,
                old.version,
            ),
        )
        await self._add_keys_and_files(new_id, sealed)
        await self._conn.executemany(
            "INSERT INTO ticket_messages (id, ticket_id, author, staff_id, internal, sealed,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (random_tip_id(), new_id, m.author, m.staff_id, int(m.internal), blob, day)
                for m, blob in messages
            ],
        )
        events = await self._conn.execute_fetchall(
            "SELECT * FROM ticket_events WHERE ticket_id = ? ORDER BY id", (old.id,)
        )
        for n, event in enumerate(events, 1):
            detail = {**json.loads(event["detail"]), "n": n}
            await self._conn.execute(
                "INSERT INTO ticket_events (id, ticket_id, actor, action, detail, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (random_tip_id(), new_id, event["actor"], event["action"],
                 json.dumps(detail, ensure_ascii=False), ts(day_of(parse_ts(event["created_at"])
                                                                   or old.created_at))),
            )  # fmt: skip
        # Cascades to the old messages, events and attachment rows.
        await self._conn.execute("DELETE FROM tickets WHERE id = ?", (old.id,))
        await self._conn.execute(
            "UPDATE tickets SET reference = ?, receipt_hash = ? WHERE id = ?",
            (old.reference, legacy.receipt_hash, new_id),
        )
        return new_id

    async def recovery_public(self) -> bytes | None:
        return await self._blob("SELECT public_key FROM recovery_key WHERE id = 1")

    async def set_recovery_public(self, public: bytes) -> None:
        await self._conn.execute(
            "INSERT INTO recovery_key (id, public_key) VALUES (1, ?)"
            " ON CONFLICT (id) DO UPDATE SET public_key = excluded.public_key",
            (public,),
        )

    async def _blob(self, sql: str, *params: object) -> bytes | None:
        rows = list(await self._conn.execute_fetchall(sql, params))
        return bytes(rows[0][0]) if rows and rows[0][0] is not None else None

    async def _one(self, sql: str, *params: object) -> Ticket | None:
        async with self._conn.execute(sql, params) as cur:
            row = await cur.fetchone()
        return ticket_from_row(row) if row else None


def _message(row: sqlite3.Row) -> SealedMessage:
    return SealedMessage(
        id=row["id"],
        author=row["author"],
        staff_id=row["staff_id"],
        internal=bool(row["internal"]),
        created_at=parse_ts(row["created_at"]) or datetime.min,
        sealed=bytes(row["sealed"]),
    )
