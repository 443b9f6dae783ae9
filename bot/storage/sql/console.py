"""Queries behind the staff console: the filtered inbox, optimistic ticket updates, the
timeline, delivery states of staff messages and the statistics.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from bot.staff.records import (
    OPEN_STATUSES,
    STATUSES,
    InboxPage,
    InboxQuery,
    InboxRow,
    TicketEvent,
)
from bot.storage.records import Stat
from bot.storage.sql.audit import SqlAuditLog
from bot.storage.sql.core import parse_ts, ts
from bot.storage.sql.database import Database
from bot.storage.sql.dialect import SQLITE, Dialect
from bot.storage.sql.search import search_clause
from bot.storage.sql.staff import SqlStaffStore
from bot.storage.sql.throttle import SqlLoginThrottle
from bot.storage.sql.tickets import ticket_from_row

if TYPE_CHECKING:
    from bot.storage.sql import SqlTx


# Per ticket: when the citizen and staff last wrote to each other (every act that tells the
# citizen, a status change or a forwarding, is a staff message; an internal note is not),
# whether the citizen reopened it ("not solved") since, and the last activity of any kind.
# Tip messages carry only their day, so on a tip a same-day answer does not count as later.
def queue_columns(dialect: Dialect) -> str:
    return _QUEUE_COLUMNS.format(
        last_activity=dialect.greatest(
            "t.updated_at",
            "coalesce((SELECT max(m.created_at) FROM ticket_messages m"
            " WHERE m.ticket_id = t.id), '')",
        )
    )


_QUEUE_COLUMNS = """
    (SELECT max(m.created_at) FROM ticket_messages m
      WHERE m.ticket_id = t.id AND m.author = 'citizen') AS citizen_at,
    (SELECT max(m.created_at) FROM ticket_messages m
      WHERE m.ticket_id = t.id AND m.author = 'staff' AND m.internal = 0) AS staff_at,
    (SELECT m.body FROM ticket_messages m WHERE m.ticket_id = t.id AND m.author = 'citizen'
      ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS citizen_text,
    (SELECT max(e.created_at) FROM ticket_events e
      WHERE e.ticket_id = t.id AND e.action = 'reopened' AND e.actor = 'citizen') >
    coalesce((SELECT max(m.created_at) FROM ticket_messages m
      WHERE m.ticket_id = t.id AND m.author = 'staff' AND m.internal = 0), '') AS reopened,
    {last_activity} AS last_activity"""
ANSWERED = "(citizen_at IS NOT NULL AND citizen_at > coalesce(staff_at, ''))"
SORTS = {
    # The work queue: answers by the citizen, then tickets due soon, then by last activity.
    "queue": "{answered} DESC, due_soon DESC, CASE WHEN due_soon THEN t.due_on END, last_activity",
    "activity": "last_activity",
    "created": "t.created_at",
    "updated": "t.updated_at",
    "due": "coalesce(t.due_on, '9999-12-31')",
    "status": "t.status",
    "reference": "t.reference",
}


def _like(text: str) -> str:
    """A LIKE pattern for `text` anywhere, upper-cased: references are upper case, and
    PostgreSQL's LIKE, unlike SQLite's, tells "k7m" from "K7M"."""
    escaped = text.upper().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SqlConsoleStore:
    def __init__(self, conn: Database, dialect: Dialect = SQLITE) -> None:
        self._conn = conn
        self._dialect = dialect
        self._queue_columns = queue_columns(dialect)

    def _where(
        self, query: InboxQuery, today: date, *, with_status: bool = True
    ) -> tuple[str, list[Any]]:
        if not query.kinds:
            return "1 = 0", []
        clauses = [f"t.kind IN ({','.join('?' * len(query.kinds))})"]
        params: list[Any] = list(query.kinds)
        simple = {"kind": query.kind, "category": query.category, "region": query.region}
        if with_status:
            simple["status"] = query.status
        for column, value in simple.items():
            if value:
                clauses.append(f"t.{column} = ?")
                params.append(value)
        if query.assignee is not None:
            clauses.append("t.assignee_id = ?")
            params.append(query.assignee)
        if query.unassigned:
            clauses.append("t.assignee_id IS NULL")
        still_open = f"t.status IN ({','.join('?' * len(OPEN_STATUSES))})"
        if query.overdue:
            clauses.append(f"t.due_on < ? AND {still_open}")
            params += [today.isoformat(), *OPEN_STATUSES]
        if query.due_by is not None:
            clauses.append(f"t.due_on BETWEEN ? AND ? AND {still_open}")
            params += [today.isoformat(), query.due_by.isoformat(), *OPEN_STATUSES]
        if query.created_from:
            clauses.append("t.created_at >= ?")
            params.append(ts(query.created_from))
        if query.created_before:
            clauses.append("t.created_at < ?")
            params.append(ts(query.created_before))
        if query.ids is not None:
            clauses.append(f"t.id IN ({self._dialect.json_ints('?')})")
            params.append(json.dumps(query.ids))
        if query.text:
            # A partial reference ("3003") by LIKE; words anywhere else through the index.
            found = "upper(t.reference) LIKE ? ESCAPE '\\'"
            params.append(_like(query.text.strip()))
            if words := search_clause(self._dialect, query.text):
                found += f" OR {words[0]}"
                params.append(words[1])
            clauses.append(f"({found})")
        return " AND ".join(clauses), params

    async def inbox(
        self, query: InboxQuery, *, today: date, due_soon_until: date | None = None
    ) -> InboxPage:
        """A page of tickets. Open tickets due on or before `due_soon_until` (today when
        not given) are marked due soon, overdue ones included."""
        where, params = self._where(query, today)
        order = SORTS.get(query.sort, SORTS["queue"]).format(answered=ANSWERED)
        direction = "DESC" if query.descending else "ASC"
        async with self._conn.execute(
            f"SELECT count(*) FROM tickets t WHERE {where}", params
        ) as cur:
            row = await cur.fetchone()
            total = int(row[0]) if row else 0
        # A page beyond the end (an old link, a typed number) shows the last page.
        last = max(1, -(-total // query.per_page)) if query.per_page > 0 else 1
        page = min(max(1, query.page), last)
        limit = "" if query.per_page <= 0 else " LIMIT ? OFFSET ?"
        paging = [] if query.per_page <= 0 else [query.per_page, (page - 1) * query.per_page]
        open_marks = ",".join("?" * len(OPEN_STATUSES))
        soon = [(due_soon_until or today).isoformat(), *OPEN_STATUSES]
        async with self._conn.execute(
            f"SELECT * FROM (SELECT t.*, s.username AS assignee_name, {self._queue_columns},"
            f" (t.due_on IS NOT NULL AND t.due_on <= ? AND t.status IN ({open_marks}))"
            f" AS due_soon FROM tickets t LEFT JOIN staff_users s ON s.id = t.assignee_id"
            f" WHERE {where}) t ORDER BY {order} {direction}, t.id {direction}{limit}",
            [*soon, *params, *paging],
        ) as cur:
            rows = await cur.fetchall()
        found = []
        for r in rows:
            ticket = ticket_from_row(r)
            overdue = (
                ticket.due_on is not None
                and ticket.due_on < today
                and ticket.status in OPEN_STATUSES
            )
            answered = r["citizen_at"] is not None and r["citizen_at"] > (r["staff_at"] or "")
            activity = parse_ts(r["last_activity"])
            found.append(
                InboxRow(
                    ticket,
                    r["assignee_name"],
                    overdue,
                    answered,
                    bool(r["due_soon"]),
                    activity,
                    r["citizen_text"] if answered else None,
                    reopened=bool(r["reopened"]),
                )
            )
        return InboxPage(
            found,
            total,
            await self.status_counts(query, today=today),
            page,
            query.per_page if query.per_page > 0 else max(total, 1),
        )

    async def newest(self, query: InboxQuery, *, today: date, limit: int) -> list[tuple[int, str]]:
        """(id, reference) of the tickets `query` finds in any status, the newest first, at
        most `limit`."""
        where, params = self._where(query, today, with_status=False)
        rows = await self._conn.execute_fetchall(
            f"SELECT t.id, t.reference FROM tickets t WHERE {where}"
            " ORDER BY t.created_at DESC, t.id DESC LIMIT ?",
            [*params, limit],
        )
        return [(row[0], row[1]) for row in rows]

    async def activity(self, ticket_id: int) -> tuple[bool, datetime | None]:
        """(citizen answered since staff last wrote, last activity) of one ticket, as the
        inbox computes them."""
        async with self._conn.execute(
            f"SELECT {self._queue_columns} FROM tickets t WHERE t.id = ?", (ticket_id,)
        ) as cur:
            r = await cur.fetchone()
        if r is None:
            return False, None
        answered = r["citizen_at"] is not None and r["citizen_at"] > (r["staff_at"] or "")
        return answered, parse_ts(r["last_activity"])

    async def status_counts(self, query: InboxQuery, *, today: date) -> dict[str, int]:
        where, params = self._where(query, today, with_status=False)
        sql = f"SELECT t.status, count(*) FROM tickets t WHERE {where} GROUP BY t.status"
        return await self._counts(STATUSES, sql, params)

    async def kind_counts(self, kinds: tuple[str, ...], *, today: date) -> dict[str, int]:
        """Open tickets of each kind; what a role that may not list tips still sees."""
        marks = ",".join("?" * len(OPEN_STATUSES))
        sql = f"SELECT kind, count(*) FROM tickets WHERE status IN ({marks}) GROUP BY kind"
        return await self._counts(kinds, sql, OPEN_STATUSES)

    async def overdue_counts(self, kinds: tuple[str, ...], *, today: date) -> dict[str, int]:
        """Open tickets of each kind past their deadline: the admins' escalation counter."""
        where, params = _overdue(kinds, today)
        sql = f"SELECT kind, count(*) FROM tickets WHERE {where} GROUP BY kind"
        return await self._counts(kinds, sql, params)

    async def _counts(
        self, keys: tuple[str, ...], sql: str, params: Sequence[Any]
    ) -> dict[str, int]:
        """A GROUP BY count per key, 0 for the keys it finds no row for (and none other)."""
        counts = dict.fromkeys(keys, 0)
        async with self._conn.execute(sql, params) as cur:
            for key, n in await cur.fetchall():
                if key in counts:
                    counts[key] = n
        return counts

    async def update_ticket(
        self, ticket_id: int, *, version: int, now: datetime, **changes: Any
    ) -> bool:
        """Apply `changes` only if nobody changed the ticket since `version` was read."""
        allowed = {"status", "assignee_id", "due_on", "redirected_to"}
        assert set(changes) <= allowed, changes
        sets = "".join(f"{column} = ?, " for column in changes)
        values = [v.isoformat() if isinstance(v, date) else v for v in changes.values()]
        cur = await self._conn.execute(
            f"UPDATE tickets SET {sets}version = version + 1, updated_at = ?"
            " WHERE id = ? AND version = ?",
            [*values, ts(now), ticket_id, version],
        )
        return cur.rowcount == 1

    async def link_outbox(self, message_id: int, outbox_id: int) -> None:
        await self._conn.execute(
            "UPDATE ticket_messages SET outbox_id = ? WHERE id = ?", (outbox_id, message_id)
        )

    async def deliveries(self, ticket_id: int) -> dict[int, str]:
        """Delivery state of each staff message that went out: {message id: outbox status}."""
        async with self._conn.execute(
            "SELECT m.id, o.status FROM ticket_messages m JOIN outbox o ON o.id = m.outbox_id"
            " WHERE m.ticket_id = ?",
            (ticket_id,),
        ) as cur:
            return {row[0]: row[1] for row in await cur.fetchall()}

    async def events(self, ticket_id: int) -> list[TicketEvent]:
        async with self._conn.execute(
            "SELECT * FROM ticket_events WHERE ticket_id = ? ORDER BY id", (ticket_id,)
        ) as cur:
            rows = await cur.fetchall()
        events = [
            TicketEvent(
                r["actor"],
                r["action"],
                json.loads(r["detail"]),
                parse_ts(r["created_at"]) or datetime.min,
            )
            for r in rows
        ]
        # A tip's events have random ids: their order is the "n" kept in the detail.
        events.sort(key=lambda e: e.detail.pop("n", 0))
        return events

    async def facets(self, kinds: tuple[str, ...]) -> dict[str, list[str]]:
        """Categories and regions that occur, for the filter drop-downs."""
        result: dict[str, list[str]] = {}
        marks = ",".join("?" * len(kinds)) or "NULL"
        for column in ("category", "region"):
            async with self._conn.execute(
                f"SELECT DISTINCT {column} FROM tickets WHERE {column} IS NOT NULL"
                f" AND kind IN ({marks}) ORDER BY 1",
                kinds,
            ) as cur:
                result[column] = [row[0] for row in await cur.fetchall()]
        return result

    # Statistics ---------------------------------------------------------------------------

    async def ratings_by(self, column: str, *, since: datetime) -> list[Stat]:
        assert column in ("category", "centre", "region")
        async with self._conn.execute(
            f"SELECT coalesce({column}, '') AS k, count(*),"
            f" CAST(avg(rating) AS DOUBLE PRECISION) FROM ratings"
            f" WHERE created_at >= ? GROUP BY k ORDER BY count(*) DESC, k",
            (ts(since),),
        ) as cur:
            return [Stat(r[0], r[1], r[2]) for r in await cur.fetchall()]

    async def ratings_by_month(
        self, column: str, *, since: datetime
    ) -> list[tuple[str, str, Stat]]:
        """(month 'YYYY-MM', key, stat) for the rating trend per category/centre/region."""
        assert column in ("category", "centre", "region")
        async with self._conn.execute(
            f"SELECT substr(created_at, 1, 7) AS m, coalesce({column}, '') AS k, count(*),"
            f" CAST(avg(rating) AS DOUBLE PRECISION) FROM ratings WHERE created_at >= ?"
            " GROUP BY m, k ORDER BY m, k",
            (ts(since),),
        ) as cur:
            return [(r[0], r[1], Stat(r[1], r[2], r[3])) for r in await cur.fetchall()]

    async def tickets_by_category_status(
        self, kinds: tuple[str, ...], *, since: datetime
    ) -> list[tuple[str, str, int]]:
        marks = ",".join("?" * len(kinds)) or "NULL"
        async with self._conn.execute(
            f"SELECT coalesce(category, ''), status, count(*) FROM tickets"
            f" WHERE kind IN ({marks}) AND created_at >= ? GROUP BY 1, 2 ORDER BY 1, 2",
            (*kinds, ts(since)),
        ) as cur:
            return [(r[0], r[1], r[2]) for r in await cur.fetchall()]

    async def overdue_by_category(self, kinds: tuple[str, ...], *, today: date) -> list[Stat]:
        where, params = _overdue(kinds, today)
        async with self._conn.execute(
            f"SELECT coalesce(category, ''), count(*) FROM tickets WHERE {where}"
            " GROUP BY 1 ORDER BY 2 DESC, 1",
            params,
        ) as cur:
            return [Stat(r[0], r[1]) for r in await cur.fetchall()]


class SqlStaffTx:
    """The stores a staff action uses, on one unit of work's connection (`tx.for_staff`)."""

    def __init__(self, tx: SqlTx) -> None:
        conn = tx.conn
        self.tx = tx
        self.staff = SqlStaffStore(conn)
        self.audit = SqlAuditLog(conn, tx.dialect)
        self.console = SqlConsoleStore(conn, tx.dialect)
        self.throttle = SqlLoginThrottle(conn, tx.dialect)


def _overdue(kinds: tuple[str, ...], today: date) -> tuple[str, tuple[Any, ...]]:
    """Open tickets of these kinds past their deadline: the WHERE clause and its values."""
    marks = ",".join("?" * len(kinds)) or "NULL"
    open_marks = ",".join("?" * len(OPEN_STATUSES))
    where = f"kind IN ({marks}) AND status IN ({open_marks}) AND due_on < ?"
    return where, (*kinds, *OPEN_STATUSES, today.isoformat())
