"""The checks of a completed parts list, and how part URLs are signed.

The layout (media_formats.part_layout): parts of at least 8 MiB, grown (in
whole MiB) so that no upload needs more than S3's 10,000 parts; the last part
may be smaller. 8 MiB is well over
S3's 5 MiB minimum, keeps a retried part cheap on a phone connection, and with
4 parts in flight keeps 32 MiB moving; 2 GiB (the largest video) is 256 parts.
URLs are signed a batch at a time (about 0.15 ms each), the rest on request.
"""

from media_service.reasons import MediaReason
from media_service.storage import StoredPart
from mesh.errors import InvalidArgument, Reason, invalid_field

URL_BATCH = 100


def check_parts_list(parts: list[tuple[int, str]], total_parts: int) -> None:
    """The client's list names each of 1..total_parts exactly once, with an ETag."""
    if not parts:
        raise invalid_field("parts", "parts is required: list every part with its ETag")
    seen: set[int] = set()
    for number, etag in parts:
        if not 1 <= number <= total_parts:
            raise _bad_entry(number, f"part number {number} is outside 1..{total_parts}")
        if number in seen:
            raise _bad_entry(number, f"part {number} is listed more than once")
        if not etag.strip('"'):
            raise _bad_entry(number, f"part {number} has no ETag")
        seen.add(number)
    missing = sorted(set(range(1, total_parts + 1)) - seen)
    if missing:
        shown = ", ".join(str(n) for n in missing[:10]) + (", ..." if len(missing) > 10 else "")
        raise _part_error(
            MediaReason.PART_NOT_LISTED,
            missing[0],
            f"parts missing from the list: {shown} (of {total_parts})",
        )


def check_against_storage(
    parts: list[tuple[int, str]], stored: list[StoredPart], checksums: dict[int, str]
) -> None:
    """Each listed part is in storage with the listed ETag and, when the parts'
    SHA-256s were declared, with that checksum as storage computed it. (A
    storage that records none, as the local S3 server, is trusted to have
    refused a part that did not match its signed checksum header.)"""
    by_number = {p.number: p for p in stored}
    for number, etag in sorted(parts):
        part = by_number.get(number)
        if part is None:
            raise _part_error(
                MediaReason.PART_NOT_UPLOADED, number, f"part {number} has not been uploaded"
            )
        if part.etag.strip('"') != etag.strip('"'):
            raise _part_error(
                MediaReason.PART_ETAG_MISMATCH,
                number,
                f"part {number}: ETag {etag} does not match the stored part",
            )
        declared = checksums.get(number)
        if declared and part.checksum_sha256 and part.checksum_sha256 != declared:
            raise _part_error(
                MediaReason.PART_CHECKSUM_MISMATCH,
                number,
                f"part {number} is not the part declared: storage holds SHA-256 "
                f"{part.checksum_sha256}, the session declared {declared}; upload it again",
            )


def _bad_entry(number: int, message: str) -> InvalidArgument:
    """INVALID_FIELD {field: parts, partNumber}: an entry of the list is wrong."""
    return InvalidArgument(
        message, reason=Reason.INVALID_FIELD, metadata={"field": "parts", "partNumber": number}
    )


def _part_error(reason: MediaReason, number: int, message: str) -> InvalidArgument:
    return InvalidArgument(message, reason=reason, metadata={"partNumber": number})
