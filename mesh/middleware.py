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
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from mesh import auth, logs, metrics, wellformed
from mesh.db import AnyDatabase, connection_for
from mesh.errors import (
    ERROR_DOMAIN,
    Internal,
    MeshError,
    PermissionDenied,
    Reason,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger("mesh.rpc")

PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
MAX_REQUEST_ID_CHARS = 128


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
        code = _code_of(call.context)
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
    """MeshError → its gRPC status with its message and, in the status details,
    its ErrorInfo (reason, domain, metadata) and its other details; anything
    else → INTERNAL with the reason INTERNAL_ERROR."""
    try:
        yield
    except MeshError as error:
        if isinstance(error, (Unavailable, Internal)):
            # The client reads plain words; the cause is for operators.
            cause = repr(error.__cause__) if error.__cause__ else ""
            log.warning(
                "%s: %s", error.code.lower(), error.message, extra={"fields": {"cause": cause}}
            )
        _abort(call.context, error)
    except Exception:
        if _code_of(call.context) is not None:  # the handler aborted by itself
            raise
        log.exception("unhandled error in %s", call.method)
        _abort(call.context, Internal("internal error", reason=Reason.INTERNAL_ERROR))


def _abort(context: grpc.ServicerContext, error: MeshError) -> NoReturn:
    status = rpc_status.to_status(_status_details(error))
    # Not abort_with_status: a tracing wrapper of the context records the code
    # from abort() only. The trailer is the same either way.
    context.set_trailing_metadata(status.trailing_metadata)
    context.abort(status.code, status.details)


def _status_details(error: MeshError) -> status_pb2.Status:
    """google.rpc.Status with an ErrorInfo and the error's own details, which
    the gateway turns into the `details` of a REST error body (details that
    are already packed, as another service sent them, go as they are)."""
    info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata
    )
    packed = []
    for detail in (info, *error.details):
        if isinstance(detail, any_pb2.Any):
            packed.append(detail)
            continue
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)
        packed.append(any_detail)
    return status_pb2.Status(code=error.code_number, message=error.message, details=packed)


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
        raise PermissionDenied(
            f"{name} is internal to the mesh: only its services may call it",
            reason=Reason.INTERNAL_METHOD,
            metadata={"method": name},
        )
    if call.metadata.get("authorization"):
        return verifier.verify(call.metadata["authorization"])
    on_behalf_of = call.metadata.get(auth.ON_BEHALF_OF_HEADER, "")
    if not on_behalf_of:
        raise Unauthenticated(
            f"{name} needs the user's token or {auth.ON_BEHALF_OF_HEADER}",
            reason=Reason.TOKEN_MISSING,
            metadata={"method": name},
        )
    return auth.Caller(user_id=on_behalf_of, token="")


@contextmanager
def well_formed(call: Call) -> Iterator[None]:
    """Refuse a request that cannot be decoded or holds a NUL character (see
    mesh.wellformed) before the servicer or the database sees it."""
    refusal = wellformed.refusal_of(call.request)
    if refusal:
        raise refusal
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


def _code_of(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """The status the handler set (or aborted with), None while it set none."""
    code: grpc.StatusCode | None = context.code()  # type: ignore[attr-defined]  # grpcio has it since 1.38; its stubs do not
    return code
