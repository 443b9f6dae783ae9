"""Media links (bot/media_links.py): which files they may serve, and which were used."""

from __future__ import annotations

from datetime import datetime

from bot.storage.sql.core import ts
from bot.storage.sql.database import Database
from bot.storage.sql.dialect import SQLITE, Dialect


class SqlMediaTokens:
    def __init__(self, conn: Database, dialect: Dialect = SQLITE) -> None:
        self._conn = conn
        self._dialect = dialect

    async def servable(self, blob_id: str) -> tuple[str, str | None] | None:
        """(content type, file name) of a file staff attached to an answer on a ticket that
        is not a tip, or of a campaign's image; None for any other blob. A tip's files are
        sealed in `tip_files`, not here, and the kind is checked all the same."""
        field = self._dialect.json_field
        rows = await self._conn.execute_fetchall(
            "SELECT a.content_type, a.file_name FROM ticket_attachments a"
            " JOIN tickets t ON t.id = a.ticket_id"
            " WHERE a.blob_id = ? AND a.message_id IS NOT NULL AND t.kind != 'tip'"
            f" UNION ALL SELECT {field('image', 'content_type')}, NULL FROM campaigns"
            f" WHERE {field('image', 'blob_id')} = ? LIMIT 1",
            (blob_id, blob_id),
        )
        return next(((str(r[0]), r[1]) for r in rows), None)

    async def use(self, tag: str, *, expires_at: datetime) -> bool:
        cur = await self._conn.execute(
            "INSERT INTO media_tokens (tag, expires_at) VALUES (?, ?) ON CONFLICT (tag) DO NOTHING",
            (tag, ts(expires_at)),
        )
        return cur.rowcount == 1

    async def used(self, tag: str) -> bool:
        rows = await self._conn.execute_fetchall("SELECT 1 FROM media_tokens WHERE tag = ?", (tag,))
        return any(True for _ in rows)

    async def purge_before(self, when: datetime) -> int:
        cur = await self._conn.execute("DELETE FROM media_tokens WHERE expires_at < ?", (ts(when),))
        return cur.rowcount
