"""What differs between the SQL the two backends run, asked for by name.

The stores write one statement for both backends wherever SQLite and PostgreSQL agree
(`?` parameters, ON CONFLICT, RETURNING); the few fragments that differ (JSON arrays,
row locks, text search) come from the connection's `Dialect`. SQLite needs no row locks:
its one writer runs units of work one at a time. PostgreSQL runs them side by side, from
several instances, so a read that a write depends on must lock what it read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str

    @property
    def postgres(self) -> bool:
        return self.name == "postgres"


SQLITE = Dialect("sqlite")
POSTGRES = Dialect("postgres")
