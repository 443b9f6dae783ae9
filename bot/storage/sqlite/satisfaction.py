"""The answers citizens give after a complaint is closed: solved or not, and a rating.

A closing that asks adds a row; the citizen's answers fill it in. The statistics read the
latest row of each ticket, so a ticket reopened and closed again counts once, as it ended.
"""

from __future__ import annotations

from datetime import date, datetime

from bot.storage.records import Satisfaction
from bot.storage.sqlite.core import parse_ts, ts
from bot.storage.sqlite.database import Database


class SqliteSatisfactionStore:
    def __init__(self, conn: Database) -> None:
        self._conn = conn

    async def ask(self, ticket_id: int, *, outcome: str, closed_on: date, now: datetime) -> int:
        cur = await self._conn.execute(
            "INSERT INTO ticket_satisfaction (ticket_id, outcome, closed_on, asked_at)"
            " VALUES (?, ?, ?, ?)",
            (ticket_id, outcome, closed_on.isoformat(), ts(now)),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def latest(self, ticket_id: int) -> Satisfaction | None:
        async with self._conn.execute(
            "SELECT * FROM ticket_satisfaction WHERE ticket_id = ? ORDER BY id DESC LIMIT 1",
            (ticket_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        solved = row["solved"]
        return Satisfaction(
            id=row["id"],
            ticket_id=row["ticket_id"],
            outcome=row["outcome"],
            closed_on=date.fromisoformat(row["closed_on"]),
            solved=None if solved is None else bool(solved),
            rating=row["rating"],
            answered_at=parse_ts(row["answered_at"]),
            reopened=bool(row["reopened"]),
        )

    async def answer(
        self,
        survey_id: int,
        *,
        now: datetime,
        solved: bool | None = None,
        rating: int | None = None,
        reopened: bool = False,
    ) -> None:
        """Fill in what the citizen said; a value left None keeps what was there."""
        await self._conn.execute(
            "UPDATE ticket_satisfaction SET solved = coalesce(?, solved),"
            " rating = coalesce(?, rating), reopened = max(reopened, ?), answered_at = ?"
            " WHERE id = ?",
            (None if solved is None else int(solved), rating, int(reopened), ts(now), survey_id),
        )
