"""Cursor pagination over (timestamp, id), newest first: stable under inserts."""

import base64
import json
from datetime import datetime
from typing import Any

from peewee import Field, Select

from mesh.errors import invalid_field
from mesh.ids import MAX_ID_CHARS

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# A cursor holds a timestamp and one id: well under this once encoded.
MAX_TOKEN_CHARS = 256


def page_size(requested: int) -> int:
    """0 means the default; more than the maximum is capped; negative is an error."""
    if requested < 0:
        raise invalid_field("pageSize", f"pageSize must not be negative, got {requested}")
    return min(requested, MAX_PAGE_SIZE) if requested else DEFAULT_PAGE_SIZE


def encode_cursor(at: datetime, last_id: str) -> str:
    raw = json.dumps([at.isoformat(), last_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(token: str) -> tuple[datetime, str]:
    refused = invalid_field("pageToken", "pageToken is not a token this server issued")
    if len(token) > MAX_TOKEN_CHARS:
        raise refused
    try:
        at, last_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        at, last_id = datetime.fromisoformat(at), str(last_id)
    except (ValueError, TypeError) as error:
        raise refused from error
    # Only ids we made can be in a token we issued: nothing longer, no NUL.
    if len(last_id) > MAX_ID_CHARS or "\x00" in last_id:
        raise refused
    return at, last_id


def paginate(
    query: Select, at: Field, key: Field, requested_size: int, token: str
) -> tuple[list[Any], str]:
    """One page of `query` ordered by (at, key) descending, and the next page's token."""
    size = page_size(requested_size)
    if token:
        last_at, last_key = decode_cursor(token)
        query = query.where((at < last_at) | ((at == last_at) & (key < last_key)))
    rows = list(query.order_by(at.desc(), key.desc()).limit(size + 1))
    if len(rows) <= size:
        return rows, ""
    last = rows[size - 1]
    return rows[:size], encode_cursor(getattr(last, at.name), getattr(last, key.name))
