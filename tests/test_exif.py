"""strip_metadata on hand-built JPEG, PNG, WebP and GIF files (no Pillow)."""

from __future__ import annotations

import struct
import zlib

import pytest

from bot.errors import UserInputError
from bot.exif import strip_metadata

CAMERA = b"Canon EOS 5D Mark IV"
SECRETS = (CAMERA, b"Exif", b"GPSLatitude", b"51.1694", b"Photoshop 3.0", b"Taken by A. Nurlanov")


# --- JPEG -------------------------------------------------------------------------------


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def tiff_with_gps() -> bytes:
    """A little-endian TIFF block: IFD0 with Make, Model and a GPS IFD (Astana, 51°10'N 71°26'E)."""
    make, model = b"Canon\x00", CAMERA + b"\x00"
    ifd0_at = 8
    ifd0_size = 2 + 3 * 12 + 4
    make_at = ifd0_at + ifd0_size
    model_at = make_at + len(make)
    gps_at = model_at + len(model)
    gps_size = 2 + 2 * 12 + 4
    lat_at = gps_at + gps_size
    entry = struct.Struct("<HHII")
    ifd0 = struct.pack("<H", 3)
    ifd0 += entry.pack(0x010F, 2, len(make), make_at)
    ifd0 += entry.pack(0x0110, 2, len(model), model_at)
    ifd0 += entry.pack(0x8825, 4, 1, gps_at)
    ifd0 += struct.pack("<I", 0)
    gps = struct.pack("<H", 2)
    gps += struct.pack("<HHI4s", 0x0001, 2, 2, b"N\x00\x00\x00")
    gps += entry.pack(0x0002, 5, 3, lat_at)
    gps += struct.pack("<I", 0)
    latitude = struct.pack("<6I", 51, 1, 10, 1, 1694, 100)
    return b"II*\x00" + struct.pack("<I", ifd0_at) + ifd0 + make + model + gps + latitude


# One 8x8 grey block: DC category 0 (code "0"), then end-of-block (code "0"), padded with 1s.
SCAN = b"\x3f"


def tiny_jpeg(scan: bytes = SCAN, *, with_metadata: bool = True, extra: bytes = b"") -> bytes:
    jfif = segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    meta = b""
    if with_metadata:
        xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta exif:GPSLatitude='51.1694'/>"
        meta = (
            segment(0xE1, b"Exif\x00\x00" + tiff_with_gps())
            + segment(0xE1, xmp)
            + segment(0xED, b"Photoshop 3.0\x00" + b"8BIM" + b"Taken by A. Nurlanov")
            + segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + CAMERA)
            + segment(0xFE, b"Taken by A. Nurlanov")
        )
    dqt = segment(0xDB, b"\x00" + b"\x01" * 64)
    sof0 = segment(0xC0, b"\x08\x00\x08\x00\x08\x01\x01\x11\x00")
    one_code = b"\x01" + b"\x00" * 15 + b"\x00"  # one code of length 1, for symbol 0
    dht = segment(0xC4, b"\x00" + one_code) + segment(0xC4, b"\x10" + one_code)
    sos = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    return b"\xff\xd8" + jfif + meta + dqt + sof0 + dht + extra + sos + scan + b"\xff\xd9"


def jpeg_markers(data: bytes) -> tuple[list[int], list[bytes]]:
    """Markers in order and the entropy-coded scans, walking the file like a decoder would."""
    assert data[:2] == b"\xff\xd8"
    markers, scans, pos = [0xD8], list[bytes](), 2
    while True:
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xD9:
            assert pos + 2 == len(data)
            return markers, scans
        (length,) = struct.unpack_from(">H", data, pos + 2)
        pos += 2 + length
        if marker == 0xDA:
            start = pos
            while not (data[pos] == 0xFF and data[pos + 1] not in (0, *range(0xD0, 0xD8))):
                pos += 1
            scans.append(data[start:pos])


def test_jpeg_loses_exif_gps_xmp_iptc_icc_and_comments_and_stays_a_jpeg() -> None:
    original = tiny_jpeg()
    assert all(secret in original for secret in SECRETS)

    cleaned = strip_metadata(original, "image/jpeg")

    for secret in SECRETS:
        assert secret not in cleaned
    markers, scans = jpeg_markers(cleaned)
    assert markers == [0xD8, 0xE0, 0xDB, 0xC0, 0xC4, 0xC4, 0xDA, 0xD9]
    assert scans == [SCAN]
    assert cleaned == tiny_jpeg(with_metadata=False)


def test_jpeg_scan_with_stuffing_restarts_and_several_scans_is_copied_verbatim() -> None:
    scan = b"\x12\xff\x00\x34\xff\xd0\x56\xff\xd1\x78"
    dri = segment(0xDD, b"\x00\x01")
    second_sos = segment(0xDA, b"\x01\x01\x00\x01\x05\x00") + b"\xab\xff\x00"
    original = tiny_jpeg(scan + second_sos, extra=dri)
    cleaned = strip_metadata(original, "image/jpeg; charset=binary")
    markers, scans = jpeg_markers(cleaned)
    assert markers == [0xD8, 0xE0, 0xDB, 0xC0, 0xC4, 0xC4, 0xDD, 0xDA, 0xDA, 0xD9]
    assert scans == [scan, b"\xab\xff\x00"]


def test_jpeg_keeps_the_adobe_colour_segment_but_nothing_else_in_app14() -> None:
    adobe = segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x02")
    padded = segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x02" + CAMERA)
    cleaned = strip_metadata(tiny_jpeg(extra=adobe + padded), "image/jpeg")
    assert adobe in cleaned and CAMERA not in cleaned


