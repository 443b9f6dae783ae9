"""Webhook updates recorded before the HTTP answer and removed once handled.

A channel writes the raw update here before answering 200, so an update the platform
considers delivered survives a crash; on start the channel handles what is left. The
payload is the citizen's message, so it is kept encrypted like sessions. A row that can
no longer be decrypted is still returned (payload None, with the reason), so that the
channel can move it to the dead letters instead of failing its start.
"""

from __future__ import annotations

from datetime import datetime

from bot.crypto import DataCipher
from bot.storage.base import InboxRow
from bot.storage.sql.core import ts
from bot.storage.sql.database import Database

# Associated data of a sealed raw update, here and in dead_letters (rows move as they are).
PAYLOAD_CONTEXT = b"inbox"

__all__ = ["PAYLOAD_CONTEXT", "InboxRow", "SqlInboxStore"]


class SqlInboxStore:
    def __init__(self, conn: Database, cipher: DataCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    async def add(
        self, channel: str, payload: bytes, *, now: datetime, chat_key: str | None = None
    ) -> int:
        """Record a raw update; `chat_key` (a webhook update's chat) lets the instance whose
        turn it is find it among the chat's waiting updates (bot/chat_turns.py)."""
        chat = None if chat_key is None else self.chat_tag(channel, chat_key)
        sealed = self._cipher.encrypt(payload, context=PAYLOAD_CONTEXT)
        rows = await self._conn.execute_fetchall(
            "INSERT INTO inbox (channel, payload, received_at, chat) VALUES (?, ?, ?, ?)"
            " RETURNING id",
            (channel, sealed, ts(now), chat),
        )
        return int(next(iter(rows))[0])

    def chat_tag(self, channel: str, chat_key: str) -> str:
        """The chat as the inbox and the chat's lease name it: a keyed hash, never the id."""
        return self._cipher.keyed_hash(f"{channel}:{chat_key}", purpose="inbox-chat")

    async def waiting(self, inbox_id: int) -> bool:
        """Whether the row is still there: not yet handled by any instance."""
        rows = await self._conn.execute_fetchall("SELECT 1 FROM inbox WHERE id = ?", (inbox_id,))
        return bool(list(rows))

    async def for_chat(self, channel: str, chat_key: str, *, limit: int = 50) -> list[InboxRow]:
        """The chat's waiting updates in the order they were accepted."""
        async with self._conn.execute(
            "SELECT id, channel, payload FROM inbox WHERE chat = ? ORDER BY id LIMIT ?",
            (self.chat_tag(channel, chat_key), limit),
        ) as cur:
            rows = await cur.fetchall()
        return [self._open(row[0], row[1], row[2]) for row in rows]

    async def delete(self, inbox_id: int) -> None:
        await self._conn.execute("DELETE FROM inbox WHERE id = ?", (inbox_id,))

    async def delete_many(self, inbox_ids: list[int]) -> None:
        await self._conn.executemany(
            "DELETE FROM inbox WHERE id = ?", [(inbox_id,) for inbox_id in inbox_ids]
        )

    async def pending(
        self, channel: str, *, limit: int = 1000, before: datetime | None = None
    ) -> list[InboxRow]:
        """The oldest rows still waiting for `channel`, in arrival order; with `before`,
        only those received earlier (left behind by an instance that died)."""
        cutoff = "9999" if before is None else ts(before)
        async with self._conn.execute(
            "SELECT id, channel, payload FROM inbox WHERE channel = ? AND received_at < ?"
            " ORDER BY id LIMIT ?",
            (channel, cutoff, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [self._open(row[0], row[1], row[2]) for row in rows]

    def _open(self, inbox_id: int, channel: str, sealed: object) -> InboxRow:
        try:
            if not isinstance(sealed, bytes):
                raise TypeError("payload is not a blob")
            payload = self._cipher.decrypt(sealed, context=PAYLOAD_CONTEXT)
        except Exception as err:  # any row that cannot be read is the caller's dead letter
            return InboxRow(inbox_id, channel, None, unreadable=type(err).__name__)
        return InboxRow(inbox_id, channel, payload)
