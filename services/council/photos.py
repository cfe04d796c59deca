"""Photos and scans council publishes (plan timelines, account vouchers): checked by their content,
re-encoded without EXIF/GPS and other metadata, and kept in council's GridFS.

A phone photo carries where it was taken (GPS), when, and the phone's serial in its EXIF block: a
public plan page must not tell anyone where a committee member lives. `shared.images.strip_metadata`
(the one re-encoder every service uses) drops it before anything is stored.

GridFS cannot write inside a transaction, so files are stored before the transaction that refers to
them, and deleted again (best effort) when that transaction fails.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from gridfs import GridFSBucket
from gridfs.errors import NoFile

from services.council.bootstrap import Council
from shared.images import DECODABLE, strip_metadata
from shared.uploads import MB, PDF, CheckedFile, Upload, check_uploads

log = logging.getLogger(__name__)

# Pillow decodes these without plugins; HEIC (iPhones) is refused with a clear message instead.
IMAGES: Mapping[str, tuple[str, ...]] = DECODABLE
VOUCHERS: Mapping[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    **PDF,
}
MAX_PHOTOS = 6
MAX_BYTES = 10 * MB
PHOTO_TYPE_MESSAGE = "Photos must be JPEG, PNG or WebP images."
VOUCHER_TYPE_MESSAGE = "A voucher must be a PDF, JPEG or PNG file."


@dataclass(frozen=True)
class StoredFile:
    """A stored file as documents refer to it."""

    id: str
    content_type: str
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "content_type": self.content_type, "size": self.size}


def check_photos(uploads: Iterable[Upload]) -> list[bytes]:
    """Photos checked by content and cleaned; raises UploadError (nothing stored)."""
    files = check_uploads(
        uploads, IMAGES, max_files=MAX_PHOTOS, max_bytes=MAX_BYTES, type_message=PHOTO_TYPE_MESSAGE
    )
    return [strip_metadata(f.content) for f in files]


def check_voucher(upload: Upload) -> CheckedFile | None:
    """A voucher scan checked by content (None when no file was chosen); images are cleaned like
    photos (a phone's scan knows where it was made), PDFs are kept as they are."""
    files = check_uploads(
        [upload], VOUCHERS, max_files=1, max_bytes=MAX_BYTES, type_message=VOUCHER_TYPE_MESSAGE
    )
    if not files:
        return None
    f = files[0]
    if f.content_type == "application/pdf":
        return f
    return CheckedFile("image/jpeg", ".jpg", strip_metadata(f.content))


def store(
    council: Council, bucket: str, content: bytes, content_type: str, metadata: Mapping[str, Any]
) -> StoredFile:
    """Store one (already checked) file in council's GridFS bucket."""
    file_id = GridFSBucket(council.db, bucket_name=bucket).upload_from_stream(
        f"{metadata.get('community', '')}-{bucket}",
        content,
        metadata={**metadata, "content_type": content_type},
    )
    return StoredFile(str(file_id), content_type, len(content))


def discard(council: Council, bucket: str, files: Iterable[StoredFile]) -> None:
    """Delete files whose referring write failed (best effort: an orphan is only wasted space)."""
    fs = GridFSBucket(council.db, bucket_name=bucket)
    for f in files:
        try:
            fs.delete(ObjectId(f.id))
        except Exception:  # cleaning up after another failure must not hide that failure
            log.warning("could not delete an orphaned file from %s", bucket, exc_info=True)


def read(council: Council, bucket: str, file_id: str, community: str) -> tuple[bytes, str] | None:
    """A stored file's bytes and type, if it exists and belongs to `community`."""
    try:
        oid = ObjectId(file_id)
    except (InvalidId, TypeError):
        return None
    fs = GridFSBucket(council.db, bucket_name=bucket)
    try:
        stream = fs.open_download_stream(oid)
    except NoFile:
        return None
    meta = stream.metadata or {}
    if meta.get("community") != community:
        return None
    return stream.read(), str(meta.get("content_type") or "application/octet-stream")
