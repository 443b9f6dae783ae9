"""Twilio Content API resources the WhatsApp channel created, by hash of their definition."""

from __future__ import annotations

from datetime import datetime

from bot.storage.sql.core import ts
from bot.storage.sql.database import Database


class SqlContentSids:
    def __init__(self, conn: Database) -> None:
        self._conn = conn

    async def get(self, definition_hash: str) -> str | None:
        rows = await self._conn.execute_fetchall(
            "SELECT content_sid FROM whatsapp_content WHERE definition_hash = ?",
            (definition_hash,),
        )
        return next((str(row["content_sid"]) for row in rows), None)

    async def add(self, definition_hash: str, content_sid: str, *, now: datetime) -> str:
        """Record `content_sid` unless another instance recorded one first; returns the
        recorded one, so every instance sends the same resource."""
        await self._conn.execute(
            "INSERT INTO whatsapp_content (definition_hash, content_sid, created_at)"
            " VALUES (?, ?, ?) ON CONFLICT (definition_hash) DO NOTHING",
            (definition_hash, content_sid, ts(now)),
        )
        recorded = await self.get(definition_hash)
        assert recorded is not None
        return recorded
