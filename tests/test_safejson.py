"""The JSON depth cap every parser of outside JSON goes through (bot/safejson.py)."""

from __future__ import annotations

import json

import pytest

from bot.safejson import MAX_DEPTH, JsonTooDeep, depth, loads


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "[[[[{{{{"}', 1),  # brackets inside a string do not count
        (b'{"a": "\\"[[[", "b": ["x\\\\", ["y"]]}', 3),  # nor after escaped quotes
        (b"[" * 10_000 + b"]" * 10_000, 10_000),
    ],
)
def test_depth(raw: bytes, expected: int) -> None:
    assert depth(raw) == expected


def test_ordinary_documents_parse_as_json_loads_does() -> None:
    update = {"update_id": 1, "message": {"chat": {"id": 5}, "text": "Сәлем [{"}}
    raw = json.dumps(update, ensure_ascii=False).encode()
    assert loads(raw) == update
    assert loads(raw.decode()) == update
    nested: object = []
    for _ in range(MAX_DEPTH - 1):
        nested = [nested]
    assert loads(json.dumps(nested)) == nested


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 1000, 200_000])
def test_deeper_input_is_refused_before_parsing(levels: int) -> None:
    raw = b'{"a": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"
    with pytest.raises(JsonTooDeep):
        loads(raw)
    # Unclosed brackets are refused the same way: nothing reaches the recursive parser.
    with pytest.raises(ValueError):
        loads(b"[" * levels)


def test_malformed_input_is_a_value_error() -> None:
    for raw in (b"{not json", b"]]]]", b"", b'"unterminated [[['):
        with pytest.raises(ValueError):
            loads(raw)


def test_the_scan_stays_linear_on_unterminated_strings() -> None:
    """A quote followed by escaped quotes never closes: a scanner that retried from every
    later quote took seconds for 20 KB and hours for the 1 MB a body may hold."""
    raw = b'"' + b'\\"[' * 300_000
    assert depth(raw) == 0
    with pytest.raises(ValueError):
        loads(raw)
