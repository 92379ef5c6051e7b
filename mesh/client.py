"""Calling another service of the mesh: channel, metadata, and its errors as ours."""

import json
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from mesh import logs, tracing
from mesh.auth import ON_BEHALF_OF_HEADER, Caller, ServiceCredential
from mesh.errors import ERROR_DOMAIN, Internal, MeshError, Reason, Unavailable, error_for_status

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
) -> tuple[tuple[str, str], ...]:
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
    return tuple(metadata)


@contextmanager
def errors_as_mesh_errors(service: str) -> Iterator[None]:
    """Re-raise the other service's error with its status and message, and
    its ErrorInfo's reason and metadata, so the caller hears what was wrong
    (MEDIA_ATTACHED {mediaId, postId}, say). Its outages and faults are ours
    to name: SERVICE_UNAVAILABLE or SERVICE_FAILED {service}."""
    try:
        yield
    except grpc.RpcError as error:
        code = error.code()
        where = {"service": service}
        if code in _OUTAGES:
            raise Unavailable(
                f"{service} is unavailable", reason=Reason.SERVICE_UNAVAILABLE, metadata=where
            ) from error
        if code in _FAULTS:
            raise Internal(
                f"{service} failed on this request", reason=Reason.SERVICE_FAILED, metadata=where
            ) from error
        raise _passed_on(code, error.details() or "", _status_details(error)) from error


def _passed_on(code: grpc.StatusCode, message: str, details: list[any_pb2.Any]) -> MeshError:
    """The error another service answered, as ours: the mesh's ErrorInfo
    gives the reason and metadata, other details go on as they came."""
    info = error_details_pb2.ErrorInfo()
    for detail in details:
        if detail.Unpack(info) and info.domain == ERROR_DOMAIN:
            others = [d for d in details if d is not detail]
            return error_for_status(
                code.name, message, reason=info.reason, metadata=info.metadata, details=others
            )
    return error_for_status(code.name, message, details=details)


def _status_details(error: grpc.RpcError) -> list[any_pb2.Any]:
    """The details of the error's google.rpc.Status; none if it has none, or
    if they disagree with its status."""
    if not hasattr(error, "trailing_metadata"):
        return []
    try:
        status = rpc_status.from_call(error)
    except ValueError:
        return []
    return list(status.details) if status else []
