"""SessionCodec round-trips any session: random nested JSON-able data with any Unicode,
through the full parse and the shortcut that parses only what precedes the shared tuples
of the blob it just wrote. Lone surrogates cannot be stored and are refused at encode."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.crypto import DataCipher, generate_key_setting
from bot.storage.sql.session_codec import SessionCodec
from tests.fuzzing import fuzz_settings

pytestmark = pytest.mark.fuzz

CIPHER = DataCipher.from_setting(generate_key_setting())
OFFERED = (("cat:a", "Денсаулық", ("Денсаулық", "Здоровье", "Health")), ("g:menu", "Menu", ()))

# Any code point, lone surrogates too (rarely), and the scripts the bot is written in.
TEXT = st.text(
    st.one_of(
        st.characters(exclude_categories=()),
        st.sampled_from(["қ", "ә", "ё", "\U0001f468", "\u200d", '"', "\\", "}", "\x00"]),
    ),
    max_size=12,
)
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)
JSON = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),  # encoded as a list, never shared
        st.dictionaries(TEXT, inner, max_size=4),
    ),
    max_leaves=12,
)
STRING_TUPLES = st.recursive(
    TEXT, lambda inner: st.lists(inner, max_size=4).map(tuple), max_leaves=10
).filter(lambda value: type(value) is tuple)
VALUES = st.one_of(JSON, STRING_TUPLES, st.just(OFFERED), st.just(OFFERED[:1]))
SESSIONS = st.dictionaries(TEXT, VALUES, max_size=6)


def as_json(data: object) -> Any:
    """What a full parse returns: tuples are lists."""
    return json.loads(json.dumps(data))


def has_surrogate(data: object) -> bool:
    text = json.dumps(data, ensure_ascii=False)
    return any("\ud800" <= ch <= "\udfff" for ch in text)


@fuzz_settings(300)
@given(SESSIONS)
def test_a_session_round_trips(data: dict[str, Any]) -> None:
    codec = SessionCodec(CIPHER)
    if has_surrogate(data):
        with pytest.raises(UnicodeEncodeError):
            codec.encode(1, data)
        return
    sealed = codec.encode(1, data)
    # What is stored is the plain JSON of the data.
    assert json.loads(CIPHER.decrypt(sealed, context=b"session")) == as_json(data)
    assert as_json(codec.decode(1, sealed)) == as_json(data)  # the shortcut
    assert SessionCodec(CIPHER).decode(1, sealed) == as_json(data)  # a full parse


@fuzz_settings(100)
@given(
    st.lists(st.tuples(st.integers(1, 3), SESSIONS), min_size=1, max_size=8),
    st.randoms(use_true_random=False),
)
def test_every_saved_blob_reads_back_whatever_was_saved_since(
    saves: list[tuple[int, dict[str, Any]]], random: Any
) -> None:
    """Saves of a few citizens, then loads of any blob in any order (a rolled-back save,
    another process's write): each reads back what made it, and what a load returns is
    the caller's own."""
    codec = SessionCodec(CIPHER)
    blobs = []
    for citizen_id, data in saves:
        if has_surrogate(data):
            continue
        blobs.append((citizen_id, codec.encode(citizen_id, data), as_json(data)))
    random.shuffle(blobs)
    for citizen_id, sealed, expected in blobs * 2:
        loaded = codec.decode(citizen_id, sealed)
        assert as_json(loaded) == expected
        loaded.clear()
        if random.random() < 0.2:
            codec.forget(citizen_id)
