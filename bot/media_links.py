"""Links that let a messenger fetch one file staff send: `/media/<token>` under PUBLIC_URL.

Twilio sends a WhatsApp file by fetching a URL without signing in, so the URL itself is
the permission: a token that names the blob, an expiry minutes away and a random nonce,
MACed with a subkey of DATA_KEY (any listed version opens it, so a key rotation does not
break links in flight). The web side (bot/web/media.py) also records each token as used,
so a link opens once; nothing here touches the database or a file.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.crypto import DataCipher

PATH = "/media/"
LIFETIME = timedelta(minutes=10)
_PURPOSE = "media-link"
_BLOB_BYTES, _NONCE_BYTES, _TAG_BYTES = 16, 8, 16
_BODY = struct.Struct(f">{_BLOB_BYTES}sI{_NONCE_BYTES}s")  # blob id, expiry (unix s), nonce
_TOKEN_CHARS = -(-(_BODY.size + _TAG_BYTES) * 4 // 3)  # unpadded base64 of body and tag


@dataclass(frozen=True, slots=True)
class OpenedLink:
    """A token this process could have made, not expired. `tag` is its MAC in hex: what
    the single use is recorded under."""

    blob_id: str
    expires_at: datetime
    tag: str


class MediaLinks:
    def __init__(
        self,
        cipher: DataCipher,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lifetime: timedelta = LIFETIME,
    ) -> None:
        self._cipher = cipher
        self._clock = clock
        self.lifetime = lifetime

    def token(self, blob_id: str) -> str:
        """A fresh token for the blob `blob_id` (32 hex digits), valid for `lifetime`."""
        expires = int((self._clock() + self.lifetime).timestamp())
        body = _BODY.pack(bytes.fromhex(blob_id), expires, os.urandom(_NONCE_BYTES))
        tag = bytes.fromhex(self._cipher.keyed_hash(body.hex(), purpose=_PURPOSE))
        return base64.urlsafe_b64encode(body + tag[:_TAG_BYTES]).decode("ascii").rstrip("=")

    def open(self, token: str) -> OpenedLink | None:
        """What `token` names, if it is ours, unaltered and not expired; None otherwise
        (one answer for every reason, so a caller cannot tell them apart)."""
        raw = _decode(token)
        if raw is None or len(raw) != _BODY.size + _TAG_BYTES:
            return None
        body, tag = raw[: _BODY.size], raw[_BODY.size :]
        genuine = False
        for wanted in self._cipher.keyed_hashes(body.hex(), _PURPOSE):
            genuine |= hmac.compare_digest(tag, bytes.fromhex(wanted)[:_TAG_BYTES])
        blob, expires, _ = _BODY.unpack(body)
        expires_at = datetime.fromtimestamp(expires, UTC)
        if not genuine or expires_at <= self._clock():
            return None
        return OpenedLink(blob.hex(), expires_at, tag.hex())


def _decode(token: str) -> bytes | None:
    if len(token) != _TOKEN_CHARS or not token.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    # Only the one spelling we issue: base64 would read other final characters (spare
    # bits) and stray ones (skipped) as the same bytes.
    return raw if base64.urlsafe_b64encode(raw).decode().rstrip("=") == token else None
