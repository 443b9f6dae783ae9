"""Canned replies kept by admins: a title and the text in kk, ru and en."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from bot.storage.records import ReplyTemplate
from bot.storage.sql.core import insert_id, ts
from bot.storage.sql.database import Database

LANGS = ("kk", "ru", "en")


def _template(row: sqlite3.Row) -> ReplyTemplate:
    return ReplyTemplate(row["id"], row["title"], {lang: row[lang] for lang in LANGS})


class SqlReplyTemplates:
    def __init__(self, conn: Database) -> None:
        self._conn = conn

    async def all(self) -> list[ReplyTemplate]:
        rows = await self._conn.execute_fetchall(
            "SELECT * FROM reply_templates ORDER BY lower(title), id"
        )
        return [_template(row) for row in rows]

    async def get(self, template_id: int) -> ReplyTemplate | None:
        rows = await self._conn.execute_fetchall(
            "SELECT * FROM reply_templates WHERE id = ?", (template_id,)
        )
        return next((_template(row) for row in rows), None)

    async def add(self, title: str, texts: dict[str, str], *, now: datetime) -> int:
        return await insert_id(
            self._conn,
            "INSERT INTO reply_templates (title, kk, ru, en, updated_at) VALUES (?, ?, ?, ?, ?)"
            " RETURNING id",
            (title, *(texts[lang] for lang in LANGS), ts(now)),
        )

    async def update(
        self, template_id: int, title: str, texts: dict[str, str], *, now: datetime
    ) -> bool:
        cur = await self._conn.execute(
            "UPDATE reply_templates SET title = ?, kk = ?, ru = ?, en = ?, updated_at = ?"
            " WHERE id = ?",
            (title, *(texts[lang] for lang in LANGS), ts(now), template_id),
        )
        return cur.rowcount > 0

    async def delete(self, template_id: int) -> bool:
        cur = await self._conn.execute("DELETE FROM reply_templates WHERE id = ?", (template_id,))
        return cur.rowcount > 0
