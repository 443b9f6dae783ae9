"""Staff accounts, their signed-in sessions and their API tokens."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime

from bot.staff.records import ApiToken, StaffUser, WaitingKey
from bot.storage.sql.core import insert_id, parse_ts, ts
from bot.storage.sql.database import Database
from bot.storage.tips import staff_holder


def _user(row: sqlite3.Row) -> StaffUser:
    created = parse_ts(row["created_at"])
    assert created is not None
    return StaffUser(
        id=row["id"],
        username=row["username"],
        role=row["role"],
        locale=row["locale"],
        disabled=bool(row["disabled"]),
        created_at=created,
        password_hash=row["password_hash"],
    )


def _token(row: sqlite3.Row, *, id_key: str = "id", created_key: str = "created_at") -> ApiToken:
    created = parse_ts(row[created_key]) or datetime.min
    return ApiToken(
        id=row[id_key],
        staff_id=row["staff_id"],
        label=row["label"],
        created_at=created,
        # A row without an end (none since migration 012) counts as already expired.
        expires_at=parse_ts(row["expires_at"]) or created,
        last_used_at=parse_ts(row["last_used_at"]),
        revoked=row["revoked_at"] is not None,
    )


class SqlStaffStore:
    def __init__(self, conn: Database) -> None:
        self._conn = conn

    async def add(
        self, username: str, *, password_hash: str, role: str, locale: str, now: datetime
    ) -> StaffUser:
        staff_id = await insert_id(
            self._conn,
            "INSERT INTO staff_users (username, password_hash, role, locale, created_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (username, password_hash, role, locale, ts(now)),
        )
        user = await self.get(staff_id)
        assert user is not None
        return user

    async def get(self, staff_id: int) -> StaffUser | None:
        return await self._one("SELECT * FROM staff_users WHERE id = ?", staff_id)

    async def by_username(self, username: str) -> StaffUser | None:
        return await self._one("SELECT * FROM staff_users WHERE username = ?", username)

    async def all(self) -> list[StaffUser]:
        async with self._conn.execute("SELECT * FROM staff_users ORDER BY username") as cur:
            return [_user(row) for row in await cur.fetchall()]

    async def names(self) -> dict[int, str]:
        async with self._conn.execute("SELECT id, username FROM staff_users") as cur:
            return {row[0]: row[1] for row in await cur.fetchall()}

    async def update(
        self,
        staff_id: int,
        *,
        now: datetime,
        role: str | None = None,
        locale: str | None = None,
        disabled: bool | None = None,
        password_hash: str | None = None,
    ) -> None:
        """Change an account. Disabling it, setting its password or changing its role ends
        every session and revokes every API token: nothing issued under the old credentials
        or the old role outlives them (not even through a later enable). An investigator
        who leaves that role loses their key pair and every tip key wrapped for it: a
        later return to the role starts from a new key that waits for a grant."""
        before = await self.get(staff_id) if role is not None else None
        new_role = before is not None and before.role != role
        if new_role and before is not None and before.role == "investigator":
            await self._conn.execute("DELETE FROM staff_keys WHERE staff_id = ?", (staff_id,))
            await self._conn.execute(
                "DELETE FROM tip_keys WHERE holder = ?", (staff_holder(staff_id),)
            )
        await self._conn.execute(
            "UPDATE staff_users SET role = coalesce(?, role), locale = coalesce(?, locale),"
            " disabled = coalesce(?, disabled), password_hash = coalesce(?, password_hash)"
            " WHERE id = ?",
            (role, locale, None if disabled is None else int(disabled), password_hash, staff_id),
        )
        if disabled or password_hash is not None or new_role:
            await self.end_sessions(staff_id)
            await self.revoke_tokens(staff_id, now=now)

    # Sessions -------------------------------------------------------------------------

    async def open_session(
        self, id_hash: str, staff_id: int, *, ip: str | None, now: datetime
    ) -> None:
        await self._conn.execute(
            "INSERT INTO staff_sessions (id_hash, staff_id, created_at, last_seen_at, ip)"
            " VALUES (?, ?, ?, ?, ?)",
            (id_hash, staff_id, ts(now), ts(now), ip),
        )

    async def session(self, id_hash: str) -> tuple[StaffUser, datetime, datetime] | None:
        """The session's user, when it was opened and when it was last used."""
        async with self._conn.execute(
            "SELECT u.*, s.created_at AS opened, s.last_seen_at AS seen FROM staff_sessions s"
            " JOIN staff_users u ON u.id = s.staff_id WHERE s.id_hash = ?",
            (id_hash,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        opened, seen = parse_ts(row["opened"]), parse_ts(row["seen"])
        assert opened is not None and seen is not None
        return _user(row), opened, seen

    async def touch_session(self, id_hash: str, *, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE staff_sessions SET last_seen_at = ? WHERE id_hash = ?", (ts(now), id_hash)
        )

    async def end_session(self, id_hash: str) -> None:
        await self._conn.execute("DELETE FROM staff_sessions WHERE id_hash = ?", (id_hash,))

    async def end_sessions(self, staff_id: int) -> None:
        await self._conn.execute("DELETE FROM staff_sessions WHERE staff_id = ?", (staff_id,))

    async def purge_sessions(self, *, seen_before: datetime, opened_before: datetime) -> int:
        cur = await self._conn.execute(
            "DELETE FROM staff_sessions WHERE last_seen_at < ? OR created_at < ?",
            (ts(seen_before), ts(opened_before)),
        )
        return cur.rowcount

    # Investigators' keys (bot/sealed_tips.py) -------------------------------------------

    async def key(self, staff_id: int) -> tuple[bytes, bytes] | None:
        """(public key, private key wrapped under the password) of an investigator."""
        rows = list(
            await self._conn.execute_fetchall(
                "SELECT public_key, wrapped_private FROM staff_keys WHERE staff_id = ?",
                (staff_id,),
            )
        )
        return (bytes(rows[0][0]), bytes(rows[0][1])) if rows else None

    async def set_key(
        self,
        staff_id: int,
        public: bytes,
        wrapped_private: bytes,
        *,
        made_by: str | None,
        made_on: date,
    ) -> None:
        """Store an investigator's key pair. A new public key is not endorsed (no tip is
        sealed to it until `endorse`); the same key re-wrapped under a new password keeps
        its endorsement and its origin."""
        await self._conn.execute(
            "INSERT INTO staff_keys (staff_id, public_key, wrapped_private, endorsed, made_on,"
            " made_by) VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT (staff_id) DO UPDATE SET"
            " wrapped_private = excluded.wrapped_private,"
            " endorsed = CASE WHEN staff_keys.public_key = excluded.public_key"
            " THEN staff_keys.endorsed ELSE 0 END,"
            " made_on = CASE WHEN staff_keys.public_key = excluded.public_key"
            " THEN staff_keys.made_on ELSE excluded.made_on END,"
            " made_by = CASE WHEN staff_keys.public_key = excluded.public_key"
            " THEN staff_keys.made_by ELSE excluded.made_by END,"
            " public_key = excluded.public_key",
            (staff_id, public, wrapped_private, made_on.isoformat(), made_by),
        )

    async def endorse(self, staff_id: int, public: bytes) -> bool:
        """Make this public key (the one the grant wrapped tips for, not any stored since)
        a recipient of new tips."""
        cur = await self._conn.execute(
            "UPDATE staff_keys SET endorsed = 1 WHERE staff_id = ? AND public_key = ?",
            (staff_id, public),
        )
        return cur.rowcount > 0

    async def endorsed(self, staff_id: int) -> bool:
        rows = await self._conn.execute_fetchall(
            "SELECT 1 FROM staff_keys WHERE staff_id = ? AND endorsed = 1", (staff_id,)
        )
        return bool(list(rows))

    async def waiting_keys(self) -> list[WaitingKey]:
        """Active investigators whose key nobody endorsed yet: they get no new tips."""
        rows = await self._conn.execute_fetchall(
            "SELECT u.id, u.username, k.made_on, k.made_by FROM staff_keys k"
            " JOIN staff_users u ON u.id = k.staff_id WHERE k.endorsed = 0"
            " AND u.role = 'investigator' AND u.disabled = 0 ORDER BY u.username"
        )
        return [
            WaitingKey(row[0], row[1], date.fromisoformat(row[2]) if row[2] else None, row[3])
            for row in rows
        ]

    async def set_session_key(self, id_hash: str, wrapped: bytes | None) -> None:
        await self._conn.execute(
            "UPDATE staff_sessions SET tip_key = ? WHERE id_hash = ?", (wrapped, id_hash)
        )

    async def session_key(self, id_hash: str) -> bytes | None:
        rows = list(
            await self._conn.execute_fetchall(
                "SELECT tip_key FROM staff_sessions WHERE id_hash = ?", (id_hash,)
            )
        )
        return bytes(rows[0][0]) if rows and rows[0][0] is not None else None

    # API tokens -------------------------------------------------------------------------

    async def add_token(
        self, staff_id: int, *, token_hash: str, label: str, now: datetime, expires_at: datetime
    ) -> int:
        return await insert_id(
            self._conn,
            "INSERT INTO api_tokens (staff_id, token_hash, label, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (staff_id, token_hash, label, ts(now), ts(expires_at)),
        )

    async def token_owner(self, token_hashes: list[str]) -> tuple[StaffUser, ApiToken] | None:
        """The unrevoked token with one of these hashes and its enabled owner; whether it
        has expired is the caller's to say (it answers an expired token differently)."""
        if not token_hashes:
            return None
        marks = ",".join("?" * len(token_hashes))
        async with self._conn.execute(
            f"SELECT t.id AS token_id, t.staff_id, t.label, t.created_at AS token_created,"
            f" t.expires_at, t.last_used_at, t.revoked_at, u.* FROM api_tokens t"
            f" JOIN staff_users u ON u.id = t.staff_id WHERE t.token_hash IN ({marks})"
            f" AND t.revoked_at IS NULL AND u.disabled = 0",
            token_hashes,
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return _user(row), _token(row, id_key="token_id", created_key="token_created")

    async def mark_token_used(self, token_id: int, *, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (ts(now), token_id)
        )

    async def tokens(self, staff_id: int | None = None) -> list[ApiToken]:
        """Every token (the admin's page), or one account's (its owner's page)."""
        sql = "SELECT * FROM api_tokens"
        params: tuple[int, ...] = ()
        if staff_id is not None:
            sql, params = sql + " WHERE staff_id = ?", (staff_id,)
        async with self._conn.execute(sql + " ORDER BY id", params) as cur:
            return [_token(row) for row in await cur.fetchall()]

    async def token(self, token_id: int) -> ApiToken | None:
        async with self._conn.execute("SELECT * FROM api_tokens WHERE id = ?", (token_id,)) as cur:
            row = await cur.fetchone()
        return _token(row) if row else None

    async def revoke_token(self, token_id: int, *, now: datetime) -> bool:
        cur = await self._conn.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (ts(now), token_id),
        )
        return cur.rowcount > 0

    async def revoke_tokens(self, staff_id: int, *, now: datetime) -> int:
        cur = await self._conn.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE staff_id = ? AND revoked_at IS NULL",
            (ts(now), staff_id),
        )
        return cur.rowcount

    async def _one(self, sql: str, *params: object) -> StaffUser | None:
        async with self._conn.execute(sql, params) as cur:
            row = await cur.fetchone()
        return _user(row) if row else None
