"""Calling another service of the mesh: channel, metadata, and its errors as ours."""

import json
from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from mesh import logs, tracing
from mesh.auth import ON_BEHALF_OF_HEADER, Caller, ServiceCredential
from mesh.errors import Internal, Unavailable, error_for_status

# Statuses that say the other service (or the way to it) is down, not that the
# request was wrong.
_OUTAGES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
# Statuses that say it failed on this request: not an outage, and not the caller's error.
_FAULTS = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}


def insecure_channel(address: str, service: str = "") -> grpc.Channel:
    """A channel to every address `address` names (`host:port`,
    `dns:///name:port`, `ipv4:a:p,b:p`), calls spread round-robin over those
    whose health check says `service` is SERVING. With tracing on, each call
    is a span and carries its trace context (mesh.tracing)."""
    config = {
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": service},
    }
    channel = grpc.insecure_channel(
        address,
        options=[
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.enable_retries", 1),
            ("grpc.service_config", json.dumps(config)),
        ],
    )
    return tracing.traced_channel(channel)


def call_metadata(
    caller: Caller, credential: ServiceCredential | None = None
) -> list[tuple[str, str]]:
    """Who the call is for and the request id. The caller's own token when there
    is one (the other service checks it itself); else, for work a service does
    on a user's behalf, the user's id, which counts only with the credential."""
    metadata = (
        [("authorization", f"Bearer {caller.token}")]
        if caller.token
        else [(ON_BEHALF_OF_HEADER, caller.user_id)]
    )
    if credential is not None:
        metadata.append(credential.metadata())
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
            raise Unavailable(f"{service} is unavailable") from error
        if code in _FAULTS:
            raise Internal(f"{service} failed on this request") from error
        raise error_for_status(code.name, error.details()) from error  # type: ignore[attr-defined]
