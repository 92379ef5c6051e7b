"""How a multipart upload is cut into parts: decided by the server, known to
clients beforehand (they declare each part's checksum when they ask for the
session).

Parts of at least 8 MiB, grown (in whole MiB) so that no upload needs more
than S3's 10,000 parts; the last part may be smaller.
"""

from dataclasses import dataclass

MIB = 1024 * 1024
MIN_PART_SIZE = 8 * MIB
MAX_PARTS = 10_000


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


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
