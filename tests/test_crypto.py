"""DataCipher: versioned AES-GCM, key rotation, keyed hashes for receipts, secret files."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from bot.crypto import DataCipher, DecryptionError, generate_key_setting, load_or_create_secret
from bot.errors import ConfigError

K1 = base64.urlsafe_b64encode(b"\x01" * 32).decode()
K2 = base64.urlsafe_b64encode(b"\x02" * 32).decode()


def test_round_trip_binds_context() -> None:
    cipher = DataCipher.from_setting(f"v1:{K1}")
    blob = cipher.encrypt(b"the akim took a bribe", context=b"ticket:42")
    assert b"bribe" not in blob
    assert blob[0] == 1 and len(blob) == 1 + 12 + len(b"the akim took a bribe") + 16
    assert cipher.decrypt(blob, context=b"ticket:42") == b"the akim took a bribe"
    with pytest.raises(DecryptionError):
        cipher.decrypt(blob, context=b"ticket:43")


def test_nonce_is_fresh_each_time() -> None:
    cipher = DataCipher.from_setting(f"v1:{K1}")
    assert cipher.encrypt(b"same") != cipher.encrypt(b"same")


def test_text_round_trip_in_three_languages() -> None:
    cipher = DataCipher.from_setting(f"v1:{K1}")
    for text in ("Әкімдік пара алды", "Взятка в акимате", "bribe", ""):
        blob = cipher.encrypt_text(text, context=b"body")
        assert isinstance(blob, bytes)
        assert cipher.decrypt_text(blob, context=b"body") == text


@pytest.mark.parametrize("position", [0, 1, 5, 13, -1])
def test_tampered_blob_is_refused(position: int) -> None:
    cipher = DataCipher.from_setting(f"v1:{K1}")
    blob = bytearray(cipher.encrypt(b"evidence"))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes(blob))


def test_truncated_blob_is_refused() -> None:
    cipher = DataCipher.from_setting(f"v1:{K1}")
    with pytest.raises(DecryptionError, match="truncated"):
        cipher.decrypt(cipher.encrypt(b"x")[:20])


def test_rotation_keeps_old_blobs_readable_and_writes_under_the_new_key() -> None:
    old = DataCipher.from_setting(f"v1:{K1}")
    blob_v1 = old.encrypt(b"tip from 2024", context=b"t")

    rotated = DataCipher.from_setting(f"v2:{K2},v1:{K1}")
    assert rotated.current_version == 2 and rotated.versions == (2, 1)
    assert rotated.decrypt(blob_v1, context=b"t") == b"tip from 2024"
    blob_v2 = rotated.encrypt(b"tip from 2025", context=b"t")
    assert blob_v2[0] == 2 and DataCipher.version_of(blob_v2) == 2

    with pytest.raises(DecryptionError, match="v2"):
        old.decrypt(blob_v2, context=b"t")

    again = rotated.reencrypt(blob_v1, context=b"t")
    assert again[0] == 2 and rotated.decrypt(again, context=b"t") == b"tip from 2024"
    assert rotated.reencrypt(again, context=b"t") is again


def test_bare_key_means_v1() -> None:
    blob = DataCipher.from_setting(f"v1:{K1}").encrypt(b"x")
    assert DataCipher.from_setting(K1).decrypt(blob) == b"x"


def test_standard_base64_and_missing_padding_are_accepted() -> None:
    raw = bytes(range(200, 232))  # contains bytes that encode to '+' and '/'
    standard = base64.b64encode(raw).decode().rstrip("=")
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    blob = DataCipher.from_setting(f"v3:{urlsafe}").encrypt(b"x")
    assert DataCipher.from_setting(f" v3:{standard} ").decrypt(blob) == b"x"


@pytest.mark.parametrize(
    "setting",
    [
        "",
        "   ",
        "v1:" + base64.urlsafe_b64encode(b"short").decode(),
        f"v0:{K1}",
        f"v256:{K1}",
        f"v1:{K1},v1:{K2}",
        f"v2:{K2},{K1}",
        f"v2:{K2},",
        "v1:not base64 at all!!",
        "x" * 44,
    ],
)
def test_malformed_setting_is_one_line_config_error_without_the_key(setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DataCipher.from_setting(setting)
    message = str(caught.value)
    assert message.startswith("DATA_KEY: expected")
    assert "\n" not in message
    assert K1 not in message and K2 not in message


def test_keyed_hash_is_stable_per_key_and_purpose() -> None:
    cipher = DataCipher.from_setting(f"v1:{K1}")
    receipt = "4716 0283 9911 5502".replace(" ", "")
    digest = cipher.keyed_hash(receipt, purpose="receipt")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert receipt not in digest
    assert digest == DataCipher.from_setting(K1).keyed_hash(receipt, purpose="receipt")
    assert digest != cipher.keyed_hash(receipt, purpose="phone")
    assert digest != DataCipher.from_setting(K2).keyed_hash(receipt, purpose="receipt")


def test_keyed_hashes_still_find_receipts_hashed_before_rotation() -> None:
    stored = DataCipher.from_setting(f"v1:{K1}").keyed_hash("1234567890123456", purpose="receipt")
    rotated = DataCipher.from_setting(f"v2:{K2},v1:{K1}")
    candidates = rotated.keyed_hashes("1234567890123456", "receipt")
    assert candidates[0] == rotated.keyed_hash("1234567890123456", purpose="receipt")
    assert candidates[1] == stored and len(candidates) == 2


def test_generated_setting_parses_and_is_fresh() -> None:
    first, second = generate_key_setting(), generate_key_setting()
    assert first.startswith("v1:") and first != second
    assert DataCipher.from_setting(first).current_version == 1


def test_secret_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "state" / "data_key"
    calls: list[int] = []

    def generate() -> str:
        calls.append(1)
        return generate_key_setting()

    created = load_or_create_secret(path, generate)
    assert path.read_text().strip() == created
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path, generate) == created
    assert calls == [1]
    assert sorted(p.name for p in path.parent.iterdir()) == ["data_key"]  # no temp files left


def test_existing_secret_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text("already-here\n")
    assert load_or_create_secret(path, lambda: "new") == "already-here"
    assert path.read_text() == "already-here\n"


def test_empty_secret_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "data_key"
    path.write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        load_or_create_secret(path, generate_key_setting)
