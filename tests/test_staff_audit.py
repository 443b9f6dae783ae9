"""The audit log is append-only and chained: an edit, a deletion or a cut-off tail shows."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import asyncpg
import pytest

from tests.db import database_url
from tests.staff import console


async def _fill(c, n: int = 5) -> None:
    async with c.runtime.storage.transaction() as tx:
        for i in range(n):
            await tx.for_staff.audit.append(
                actor="ivan",
                role="investigator",
                action="tip.view",
                target=f"TP-{i}",
                ip="10.0.0.1",
                now=c.clock(),
            )


async def _verify(c) -> list[str]:
    async with c.runtime.storage.read() as tx:
        _count, problems = await tx.for_staff.audit.verify()
    return problems


async def _tamper(c, *sql: str) -> None:
    async with c.runtime.storage.transaction() as tx:
        table = " ON audit_log" if c.runtime.settings.postgres else ""  # PostgreSQL asks
        await tx.conn.execute(f"DROP TRIGGER audit_log_no_update{table}")
        await tx.conn.execute(f"DROP TRIGGER audit_log_no_delete{table}")
        for statement in sql:
            await tx.conn.execute(statement)


async def test_intact_chain_verifies(settings, clock):
    async with console(settings, clock) as c:
        await _fill(c)
        assert await _verify(c) == []


async def test_the_database_refuses_updates_and_deletes(settings, clock):
    async with console(settings, clock) as c:
        await _fill(c)
        for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            refused = (sqlite3.IntegrityError, asyncpg.exceptions.RaiseError)
            with pytest.raises(refused, match="append-only"):
                async with c.runtime.storage.transaction() as tx:
                    await tx.conn.execute(statement)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("UPDATE audit_log SET actor = 'someone' WHERE id = 3", "entry 3: contents do not match"),
        ("UPDATE audit_log SET target = 'TP-X' WHERE id = 2", "entry 2: contents do not match"),
        ("DELETE FROM audit_log WHERE id = 2", "entries 2..2 are missing"),
        ("DELETE FROM audit_log WHERE id >= 4", "entries 4..5 are missing at the end"),
    ],
)
async def test_tampering_is_detected(settings, clock, sql, expected):
    async with console(settings, clock) as c:
        await _fill(c)
        await _tamper(c, sql)
        problems = await _verify(c)
        assert any(expected in p for p in problems), problems


async def test_rewriting_a_row_with_a_fresh_hash_still_breaks_the_next_link(settings, clock):
    from bot.storage.sql.audit import entry_hash

    async with console(settings, clock) as c:
        await _fill(c)
        async with c.runtime.storage.read() as tx:
            row = (await tx.conn.execute_fetchall("SELECT * FROM audit_log WHERE id = 2"))[0]
        forged = entry_hash(
            row["prev_hash"],
            entry_id=2,
            at=row["at"],
            actor="nobody",
            role=row["role"],
            action=row["action"],
            target=row["target"],
            detail=row["detail"],
            ip=row["ip"],
        )
        await _tamper(c, f"UPDATE audit_log SET actor = 'nobody', hash = '{forged}' WHERE id = 2")
        assert any("entry 3: does not follow" in p for p in await _verify(c))


async def test_audit_page_and_cli_report_a_broken_chain(settings, clock, tmp_path):
    async with console(settings, clock) as c:
        await c.add_user("ada", "admin")
        await _fill(c)
        web = await c.login("ada")
        assert "Chain intact" in (await web.get("/staff/audit")).text
        await _tamper(c, "UPDATE audit_log SET ip = '1.1.1.1' WHERE id = 1")
        page = await web.get("/staff/audit")
        assert "The chain is broken" in page.text
    env = {
        "DATABASE_URL": database_url(settings),
        "DATA_KEY": settings.data_key,
        "SECRET_KEY": settings.secret_key,
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "audit", "verify"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "entry 1: contents do not match" in result.stdout
