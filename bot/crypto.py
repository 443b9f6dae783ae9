"""Encryption at rest for tips, confidential identities and attachments (DATA_KEY).

Blobs are AES-256-GCM: one version byte, a random 12-byte nonce, then ciphertext and tag.
The version byte names the key, so DATA_KEY can list old keys ("v2:<new>,v1:<old>"):
old rows still decrypt while new ones use the first key, and `govbot keys rotate`
(bot/rotation.py) re-seals them under it. Receipts are never stored, only `keyed_hash`es
of them, which no rotation can move; see `keyed_hashes`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.errors import ConfigError, GovbotError
from bot.private import private_dir

log = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
_TAG_BYTES = 16
_ENTRY = re.compile(r"v(\d{1,3}):(.+)")
_EXPECTED = (
    "DATA_KEY: expected comma-separated 'vN:<urlsafe-base64 32-byte key>' entries, "
    "N from 1 to 255, the current key first"
)


class DecryptionError(GovbotError):
    """A blob cannot be decrypted: unknown key version, wrong context, or tampered bytes."""


class DataCipher:
    """Authenticated encryption under a list of versioned keys; the first one is current."""

    def __init__(self, keys: Mapping[int, bytes]) -> None:
        if not keys:
            raise ValueError("DataCipher needs at least one key")
        for version, key in keys.items():
            if not 1 <= version <= 255 or len(key) != KEY_BYTES:
                raise ValueError("DataCipher keys are {1..255: 32 bytes}")
        self._versions = list(keys)
        # Subkeys by HKDF keep the AEAD key and each HMAC purpose apart (domain separation).
        self._aead = {v: AESGCM(_derive(k, "govbot/aead")) for v, k in keys.items()}
        self._roots = dict(keys)
        self._hash_keys: dict[tuple[int, str], bytes] = {}

    @classmethod
    def from_setting(cls, text: str) -> DataCipher:
        """Parse DATA_KEY: "v2:<b64>,v1:<b64>" (first = current) or one bare base64 key (= v1)."""
        entries = [part.strip() for part in text.split(",")]
        if not text.strip() or any(not part for part in entries):
            raise ConfigError(_EXPECTED)
        keys: dict[int, bytes] = {}
        for position, entry in enumerate(entries, start=1):
            match = _ENTRY.fullmatch(entry)
            if match is None and len(entries) == 1:
                version, encoded = 1, entry
            elif match is None:
                raise ConfigError(f"{_EXPECTED}; entry {position} has no 'vN:' prefix")
            else:
                version, encoded = int(match[1]), match[2]
            if not 1 <= version <= 255:
                raise ConfigError(f"{_EXPECTED}; entry {position} has version {version}")
            if version in keys:
                raise ConfigError(f"{_EXPECTED}; version v{version} appears twice")
            key = _b64decode(encoded)
            if key is None or len(key) != KEY_BYTES:
                # Never echo the entry itself: it is (part of) a secret.
                raise ConfigError(f"{_EXPECTED}; entry {position} is not 32 bytes of base64")
            keys[version] = key
        return cls(keys)

    @property
    def current_version(self) -> int:
        return self._versions[0]

    @property
    def versions(self) -> tuple[int, ...]:
        """Every known key version, current first."""
        return tuple(self._versions)

    def encrypt(self, plaintext: bytes, *, context: bytes = b"") -> bytes:
        """Encrypt under the current key; `context` is bound as associated data, not stored."""
        version = self._versions[0]
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[version].encrypt(nonce, plaintext, context)
        return bytes([version]) + nonce + sealed

    def decrypt(self, blob: bytes, *, context: bytes = b"") -> bytes:
        """Decrypt a blob from `encrypt` with the key its version byte names."""
        if len(blob) < 1 + NONCE_BYTES + _TAG_BYTES:
            raise DecryptionError("encrypted blob is truncated")
        version = blob[0]
        aead = self._aead.get(version)
        if aead is None:
            raise DecryptionError(f"encrypted with key v{version}, which DATA_KEY does not list")
        try:
            return aead.decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], context)
        except InvalidTag:
            raise DecryptionError(
                f"blob under key v{version} failed authentication (tampered or wrong context)"
            ) from None

    def encrypt_text(self, text: str, *, context: bytes = b"") -> bytes:
        return self.encrypt(text.encode("utf-8"), context=context)

    def decrypt_text(self, blob: bytes, *, context: bytes = b"") -> str:
        return self.decrypt(blob, context=context).decode("utf-8")

    @staticmethod
    def version_of(blob: bytes) -> int:
        """The key version a blob was written under (0 for an empty blob)."""
        return blob[0] if blob else 0

    def reencrypt(self, blob: bytes, *, context: bytes = b"") -> bytes:
        """The same plaintext under the current key (`govbot keys rotate` on old files)."""
        if self.version_of(blob) == self.current_version:
            return blob
        return self.encrypt(self.decrypt(blob, context=context), context=context)

    def keyed_hash(self, value: str, *, purpose: str) -> str:
        """HMAC-SHA256 (hex) of `value` under a subkey of the CURRENT key for `purpose`.

        Store this, never the value. After a key rotation, hashes stored earlier were made
        under an older key: look them up with `keyed_hashes`, which tries every version.
        """
        return self._hmac(self._versions[0], value, purpose)

    def keyed_hashes(self, value: str, purpose: str) -> list[str]:
        """`keyed_hash` under every known key version, current first: match any of them."""
        return [self._hmac(version, value, purpose) for version in self._versions]

    def _hmac(self, version: int, value: str, purpose: str) -> str:
        slot = (version, purpose)
        key = self._hash_keys.get(slot)
        if key is None:
            key = self._hash_keys[slot] = _derive(self._roots[version], f"govbot/hash/{purpose}")
        # hmac.digest is the one-shot C path: several times cheaper than hmac.new(...).
        return hmac.digest(key, value.encode("utf-8"), "sha256").hex()


def generate_key_setting() -> str:
    """A fresh DATA_KEY value with one key: "v1:<urlsafe base64 of 32 random bytes>"."""
    return "v1:" + base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def load_or_create_secret(path: Path, generate: Callable[[], str]) -> str:
    """Read a secret from `path`, or create the file (mode 0600) with `generate()`.

    Creation is atomic and never overwrites: when two processes start at once, both end
    up with whichever secret reached the disk first (a lost DATA_KEY loses the data).
    """
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    private_dir(path.parent)
    secret = generate().strip()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # fails if another process created it meanwhile
        except FileExistsError:
            return _read_secret(path)
        except OSError:  # a filesystem without hard links
            if path.exists():
                return _read_secret(path)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("generated a new secret in %s", path)
    return secret


def _read_secret(path: Path) -> str:
    secret = path.read_text(encoding="utf-8").strip()
    if not secret:
        raise ConfigError(f"{path}: secret file is empty; delete it to generate a new one")
    if os.name == "posix" and path.stat().st_mode & 0o077:
        log.warning("%s is readable by other users; chmod 600 it", path)
    return secret


def _derive(key: bytes, info: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info.encode())
    return hkdf.derive(key)


def _b64decode(text: str) -> bytes | None:
    """Decode url-safe or standard base64, padding optional; None if it is not base64."""
    cleaned = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
