"""SQL behind `govbot keys rotate`: every column sealed with DATA_KEY, and the keyed hashes
that must follow the key, rewritten a batch of rows at a time in key order.

A blob's first byte names its key version, so a row already under the current key is
skipped: a second run after a crash only does what the first left. Each blob is re-sealed
with the context its store binds (the contexts below must match the stores; the rotation
test opens every record with the new key alone, so a mismatch fails it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.crypto import DataCipher, DecryptionError
from bot.storage.rotation import Batch
from bot.storage.sql.database import Database
from bot.storage.sql.dialect import SQLITE, Dialect
from bot.storage.sql.inbox import PAYLOAD_CONTEXT
from bot.storage.sql.tickets import TIP_IDS


@dataclass(frozen=True, slots=True)
class Sealed:
    column: str
    context: Callable[[sqlite3.Row], bytes]


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    key: str
    sealed: tuple[Sealed, ...]
    reads: tuple[str, ...] = ()  # further columns a context is made of
    where: str = "1 = 1"  # which rows hold DATA_KEY blobs (sealed tips hold none)


def _fixed(context: bytes) -> Callable[[sqlite3.Row], bytes]:
    return lambda _row: context


TABLES = (
    # Citizens and their further keys first: with each address its lookup hash moves to the
    # new key.
    Table("citizens", "id", (Sealed("address", _fixed(b"citizen")),), ("channel",)),
    Table("citizen_keys", "id", (Sealed("address", _fixed(b"citizen")),), ("channel",)),
    Table(
        "sessions",
        "citizen_id",
        (Sealed("data", _fixed(b"session")), Sealed("reply", _fixed(b"session-reply"))),
    ),
    Table("outbox", "id", (Sealed("payload", _fixed(b"outbox")),)),
    Table("inbox", "id", (Sealed("payload", _fixed(PAYLOAD_CONTEXT)),)),
    Table("dead_letters", "id", (Sealed("payload", _fixed(PAYLOAD_CONTEXT)),)),
    # Tips filed before sealed tips (re-sealed at every start, so normally none): contents
    # and identity bound to the reference. Sealed tips take ids from TIP_IDS up and are
    # sealed to their own keys, not DATA_KEY: nothing of theirs is rotated.
    Table(
        "tickets",
        "id",
        (
            Sealed("sealed", lambda row: f"tip:{row['reference']}".encode()),
            Sealed("identity", lambda row: f"tip-identity:{row['reference']}".encode()),
        ),
        ("reference",),
        f"id < {TIP_IDS}",
    ),
    Table(
        "ticket_messages",
        "id",
        (Sealed("sealed", lambda row: f"ticket:{row['ticket_id']}".encode()),),
        ("ticket_id",),
        f"ticket_id < {TIP_IDS}",
    ),
)
NAMES = tuple(table.name for table in TABLES)
# Tables of chat keys: their lookup hash column, made again from the address.
_KEY_HASHES = {"citizens": "chat_hash", "citizen_keys": "key_hash"}


class SqlRotationStore:
    """The rotation's statements on one unit of work's connection."""

    def __init__(self, conn: Database, cipher: DataCipher, dialect: Dialect = SQLITE) -> None:
        self._conn = conn
        self._cipher = cipher
        self._dialect = dialect

    @property
    def version(self) -> int:
        return self._cipher.current_version

    def tables(self) -> tuple[str, ...]:
        return NAMES

    async def count(self, name: str) -> int:
        table = _table(name)
        if not await self._columns(table):
            return 0
        rows = await self._conn.execute_fetchall(
            f"SELECT count(*) FROM {table.name} WHERE {table.where}"
        )
        return int(next(iter(rows))[0])

    async def left(self, name: str) -> int:
        """Rows with a blob still under another key than the current one."""
        table = _table(name)
        columns = await self._columns(table)
        if not columns:
            return 0
        old = " OR ".join(f"({c} IS NOT NULL AND substr({c}, 1, 1) <> ?)" for c in columns)
        version = bytes([self._cipher.current_version])
        rows = await self._conn.execute_fetchall(
            f"SELECT count(*) FROM {table.name} WHERE {table.where} AND ({old})",
            [version] * len(columns),
        )
        return int(next(iter(rows))[0])

    async def receipts(self) -> int:
        """Tips whose receipt is kept as a keyed hash (which no rotation can redo)."""
        if "receipt_hash" not in await self._present("tickets"):
            return 0
        rows = await self._conn.execute_fetchall(
            "SELECT count(*) FROM tickets WHERE receipt_hash IS NOT NULL"
        )
        return int(next(iter(rows))[0])

    async def batch(self, name: str, *, after: Any, limit: int) -> Batch:
        """Re-seal up to `limit` rows whose key comes after `after` (None: from the start)."""
        table = _table(name)
        columns = await self._columns(table)
        if not columns:
            return Batch(0, 0, 0, None)
        sealed = [s for s in table.sealed if s.column in columns]
        wanted = ", ".join(dict.fromkeys([table.key, *table.reads, *columns]))
        where = f" WHERE {table.where}" + ("" if after is None else f" AND {table.key} > ?")
        rows = list(
            await self._conn.execute_fetchall(
                f"SELECT {wanted} FROM {table.name}{where} ORDER BY {table.key} LIMIT ?",
                ([] if after is None else [after]) + [limit],
            )
        )
        rotated = failed = 0
        for row in rows:
            try:
                changed = await self._row(table, sealed, row)
            except DecryptionError:
                changed = None
            failed += changed is None
            rotated += changed is True
        last = rows[-1][table.key] if len(rows) == limit else None
        return Batch(len(rows), rotated, failed, last)

    async def _row(self, table: Table, sealed: list[Sealed], row: sqlite3.Row) -> bool | None:
        """True if rewritten, False if already current, None if the new hash clashed.
        Raises DecryptionError if a blob does not open."""
        cipher = self._cipher
        plain: dict[str, tuple[bytes, bytes]] = {}
        for column in sealed:
            blob = row[column.column]
            if blob is None or cipher.version_of(blob) == cipher.current_version:
                continue
            if not isinstance(blob, bytes):
                raise DecryptionError(f"{table.name}.{column.column} is not a blob")
            context = column.context(row)
            plain[column.column] = (cipher.decrypt(blob, context=context), context)
        if not plain:
            return False
        if table.name in _KEY_HASHES:
            return await self._citizen(table.name, row, plain["address"][0])
        changes = {name: cipher.encrypt(text, context=ctx) for name, (text, ctx) in plain.items()}
        assignments = ", ".join(f"{column} = ?" for column in changes)
        # Only if the blobs are still those read: a step that rewrote the row meanwhile
        # (PostgreSQL runs it beside this batch) sealed it under the current key already,
        # and its write must not be undone.
        unchanged = "".join(f" AND {column} = ?" for column in changes)
        cur = await self._conn.execute(
            f"UPDATE {table.name} SET {assignments} WHERE {table.key} = ?{unchanged}",
            [*changes.values(), row[table.key], *(row[column] for column in changes)],
        )
        return cur.rowcount == 1

    async def _citizen(self, name: str, row: sqlite3.Row, chat_key: bytes) -> bool | None:
        """The address under the new key, and the lookup hash made from the chat with it."""
        cipher = self._cipher
        chat = f"{row['channel']}:{chat_key.decode()}"
        column = _KEY_HASHES[name]
        new_hash = cipher.keyed_hash(chat, purpose="citizen")
        cur = await self._conn.execute(
            # Not if another row already holds the new hash (a chat that wrote while
            # DATA_KEY listed the new key alone) — counted as failed, left for the operator.
            f"UPDATE {name} SET address = ?, {column} = ? WHERE id = ? AND address = ?"
            f" AND NOT EXISTS (SELECT 1 FROM {name} other WHERE other.channel = ?"
            f" AND other.{column} = ? AND other.id <> ?)",
            (
                cipher.encrypt(chat_key, context=b"citizen"),
                new_hash,
                row["id"],
                row["address"],
                row["channel"],
                new_hash,
                row["id"],
            ),
        )
        return cur.rowcount == 1 or None

    async def _columns(self, table: Table) -> list[str]:
        """The table's sealed columns this database has (a later migration may drop one)."""
        present = await self._present(table.name)
        return [s.column for s in table.sealed if s.column in present]

    async def _present(self, name: str) -> set[str]:
        rows = await self._conn.execute_fetchall(self._dialect.table_columns(name))
        return {row[0] for row in rows}


def _table(name: str) -> Table:
    for table in TABLES:
        if table.name == name:
            return table
    raise KeyError(name)
