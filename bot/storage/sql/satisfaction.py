"""The answers citizens give after a complaint is closed: solved or not, and a rating.

A closing that asks adds a row; the citizen's answers fill it in. The statistics count
closings: a ticket reopened and closed again was asked, and may have answered, twice.
"""

from __future__ import annotations

from datetime import date, datetime

from bot.storage.records import Satisfaction, SatisfactionStat
from bot.storage.sql.core import insert_id, parse_ts, ts
from bot.storage.sql.database import Database
from bot.storage.sql.dialect import SQLITE, Dialect

# The ticket column each statistics group reads (never a value from the request).
GROUPS = {"category": "t.category", "region": "t.region", "assignee": "t.assignee_id"}


class SqlSatisfactionStore:
    def __init__(self, conn: Database, dialect: Dialect = SQLITE) -> None:
        self._conn = conn
        self._dialect = dialect

    async def ask(self, ticket_id: int, *, outcome: str, closed_on: date, now: datetime) -> int:
        return await insert_id(
            self._conn,
            "INSERT INTO ticket_satisfaction (ticket_id, outcome, closed_on, asked_at)"
            " VALUES (?, ?, ?, ?) RETURNING id",
            (ticket_id, outcome, closed_on.isoformat(), ts(now)),
        )

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
        """Fill in what the citizen said; a value left None keeps what was there. One
        UPDATE that keeps what another answer wrote meanwhile (no read before it)."""
        reopened_sql = self._dialect.greatest("reopened", "CAST(? AS BIGINT)")
        await self._conn.execute(
            "UPDATE ticket_satisfaction SET solved = coalesce(CAST(? AS BIGINT), solved),"
            f" rating = coalesce(CAST(? AS BIGINT), rating), reopened = {reopened_sql},"
            " answered_at = ? WHERE id = ?",
            (None if solved is None else int(solved), rating, int(reopened), ts(now), survey_id),
        )

    async def by(self, group: str, *, since: datetime) -> list[SatisfactionStat]:
        """Closings since `since` per category, region or assignee, most asked first."""
        column = GROUPS[group]
        async with self._conn.execute(
            # Sums cast back to integers: PostgreSQL sums BIGINT as NUMERIC.
            f"SELECT coalesce(CAST({column} AS TEXT), '') AS k, count(*), count(s.solved),"
            " CAST(coalesce(sum(s.solved), 0) AS BIGINT), count(s.rating),"
            " CAST(coalesce(sum(s.rating), 0) AS BIGINT), CAST(sum(s.reopened) AS BIGINT)"
            " FROM ticket_satisfaction s JOIN tickets t ON t.id = s.ticket_id"
            " WHERE s.asked_at >= ? GROUP BY k ORDER BY count(*) DESC, k",
            (ts(since),),
        ) as cur:
            return [SatisfactionStat(str(r[0]), *r[1:]) for r in await cur.fetchall()]
