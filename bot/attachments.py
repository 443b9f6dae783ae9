"""The attachment store: files citizens send, checked, cleaned and encrypted before they touch disk.

The real type is sniffed from the bytes (the declared type only breaks ties the bytes
allow), image metadata is stripped, and the whole file is sealed with DATA_KEY under a
random blob id, so the folder holds no plaintext, no plaintext hash and no file names.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import secrets
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.crypto import DataCipher
from bot.domain import AttachmentKind
from bot.errors import UserInputError
from bot.exif import strip_metadata
from bot.private import private_dir, warn_if_open

JPEG, PNG, WEBP, GIF = "image/jpeg", "image/png", "image/webp", "image/gif"
PDF, OGG, MP3, M4A = "application/pdf", "audio/ogg", "audio/mpeg", "audio/mp4"
MP4, QUICKTIME, THREE_GP = "video/mp4", "video/quicktime", "video/3gpp"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP, TEXT = "application/zip", "text/plain"

SUPPORTED_TYPES = frozenset(
    {JPEG, PNG, WEBP, GIF, PDF, OGG, MP3, M4A, MP4, QUICKTIME, THREE_GP, DOCX, XLSX, ZIP, TEXT}
)
_IMAGES = frozenset({JPEG, PNG, WEBP, GIF})
_BLOB_ID = re.compile(r"[0-9a-f]{32}")
_TEMPORARY = re.compile(r"\.tmp-[A-Za-z0-9_]{1,32}")  # tempfile.mkstemp(prefix=".tmp-")
_MIB = 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")  # not tab, LF, FF or CR
# ISO-BMFF brands that are still images (HEIC, AVIF): we cannot clean them, so refuse.
_IMAGE_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif"})
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P "})


@dataclass(frozen=True, slots=True)
class StoredFile:
    blob_id: str
    content_type: str
    size: int  # bytes of the cleaned plaintext, what `get` returns


class AttachmentStore:
    """Encrypted files under root/<first 2 hex of id>/<id>; sync methods plus async wrappers."""

    def __init__(
        self,
        root: Path,
        cipher: DataCipher,
        *,
        max_bytes: int,
        allowed_types: frozenset[str] | None = None,
    ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.allowed_types = SUPPORTED_TYPES if allowed_types is None else allowed_types
        self._cipher = cipher
        warn_if_open(root)  # once, at start; each put creates its folders private

    def put(self, data: bytes, *, declared_type: str | None, file_name: str | None) -> StoredFile:
        """Check, clean, encrypt and store `data`. Raises UserInputError with the reason."""
        if len(data) > self.max_bytes:
            mib = self.max_bytes / _MIB
            limit = int(mib) if mib.is_integer() else max(round(mib, 1), 0.1)
            raise UserInputError("attachment.too_large", limit_mb=limit)
        content_type = sniff(data, declared_type=declared_type, file_name=file_name)
        if content_type is None or content_type not in self.allowed_types:
            raise UserInputError("attachment.unsupported_type")
        if content_type in _IMAGES:
            data = strip_metadata(data, content_type)
        blob_id = secrets.token_hex(16)
        sealed = self._cipher.encrypt(data, context=blob_id.encode("ascii"))
        path = self._path(blob_id)
        private_dir(self.root, check=False)
        private_dir(path.parent, check=False)
        _write_atomically(path, sealed)
        return StoredFile(blob_id=blob_id, content_type=content_type, size=len(data))

    def get(self, blob_id: str) -> bytes:
        """The cleaned plaintext. KeyError if there is no such blob."""
        try:
            sealed = self._path(blob_id).read_bytes()
        except FileNotFoundError:
            raise KeyError(blob_id) from None
        return self._cipher.decrypt(sealed, context=blob_id.encode("ascii"))

    def delete(self, blob_id: str) -> None:
        """Remove a blob; deleting one that is gone already is not an error."""
        self._path(blob_id).unlink(missing_ok=True)

    def exists(self, blob_id: str) -> bool:
        return self._path(blob_id).is_file()

    def blob_ids(self) -> list[str]:
        """Every blob on disk, in id order (a temporary file of an unfinished write is none)."""
        return sorted(path.name for path, _ in self._files() if _BLOB_ID.fullmatch(path.name))

    def version_of(self, blob_id: str) -> int | None:
        """The DATA_KEY version a blob is sealed under (None if it is gone)."""
        try:
            with self._path(blob_id).open("rb") as handle:
                return self._cipher.version_of(handle.read(1))
        except FileNotFoundError:
            return None

    def reseal(self, blob_id: str) -> bool:
        """Rewrite a blob under the current key; False if it already was (or is gone).

        Atomic (a temporary file in the same folder, fsync, rename): a crash leaves the old
        file or the new one, both readable while the old key is listed. The name stays.
        Raises DecryptionError if the blob does not open.
        """
        path = self._path(blob_id)
        try:
            sealed = path.read_bytes()
        except FileNotFoundError:
            return False
        if self._cipher.version_of(sealed) == self._cipher.current_version:
            return False
        _write_atomically(path, self._cipher.reencrypt(sealed, context=blob_id.encode("ascii")))
        return True

    def older_than(self, moment: datetime) -> list[str]:
        """Blobs whose file was last written before `moment`, in id order."""
        cutoff = moment.timestamp()
        return sorted(
            path.name
            for path, mtime in self._files()
            if mtime < cutoff and _BLOB_ID.fullmatch(path.name)
        )

    def drop_leftovers(self, moment: datetime) -> int:
        """Delete temporary files a crash left mid-write before `moment`; how many went."""
        cutoff = moment.timestamp()
        gone = 0
        for path, mtime in self._files():
            if mtime < cutoff and _TEMPORARY.fullmatch(path.name):
                path.unlink(missing_ok=True)
                gone += 1
        return gone

    def _files(self) -> list[tuple[Path, float]]:
        """(path, mtime) of every blob and temporary file in the two-level layout."""
        found: list[tuple[Path, float]] = []
        try:
            folders = [e for e in os.scandir(self.root) if len(e.name) == 2 and e.is_dir()]
        except FileNotFoundError:
            return found
        for folder in folders:
            with os.scandir(folder.path) as entries:
                for entry in entries:
                    name = entry.name
                    blob = _BLOB_ID.fullmatch(name) and name.startswith(folder.name)
                    if not (blob or _TEMPORARY.fullmatch(name)):
                        continue
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    try:
                        mtime = entry.stat(follow_symlinks=False).st_mtime
                    except FileNotFoundError:  # deleted meanwhile
                        continue
                    found.append((Path(entry.path), mtime))
        return found

    async def aput(
        self, data: bytes, *, declared_type: str | None, file_name: str | None
    ) -> StoredFile:
        return await asyncio.to_thread(
            self.put, data, declared_type=declared_type, file_name=file_name
        )

    async def aget(self, blob_id: str) -> bytes:
        return await asyncio.to_thread(self.get, blob_id)

    async def adelete(self, blob_id: str) -> None:
        await asyncio.to_thread(self.delete, blob_id)

    def _path(self, blob_id: str) -> Path:
        # Only ids we minted (32 lowercase hex) reach the filesystem: no "..", no "/".
        if not isinstance(blob_id, str) or not _BLOB_ID.fullmatch(blob_id):
            raise ValueError("invalid attachment blob id")
        return self.root / blob_id[:2] / blob_id


def kind_for(content_type: str) -> AttachmentKind:
    """How a channel should present a file of this type."""
    base = content_type.split(";", 1)[0].strip().lower()
    if base.startswith("image/"):
        return AttachmentKind.PHOTO
    if base == OGG:
        return AttachmentKind.VOICE  # Telegram and WhatsApp voice notes are Ogg/Opus
    if base.startswith("audio/"):
        return AttachmentKind.AUDIO
    if base.startswith("video/"):
        return AttachmentKind.VIDEO
    return AttachmentKind.DOCUMENT


def sniff(
    data: bytes, *, declared_type: str | None = None, file_name: str | None = None
) -> str | None:
    """The content type the bytes prove, or None. Declared type and name only break ties."""
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if b"%PDF-" in data[:1024]:
        return PDF
    if head.startswith(b"OggS"):
        return OGG
    if head[4:8] == b"ftyp":
        return _sniff_iso_media(head[8:12], declared_type, file_name)
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return QUICKTIME  # QuickTime files from before ftyp existed
    if head.startswith(b"ID3") or _is_mp3_frame(head):
        return MP3
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(data)
    if data and _is_text(data):
        return TEXT
    return None


def _sniff_iso_media(brand: bytes, declared_type: str | None, file_name: str | None) -> str | None:
    if brand in _IMAGE_BRANDS:
        return None
    if brand in _AUDIO_BRANDS:
        return M4A
    if brand == b"qt  ":
        return QUICKTIME
    if brand.startswith(b"3g"):
        return THREE_GP
    # Generic brands (isom, mp42...) hold audio-only files too; then trust the sender.
    declared = (declared_type or "").split(";", 1)[0].strip().lower()
    if declared.startswith("audio/") or (file_name or "").lower().endswith(".m4a"):
        return M4A
    return MP4


def _is_mp3_frame(head: bytes) -> bool:
    # 11 sync bits, then MPEG version (not the reserved 01) and layer III (01).
    return (
        len(head) >= 2
        and head[0] == 0xFF
        and head[1] & 0xE0 == 0xE0
        and (head[1] >> 3) & 0x03 != 0x01
        and (head[1] >> 1) & 0x03 == 0x01
    )


def _sniff_zip(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise UserInputError("attachment.unreadable") from None
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return DOCX
        if "xl/workbook.xml" in names:
            return XLSX
    return ZIP


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return _CONTROL.search(text) is None


def _write_atomically(path: Path, sealed: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(sealed)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
