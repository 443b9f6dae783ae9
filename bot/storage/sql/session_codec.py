"""Session data to sealed bytes and back, cheaply for the citizen's next step.

What is stored is always the JSON of the data under AES-GCM. Two shortcuts save time, and
losing either changes nothing but speed. Tuples of strings (the buttons on offer: the same
few lists for every citizen, labels and aliases in three languages, most of a session's
size) are JSON-encoded once and shared. And of the blob it just sealed for a citizen, the
codec remembers the version byte and nonce (unique per encryption), where the shared
tuples begin in the JSON, and the tuples themselves (catalog text, no citizen's words: no
draft is kept in memory). When the next load reads that very blob back, it decrypts as
always but parses only the JSON before the tuples; any other blob (a rolled-back save,
another process's write, a restart) is parsed in full. The caller gets fresh objects
either way, except the shared tuples, which are immutable: there a load may return tuples
where a full parse returns lists. tests/test_session_codec_properties.py round-trips
random sessions through both paths.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from bot.crypto import NONCE_BYTES, DataCipher

_CONTEXT = b"session"
_BLOB_ID = 1 + NONCE_BYTES  # the version byte and the nonce that open every sealed blob


class _Kept(NamedTuple):
    """What the last save of one citizen's session needs for the shortcut."""

    blob: bytes  # the sealed blob's version byte and nonce
    head: int  # bytes of JSON before the shared tuples
    shared: tuple[tuple[str, tuple[Any, ...]], ...]  # (key, tuple), in the JSON's order


class SessionCodec:
    """One per storage: the citizens' store reads sessions, the sessions' store writes them."""

    KEEP = 10_000  # citizens whose last save is remembered
    ENCODED = 2_048  # distinct tuples kept encoded

    def __init__(self, cipher: DataCipher) -> None:
        self._cipher = cipher
        self._kept: dict[int, _Kept] = {}
        # A tuple of strings -> (the one copy every session shares, its JSON).
        self._encoded: dict[tuple[Any, ...], tuple[tuple[Any, ...], bytes]] = {}

    def decode(self, citizen_id: int, sealed: bytes) -> dict[str, Any]:
        plain = self._cipher.decrypt(sealed, context=_CONTEXT)
        kept = self._kept.get(citizen_id)
        if kept is None or kept.blob != sealed[:_BLOB_ID]:
            # Decoded to str first: json.loads(bytes) takes the slower surrogatepass decoder.
            full: dict[str, Any] = json.loads(plain.decode())
            return full
        data: dict[str, Any] = json.loads(plain[: kept.head].decode() + "}")
        data.update(kept.shared)
        return data

    def encode(self, citizen_id: int, data: dict[str, Any]) -> bytes:
        """The sealed JSON of `data`; lone surrogates raise UnicodeEncodeError."""
        self._kept.pop(citizen_id, None)
        if not all(type(key) is str for key in data):  # JSON turns them into strings
            return self._cipher.encrypt(_dumps(data).encode(), context=_CONTEXT)
        rest: list[str] = []
        shared: list[tuple[str, tuple[Any, ...]]] = []
        shared_json: list[bytes] = []
        for key, value in data.items():
            found = self._shared(value) if type(value) is tuple else None
            if found is None:
                rest.append(f"{_dumps(key)}:{_dumps(value)}")
            else:
                shared.append((key, found[0]))
                shared_json.append(_dumps(key).encode() + b":" + found[1])
        head = ("{" + ",".join(rest)).encode()
        tail = b",".join(shared_json)
        if rest and shared_json:
            tail = b"," + tail
        sealed = self._cipher.encrypt(head + tail + b"}", context=_CONTEXT)
        if shared:
            if len(self._kept) >= self.KEEP:
                del self._kept[next(iter(self._kept))]
            self._kept[citizen_id] = _Kept(sealed[:_BLOB_ID], len(head), tuple(shared))
        return sealed

    def forget(self, citizen_id: int) -> None:
        self._kept.pop(citizen_id, None)

    def forget_all(self) -> None:
        self._kept.clear()

    def _shared(self, value: tuple[Any, ...]) -> tuple[tuple[Any, ...], bytes] | None:
        """The shared copy of a tuple of strings and its JSON; None for any other tuple."""
        try:
            found = self._encoded.get(value)
        except TypeError:  # a list or a dict inside: not a tuple of strings
            return None
        if found is None and _strings_only(value):
            if len(self._encoded) >= self.ENCODED:
                self._encoded.clear()
            found = self._encoded[value] = (value, _dumps(value).encode())
        return found


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _strings_only(value: tuple[Any, ...]) -> bool:
    """Only strings at the leaves: tuples that compare equal then encode the same
    (unlike (1,) and (True,), which are equal but encode differently)."""
    for item in value:
        if type(item) is tuple:
            if not _strings_only(item):
                return False
        elif type(item) is not str:
            return False
    return True
