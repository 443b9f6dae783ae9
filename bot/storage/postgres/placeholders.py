"""The stores' placeholders (`?` in order, `:name` by name) as PostgreSQL's `$1..$n`.

The stores write one statement for both backends; asyncpg only knows numbered parameters.
A `?` or `:` inside a string literal, a quoted name, a comment or a `::` cast is left
alone. Each statement is translated once and kept: the stores run the same few hundred.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True, slots=True)
class Translated:
    sql: str
    names: tuple[str, ...] | None  # `:name` parameters in $-order; None for `?`
    count: int  # how many `?` (positional statements)
    returns_rows: bool  # SELECT, VALUES or … RETURNING: fetched, not executed

    def arguments(self, parameters: Iterable[Any] | Mapping[str, Any]) -> list[Any]:
        if self.names is not None:
            if not isinstance(parameters, Mapping):
                raise TypeError("named placeholders need a mapping of parameters")
            return [_storable(parameters[name]) for name in self.names]
        if isinstance(parameters, Mapping):
            raise TypeError("`?` placeholders need a sequence of parameters")
        values = list(parameters)
        if len(values) != self.count:
            raise ValueError(f"statement takes {self.count} parameters, {len(values)} given")
        return [_storable(value) for value in values]


def _storable(value: Any) -> Any:
    """PostgreSQL's text refuses U+0000, which SQLite stores: hostile input (a URL's %00,
    a message) carrying one would fail the statement. It becomes U+FFFD, the character
    for what cannot be represented; a lookup by such a key then finds nothing, as on SQLite."""
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


_ROW_STATEMENTS = ("SELECT", "VALUES", "TABLE", "SHOW", "EXPLAIN")
_DML = ("INSERT", "UPDATE", "DELETE", "MERGE")


@lru_cache(maxsize=4096)
def translate(sql: str) -> Translated:
    out: list[str] = []
    words: list[str] = []  # the statement's bare words, upper-case, for returns_rows
    names: list[str] = []
    positional = 0
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            end = _closing(sql, i, ch)
            out.append(sql[i:end])
            i = end
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(sql[i:end])
            i = end
        elif ch == "?":
            positional += 1
            out.append(f"${positional}")
            i += 1
        elif ch == ":" and sql.startswith("::", i):
            out.append("::")
            i += 2
        elif ch == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_"):
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            name = sql[i + 1 : j]
            if name not in names:
                names.append(name)
            out.append(f"${names.index(name) + 1}")
            i = j
        elif ch.isalpha() or ch == "_":
            j = i
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            words.append(sql[i:j].upper())
            out.append(sql[i:j])
            i = j
        else:
            out.append(ch)
            i += 1
    if positional and names:
        raise ValueError("a statement mixes `?` and `:name` placeholders")
    return Translated(
        sql="".join(out),
        names=tuple(names) if names else None,
        count=positional,
        returns_rows=_returns_rows(words),
    )


def _closing(sql: str, start: int, quote: str) -> int:
    """The index after the literal (or quoted name) that opens at `start`; a doubled quote
    is part of it."""
    i = start + 1
    while True:
        end = sql.find(quote, i)
        if end < 0:
            return len(sql)
        if sql.startswith(quote * 2, end):
            i = end + 2
            continue
        return end + 1


def _returns_rows(words: list[str]) -> bool:
    if not words:
        return False
    if "RETURNING" in words:
        return True
    if words[0] == "WITH":  # a CTE: rows unless it ends in a statement that changes rows
        return not any(word in _DML for word in words)
    return words[0] in _ROW_STATEMENTS
