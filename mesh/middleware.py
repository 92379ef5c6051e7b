"""Cross-cutting behaviour of every RPC, as an ordered list of middleware.

A middleware is a context manager factory, `around(call)`: it may check or
set per-call state before it yields, and sees how the call ended (an
exception, or none) after. `chain_interceptor` composes the list into one
grpc server interceptor; the first in the list is the outermost. A unary call
runs inside all of them; a server stream is iterated inside all of them, so
authentication, logging and error mapping cover every message it sends and
its end. Health and reflection are public and pass through untouched.
"""

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from mesh import auth, logs, metrics, wellformed
from mesh.db import AnyDatabase, connection_for
from mesh.errors import (
    InvalidArgument,
    MeshError,
    PermissionDenied,
    Unauthenticated,
)

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
    streaming: bool = False  # the method streams its replies


Middleware = Callable[[Call], AbstractContextManager[None]]


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
        # An undecodable request reaches the middleware, which says what is wrong.
        deserializer = wellformed.tolerant(handler.request_deserializer)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, handler.unary_stream),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        # A client-streaming method would run unguarded: not served (UNIMPLEMENTED).
        log.error("%s streams its requests: not served until the middleware wraps it", method)
        return None

    def _unary(self, method: str, inner: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            with self._around(_call(method, request, context, streaming=False)):
                return inner(request, context)

        return behavior

    def _stream(
        self, method: str, inner: Callable[[Any, Any], Iterator[Any]]
    ) -> Callable[[Any, Any], Iterator[Any]]:
        def behavior(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            with self._around(_call(method, request, context, streaming=True)):
                yield from inner(request, context)

        return behavior

    def _around(self, call: Call) -> ExitStack:
        """The middlewares entered in order, outermost first; leaving the stack
        leaves them innermost first, each seeing the exception if there is one."""
        stack = ExitStack()
        with stack:  # a middleware that refuses the call leaves the outer ones
            for middleware in self._middlewares:
                stack.enter_context(middleware(call))
            return stack.pop_all()


def _call(method: str, request: Any, context: grpc.ServicerContext, streaming: bool) -> Call:
    metadata = {
        key: value for key, value in context.invocation_metadata() if isinstance(value, str)
    }
    return Call(method, metadata, context, request, streaming)


@contextmanager
def log_requests(call: Call) -> Iterator[None]:
    """Adopt the gateway's x-request-id (or make one); log and count the call's
    outcome (a stream's when it ends). The id is cut to the length the gateway logs, so
    both logs show the same one."""
    given = call.metadata.get("x-request-id", "")[:MAX_REQUEST_ID_CHARS]
    token = logs.request_id.set(given or uuid.uuid4().hex)
    started = time.perf_counter()
    outcome = "OK"
    try:
        yield
        if not call.context.is_active():  # the caller went away: a stream ends quietly
            outcome = "CANCELLED"
    except BaseException:
        code = call.context.code()
        outcome = code.name if isinstance(code, grpc.StatusCode) else "CANCELLED"
        raise
    finally:
        elapsed = time.perf_counter() - started
        metrics.record_call(call.method, outcome, elapsed)
        log.info(
            "rpc",
            extra={
                "fields": {"method": call.method, "status": outcome, "ms": round(elapsed * 1000, 2)}
            },
        )
        logs.request_id.reset(token)


@contextmanager
def map_errors(call: Call) -> Iterator[None]:
    """MeshError → its gRPC status with its message; anything else → INTERNAL."""
    try:
        yield
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
    """google.rpc.Status with an ErrorInfo and the error's own details, which
    the gateway turns into the `details` of a REST error body."""
    packed = []
    for detail in (
        error_details_pb2.ErrorInfo(reason=error.status, domain=ERROR_DOMAIN),
        *error.details,
    ):
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)
        packed.append(any_detail)
    status = status_pb2.Status(code=code.value[0], message=error.message, details=packed)
    return status.SerializeToString()


def authenticate(
    verifier: auth.TokenVerifier, credential: auth.ServiceCredential, internal: Sequence[str] = ()
) -> Middleware:
    """Every call carries a valid JWT; its `sub` becomes the caller. Internal
    methods also need the service credential, and then the caller may instead
    be named by the calling service (for work it does on a user's behalf)."""
    internal_methods = frozenset(internal)

    @contextmanager
    def around(call: Call) -> Iterator[None]:
        if call.method in internal_methods:
            caller = _internal_caller(call, verifier, credential)
        else:
            caller = verifier.verify(call.metadata.get("authorization"))
        token = auth.set_caller(caller)
        try:
            yield
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


@contextmanager
def well_formed(call: Call) -> Iterator[None]:
    """Refuse a request that cannot be decoded or holds a NUL character (see
    mesh.wellformed) before the servicer or the database sees it."""
    problem = wellformed.problem_with(call.request)
    if problem:
        raise InvalidArgument(problem)
    yield


def connection_per_call(db: AnyDatabase) -> Middleware:
    """One database connection (from the pool) for the length of a unary call,
    no wait on it outlasting the call's deadline (see mesh.db.connection_for).
    A stream may last for hours: it takes a connection for each step instead."""

    @contextmanager
    def around(call: Call) -> Iterator[None]:
        if call.streaming:
            yield
            return
        with connection_for(db, call.context.time_remaining()):
            yield

    return around