def test_jpeg_drops_bytes_appended_after_eoi() -> None:
    cleaned = strip_metadata(tiny_jpeg() + b"\xff\xd8" + CAMERA, "image/jpeg")
    assert cleaned.endswith(b"\xff\xd9") and CAMERA not in cleaned


@pytest.mark.parametrize(
    "broken",
    [
        b"",
        b"\xff\xd8",
        tiny_jpeg()[:-40],  # cut inside a segment
        tiny_jpeg()[:-2],  # no EOI
        b"\xff\xd8" + segment(0xE0, b"JFIF\x00") + b"\xff\xd9",  # no image at all
        b"\xff\xd8\xff\xe1\x00\x01",  # length shorter than itself
        b"GIF89a not a jpeg",
    ],
)
def test_malformed_jpeg_is_unreadable(broken: bytes) -> None:
    with pytest.raises(UserInputError) as caught:
        strip_metadata(broken, "image/jpeg")
    assert caught.value.msgid == "attachment.unreadable"


# --- PNG --------------------------------------------------------------------------------


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def tiny_png() -> bytes:
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\x00\x80"))
    meta = (
        chunk(b"tEXt", b"Author\x00Taken by A. Nurlanov")
        + chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"GPSLatitude 51.1694"))
        + chunk(b"iTXt", b"Model\x00\x00\x00en\x00\x00" + CAMERA)
        + chunk(b"eXIf", tiff_with_gps())
        + chunk(b"tIME", struct.pack(">HBBBBB", 2025, 3, 1, 12, 0, 0))
    )
    return b"\x89PNG\r\n\x1a\n" + ihdr + meta + idat + chunk(b"IEND", b"")


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    kinds, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 4 : pos + 8 + length]
        assert struct.unpack_from(">I", data, pos + 8 + length)[0] == zlib.crc32(body)
        kinds.append(kind)
        pos += 12 + length
    return kinds


def test_png_loses_text_exif_and_time_chunks_with_valid_crcs() -> None:
    original = tiny_png()
    cleaned = strip_metadata(original, "image/png")
    assert png_chunks(cleaned) == [b"IHDR", b"IDAT", b"IEND"]
    for secret in (CAMERA, b"Taken by A. Nurlanov", b"Author", b"eXIf", b"tIME"):
        assert secret not in cleaned
    assert chunk(b"IDAT", zlib.compress(b"\x00\x80")) in cleaned


@pytest.mark.parametrize(
    "broken",
    [
        tiny_png()[:-12],  # no IEND
        tiny_png().replace(b"Author", b"Authos"),  # CRC no longer matches
        b"\x89PNG\r\n\x1a\n" + chunk(b"IDAT", b"x") + chunk(b"IEND", b""),  # IHDR not first
    ],
)
def test_malformed_png_is_unreadable(broken: bytes) -> None:
    with pytest.raises(UserInputError, match=r"attachment\.unreadable"):
        strip_metadata(broken, "image/png")


# --- WebP and GIF -----------------------------------------------------------------------


def riff_chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")


def tiny_webp() -> bytes:
    flags = 0x10 | 0x08 | 0x04  # alpha, EXIF, XMP
    vp8x = riff_chunk(b"VP8X", bytes((flags, 0, 0, 0)) + b"\x00\x00\x00" + b"\x00\x00\x00")
    body = (
        vp8x
        + riff_chunk(b"VP8L", b"\x2f\x00\x00\x00\x00")  # odd length: padded
        + riff_chunk(b"EXIF", b"Exif\x00\x00" + tiff_with_gps() + b"!")
        + riff_chunk(b"XMP ", b"<x:xmpmeta exif:GPSLatitude='51.1694'/>")
    )
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def test_webp_loses_exif_and_xmp_and_fixes_size_and_flags() -> None:
    cleaned = strip_metadata(tiny_webp(), "image/webp")
    for secret in SECRETS[:4]:
        assert secret not in cleaned
    assert struct.unpack_from("<I", cleaned, 4)[0] == len(cleaned) - 8
    assert cleaned[12:16] == b"VP8X" and cleaned[20] == 0x10  # alpha stays, EXIF/XMP cleared
    assert cleaned.endswith(riff_chunk(b"VP8L", b"\x2f\x00\x00\x00\x00"))


def test_webp_truncated_is_unreadable() -> None:
    with pytest.raises(UserInputError, match=r"attachment\.unreadable"):
        strip_metadata(tiny_webp()[:-10], "image/webp")


def tiny_gif() -> bytes:
    header = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    comment = b"\x21\xfe" + bytes((20,)) + b"Taken by A. Nurlanov" + b"\x00"
    xmp = b"\x21\xff\x0bXMP DataXMP" + bytes((len(CAMERA),)) + CAMERA + b"\x00"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return header + loop + comment + xmp + image + b"\x3b"


def test_gif_loses_comments_and_xmp_but_keeps_looping_and_pixels() -> None:
    cleaned = strip_metadata(tiny_gif(), "image/gif")
    assert CAMERA not in cleaned and b"Nurlanov" not in cleaned
    assert b"NETSCAPE2.0" in cleaned and cleaned.endswith(b"\x02\x02\x44\x01\x00\x3b")


def test_other_types_are_returned_unchanged() -> None:
    pdf = b"%PDF-1.7\n/Author (Taken by A. Nurlanov)\n%%EOF"
    assert strip_metadata(pdf, "application/pdf") == pdf
    assert strip_metadata(b"\xff\xd8 not parsed", "audio/ogg") == b"\xff\xd8 not parsed"
