"""Sealed boxes for corruption reports: what the bot can write but not read back.

Every tip has an X25519 key pair of its own. Anything added to it (the report, a
confidential tipster's contact, files, each message of its thread) is sealed to its public
key: an ephemeral key pair, X25519 with the tip's public key, HKDF-SHA256, AES-256-GCM —
libsodium's sealed box, built from `cryptography`. The tip's private key is then wrapped for
each holder: sealed to every investigator's public key and to the recovery key, and under
a key derived from the tipster's 16-digit receipt (Argon2id). The bot process keeps public
keys only, so DATA_KEY, the database and var/ together open no tip.

An investigator's own private key is wrapped under Argon2id of their password, and for a
signed-in session under a key derived from the session cookie, which the server keeps
only hashed.
"""

from __future__ import annotations

import base64
import os

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEALED = b"S1"
WRAPPED = b"W1"
DERIVED = b"P1"
_NONCE = 12
_SALT = 16
_RAW = serialization.Encoding.Raw
# Argon2id at OWASP's floor (19 MiB, 2 passes): ~50 ms per derivation, so that guessing a
# receipt or a password against a copied database stays slow.
TIME_COST = 2
MEMORY_KIB = 19456
RECOVERY_PREFIX = "govbot-recovery-"


class SealError(ValueError):
    """A sealed box that does not open: the wrong key, password or receipt, or tampering."""


def new_key_pair() -> tuple[bytes, bytes]:
    """(private, public), 32 bytes each."""
    private = X25519PrivateKey.generate()
    return (
        private.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()),
        private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw),
    )


def public_of(private: bytes) -> bytes:
    key = X25519PrivateKey.from_private_bytes(private)
    return key.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)


def seal(public: bytes, plaintext: bytes, *, context: bytes) -> bytes:
    """Encrypt to `public`; only its private key opens it. `context` is bound, not stored."""
    ephemeral, ephemeral_public = new_key_pair()
    shared = X25519PrivateKey.from_private_bytes(ephemeral).exchange(
        X25519PublicKey.from_public_bytes(public)
    )
    key = _hkdf(shared, ephemeral_public + public, context)
    nonce = os.urandom(_NONCE)
    return SEALED + ephemeral_public + nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def open_sealed(private: bytes, blob: bytes, *, context: bytes) -> bytes:
    if blob[:2] != SEALED or len(blob) < 2 + 32 + _NONCE + 16:
        raise SealError("not a sealed box")
    ephemeral_public, nonce, body = blob[2:34], blob[34 : 34 + _NONCE], blob[34 + _NONCE :]
    own = X25519PrivateKey.from_private_bytes(private)
    shared = own.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    key = _hkdf(shared, ephemeral_public + public_of(private), context)
    try:
        return AESGCM(key).decrypt(nonce, body, context)
    except InvalidTag:
        raise SealError("the sealed box does not open with this key") from None


def wrap(key: bytes, plaintext: bytes, *, context: bytes) -> bytes:
    """AES-256-GCM under a 32-byte symmetric `key` (a session's)."""
    nonce = os.urandom(_NONCE)
    return WRAPPED + nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def unwrap(key: bytes, blob: bytes, *, context: bytes) -> bytes:
    if blob[:2] != WRAPPED:
        raise SealError("not a wrapped key")
    try:
        return AESGCM(key).decrypt(blob[2 : 2 + _NONCE], blob[2 + _NONCE :], context)
    except InvalidTag:
        raise SealError("the wrapped key does not open with this key") from None


def wrap_with_secret(secret: str, plaintext: bytes, *, context: bytes) -> bytes:
    """Under Argon2id of `secret` (a password, a receipt), with a salt of its own. Slow on
    purpose: call it off the event loop."""
    salt = os.urandom(_SALT)
    return DERIVED + salt + wrap(_derive(secret, salt), plaintext, context=context)


def unwrap_with_secret(secret: str, blob: bytes, *, context: bytes) -> bytes:
    if blob[:2] != DERIVED:
        raise SealError("not a secret-wrapped key")
    salt = blob[2 : 2 + _SALT]
    return unwrap(_derive(secret, salt), blob[2 + _SALT :], context=context)


def session_key(session_secret: str) -> bytes:
    """The key that wraps an investigator's private key for one signed-in session: derived
    from the cookie's random id, of which the database keeps only a hash."""
    return _hkdf(session_secret.encode(), b"", b"govbot-staff-session")


def recovery_text(private: bytes) -> str:
    return RECOVERY_PREFIX + base64.b32encode(private).decode().rstrip("=").lower()


def recovery_private(text: str) -> bytes:
    """The private recovery key from what `govbot keys init` printed."""
    body = text.strip().removeprefix(RECOVERY_PREFIX).upper()
    try:
        private = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError:
        raise SealError("not a recovery key") from None
    if len(private) != 32:
        raise SealError("not a recovery key")
    return private


def _derive(secret: str, salt: bytes) -> bytes:
    return hash_secret_raw(
        secret.encode("utf-8", "surrogatepass"),
        salt,
        time_cost=TIME_COST,
        memory_cost=MEMORY_KIB,
        parallelism=1,
        hash_len=32,
        type=Type.ID,
    )


def _hkdf(material: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=salt or None, info=b"govbot:" + info).derive(material)
