import re
import secrets

import pytest

from bot.reference import (
    ALPHABET,
    format_receipt,
    new_receipt,
    new_reference,
    normalize_receipt,
    normalize_reference,
)

SHAPE = re.compile(r"[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{3}-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}")


def test_alphabet_has_no_look_alikes() -> None:
    assert not set("01OIL") & set(ALPHABET)
    assert len(ALPHABET) == len(set(ALPHABET)) == 31


def test_reference_shape_and_randomness() -> None:
    refs = {new_reference() for _ in range(500)}
    assert len(refs) == 500
    assert all(SHAPE.fullmatch(ref) and len(ref) == 8 for ref in refs)


def test_reference_prefix() -> None:
    ref = new_reference("C", rng=secrets.SystemRandom())
    assert ref.startswith("C") and SHAPE.fullmatch(ref)
    assert new_reference("TP").startswith("TP")
    for bad in ("O", "ABC", "c"):
        with pytest.raises(ValueError):
            new_reference(bad)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("K7M-4QX9", "K7M-4QX9"),
        ("k7m4qx9", "K7M-4QX9"),
        (" k7m 4qx9 ", "K7M-4QX9"),
        ("K7M–4QX9", "K7M-4QX9"),
        ("К7М-4QХ9", "K7M-4QX9"),  # Cyrillic К, М, Х from a Russian layout
        ("K7-M4QX9", "K7M-4QX9"),
    ],
)
def test_normalize_reference_accepts(typed: str, expected: str) -> None:
    assert normalize_reference(typed) == expected


@pytest.mark.parametrize(
    "typed", ["", "K7M-4QX", "K7M-4QX99", "K7M-4QX0", "K7M-4QXO", "I7M-4QX9", "hello", "K7M/4QX9"]
)
def test_normalize_reference_refuses(typed: str) -> None:
    assert normalize_reference(typed) is None


def test_new_reference_round_trips() -> None:
    ref = new_reference()
    assert normalize_reference(ref.lower().replace("-", " ")) == ref


def test_receipt() -> None:
    receipts = {new_receipt() for _ in range(200)}
    assert len(receipts) == 200
    assert all(re.fullmatch(r"[0-9]{16}", r) for r in receipts)


def test_format_and_normalize_receipt() -> None:
    assert format_receipt("1234567890123456") == "1234 5678 9012 3456"
    assert normalize_receipt("1234 5678 9012 3456") == "1234567890123456"
    assert normalize_receipt("1234-5678-9012-3456") == "1234567890123456"
    assert normalize_receipt(format_receipt("0000000000000001")) == "0000000000000001"
    with pytest.raises(ValueError):
        format_receipt("1234")


@pytest.mark.parametrize(
    "typed", ["", "123456789012345", "12345678901234567", "1234 5678 9012 345a", "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦"]
)
def test_normalize_receipt_refuses(typed: str) -> None:
    assert normalize_receipt(typed) is None
