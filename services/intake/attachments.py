"""Photo and document attachments of a case: checked by content, stored in GridFS, never public.

Checks (pure, `check_attachments`): at most `MAX_FILES` files, each at most `MAX_FILE_BYTES`,
of a type recognised from the file's first bytes (JPEG, PNG, WebP, PDF) — the name's extension
must agree with the content, so a script renamed `photo.jpg` is refused; photos are re-encoded
without EXIF/GPS (`shared.images`) and stored as JPEG. Stored files get a
generated name; the resident's file name is not kept (it can carry personal data). Intake has no
public route that serves them: staff of the case's studio and district admins download them from
`services.intake.http.attachment_pages` (linked from mediation's case page).
"""

from __future__ import annotations

from bson import ObjectId
from gridfs import GridFSBucket
from pymongo.database import Database

from shared.images import DECODABLE, clean_images
from shared.uploads import PDF, CheckedFile, Upload, UploadError, check_uploads

MAX_FILES = 3
MAX_FILE_BYTES = 5 * 1024 * 1024
# The form's whole body: the files plus the text fields, with room for multipart framing.
MAX_FORM_BYTES = MAX_FILES * MAX_FILE_BYTES + 512 * 1024
ALLOWED: dict[str, tuple[str, ...]] = {**DECODABLE, **PDF}
BUCKET = "attachments"

# The checks live in shared.uploads (one implementation for every service's uploads).
Attachment = CheckedFile
AttachmentError = UploadError
__all__ = ["Attachment", "AttachmentError", "Upload", "check_attachments"]


def check_attachments(uploads: list[Upload]) -> list[Attachment]:
    """The uploads that pass every rule, photos re-encoded without EXIF/GPS (stored as JPEG);
    raises AttachmentError at the first that does not."""
    checked = check_uploads(
        uploads,
        ALLOWED,
        max_files=MAX_FILES,
        max_bytes=MAX_FILE_BYTES,
        type_message="Only photos (JPEG, PNG, WebP) and PDF documents can be attached.",
    )
    # A phone photo's GPS says where the resident lives: it never reaches the database.
    return clean_images(checked)


def store_attachments(db: Database, reference: str, attachments: list[Attachment]) -> list[dict]:
    """Store the files in GridFS; return the metadata the case and its event carry.

    GridFS cannot write inside a transaction, so files are stored just before the case's
    transaction and removed again if it fails (`discard_attachments`); a file left by a crash in
    between names a case that does not exist and is harmless (never served, never listed).
    """
    bucket = GridFSBucket(db, bucket_name=BUCKET)
    stored = []
    for index, attachment in enumerate(attachments, start=1):
        file_id = bucket.upload_from_stream(
            f"{reference}-{index}{attachment.extension}",
            attachment.content,
            metadata={
                "case": reference,
                "content_type": attachment.content_type,
                "sha256": attachment.sha256,
            },
        )
        stored.append(
            {
                "id": str(file_id),
                "content_type": attachment.content_type,
                "size": len(attachment.content),
            }
        )
    return stored


def discard_attachments(db: Database, stored: list[dict]) -> None:
    """Remove files stored for a case whose transaction failed."""
    bucket = GridFSBucket(db, bucket_name=BUCKET)
    for item in stored:
        bucket.delete(ObjectId(item["id"]))
