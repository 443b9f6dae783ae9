"""Outbox rows: one per message sent outside a conversation turn, with its delivery state."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.crypto import DataCipher
from bot.storage.records import OutboxRow
from bot.storage.sql.core import insert_id, parse_ts, ts
from bot.storage.sql.database import Database
from bot.storage.sql.dialect import SQLITE, Dialect, claimed_by_dead

# external_id of a reply that went out in a webhook's HTTP response (TwiML), not by API.
IN_RESPONSE = "in-response"


class SqlOutboxStore:
    """Payloads are encrypted: staff answers carry personal data and investigators' questions."""

    def __init__(
        self,
        conn: Database,
        cipher: DataCipher,
        dialect: Dialect = SQLITE,
        instance: str | None = None,
    ) -> None:
        self._conn = conn
        self._cipher = cipher
        self._dialect = dialect
        self._instance = instance  # written on the rows this instance marks 'sending'

    async def enqueue(
        self,
        citizen_id: int,
        channel: str,
        purpose: str,
        payload: dict[str, Any],
        *,
        now: datetime,
        inbound_key: str | None = None,
        sending: bool = False,
    ) -> int:
        """A new row; `sending` when the caller sends it at once itself (a conversation
        reply), so the worker leaves it alone unless the process dies first."""
        stamp = ts(now)
        sql = (
            "INSERT INTO outbox (citizen_id, channel, purpose, payload, status, inbound_key,"
            " next_attempt_at, created_at, updated_at, claimed_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
        )
        params = (
            citizen_id,
            channel,
            purpose,
            self._seal(payload),
            "sending" if sending else "pending",
            inbound_key,
            stamp,
            stamp,
            stamp,
            self._instance if sending else None,
        )
        return await insert_id(self._conn, sql, params)

    async def delete_sent(self, outbox_ids: list[int]) -> None:
        """Rows the caller sent itself (a step's own answer rows) are not kept."""
        await self._conn.executemany(
            "DELETE FROM outbox WHERE id = ? AND status = 'sending'",
            [(outbox_id,) for outbox_id in outbox_ids],
        )

    async def take_answered(self, inbound_key: str, *, now: datetime) -> list[OutboxRow]:
        """For a retried webhook: the replies to the message `inbound_key`, taken from the
        worker if still pending and marked answered in the response. Rows being sent right
        now (status 'sending') are left to their sender."""
        await self._conn.execute(
            "UPDATE outbox SET status = 'sent', external_id = ?, updated_at = ?"
            " WHERE inbound_key = ? AND status = 'pending'",
            (IN_RESPONSE, ts(now), inbound_key),
        )
        async with self._conn.execute(
            "SELECT * FROM outbox WHERE inbound_key = ? AND status = 'sent' AND external_id = ?"
            " ORDER BY id",
            (inbound_key, IN_RESPONSE),
        ) as cur:
            return [self._row(r) for r in await cur.fetchall()]

    async def purge_replies(self, *, purposes: tuple[str, ...], before: datetime) -> int:
        """Conversation replies that went out (or never will) are not kept."""
        marks = ",".join("?" * len(purposes))
        cur = await self._conn.execute(
            f"DELETE FROM outbox WHERE purpose IN ({marks})"
            " AND status NOT IN ('pending', 'sending', 'held') AND updated_at < ?",
            (*purposes, ts(before)),
        )
        return cur.rowcount

    def _seal(self, payload: dict[str, Any]) -> bytes:
        return self._cipher.encrypt(
            json.dumps(payload, ensure_ascii=False).encode(), context=b"outbox"
        )

    async def claim_due(
        self, channels: list[str], *, now: datetime, limit: int = 50
    ) -> list[OutboxRow]:
        """Due pending rows of these channels, marked 'sending' so no other worker takes them:
        chosen and marked in one statement, skipping rows another instance is claiming."""
        if not channels:
            return []
        marks = ",".join("?" * len(channels))
        rows = await self._conn.execute_fetchall(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, updated_at = ?,"
            " claimed_by = ? WHERE id IN (SELECT id FROM outbox WHERE status = 'pending'"
            f" AND next_attempt_at <= ? AND channel IN ({marks}) ORDER BY id LIMIT ?"
            f"{self._dialect.skip_locked()}) RETURNING *",
            (ts(now), self._instance, ts(now), *channels, limit),
        )
        # As they were before this claim (the worker counts the attempts made before).
        claimed = [
            replace(self._row(r), status="pending", attempts=r["attempts"] - 1) for r in rows
        ]
        return sorted(claimed, key=lambda row: row.id)

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
        sealed = self._seal(payload) if payload is not None else None
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

    async def drop_superseded(self, *, purposes: tuple[str, ...]) -> int:
        """After a crash: an answer row left 'sending' by its step (never claimed by the
        worker, so no attempt counted) whose chat has taken a later step was sent before
        that step began (one chat's updates and replies run one after another): deleted,
        instead of being sent again, late and out of order."""
        marks = ",".join("?" * len(purposes))
        cur = await self._conn.execute(
            f"DELETE FROM outbox WHERE status = 'sending' AND purpose IN ({marks})"
            " AND attempts = 0 AND created_at <"
            " (SELECT s.updated_at FROM sessions s WHERE s.citizen_id = outbox.citizen_id)",
            purposes,
        )
        return cur.rowcount

    async def recover_stuck(self, *, now: datetime, alive: Collection[str] | None = None) -> int:
        """Rows left 'sending' by a crash go back to 'pending': on start, every one; with
        several instances (`alive`: the instances whose lease is live), those of the
        instances that died."""
        dead, params = claimed_by_dead(alive)
        cur = await self._conn.execute(
            "UPDATE outbox SET status = 'pending', updated_at = ? WHERE status = 'sending'" + dead,
            (ts(now), *params),
        )
        return cur.rowcount

    async def get(self, outbox_id: int) -> OutboxRow | None:
        async with self._conn.execute("SELECT * FROM outbox WHERE id = ?", (outbox_id,)) as cur:
            row = await cur.fetchone()
        return self._row(row) if row else None

    def _row(self, row: sqlite3.Row) -> OutboxRow:
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
