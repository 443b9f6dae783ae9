"""The counts behind staff sign-in throttling (login_throttle); the policy that reads and
writes them is bot/staff/throttle.py, run inside one write transaction."""

from __future__ import annotations

from datetime import datetime

from bot.staff.throttle import Count
from bot.storage.sql.core import parse_ts, ts
from bot.storage.sql.database import Database
from bot.storage.sql.dialect import SQLITE, Dialect
from bot.storage.sql.locks import lock_names


class SqlLoginThrottle:
    def __init__(self, conn: Database, dialect: Dialect = SQLITE) -> None:
        self._conn = conn
        self._dialect = dialect

    async def get(self, key: str) -> Count | None:
        """The key's count, its lock held until the unit ends: the policy's read, decide,
        `put` is then one step even when sign-ins for the key run at once on several
        instances (the unique key alone would let the second `put` undo the first)."""
        await lock_names(self._conn, self._dialect, [f"login:{key}"])
        async with self._conn.execute(
            "SELECT failures, since, blocked_until FROM login_throttle WHERE key = ?", (key,)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        since = parse_ts(row[1])
        assert since is not None
        return Count(row[0], since, parse_ts(row[2]))

    async def put(self, key: str, count: Count | None) -> None:
        """Store `count`, or forget the key when it is None."""
        if count is None:
            await self._conn.execute("DELETE FROM login_throttle WHERE key = ?", (key,))
            return
        blocked = ts(count.blocked_until) if count.blocked_until else None
        await self._conn.execute(
            "INSERT INTO login_throttle (key, failures, since, blocked_until) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,"
            " since = excluded.since, blocked_until = excluded.blocked_until",
            (key, count.failures, ts(count.since), blocked),
        )

    async def purge_before(self, before: datetime) -> int:
        """Forget counts that no window or wait can still use."""
        cur = await self._conn.execute(
            "DELETE FROM login_throttle WHERE coalesce(blocked_until, since) < ?", (ts(before),)
        )
        return cur.rowcount
