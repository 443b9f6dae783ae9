"""SQLite tip store: tips live in `tickets` (kind 'tip') with everything said sealed.

The plaintext columns of a tip row stay empty (no citizen, channel, summary, region); the
contents go to `sealed`, a confidential contact to `identity`, both bound to the reference.
Anonymous tips are dated to the day so their times cannot be matched to a chat's activity.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import aiosqlite

from bot.crypto import DataCipher
from bot.storage.records import ThreadMessage, Ticket
from bot.storage.sqlite.core import ts
from bot.storage.sqlite.tickets import SqliteTicketStore, ticket_from_row
from bot.storage.tips import ANONYMOUS, CONFIDENTIAL, TipDraft, day_of


class SqliteTipStore:
    def __init__(self, conn: aiosqlite.Connection, cipher: DataCipher) -> None:
        self._conn = conn
        self._cipher = cipher
        self._tickets = SqliteTicketStore(conn, cipher)

    async def add_anonymous(
        self, draft: TipDraft, *, reference: str, receipt_hash: str, now: datetime
    ) -> Ticket:
        return await self._add(
            draft,
            privacy=ANONYMOUS,
            reference=reference,
            receipt_hash=receipt_hash,
            identity=None,
            owner_hash=None,
            now=day_of(now),
        )

    async def add_confidential(
        self,
        draft: TipDraft,
        *,
        identity: str,
        owner_hash: str,
        reference: str,
        receipt_hash: str | None,
        now: datetime,
    ) -> Ticket:
        sealed_identity = self._cipher.encrypt_text(identity, context=_identity_context(reference))
        return await self._add(
            draft,
            privacy=CONFIDENTIAL,
            reference=reference,
            receipt_hash=receipt_hash,
            identity=sealed_identity,
            owner_hash=owner_hash,
            now=now,
        )

    async def _add(
        self,
        draft: TipDraft,
        *,
        privacy: str,
        reference: str,
        receipt_hash: str | None,
        identity: bytes | None,
        owner_hash: str | None,
        now: datetime,
    ) -> Ticket:
        contents = json.dumps(draft.contents, ensure_ascii=False)
        sealed = self._cipher.encrypt_text(contents, context=_contents_context(reference))
        cur = await self._conn.execute(
            "INSERT INTO tickets (reference, kind, privacy, citizen_id, channel, locale,"
            " summary, details, sealed, receipt_hash, identity, owner_hash, due_on,"
            " created_at, updated_at)"
            " VALUES (?, 'tip', ?, NULL, NULL, ?, NULL, '{}', ?, ?, ?, ?, ?, ?, ?)",
            (
                reference,
                privacy,
                draft.locale,
                sealed,
                receipt_hash,
                identity,
                owner_hash,
                draft.due_on.isoformat() if draft.due_on else None,
                ts(now),
                ts(now),
            ),
        )
        ticket_id = cur.lastrowid
        assert ticket_id is not None
        # File names can name people or places: tips keep none.
        unnamed = tuple(replace(ref, file_name=None) for ref in draft.attachments)
        await self._tickets.add_attachments(ticket_id, unnamed)
        await self._tickets.add_event(ticket_id, actor="citizen", action="created", now=now)
        ticket = await self._tickets.get(ticket_id)
        assert ticket is not None
        return ticket

    async def by_receipt(self, hashes: Sequence[str]) -> Ticket | None:
        if not hashes:
            return None
        marks = ", ".join("?" for _ in hashes)
        return await self._one(
            f"SELECT * FROM tickets WHERE kind = 'tip' AND receipt_hash IN ({marks})", *hashes
        )

    async def by_owner(self, reference: str, owner_hashes: Sequence[str]) -> Ticket | None:
        if not owner_hashes:
            return None
        marks = ", ".join("?" for _ in owner_hashes)
        return await self._one(
            "SELECT * FROM tickets WHERE kind = 'tip' AND reference = ?"
            f" AND owner_hash IN ({marks})",
            reference,
            *owner_hashes,
        )

    async def contents(self, ticket: Ticket) -> dict[str, Any]:
        async with self._conn.execute(
            "SELECT sealed FROM tickets WHERE id = ? AND kind = 'tip'", (ticket.id,)
        ) as cur:
            row = await cur.fetchone()
        if row is None or row[0] is None:
            return {}
        plain = self._cipher.decrypt_text(row[0], context=_contents_context(ticket.reference))
        loaded: dict[str, Any] = json.loads(plain)
        return loaded

    async def identity(self, ticket: Ticket, *, actor: str, now: datetime) -> str | None:
        async with self._conn.execute(
            "SELECT identity FROM tickets WHERE id = ? AND kind = 'tip'", (ticket.id,)
        ) as cur:
            row = await cur.fetchone()
        if row is None or row[0] is None:
            return None
        await self._tickets.add_event(ticket.id, actor=actor, action="identity_revealed", now=now)
        return self._cipher.decrypt_text(row[0], context=_identity_context(ticket.reference))

    async def add_message(
        self,
        ticket: Ticket,
        *,
        author: str,
        body: str,
        now: datetime,
        staff_id: int | None = None,
    ) -> ThreadMessage:
        if ticket.privacy == ANONYMOUS and author == "citizen":
            now = day_of(now)
        message = await self._tickets.add_message(
            ticket.id, author=author, body=body, now=now, staff_id=staff_id, sealed=True
        )
        if author == "citizen" and ticket.status == "waiting":
            # The answer investigators waited for: the tip is back in review.
            await self._tickets.set_status(ticket.id, "in_review", now=now)
        return message

    async def messages(self, ticket: Ticket) -> list[ThreadMessage]:
        return await self._tickets.messages(ticket.id, include_internal=False)

    async def _one(self, sql: str, *params: object) -> Ticket | None:
        async with self._conn.execute(sql, params) as cur:
            row = await cur.fetchone()
        return ticket_from_row(row) if row else None


def _contents_context(reference: str) -> bytes:
    return f"tip:{reference}".encode()


def _identity_context(reference: str) -> bytes:
    return f"tip-identity:{reference}".encode()
