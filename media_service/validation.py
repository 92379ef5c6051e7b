"""Checks of what a client declares before anything is signed or recorded."""

import base64
import binascii
import unicodedata
from dataclasses import dataclass

from media_formats.media_types import MEDIA_TYPES, MediaType
from media_service.models import Visibility
from media_service.reasons import MediaReason
from mesh.errors import InvalidArgument, invalid_field

MAX_FILE_NAME_BYTES = 255
# Unicode format characters (bidi overrides and isolates, zero-width ones) and
# line/paragraph separators: they change how a name is displayed, not what it says.
_INVISIBLE = {"Cf", "Zl", "Zp"}


@dataclass(frozen=True)
class Declaration:
    """What the client says it will upload."""

    file_name: str
    file_type: str
    file_size: int
    media_type: str
    checksum_sha256: str = ""
    # As the request named it: PUBLIC, PRIVATE, VISIBILITY_UNSPECIFIED (PUBLIC),
    # or the number of a value the contract does not have.
    visibility: str = Visibility.PUBLIC
    part_checksums_sha256: tuple[str, ...] = ()  # multipart only: each part's, in order


def validate(declaration: Declaration) -> MediaType:
    """The declaration's media type, or InvalidArgument naming the first problem."""
    media_type = _media_type(declaration.media_type)
    _file_name(declaration.file_name)
    if not declaration.file_type:
        raise invalid_field("fileType", "fileType is required")
    if declaration.file_type not in media_type.extensions:
        allowed = ", ".join(media_type.extensions)
        raise InvalidArgument(
            f"fileType {declaration.file_type!r} is not allowed for {media_type.name} "
            f"(allowed: {allowed})",
            reason=MediaReason.FILE_TYPE_NOT_ALLOWED,
            metadata={"mediaType": media_type.name, "fileType": declaration.file_type},
        )
    if declaration.file_size <= 0:
        raise invalid_field("fileSize", f"fileSize must be positive, got {declaration.file_size}")
    if declaration.file_size > media_type.max_size:
        raise InvalidArgument(
            f"fileSize {declaration.file_size} exceeds the {media_type.name} limit of "
            f"{media_type.max_size} bytes",
            reason=MediaReason.FILE_TOO_LARGE,
            metadata={"mediaType": media_type.name, "limit": media_type.max_size},
        )
    canonical_checksum(declaration.checksum_sha256)
    canonical_visibility(declaration.visibility)
    return media_type


def canonical_checksum(value: str, field: str = "checksumSha256") -> str:
    """The declared SHA-256 in canonical base64 ("" when none was declared).

    Base64 leaves unused low bits in the last character; a digest written
    with them set decodes to the same 32 bytes, but storage compares the
    header as text. The canonical form is what gets signed and stored.
    """
    if not value:
        return ""
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 32:
        raise invalid_field(field, f"{field} must be the base64 of a 32-byte SHA-256 digest")
    return base64.b64encode(digest).decode()


def canonical_part_checksums(declaration: "Declaration", total_parts: int) -> tuple[str, ...]:
    """The parts' declared SHA-256s, canonical; () when none were declared.
    All of them or none: `total_parts` of them, in order."""
    declared = declaration.part_checksums_sha256
    if not declared:
        return ()
    if len(declared) != total_parts:
        raise invalid_field(
            "partChecksumsSha256",
            f"partChecksumsSha256 has {len(declared)} entries; this upload has {total_parts} parts",
        )
    return tuple(
        canonical_checksum(value, f"partChecksumsSha256[{index}]") or _missing(index)
        for index, value in enumerate(declared)
    )


def _missing(index: int) -> str:
    field = f"partChecksumsSha256[{index}]"
    raise invalid_field(field, f"{field} is empty")


def canonical_visibility(value: str) -> str:
    """PUBLIC or PRIVATE; unset is PUBLIC, anything else InvalidArgument."""
    if value in ("", "VISIBILITY_UNSPECIFIED", Visibility.PUBLIC):
        return Visibility.PUBLIC
    if value == Visibility.PRIVATE:
        return Visibility.PRIVATE
    raise invalid_field(
        "visibility",
        f"unknown visibility {value!r} (known: {Visibility.PUBLIC}, {Visibility.PRIVATE})",
    )


def _media_type(name: str) -> MediaType:
    if not name:
        raise invalid_field("mediaType", "mediaType is required")
    if name not in MEDIA_TYPES:
        raise InvalidArgument(
            f"unknown mediaType {name!r} (known: {', '.join(MEDIA_TYPES)})",
            reason=MediaReason.UNKNOWN_MEDIA_TYPE,
            metadata={"mediaType": name},
        )
    return MEDIA_TYPES[name]


def _file_name(name: str) -> None:
    if not name:
        raise invalid_field("fileName", "fileName is required")
    if len(name.encode()) > MAX_FILE_NAME_BYTES:
        raise invalid_field("fileName", f"fileName is longer than {MAX_FILE_NAME_BYTES} bytes")
    if not name.strip():
        raise invalid_field("fileName", "fileName is blank")
    categories = {unicodedata.category(ch) for ch in name}
    if "Cc" in categories:
        raise invalid_field("fileName", "fileName contains control characters")
    if categories & _INVISIBLE:
        raise invalid_field(
            "fileName",
            "fileName contains invisible formatting characters (such as right-to-left "
            "override, zero-width or line-separator characters)",
        )
