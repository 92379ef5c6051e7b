"""Cross-cutting behaviour of every RPC, as an ordered list of middleware.

A middleware is `around(call, proceed)`: it may check or set per-call state,
then returns `proceed()` (or raises). `chain_interceptor` composes the list
into one grpc server interceptor; the first in the list is the outermost.
Health and reflection are public and pass through untouched.
"""

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from mesh import auth, logs, wellformed
from mesh.db import DATABASE_UNAVAILABLE, AnyDatabase
from mesh.errors import (
    InvalidArgument,
    MeshError,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from mesh.postgres import call_deadline

log = logging.getLogger("mesh.rpc")

PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
MAX_REQUEST_ID_CHARS = 128
STATUS_DETAILS_KEY = "grpc-status-details-bin"
ERROR_DOMAIN = "media-mesh"


@dataclass
class Call:
    method: str
    metadata: dict[str, str]
    context: grpc.ServicerContext
    request: Any = None


Proceed = Callable[[], Any]
Middleware = Callable[[Call, Proceed], Any]


def chain_interceptor(middlewares: Sequence[Middleware]) -> grpc.ServerInterceptor:
    return _Chain(list(middlewares))


class _Chain(grpc.ServerInterceptor):
    def __init__(self, middlewares: list[Middleware]) -> None:
        self._middlewares = middlewares

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(PUBLIC_PREFIXES):
            return handler
        if handler.unary_unary is None:
            # The middleware (auth above all) wraps unary calls only: a streaming
            # method added later is not served (UNIMPLEMENTED) rather than unguarded.
            log.error("%s is streaming: not served until the middleware wraps it", method)
            return None
        inner = handler.unary_unary

        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            metadata = {
                key: value for key, value in context.invocation_metadata() if isinstance(value, str)
            }
            call = Call(method=method, metadata=metadata, context=context, request=request)
            return _run(self._middlewares, call, lambda: inner(request, context))

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            # An undecodable request reaches the middleware, which says what is wrong.
            request_deserializer=wellformed.tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )


def _run(middlewares: list[Middleware], call: Call, last: Proceed) -> Any:
    if not middlewares:
        return last()
    first, rest = middlewares[0], middlewares[1:]
    return first(call, lambda: _run(rest, call, last))


def log_requests(call: Call, proceed: Proceed) -> Any:
    """Adopt the gateway's x-request-id (or make one) and log the call's outcome.
    The id is cut to the length the gateway logs, so both logs show the same one."""
    given = call.metadata.get("x-request-id", "")[:MAX_REQUEST_ID_CHARS]
    token = logs.request_id.set(given or uuid.uuid4().hex)
    started = time.perf_counter()
    outcome = "OK"
    try:
        return proceed()
    except Exception:
        code = call.context.code()
        outcome = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
        raise
    finally:
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        log.info(
            "rpc", extra={"fields": {"method": call.method, "status": outcome, "ms": elapsed_ms}}
        )
        logs.request_id.reset(token)


def map_errors(call: Call, proceed: Proceed) -> Any:
    """MeshError → its gRPC status with its message; anything else → INTERNAL."""
    try:
        return proceed()
    except MeshError as error:
        if error.status in ("UNAVAILABLE", "INTERNAL"):
            # The client reads plain words; the cause is for operators.
            cause = repr(error.__cause__) if error.__cause__ else ""
            log.warning(
                "%s: %s", error.status.lower(), error.message, extra={"fields": {"cause": cause}}
            )
        code = grpc.StatusCode[error.status]
        call.context.set_trailing_metadata([(STATUS_DETAILS_KEY, _status_details(code, error))])
        call.context.abort(code, error.message)
    except Exception:
        if call.context.code() is not None:  # the handler aborted by itself
            raise
        log.exception("unhandled error in %s", call.method)
        call.context.abort(grpc.StatusCode.INTERNAL, "internal error")


def _status_details(code: grpc.StatusCode, error: MeshError) -> bytes:
    """google.rpc.Status with an ErrorInfo, which the gateway turns into the
    `details` of a REST error body."""
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=error.status, domain=ERROR_DOMAIN))
    status = status_pb2.Status(code=code.value[0], message=error.message, details=[info])
    return status.SerializeToString()


def authenticate(
    verifier: auth.TokenVerifier, credential: auth.ServiceCredential, internal: Sequence[str] = ()
) -> Middleware:
    """Every call carries a valid JWT; its `sub` becomes the caller. Internal
    methods also need the service credential, and then the caller may instead
    be named by the calling service (for work it does on a user's behalf)."""
    internal_methods = frozenset(internal)

    def around(call: Call, proceed: Proceed) -> Any:
        if call.method in internal_methods:
            caller = _internal_caller(call, verifier, credential)
        else:
            caller = verifier.verify(call.metadata.get("authorization"))
        token = auth.set_caller(caller)
        try:
            return proceed()
        finally:
            auth.reset_caller(token)

    return around


def _internal_caller(
    call: Call, verifier: auth.TokenVerifier, credential: auth.ServiceCredential
) -> auth.Caller:
    name = call.method.rsplit("/", 1)[-1]
    if not credential.presented_in(call.metadata):
        raise PermissionDenied(f"{name} is internal to the mesh: only its services may call it")
    if call.metadata.get("authorization"):
        return verifier.verify(call.metadata["authorization"])
    on_behalf_of = call.metadata.get(auth.ON_BEHALF_OF_HEADER, "")
    if not on_behalf_of:
        raise Unauthenticated(f"{name} needs the user's token or {auth.ON_BEHALF_OF_HEADER}")
    return auth.Caller(user_id=on_behalf_of, token="")


def well_formed(call: Call, proceed: Proceed) -> Any:
    """Refuse a request that cannot be decoded or holds a NUL character (see
    mesh.wellformed) before the servicer or the database sees it."""
    problem = wellformed.problem_with(call.request)
    if problem:
        raise InvalidArgument(problem)
    return proceed()


def connection_per_call(db: AnyDatabase, unavailable: tuple[type[Exception], ...]) -> Middleware:
    """One database connection (from the pool) for the length of the call, no
    wait on it outlasting the call's deadline; a database that cannot be
    reached, or does not answer in time, is UNAVAILABLE."""

    def around(call: Call, proceed: Proceed) -> Any:
        try:
            with call_deadline(call.context.time_remaining()), db.connection_context():
                return proceed()
        except unavailable as error:
            raise Unavailable(DATABASE_UNAVAILABLE) from error

    return around
