"""AttachmentStore on a real folder: sniffing, refusals, stripping, no plaintext on disk."""

from __future__ import annotations

import io
import os
import stat
import struct
import zipfile
from hashlib import sha256
from pathlib import Path

import pytest

from bot.attachments import AttachmentStore, kind_for, sniff
from bot.crypto import DataCipher, DecryptionError, generate_key_setting
from bot.domain import AttachmentKind
from bot.errors import UserInputError

MARKER = "PARA-7731 акимат Almaty took 2 000 000 tenge".encode()
CAMERA = b"Canon EOS 5D Mark IV"
MIB = 1024 * 1024


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def photo_with_exif() -> bytes:
    """An 8x8 grey baseline JPEG whose APP1 carries a camera model and GPS text."""
    exif = b"Exif\x00\x00II*\x00" + CAMERA + b"\x00GPSLatitude=51.1694N"
    one_code = b"\x01" + b"\x00" * 16
    return (
        b"\xff\xd8"
        + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + segment(0xE1, exif)
        + segment(0xDB, b"\x00" + b"\x01" * 64)
        + segment(0xC0, b"\x08\x00\x08\x00\x08\x01\x01\x11\x00")
        + segment(0xC4, b"\x00" + one_code)
        + segment(0xC4, b"\x10" + one_code)
        + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x3f\xff\xd9"
    )


def zip_of(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "<xml/>")
    return buffer.getvalue()


@pytest.fixture
def cipher() -> DataCipher:
    return DataCipher.from_setting(generate_key_setting())


@pytest.fixture
def store(tmp_path: Path, cipher: DataCipher) -> AttachmentStore:
    return AttachmentStore(tmp_path / "attachments", cipher, max_bytes=MIB)


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def test_text_round_trips_and_nothing_readable_lands_on_disk(store: AttachmentStore) -> None:
    stored = store.put(MARKER, declared_type="text/plain", file_name="tip.txt")
    assert stored.content_type == "text/plain" and stored.size == len(MARKER)
    assert store.exists(stored.blob_id)
    assert store.get(stored.blob_id) == MARKER

    [path] = files_under(store.root)
    assert path == store.root / stored.blob_id[:2] / stored.blob_id
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    digest = sha256(MARKER).hexdigest().encode()
    for needle in (MARKER, b"PARA-7731", b"tip.txt", digest):
        assert needle not in path.read_bytes()
        assert needle.decode() not in str(path)


def test_photo_is_stripped_encrypted_and_decided_by_its_bytes(store: AttachmentStore) -> None:
    stored = store.put(photo_with_exif(), declared_type="application/pdf", file_name="IMG_1.jpg")
    assert stored.content_type == "image/jpeg"
    photo = store.get(stored.blob_id)
    assert photo.startswith(b"\xff\xd8\xff\xe0") and photo.endswith(b"\x3f\xff\xd9")
    assert CAMERA not in photo and b"GPS" not in photo and b"Exif" not in photo
    assert stored.size == len(photo)
    for path in files_under(store.root):
        raw = path.read_bytes()
        assert CAMERA not in raw and b"GPSLatitude" not in raw and b"JFIF" not in raw


def test_byte_search_of_the_whole_root_finds_no_plaintext(store: AttachmentStore) -> None:
    store.put(MARKER, declared_type=None, file_name=None)
    store.put(photo_with_exif(), declared_type="image/jpeg", file_name=None)
    store.put(b"%PDF-1.4\n" + MARKER + b"\n%%EOF", declared_type=None, file_name="report.pdf")
    blobs = b"".join(path.read_bytes() for path in files_under(store.root))
    for needle in (MARKER, b"PARA-7731", CAMERA, b"%PDF", "акимат".encode()):
        assert needle not in blobs
    assert len(files_under(store.root)) == 3  # no temporary files left behind


def test_oversized_file_is_refused_with_the_limit(store: AttachmentStore) -> None:
    with pytest.raises(UserInputError) as caught:
        store.put(b"a" * (MIB + 1), declared_type="text/plain", file_name=None)
    assert caught.value.msgid == "attachment.too_large"
    assert caught.value.params == {"limit_mb": 1}
    assert files_under(store.root) == []


@pytest.mark.parametrize(
    "data",
    [
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00",  # Windows executable
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",  # HEIC: cannot be cleaned
        b"\x7fELF\x02\x01\x01\x00",
        b"",
    ],
)
def test_unsupported_bytes_are_refused(store: AttachmentStore, data: bytes) -> None:
    with pytest.raises(UserInputError) as caught:
        store.put(data, declared_type="image/jpeg", file_name="photo.jpg")
    assert caught.value.msgid == "attachment.unsupported_type"


