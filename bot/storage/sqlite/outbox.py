"""Outbox rows: one per message sent outside a conversation turn, with its delivery state."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite

from bot.crypto import DataCipher
from bot.storage.records import OutboxRow
from bot.storage.sqlite.core import parse_ts, ts


class SqliteOutboxStore:
    """Payloads are encrypted: staff answers carry personal data and investigators' questions."""

    def __init__(self, conn: aiosqlite.Connection, cipher: DataCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    async def enqueue(
        self, citizen_id: int, channel: str, purpose: str, payload: dict[str, Any], *, now: datetime
    ) -> int:
        sealed = self._cipher.encrypt(
            json.dumps(payload, ensure_ascii=False).encode(), context=b"outbox"
        )
        cur = await self._conn.execute(
            "INSERT INTO outbox (citizen_id, channel, purpose, payload, next_attempt_at,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (citizen_id, channel, purpose, sealed, ts(now), ts(now), ts(now)),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def claim_due(
        self, channels: list[str], *, now: datetime, limit: int = 50
    ) -> list[OutboxRow]:
        """Due pending rows of these channels, marked 'sending' so no other worker takes them."""
        if not channels:
            return []
        marks = ",".join("?" * len(channels))
        async with self._conn.execute(
            f"SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
            f" AND channel IN ({marks}) ORDER BY id LIMIT ?",
            (ts(now), *channels, limit),
        ) as cur:
            rows = [self._row(r) for r in await cur.fetchall()]
        await self._conn.executemany(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, updated_at = ?"
            " WHERE id = ?",
            [(ts(now), row.id) for row in rows],
        )
        return rows

    async def mark(
        self,
        outbox_id: int,
        status: str,
        *,
        now: datetime,
        external_id: str | None = None,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        payload: dict[str, Any] | None = None,
        refund_attempt: bool = False,
    ) -> None:
        """`payload` replaces what is left to send (part of it went out); `refund_attempt`
        gives back the attempt the claim counted (a 429 is throttling, not a failure)."""
        sealed = None
        if payload is not None:
            plain = json.dumps(payload, ensure_ascii=False).encode()
            sealed = self._cipher.encrypt(plain, context=b"outbox")
        await self._conn.execute(
            "UPDATE outbox SET status = ?, external_id = coalesce(?, external_id), error = ?,"
            " next_attempt_at = coalesce(?, next_attempt_at), payload = coalesce(?, payload),"
            " attempts = attempts - ?, updated_at = ? WHERE id = ?",
            (
                status,
                external_id,
                error,
                ts(next_attempt_at) if next_attempt_at else None,
                sealed,
                int(refund_attempt),
                ts(now),
                outbox_id,
            ),
        )

    async def mark_by_external_id(
        self, external_id: str, status: str, *, error: str | None, now: datetime
    ) -> bool:
        cur = await self._conn.execute(
            "UPDATE outbox SET status = ?, error = ?, updated_at = ? WHERE external_id = ?",
            (status, error, ts(now), external_id),
        )
        return cur.rowcount > 0

    async def release_held(self, citizen_id: int, *, now: datetime) -> int:
        """The citizen wrote again (WhatsApp window reopened): held messages go out now."""
        cur = await self._conn.execute(
            "UPDATE outbox SET status = 'pending', next_attempt_at = ?, updated_at = ?"
            " WHERE citizen_id = ? AND status = 'held'",
            (ts(now), ts(now), citizen_id),
        )
        return cur.rowcount

    async def recover_stuck(self, *, now: datetime) -> int:
        """Rows left 'sending' by a crash go back to 'pending' on start."""
        cur = await self._conn.execute(
            "UPDATE outbox SET status = 'pending', updated_at = ? WHERE status = 'sending'",
            (ts(now),),
        )
        return cur.rowcount

    async def get(self, outbox_id: int) -> OutboxRow | None:
        async with self._conn.execute("SELECT * FROM outbox WHERE id = ?", (outbox_id,)) as cur:
            row = await cur.fetchone()
        return self._row(row) if row else None

    def _row(self, row: aiosqlite.Row) -> OutboxRow:
        payload = json.loads(self._cipher.decrypt(row["payload"], context=b"outbox"))
        return OutboxRow(
            id=row["id"],
            citizen_id=row["citizen_id"],
            channel=row["channel"],
            purpose=row["purpose"],
            payload=payload,
            status=row["status"],
            attempts=row["attempts"],
            error=row["error"],
            external_id=row["external_id"],
            created_at=parse_ts(row["created_at"]) or datetime.min,
        )
