"""Real images for upload tests: a phone-like JPEG carrying EXIF with GPS, and small plain images
(the uploads re-encode every image, so a fake header with zero bytes after it is refused)."""

from __future__ import annotations

import io
from fractions import Fraction

from PIL import Image

GPS_IFD = 0x8825


def jpeg_with_gps(size: tuple[int, int] = (64, 48)) -> bytes:
    """A phone-like JPEG: EXIF with the camera, the time and GPS coordinates (Shanghai)."""
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0132] = "2026:05:06 10:00:00"  # DateTime
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = "N", (Fraction(31), Fraction(14), Fraction(2_345, 100))
    gps[3], gps[4] = "E", (Fraction(121), Fraction(28), Fraction(1_234, 100))
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def plain(fmt: str = "PNG", size: tuple[int, int] = (16, 12)) -> bytes:
    """A small real image in `fmt` (PNG, JPEG, WEBP) with no metadata."""
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, format=fmt)
    return out.getvalue()


def carries_gps(content: bytes) -> bool:
    """Whether the image holds GPS tags (checked on the test photo, so the test can fail)."""
    return bool(Image.open(io.BytesIO(content)).getexif().get_ifd(GPS_IFD))


def assert_no_metadata(content: bytes) -> None:
    """The stored bytes are a JPEG without EXIF (no GPS, no camera, no time) and without XMP."""
    image = Image.open(io.BytesIO(content))
    assert image.format == "JPEG"
    assert dict(image.getexif()) == {} and not image.getexif().get_ifd(GPS_IFD)
    assert b"Exif" not in content and b"PhoneMaker" not in content and b"2026:05:06" not in content
    assert b"http://ns.adobe.com/xap" not in content
