"""Leases (bot/leases.py) in SQL both backends run: take-or-renew is one statement.

Times come from the database's clock, not the instance's: every instance compares
against one clock, so a machine whose clock is off cannot take a lease early or keep it
late. They are ISO text in UTC with milliseconds, written the same way by both dialects,
so that text order is time order.
"""

from __future__ import annotations

from typing import Any

from bot.storage.sql.database import Database
from bot.storage.sql.dialect import Dialect

_PG_ISO = '\'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\''


class SqlLeaseStore:
    def __init__(self, conn: Database, dialect: Dialect) -> None:
        self._conn = conn
        self._dialect = dialect

    def _clock(self) -> str:
        """SQL for the database's time now plus a parameter's seconds (see `_seconds`)."""
        if self._dialect.postgres:
            # clock_timestamp(): now() would be the start of the transaction.
            return (
                "to_char((clock_timestamp() AT TIME ZONE 'UTC')"
                f" + make_interval(secs => ?), {_PG_ISO})"
            )
        return "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)"

    def _seconds(self, seconds: float) -> Any:
        return float(seconds) if self._dialect.postgres else f"{seconds:+.3f} seconds"

    async def take(self, name: str, holder: str, *, seconds: float) -> bool:
        """Take `name` for `seconds`, or renew it, if it is free, expired or `holder`'s
        already; False when another holder has it. One statement: two instances asking at
        once cannot both get it."""
        clock = self._clock()
        rows = await self._conn.execute_fetchall(
            f"INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, {clock})"
            " ON CONFLICT (name) DO UPDATE"
            " SET holder = excluded.holder, expires_at = excluded.expires_at"
            f" WHERE leases.holder = excluded.holder OR leases.expires_at < {clock}"
            " RETURNING holder",
            (name, holder, self._seconds(seconds), self._seconds(0)),
        )
        return any(row[0] == holder for row in rows)

    async def release(self, name: str, holder: str) -> bool:
        """Give `name` up at once (a clean stop), if `holder` still has it."""
        cur = await self._conn.execute(
            "DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder)
        )
        return cur.rowcount == 1

    async def holder(self, name: str) -> str | None:
        """Who holds `name` now; None when nobody does (never taken, released, expired)."""
        rows = await self._conn.execute_fetchall(
            f"SELECT holder FROM leases WHERE name = ? AND expires_at >= {self._clock()}",
            (name, self._seconds(0)),
        )
        return next((str(row[0]) for row in rows), None)

    async def live(self, prefix: str) -> set[str]:
        """The names starting with `prefix` that someone holds now."""
        rows = await self._conn.execute_fetchall(
            f"SELECT name FROM leases WHERE name LIKE ? AND expires_at >= {self._clock()}",
            (prefix.replace("%", "") + "%", self._seconds(0)),
        )
        return {str(row[0]) for row in rows}
