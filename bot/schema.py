"""One declaration per JSON object we hand out: it serialises records, and it describes
itself as JSON Schema, so what an API returns and what its OpenAPI document says cannot
drift apart (tests/test_api.py checks every field of real answers against the document).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

R = TypeVar("R")
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Field(Generic[R]):
    """One property: its name, its JSON Schema and how it is read from the record;
    `omit_none`: left out of the object when it reads None."""

    name: str
    schema: dict[str, Any]
    get: Callable[[R], Any]
    omit_none: bool = False


class Schema(Generic[R]):
    """A named JSON object made of fields; `base` is a schema it extends (its fields read
    from the part of the record `part` picks), drawn as allOf in the document."""

    def __init__(
        self,
        name: str,
        fields: Sequence[Field[R]],
        *,
        description: str = "",
        required: Sequence[str] = (),
        base: tuple[Schema[Any], Callable[[R], Any]] | None = None,
    ) -> None:
        self.name = name
        self.own = tuple(fields)
        self.description = description
        self.required = tuple(required)
        self.base = base
        inherited: list[Field[R]] = []
        if base is not None:
            parent, part = base
            inherited = [_lifted(field, part) for field in parent.fields]
        self.fields: tuple[Field[R], ...] = (*inherited, *self.own)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields)

    def dump(self, record: R) -> dict[str, Any]:
        values = ((field, field.get(record)) for field in self.fields)
        return {f.name: value for f, value in values if value is not None or not f.omit_none}

    def only(self, name: str, names: Sequence[str], *, description: str = "") -> Schema[R]:
        """The same fields, fewer of them, in the order `names` gives."""
        by_name = {field.name: field for field in self.fields}
        return Schema(name, [by_name[n] for n in names], description=description)

    def ref(self) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{self.name}"}

    def json_schema(self) -> dict[str, Any]:
        own: dict[str, Any] = {"type": "object"}
        if self.description and self.base is None:
            own["description"] = self.description
        if self.required:
            own["required"] = list(self.required)
        own["properties"] = {field.name: field.schema for field in self.own}
        if self.base is None:
            return own
        drawn: dict[str, Any] = {"allOf": [self.base[0].ref(), own]}
        return {"description": self.description, **drawn} if self.description else drawn


def _lifted(field: Field[S], part: Callable[[R], S]) -> Field[R]:
    return Field(field.name, field.schema, lambda record: field.get(part(record)), field.omit_none)


# JSON Schema of the values fields hold.
STRING: dict[str, Any] = {"type": "string"}
INTEGER: dict[str, Any] = {"type": "integer"}
BOOLEAN: dict[str, Any] = {"type": "boolean"}
OPTIONAL_STRING: dict[str, Any] = {"type": ["string", "null"]}
OPTIONAL_INTEGER: dict[str, Any] = {"type": ["integer", "null"]}
DATE_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
OPTIONAL_DATE: dict[str, Any] = {"type": ["string", "null"], "format": "date"}


def one_of(values: Sequence[str]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def iso_date(value: date | None) -> str | None:
    return value.isoformat() if value else None
