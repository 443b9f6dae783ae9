"""Dead letters: inbound updates a channel could not take, kept out of the inbox.

A webhook update that does not parse is answered 200 (the platform would only repeat it)
and recorded here; an inbox row that cannot be read or parsed at start-up is moved here
whole, still sealed, so that it is never replayed and start-up goes on. Rows keep the
reason and the times for the operator, never content in clear.
"""

from __future__ import annotations

from datetime import datetime

from bot.crypto import DataCipher
from bot.storage.base import DeadLetter
from bot.storage.sql.core import insert_id, parse_ts, ts
from bot.storage.sql.database import Database
from bot.storage.sql.inbox import PAYLOAD_CONTEXT

REASON_CHARS = 200


class SqlDeadLetterStore:
    def __init__(self, conn: Database, cipher: DataCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    async def add(self, channel: str, reason: str, payload: bytes | None, *, now: datetime) -> int:
        """Record an update that arrived now; `payload` (the raw update) is sealed."""
        sealed = None if payload is None else self._cipher.encrypt(payload, context=PAYLOAD_CONTEXT)
        return await insert_id(
            self._conn,
            "INSERT INTO dead_letters (channel, reason, payload, received_at, failed_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (channel, reason[:REASON_CHARS], sealed, ts(now), ts(now)),
        )

    async def adopt(self, inbox_id: int, reason: str, *, now: datetime) -> None:
        """Move an inbox row here as it is (its payload need not decrypt)."""
        await self._conn.execute(
            "INSERT INTO dead_letters (channel, reason, payload, received_at, failed_at)"
            " SELECT channel, CAST(? AS TEXT), payload, received_at, CAST(? AS TEXT)"
            " FROM inbox WHERE id = ?",
            (reason[:REASON_CHARS], ts(now), inbox_id),
        )
        await self._conn.execute("DELETE FROM inbox WHERE id = ?", (inbox_id,))

    async def recent(self, *, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters, without their payloads."""
        async with self._conn.execute(
            "SELECT id, channel, reason, received_at, failed_at FROM dead_letters"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        ) as cur:
            rows = await cur.fetchall()
        return [DeadLetter(r[0], r[1], r[2], _when(r[3]), _when(r[4])) for r in rows]

    async def purge_before(self, before: datetime) -> int:
        cur = await self._conn.execute(
            "DELETE FROM dead_letters WHERE failed_at < ?", (ts(before),)
        )
        return cur.rowcount


def _when(value: str) -> datetime:
    parsed = parse_ts(value)
    assert parsed is not None
    return parsed