def test_allowed_types_narrow_what_is_accepted(tmp_path: Path, cipher: DataCipher) -> None:
    store = AttachmentStore(
        tmp_path, cipher, max_bytes=MIB, allowed_types=frozenset({"image/jpeg"})
    )
    assert store.put(photo_with_exif(), declared_type=None, file_name=None).size > 0
    with pytest.raises(UserInputError, match=r"attachment\.unsupported_type"):
        store.put(b"%PDF-1.7\n%%EOF", declared_type="image/jpeg", file_name=None)


def test_broken_image_is_unreadable(store: AttachmentStore) -> None:
    with pytest.raises(UserInputError) as caught:
        store.put(photo_with_exif()[:30], declared_type="image/jpeg", file_name=None)
    assert caught.value.msgid == "attachment.unreadable"


@pytest.mark.parametrize(
    ("data", "declared", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n....", None, "image/png"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", None, "image/webp"),
        (b"GIF89a\x01\x00", None, "image/gif"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead", "audio/ogg", "audio/ogg"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "video/mp4", "video/mp4"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "audio/mp4", "audio/mp4"),
        (b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00", "video/mp4", "audio/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00", None, "video/quicktime"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", None, "audio/mpeg"),
        (b"\xff\xfb\x90\x64\x00", None, "audio/mpeg"),
        (
            zip_of("[Content_Types].xml", "word/document.xml"),
            None,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            zip_of("[Content_Types].xml", "xl/workbook.xml"),
            "application/zip",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        (zip_of("evidence/scan.txt"), "application/msword", "application/zip"),
        ("Шағым: әкім пара алды 😡\n".encode(), "application/pdf", "text/plain"),
    ],
)
def test_sniff_trusts_bytes_and_uses_the_declared_type_only_to_break_ties(
    data: bytes, declared: str | None, expected: str
) -> None:
    assert sniff(data, declared_type=declared) == expected


def test_binary_noise_is_not_text() -> None:
    assert sniff(b"\x00\x01\x02plain?", declared_type="text/plain") is None


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("image/jpeg", AttachmentKind.PHOTO),
        ("audio/ogg", AttachmentKind.VOICE),
        ("audio/mpeg", AttachmentKind.AUDIO),
        ("video/mp4", AttachmentKind.VIDEO),
        ("application/pdf", AttachmentKind.DOCUMENT),
        ("text/plain; charset=utf-8", AttachmentKind.DOCUMENT),
    ],
)
def test_kind_for(content_type: str, kind: AttachmentKind) -> None:
    assert kind_for(content_type) == kind


@pytest.mark.parametrize(
    "blob_id",
    [
        "../../etc/passwd",
        "../" + "a" * 29,
        "/" + "a" * 31,
        "A" * 32,
        "a" * 31,
        "a" * 33,
        "",
        "..",
        "aa/bb",
    ],
)
def test_hostile_blob_ids_never_reach_the_filesystem(store: AttachmentStore, blob_id: str) -> None:
    for call in (store.get, store.delete, store.exists):
        with pytest.raises(ValueError):
            call(blob_id)


def test_missing_blob_and_delete(store: AttachmentStore) -> None:
    with pytest.raises(KeyError):
        store.get("0" * 32)
    stored = store.put(MARKER, declared_type=None, file_name=None)
    store.delete(stored.blob_id)
    store.delete(stored.blob_id)  # twice is fine
    assert not store.exists(stored.blob_id)


def test_tampered_or_swapped_blob_fails_to_decrypt(store: AttachmentStore) -> None:
    first = store.put(MARKER, declared_type=None, file_name=None)
    second = store.put(b"another tip", declared_type=None, file_name=None)
    first_path = store.root / first.blob_id[:2] / first.blob_id
    second_path = store.root / second.blob_id[:2] / second.blob_id
    # Copying one blob over another is caught: the blob id is bound as associated data.
    second_path.write_bytes(first_path.read_bytes())
    with pytest.raises(DecryptionError):
        store.get(second.blob_id)
    raw = bytearray(first_path.read_bytes())
    raw[-1] ^= 0x80
    first_path.write_bytes(bytes(raw))
    with pytest.raises(DecryptionError):
        store.get(first.blob_id)


def test_a_store_with_another_key_cannot_read(tmp_path: Path, store: AttachmentStore) -> None:
    stored = store.put(MARKER, declared_type=None, file_name=None)
    stranger = AttachmentStore(
        store.root, DataCipher.from_setting(generate_key_setting()), max_bytes=MIB
    )
    with pytest.raises(DecryptionError):
        stranger.get(stored.blob_id)


async def test_async_wrappers(store: AttachmentStore) -> None:
    stored = await store.aput(MARKER, declared_type="text/plain", file_name=None)
    assert await store.aget(stored.blob_id) == MARKER
    await store.adelete(stored.blob_id)
    assert not store.exists(stored.blob_id)
