"""The ids the mesh hands out (UUIDs), bounded before any lookup.

An id longer than any id we make cannot name anything; refusing it up front
keeps megabyte ids out of queries, logs and error messages.
"""

from mesh.errors import invalid_field

MAX_ID_CHARS = 36  # a UUID in its canonical text form


def checked_id(field: str, value: str) -> str:
    """`value` if it can be one of our ids; else InvalidArgument naming `field`."""
    if not value:
        raise invalid_field(field, f"{field} is required")
    if len(value) > MAX_ID_CHARS:
        raise invalid_field(field, f"{field} is longer than {MAX_ID_CHARS} characters")
    return value
