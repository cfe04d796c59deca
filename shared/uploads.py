"""Uploaded files checked by their content, for every service that takes files: intake's case
attachments, mediation's patrol photos and signed agreement scans.

A file's type is recognised from its first bytes (`sniff`), never from its name or the browser's
claim; where `match_extension` is set the name's extension must agree with the content, so a script
renamed `photo.jpg` is refused. Messages are English msgids with `%(name)s` parameters, so each
service can translate them with its own catalogue.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath

import filetype

MB = 1024 * 1024
PHOTOS: Mapping[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/webp": (".webp",),
    "image/heic": (".heic", ".heif"),
}
PDF: Mapping[str, tuple[str, ...]] = {"application/pdf": (".pdf",)}
# HEIF brands `filetype` does not name (iPhone bursts and still images).
_HEIF_BRANDS = (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1", b"ftyphevc")


@dataclass(frozen=True)
class Upload:
    """A file as received: the name the browser sent and its bytes."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed the checks, with the type read from its content."""

    content_type: str
    extension: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class UploadError(ValueError):
    """A file that may not be uploaded; `message` is an English msgid, `params` its values."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


def sniff(content: bytes) -> str | None:
    """The media type recognised from the first bytes, or None."""
    head = content[:8192]
    if head[4:12] in _HEIF_BRANDS:
        return "image/heic"
    kind = filetype.guess(head)
    return kind.mime if kind is not None else None


def check_uploads(
    uploads: Iterable[Upload],
    allowed: Mapping[str, tuple[str, ...]],
    *,
    max_files: int,
    max_bytes: int,
    type_message: str,
    match_extension: bool = True,
) -> list[CheckedFile]:
    """The uploads that pass every rule; raises UploadError at the first that does not. Empty file
    inputs (no name, no bytes) are dropped first: a form's unused file field sends one."""
    files = [u for u in uploads if u.filename or u.content]
    if len(files) > max_files:
        raise UploadError("Attach at most %(count)d files.", count=max_files)
    checked = []
    for upload in files:
        if not upload.content:
            raise UploadError("A file is empty.")
        if len(upload.content) > max_bytes:
            raise UploadError("Each file must be at most %(mb)d MB.", mb=max_bytes // MB)
        mime = sniff(upload.content)
        if mime not in allowed:
            raise UploadError(type_message)
        extension = PurePath(upload.filename or "").suffix.lower()
        if match_extension and extension not in allowed[mime]:
            raise UploadError(type_message)
        checked.append(CheckedFile(mime, allowed[mime][0], upload.content))
    return checked
