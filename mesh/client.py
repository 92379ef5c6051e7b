"""Calling another service of the mesh: channel, metadata, and its errors as ours."""

from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from mesh import logs
from mesh.errors import Unavailable, error_for_status

# Statuses that say the other service (or the way to it) is down, not that the
# request was wrong.
_OUTAGES = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
}


def insecure_channel(address: str) -> grpc.Channel:
    return grpc.insecure_channel(
        address,
        options=[("grpc.keepalive_time_ms", 30_000), ("grpc.enable_retries", 1)],
    )


def call_metadata(token: str, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    """The caller's token (the other service checks it itself), the request id,
    and any `extra` pairs (such as the service credential)."""
    metadata = [("authorization", f"Bearer {token}"), *extra]
    if logs.request_id.get():
        metadata.append(("x-request-id", logs.request_id.get()))
    return metadata


@contextmanager
def errors_as_mesh_errors(service: str) -> Iterator[None]:
    """Re-raise the other service's error with its status and message."""
    try:
        yield
    except grpc.RpcError as error:
        code = error.code()  # type: ignore[attr-defined]
        if code in _OUTAGES:
            raise Unavailable(f"{service} is unavailable ({code.name})") from error
        raise error_for_status(code.name, error.details()) from error  # type: ignore[attr-defined]
