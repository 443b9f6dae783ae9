"""Webhook updates recorded before the HTTP answer and removed once handled.

A channel writes the raw update here before answering 200, so an update the platform
considers delivered survives a crash; on start the channel handles what is left. The
payload is the citizen's message, so it is kept encrypted like sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from bot.crypto import DataCipher
from bot.storage.sqlite.core import ts

_CONTEXT = b"inbox"


@dataclass(frozen=True, slots=True)
class InboxRow:
    id: int
    channel: str
    payload: bytes


class SqliteInboxStore:
    def __init__(self, conn: aiosqlite.Connection, cipher: DataCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    async def add(self, channel: str, payload: bytes, *, now: datetime) -> int:
        cur = await self._conn.execute(
            "INSERT INTO inbox (channel, payload, received_at) VALUES (?, ?, ?)",
            (channel, self._cipher.encrypt(payload, context=_CONTEXT), ts(now)),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def delete(self, inbox_id: int) -> None:
        await self._conn.execute("DELETE FROM inbox WHERE id = ?", (inbox_id,))

    async def pending(self, channel: str, *, limit: int = 1000) -> list[InboxRow]:
        """The oldest rows still waiting for `channel`, in arrival order."""
        async with self._conn.execute(
            "SELECT id, channel, payload FROM inbox WHERE channel = ? ORDER BY id LIMIT ?",
            (channel, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [
            InboxRow(row[0], row[1], self._cipher.decrypt(row[2], context=_CONTEXT)) for row in rows
        ]
