"""Uploaded images re-encoded without metadata, for every service that stores photos: intake's case
attachments, mediation's patrol photos, council's plan photos and voucher scans.

A phone photo carries where it was taken (GPS), when, and the phone's serial in its EXIF block: a
resident's photo of a neighbour's balcony must not tell staff, or anyone a file reaches later,
where the resident lives. Re-encoding the pixels with Pillow drops every metadata block (EXIF, XMP,
ICC comments, PNG text chunks); the orientation EXIF held is applied to the pixels first so the
photo still stands the right way up. Every image is stored as JPEG.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping

from PIL import Image, ImageOps, UnidentifiedImageError

from shared.uploads import CheckedFile, UploadError

# The image types Pillow decodes without plugins: the ones an upload may allow. HEIC is not among
# them (an iPhone's browser sends JPEG when a page's file input asks for images).
DECODABLE: Mapping[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/webp": (".webp",),
}
# Long side of a stored photo: enough for a phone screen and print, small enough to serve.
MAX_SIDE = 2560
# A decompression bomb (a tiny file that unpacks to gigapixels) is refused before decoding.
MAX_PIXELS = 50_000_000


def strip_metadata(content: bytes) -> bytes:
    """The image re-encoded as JPEG from its pixels only (orientation applied): no EXIF, GPS, XMP.
    Raises UploadError for a file that does not decode as an image."""
    try:
        with Image.open(io.BytesIO(content)) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                raise UploadError(
                    "The image is too large (at most %(mp)d megapixels).", mp=MAX_PIXELS // 10**6
                )
            probe.load()
            upright = ImageOps.exif_transpose(probe)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise UploadError("The image cannot be read.") from err
    if upright.mode in ("RGBA", "LA", "P"):
        rgba = upright.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        upright = flat
    elif upright.mode != "RGB":
        upright = upright.convert("RGB")
    upright.thumbnail((MAX_SIDE, MAX_SIDE))
    # A fresh image holds the pixels only: nothing of the original's `info` can travel along.
    clean = Image.new("RGB", upright.size)
    clean.paste(upright)
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


def clean_images(files: Iterable[CheckedFile]) -> list[CheckedFile]:
    """Checked files with every image re-encoded as a metadata-free JPEG; other files (PDF scans)
    pass unchanged. Raises UploadError for an image that cannot be decoded, or of a type Pillow
    cannot re-encode (an upload should allow only `DECODABLE` images): nothing may be stored."""
    cleaned = []
    for f in files:
        if f.content_type in DECODABLE:
            cleaned.append(CheckedFile("image/jpeg", ".jpg", strip_metadata(f.content)))
        elif f.content_type.startswith("image/"):
            raise UploadError("The image cannot be read.")
        else:
            cleaned.append(f)
    return cleaned
