"""The part-size policy and the checks of a completed parts list.

Policy: parts of at least 8 MiB, grown (in whole MiB) so that no upload needs
more than S3's 10,000 parts; the last part may be smaller. 8 MiB is well over
S3's 5 MiB minimum, keeps a retried part cheap on a phone connection, and with
4 parts in flight keeps 32 MiB moving; 2 GiB (the largest video) is 256 parts.
URLs are signed a batch at a time (about 0.15 ms each), the rest on request.
"""

from dataclasses import dataclass

from media_service.storage import StoredPart
from mesh.errors import InvalidArgument

MIB = 1024 * 1024
MIN_PART_SIZE = 8 * MIB
MAX_PARTS = 10_000
URL_BATCH = 100


@dataclass(frozen=True)
class Layout:
    part_size: int
    total_parts: int
    file_size: int

    def length_of(self, number: int) -> int:
        """Bytes in part `number` (1-based); the last one holds the remainder."""
        if number < self.total_parts:
            return self.part_size
        return self.file_size - self.part_size * (self.total_parts - 1)


def layout_for(file_size: int) -> Layout:
    part_size = max(MIN_PART_SIZE, _ceil_div(_ceil_div(file_size, MAX_PARTS), MIB) * MIB)
    return Layout(
        part_size=part_size, total_parts=_ceil_div(file_size, part_size), file_size=file_size
    )


def check_parts_list(parts: list[tuple[int, str]], total_parts: int) -> None:
    """The client's list names each of 1..total_parts exactly once, with an ETag."""
    if not parts:
        raise InvalidArgument("parts is required: list every part with its ETag")
    seen: set[int] = set()
    for number, etag in parts:
        if not 1 <= number <= total_parts:
            raise InvalidArgument(f"part number {number} is outside 1..{total_parts}")
        if number in seen:
            raise InvalidArgument(f"part {number} is listed more than once")
        if not etag.strip('"'):
            raise InvalidArgument(f"part {number} has no ETag")
        seen.add(number)
    missing = sorted(set(range(1, total_parts + 1)) - seen)
    if missing:
        shown = ", ".join(str(n) for n in missing[:10]) + (", ..." if len(missing) > 10 else "")
        raise InvalidArgument(f"parts missing from the list: {shown} (of {total_parts})")


def check_against_storage(parts: list[tuple[int, str]], stored: list[StoredPart]) -> None:
    """Each listed part is in storage with the listed ETag."""
    by_number = {p.number: p for p in stored}
    for number, etag in sorted(parts):
        part = by_number.get(number)
        if part is None:
            raise InvalidArgument(f"part {number} has not been uploaded")
        if part.etag.strip('"') != etag.strip('"'):
            raise InvalidArgument(f"part {number}: ETag {etag} does not match the stored part")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
