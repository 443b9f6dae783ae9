"""What differs between the SQL the two backends run, asked for by name.

The stores write one statement for both backends wherever SQLite and PostgreSQL agree
(`?` parameters, ON CONFLICT, RETURNING, CAST(? AS TEXT)); the few fragments that differ
(JSON arrays, row and advisory locks, ids below the tips', text search) come from the
connection's `Dialect`. SQLite needs no locks: its one writer runs units of work one at a
time, so its lock fragments are empty and its lock statements None. PostgreSQL runs them
side by side, READ COMMITTED, from several instances, so a read that a write depends on
must lock what it read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for `name` (a keyed hash, or a fixed name)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str

    @property
    def postgres(self) -> bool:
        return self.name == "postgres"

    # -- JSON arrays handed in as one text parameter ------------------------------------

    def json_texts(self, expr: str) -> str:
        """A subquery of the strings in the JSON array `expr`, as a column named value."""
        if self.postgres:
            return f"SELECT value FROM jsonb_array_elements_text(CAST({expr} AS jsonb)) AS value"
        return f"SELECT value FROM json_each({expr})"

    def json_ints(self, expr: str) -> str:
        """A subquery of the integers in the JSON array `expr` (ids), as a column named value."""
        if self.postgres:
            return (
                "SELECT CAST(value AS BIGINT) AS value"
                f" FROM jsonb_array_elements_text(CAST({expr} AS jsonb)) AS value"
            )
        return f"SELECT value FROM json_each({expr})"

    def json_field(self, expr: str, key: str) -> str:
        """The text of the top-level `key` of the JSON object in `expr`."""
        assert key.isidentifier(), key
        if self.postgres:
            return f"(CAST({expr} AS jsonb) ->> '{key}')"
        return f"json_extract({expr}, '$.{key}')"

    # -- scalar functions ----------------------------------------------------------------

    def string_agg(self, expr: str, separator: str) -> str:
        assert "'" not in separator
        if self.postgres:
            return f"string_agg({expr}, '{separator}')"
        return f"group_concat({expr}, '{separator}')"

    def greatest(self, a: str, b: str) -> str:
        """The larger of two non-NULL values (SQLite's scalar max is PostgreSQL's GREATEST)."""
        return f"GREATEST({a}, {b})" if self.postgres else f"max({a}, {b})"

    # -- ids -----------------------------------------------------------------------------

    def next_id_below(self, table: str, ceiling: int) -> str:
        """The next id under `ceiling` (the tips' random ids start there), as an SQL
        expression. SQLite numbers from max(id) under its single writer; PostgreSQL from
        the column's own sequence, which two units running side by side never draw twice."""
        if self.postgres:
            return f"nextval(pg_get_serial_sequence('{table}', 'id'))"
        return f"(SELECT coalesce(max(id), 0) + 1 FROM {table} WHERE id < {ceiling})"

    def last_audit_id(self) -> str:
        """The highest audit id handed out, deleted rows included (0: none): SQLite's
        sqlite_sequence, PostgreSQL's audit_head (migration 028, kept by a trigger in the
        entry's own transaction; a sequence would not do: a unit rolled back would leave a
        gap that reads as tampering)."""
        if self.postgres:
            return "SELECT last_id FROM audit_head WHERE one = 1"
        return "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'), 0)"

    def next_audit_id(self) -> str:
        """Asked under the chain's lock (audit.py), which makes it the next one."""
        return f"SELECT ({self.last_audit_id()}) + 1"

    def table_columns(self, table: str) -> str:
        """The names of `table`'s columns (a constant name, never one from a request)."""
        assert table.isidentifier(), table
        if self.postgres:
            return (
                "SELECT column_name FROM information_schema.columns"
                f" WHERE table_schema = current_schema() AND table_name = '{table}'"
            )
        return f"SELECT name FROM pragma_table_info('{table}')"

    # -- locks (empty on SQLite: one writer) --------------------------------------------

    @property
    def for_update(self) -> str:
        """After a SELECT whose rows the unit goes on to change."""
        return " FOR UPDATE" if self.postgres else ""

    def for_update_of(self, alias: str) -> str:
        """Lock only the rows of `alias` in a join (the others may be NULL-extended)."""
        return f" FOR UPDATE OF {alias}" if self.postgres else ""

    def skip_locked(self, alias: str | None = None) -> str:
        """Claim rows no other unit holds: two instances never take the same row."""
        if not self.postgres:
            return ""
        return f" FOR UPDATE OF {alias} SKIP LOCKED" if alias else " FOR UPDATE SKIP LOCKED"

    def advisory_lock(self, count: int) -> str | None:
        """A statement taking `count` transaction-scoped advisory locks, given their keys
        sorted (a fixed order: two units never wait for each other in a circle)."""
        if not self.postgres or count == 0:
            return None
        return "SELECT " + ", ".join(["pg_advisory_xact_lock(CAST(? AS BIGINT))"] * count)


SQLITE = Dialect("sqlite")
POSTGRES = Dialect("postgres")


def claimed_by_dead(alive: Collection[str] | None) -> tuple[str, tuple[str, ...]]:
    """A WHERE fragment, and its parameters, for rows whose claiming instance is not among
    `alive` (None: every row, one instance recovering after its own crash)."""
    if alive is None:
        return "", ()
    if not alive:
        return " AND TRUE", ()
    marks = ",".join("?" * len(alive))
    return f" AND (claimed_by IS NULL OR claimed_by NOT IN ({marks}))", tuple(alive)
