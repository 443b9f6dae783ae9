"""Remove metadata (EXIF GPS, camera model, XMP, comments) from images, without Pillow.

The image is not decoded: containers are walked and metadata segments are left out,
so pixels and compressed data stay byte-for-byte what the citizen sent. Anything that
does not parse is refused, because a file we cannot walk is a file we cannot clean.
"""

from __future__ import annotations

import struct
import zlib

from bot.errors import UserInputError

UNREADABLE = "attachment.unreadable"

_JPEG_TYPES = frozenset({"image/jpeg", "image/jpg", "image/pjpeg"})
# Standalone markers carry no length: TEM and RST0..7 (SOI and EOI are handled apart).
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_SOS, _EOI, _COM, _APP0, _APP14 = 0xDA, 0xD9, 0xFE, 0xE0, 0xEE

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# zXIf is ImageMagick's compressed EXIF from before eXIf was standardised.
_PNG_DROP = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME", b"zXIf"})

_WEBP_DROP = frozenset({b"EXIF", b"XMP "})
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def strip_metadata(data: bytes, content_type: str) -> bytes:
    """The same image without metadata; other content types are returned unchanged."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in _JPEG_TYPES:
        return _strip_jpeg(data)
    if kind == "image/png":
        return _strip_png(data)
    if kind == "image/webp":
        return _strip_webp(data)
    if kind == "image/gif":
        return _strip_gif(data)
    return data


def _unreadable() -> UserInputError:
    return UserInputError(UNREADABLE)


def _strip_jpeg(data: bytes) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise _unreadable()
    out = [b"\xff\xd8"]
    pos, scanned = 2, False
    while True:
        if pos >= len(data) or data[pos] != 0xFF:
            raise _unreadable()
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= len(data):
            raise _unreadable()
        marker = data[pos]
        pos += 1
        if marker == _EOI:
            if not scanned:
                raise _unreadable()
            out.append(b"\xff\xd9")  # anything after EOI (appended files, MPF images) goes
            return b"".join(out)
        if marker in _STANDALONE:
            out.append(bytes((0xFF, marker)))
            continue
        if marker in (0x00, 0xD8) or pos + 2 > len(data):
            raise _unreadable()
        (length,) = struct.unpack_from(">H", data, pos)
        end = pos + length
        if length < 2 or end > len(data):
            raise _unreadable()
        if _keep_jpeg_segment(marker, data[pos + 2 : end]):
            out.append(data[pos - 2 : end])  # 0xFF, marker, length, payload
        pos = end
        if marker == _SOS:
            scan_end = _jpeg_scan_end(data, pos)
            out.append(data[pos:scan_end])
            pos, scanned = scan_end, True


def _keep_jpeg_segment(marker: int, payload: bytes) -> bool:
    if marker == _COM:
        return False
    if marker == _APP14:
        # Adobe's fixed 12-byte segment says how to read CMYK/YCCK colour; it holds no
        # personal data, and dropping it would invert or shift the colours of such files.
        return len(payload) == 12 and payload.startswith(b"Adobe")
    return not 0xE1 <= marker <= 0xEF  # APP0 (JFIF) stays; APP1..15 are metadata


def _jpeg_scan_end(data: bytes, pos: int) -> int:
    """Index of the marker that ends entropy-coded data starting at `pos`."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            raise _unreadable()
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:  # stuffed byte or restart
            pos += 2
        elif following == 0xFF:  # fill byte; the marker follows
            pos += 1
        else:
            return pos


def _strip_png(data: bytes) -> bytes:
    if not data.startswith(_PNG_SIGNATURE):
        raise _unreadable()
    out = [_PNG_SIGNATURE]
    pos, first = len(_PNG_SIGNATURE), True
    while True:
        if pos + 12 > len(data):
            raise _unreadable()
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data) or not kind.isalpha() or (first and kind != b"IHDR"):
            raise _unreadable()
        (crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(data[pos + 4 : end - 4]) != crc:
            raise _unreadable()
        if kind not in _PNG_DROP:
            out.append(data[pos:end])
        pos, first = end, False
        if kind == b"IEND":
            return b"".join(out)  # trailing bytes after IEND are dropped


def _strip_webp(data: bytes) -> bytes:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise _unreadable()
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end_of_riff = 8 + riff_size
    if riff_size < 4 or end_of_riff > len(data):
        raise _unreadable()
    chunks: list[bytes] = []
    pos = 12
    while pos < end_of_riff:
        if pos + 8 > end_of_riff:
            raise _unreadable()
        fourcc, size = struct.unpack_from("<4sI", data, pos)
        end = pos + 8 + size + (size & 1)  # chunks are padded to an even length
        if end > end_of_riff:
            raise _unreadable()
        chunk = data[pos:end]
        if fourcc == b"VP8X":
            if size < 10:
                raise _unreadable()
            flags = chunk[8] & ~(_VP8X_EXIF | _VP8X_XMP)
            chunk = chunk[:8] + bytes((flags,)) + chunk[9:]
        if fourcc not in _WEBP_DROP:
            chunks.append(chunk)
        pos = end
    if not chunks:
        raise _unreadable()
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _strip_gif(data: bytes) -> bytes:
    """Drop comment extensions and XMP application extensions; keep frames and looping."""
    if len(data) < 13 or data[:6] not in (b"GIF87a", b"GIF89a"):
        raise _unreadable()
    packed = data[10]
    pos = 13 + (3 << ((packed & 0x07) + 1) if packed & 0x80 else 0)
    out = [data[:pos]]
    while True:
        if pos >= len(data):
            raise _unreadable()
        introducer = data[pos]
        if introducer == 0x3B:  # trailer
            out.append(b"\x3b")
            return b"".join(out)
        if introducer == 0x21:  # extension: label, then sub-blocks
            if pos + 2 > len(data):
                raise _unreadable()
            label = data[pos + 1]
            end = _gif_sub_blocks_end(data, pos + 2)
            is_xmp = label == 0xFF and data[pos + 3 : pos + 14] == b"XMP DataXMP"
            if label != 0xFE and not is_xmp:
                out.append(data[pos:end])
            pos = end
        elif introducer == 0x2C:  # image descriptor, optional local colour table, LZW data
            if pos + 11 > len(data):
                raise _unreadable()
            local = data[pos + 9]
            start = pos + 10 + (3 << ((local & 0x07) + 1) if local & 0x80 else 0) + 1
            end = _gif_sub_blocks_end(data, start)
            out.append(data[pos:end])
            pos = end
        else:
            raise _unreadable()


def _gif_sub_blocks_end(data: bytes, pos: int) -> int:
    while True:
        if pos >= len(data):
            raise _unreadable()
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos
