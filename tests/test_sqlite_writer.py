"""The writer connection: plain sqlite3 on the loop's thread, touching no package's
private names; its statements never suspend, and another process's lock never blocks
the loop."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.crypto import DataCipher, generate_key_setting
from bot.storage.sqlite import SqliteStorage

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 16, 5, 0, tzinfo=UTC)


def foreign_private_names(path: Path) -> list[str]:
    """`_name`s this module takes from other packages: imported, read off a module, or
    defined in a class that derives from another package's class (an override)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    foreign: set[str] = set()  # local names bound to other packages' modules or classes
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not alias.name.startswith("bot"):
                    foreign.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in ("bot", "__future__"):
                continue
            for alias in node.names:
                foreign.add(alias.asname or alias.name)
                if _private(alias.name) or any(_private(p) for p in node.module.split(".")):
                    found.append(f"from {node.module} import {alias.name}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in foreign
            and _private(node.attr)
        ):
            found.append(f"{node.value.id}.{node.attr}")
        if isinstance(node, ast.ClassDef) and any(_root(base) in foreign for base in node.bases):
            for inner in ast.walk(node):
                if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef) and _private(
                    inner.name
                ):
                    found.append(f"{node.name}.{inner.name}")
                if (
                    isinstance(inner, ast.Attribute)
                    and isinstance(inner.value, ast.Name)
                    and inner.value.id == "self"
                    and _private(inner.attr)
                ):
                    found.append(f"{node.name}: self.{inner.attr}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


@pytest.mark.parametrize(
    "rel",
    sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "bot" / "storage").rglob("*.py")),
)
def test_storage_uses_no_private_name_of_another_package(rel: str) -> None:
    assert foreign_private_names(ROOT / rel) == []


def test_the_scanner_sees_overrides_of_a_foreign_class(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import aiosqlite\nfrom x._impl import thing\n"
        "class C(aiosqlite.Connection):\n"
        "    async def _execute(self): self._running = False\n"
        "def f(c): return aiosqlite._private\n",
        encoding="utf-8",
    )
    assert sorted(foreign_private_names(sample)) == [
        "C._execute",
        "C: self._running",
        "aiosqlite._private",
        "from x._impl import thing",
    ]


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    store = SqliteStorage(tmp_path / "db.sqlite3", DataCipher.from_setting(generate_key_setting()))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_a_writer_statement_never_suspends(storage: SqliteStorage) -> None:
    """The speed comes from here: no thread hand-off, no turn of the loop per statement."""
    ran: list[str] = []
    async with storage.transaction() as tx:
        other = asyncio.get_running_loop().call_soon(ran.append, "other task")
        for n in range(50):
            await tx.processed.claim(f"k{n}", now=NOW)
            async with tx.conn.execute("SELECT count(*) FROM processed_ids") as cur:
                row = await cur.fetchone()
            assert ran == [] and row is not None and row[0] == n + 1
        other.cancel()


async def test_another_process_holding_the_lock_makes_the_loop_wait_not_block(
    storage: SqliteStorage,
) -> None:
    holder = sqlite3.connect(storage.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def write() -> None:
        async with storage.transaction() as tx:
            await tx.processed.claim("after-the-lock", now=NOW)

    ticker = asyncio.create_task(tick())
    writing = asyncio.create_task(write())
    while ticks < 200:  # the loop turns while the unit of work waits for the lock
        await asyncio.sleep(0.001)
    assert not writing.done()
    holder.execute("COMMIT")
    holder.close()
    await asyncio.wait_for(writing, 10)
    ticker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ticker
    async with storage.read() as tx:
        assert await tx.processed.seen("after-the-lock")


STATEMENTS = frozenset({"execute", "executemany", "execute_fetchall", "executescript"})


def unawaited_statements(path: Path) -> list[str]:
    """Calls of a connection's statement methods in `path` that are neither awaited nor
    entered with `async with`: the writer runs a statement at the call, aiosqlite (the
    readers) only when awaited, so a missing await works in a write unit and silently does
    nothing on a reader."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    used: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Await):
            used.add(id(node.value))
        elif isinstance(node, ast.AsyncWith):
            used.update(id(item.context_expr) for item in node.items)
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in STATEMENTS
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr in ("_conn", "conn")
        and id(node) not in used
    ]


def test_every_store_statement_is_awaited() -> None:
    found = [
        where
        for path in sorted((ROOT / "bot" / "storage").rglob("*.py"))
        if path.name != "writer.py"  # the plain sqlite3 connection the writer wraps
        for where in unawaited_statements(path)
    ]
    assert found == []


def test_the_await_scan_sees_a_missing_await(tmp_path: Path) -> None:
    module = ROOT / "bot" / "storage" / "_probe_for_test.py"
    module.write_text(
        "async def f(self):\n"
        "    self._conn.execute('DELETE FROM x')\n"
        "    await self._conn.execute('DELETE FROM y')\n"
        "    async with self._conn.execute('SELECT 1') as cur:\n"
        "        pass\n",
        encoding="utf-8",
    )
    try:
        assert unawaited_statements(module) == ["bot/storage/_probe_for_test.py:2"]
    finally:
        module.unlink()
