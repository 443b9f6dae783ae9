"""The audit log: append-only rows chained by SHA-256, and the check of that chain.

Each row's hash covers the previous row's hash and the row's own fields, so changing or
removing a row breaks every hash after it. Removing the newest rows leaves a gap between
the last id and sqlite_sequence (ids are AUTOINCREMENT and never reused).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime
from typing import Any

from bot.staff.records import AuditEntry
from bot.storage.sql.core import parse_ts, ts
from bot.storage.sql.database import Database
from bot.storage.sql.dialect import SQLITE, Dialect
from bot.storage.sql.locks import lock_names

GENESIS = "0" * 64


def entry_hash(
    prev_hash: str,
    *,
    entry_id: int,
    at: str,
    actor: str,
    role: str | None,
    action: str,
    target: str | None,
    detail: str,
    ip: str | None,
) -> str:
    canonical = json.dumps(
        [prev_hash, entry_id, at, actor, role, action, target, detail, ip],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class SqlAuditLog:
    def __init__(self, conn: Database, dialect: Dialect = SQLITE) -> None:
        self._conn = conn
        self._dialect = dialect

    async def append(
        self,
        *,
        actor: str,
        action: str,
        now: datetime,
        role: str | None = None,
        target: str | None = None,
        ip: str | None = None,
        **detail: Any,
    ) -> AuditEntry:
        """Append one entry; call inside a write transaction so the chain stays linear.
        The chain's lock is held until the unit ends, so entries appended at once on
        several instances still each link to the one before."""
        await lock_names(self._conn, self._dialect, ["audit_log"])
        async with self._conn.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1") as cur:
            row = await cur.fetchone()
        rows = await self._conn.execute_fetchall(self._dialect.next_audit_id())
        prev = row[0] if row else GENESIS
        entry_id = int(next(iter(rows))[0])
        detail_text = json.dumps(detail, ensure_ascii=False, sort_keys=True)
        at = ts(now)
        digest = entry_hash(
            prev,
            entry_id=entry_id,
            at=at,
            actor=actor,
            role=role,
            action=action,
            target=target,
            detail=detail_text,
            ip=ip,
        )
        await self._conn.execute(
            "INSERT INTO audit_log (id, at, actor, role, action, target, detail, ip, prev_hash,"
            " hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry_id, at, actor, role, action, target, detail_text, ip, prev, digest),
        )
        return AuditEntry(entry_id, now, actor, role, action, target, detail, ip, prev, digest)

    async def page(
        self, *, limit: int = 50, offset: int = 0, target: str | None = None
    ) -> tuple[list[AuditEntry], int]:
        where, params = ("WHERE target = ?", [target]) if target else ("", [])
        async with self._conn.execute(f"SELECT count(*) FROM audit_log {where}", params) as cur:
            total_row = await cur.fetchone()
        async with self._conn.execute(
            f"SELECT * FROM audit_log {where} ORDER BY id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ) as cur:
            rows = await cur.fetchall()
        return [_entry(row) for row in rows], int(total_row[0]) if total_row else 0

    async def verify(self) -> tuple[int, list[str]]:
        """(entries checked, problems); no problems means the chain is intact."""
        problems: list[str] = []
        prev = GENESIS
        expected_id = 1
        count = 0
        async with self._conn.execute(
            "SELECT id, at, actor, role, action, target, detail, ip, prev_hash, hash"
            " FROM audit_log ORDER BY id"
        ) as cur:
            rows = await cur.fetchall()
        for row in rows:
            count += 1
            if row["id"] != expected_id:
                problems.append(f"entries {expected_id}..{row['id'] - 1} are missing")
            if row["prev_hash"] != prev:
                problems.append(f"entry {row['id']}: does not follow the previous entry")
            digest = entry_hash(
                row["prev_hash"],
                entry_id=row["id"],
                at=row["at"],
                actor=row["actor"],
                role=row["role"],
                action=row["action"],
                target=row["target"],
                detail=row["detail"],
                ip=row["ip"],
            )
            if digest != row["hash"]:
                problems.append(f"entry {row['id']}: contents do not match its hash")
            prev = row["hash"]
            expected_id = row["id"] + 1
        rows = await self._conn.execute_fetchall(self._dialect.last_audit_id())
        last = int(next(iter(rows))[0])
        if last >= expected_id:
            problems.append(f"entries {expected_id}..{last} are missing at the end")
        return count, problems


def _entry(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=parse_ts(row["at"]) or datetime.min,
        actor=row["actor"],
        role=row["role"],
        action=row["action"],
        target=row["target"],
        detail=json.loads(row["detail"]),
        ip=row["ip"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )
