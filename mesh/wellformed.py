"""Checks every request message passes before any servicer sees it.

A request that cannot be decoded (a text field that is not UTF-8, say, from
`/api/v1/media/%FF%FE`) or that carries a NUL character in any text field
(which PostgreSQL cannot store or compare) is the caller's mistake: it is
refused as INVALID_ARGUMENT naming the field, the same on every database.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from mesh.errors import InvalidArgument, Reason, invalid_field


@dataclass(frozen=True)
class Undecodable:
    """Stands in for a request whose bytes are not a valid message of its type."""

    type_name: str
    reason: str


def tolerant(deserialize: Any) -> Any:
    """`deserialize`, returning `Undecodable` instead of raising (grpc would
    answer INTERNAL before any middleware could say what was wrong)."""
    message_type = getattr(deserialize, "__self__", None)
    type_name = getattr(getattr(message_type, "DESCRIPTOR", None), "full_name", "message")

    def decode(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as error:
            reason = str(error).rpartition(": ")[2] if ": " in str(error) else "malformed"
            return Undecodable(type_name, reason)

    return decode


def refusal_of(request: Any) -> InvalidArgument | None:
    """The error refusing a decoded (or undecodable) request, or None."""
    if isinstance(request, Undecodable):
        return InvalidArgument(
            f"the request is not a valid {request.type_name}: {request.reason}",
            reason=Reason.MALFORMED_REQUEST,
        )
    if isinstance(request, Message):
        for path, text in _texts(request):
            if "\x00" in text:
                return invalid_field(path, f"{path} must not contain NUL characters")
    return None


def _texts(message: Message, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(JSON path, value) of every text field set in `message`, nested ones too."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.json_name}"
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                if isinstance(key, str):
                    yield path, key
                yield from _values(path, value_field, item)
        elif field.is_repeated:
            for index, item in enumerate(value):
                yield from _values(f"{path}[{index}]", field, item)
        else:
            yield from _values(path, field, value)


def _values(path: str, field: FieldDescriptor, value: Any) -> Iterator[tuple[str, str]]:
    if field.type == FieldDescriptor.TYPE_STRING:
        yield path, value
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        yield from _texts(value, f"{path}.")
