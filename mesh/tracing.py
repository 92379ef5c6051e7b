"""Traces (OpenTelemetry): off unless OTEL_TRACES_EXPORTER names an exporter.

    OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4317 python -m media_service

Each process that serves or works calls `start(name)` once (a server process
after the fork: the exporter's thread does not survive one) and `shutdown()`
on its way out, which sends what is left. The standard variables choose the
rest, read by the SDK itself: OTEL_SERVICE_NAME (else `name`),
OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_ENDPOINT / _PROTOCOL (grpc; the
http/protobuf exporter is not installed), OTEL_TRACES_SAMPLER / _ARG,
OTEL_BSP_* (batching), OTEL_PROPAGATORS (W3C tracecontext and baggage).

What is traced then:
- every RPC a service serves, as a SERVER span continuing the caller's W3C
  `traceparent` (Envoy's, or the other service's); health checks and
  reflection are left out;
- every call to another service of the mesh (`mesh.client`), as a CLIENT span
  whose context goes along in the call's metadata;
- every job, as a CONSUMER span continuing the trace that queued it: the
  context travels in the dramatiq message (`TraceMessages`);
- PostgreSQL statements (psycopg2) and storage calls (botocore) inside those.

A trace starts at a request or a job, never at a statement or a call made
outside of one (health checks every few seconds, the scheduled janitor, the
LISTEN loop): those are not recorded (`RequestsAndJobs`).

Unset or `none`, nothing is installed or wrapped: the API's no-op tracer
answers, and the hooks below return at once.
"""

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import dramatiq
import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk._configuration import _get_exporter_names, _import_exporters
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes

from mesh.config import ConfigError

log = logging.getLogger(__name__)

# Checked every few seconds by Envoy and by each process: not worth a trace.
UNTRACED_METHOD_PREFIXES = ("/grpc.health.", "/grpc.reflection.")
# The message option that carries the context of the code that queued it.
MESSAGE_OPTION = "trace_context"
# How long the way out waits for the last spans to be sent.
SHUTDOWN_SECONDS = 5.0
# Spans of these kinds only continue a trace; alone, they start none.
_CONTINUING_KINDS = (SpanKind.CLIENT, SpanKind.PRODUCER)

_provider: TracerProvider | None = None


def enabled() -> bool:
    return _provider is not None


def check_settings() -> None:
    """Raise ConfigError naming the OTEL_* setting that cannot work. Installs
    nothing: a service calls it at start, before it forks."""
    if _sdk_disabled():
        return
    try:
        _import_exporters(_get_exporter_names("traces"), [], [])
    except RuntimeError as error:  # an exporter or a protocol not installed
        chosen = os.environ.get("OTEL_TRACES_EXPORTER", "")
        protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
        )
        raise ConfigError(
            f"OTEL_TRACES_EXPORTER={chosen!r} (protocol {protocol!r}) cannot be used: {error}; "
            "installed: otlp (protocol grpc), console, none"
        ) from None
    sampler = os.environ.get("OTEL_TRACES_SAMPLER", "")
    if sampler and sampler.lower() not in sampling._KNOWN_SAMPLERS:
        known = ", ".join(sampling._KNOWN_SAMPLERS)
        raise ConfigError(f"OTEL_TRACES_SAMPLER must be one of {known}, got {sampler!r}")


def start(service_name: str) -> bool:
    """Trace this process when OTEL_TRACES_EXPORTER names an exporter (True
    then). Call it once the process will not fork any more, before it opens
    connections or channels."""
    global _provider
    if _provider is not None:
        return True
    names = [] if _sdk_disabled() else _get_exporter_names("traces")
    if not names:
        return False
    exporters, _, _ = _import_exporters(names, [], [])
    # Our name unless OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES say otherwise.
    resource = Resource.create({SERVICE_NAME: service_name}).merge(OTELResourceDetector().detect())
    provider = TracerProvider(
        resource=resource,
        sampler=RequestsAndJobs(sampling._get_from_env_or_default()),
        shutdown_on_exit=False,  # `shutdown` does it, with a bound
    )
    for exporter in exporters.values():
        provider.add_span_processor(BatchSpanProcessor(exporter()))
    trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor

    Psycopg2Instrumentor().instrument(tracer_provider=provider)
    BotocoreInstrumentor().instrument(tracer_provider=provider)
    _provider = provider
    log.info(
        "tracing",
        extra={
            "fields": {
                "exporters": list(exporters),
                "service_name": resource.attributes.get(SERVICE_NAME),
                "sampler": provider.sampler.get_description(),
            }
        },
    )
    return True


def shutdown(timeout_seconds: float = SHUTDOWN_SECONDS) -> None:
    """Send the spans not sent yet; give up after `timeout_seconds` (a
    collector that does not answer must not hold the process)."""
    global _provider
    provider, _provider = _provider, None
    if provider is None:
        return
    flusher = threading.Thread(target=provider.shutdown, name="trace-flush", daemon=True)
    flusher.start()
    flusher.join(timeout_seconds)


def _sdk_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


class RequestsAndJobs(sampling.Sampler):
    """`sampler` decides, except that a CLIENT or PRODUCER span with no parent
    (a query, a storage or gRPC call made outside of any request or job) is
    dropped: a trace starts at a request or a job."""

    def __init__(self, sampler: sampling.Sampler) -> None:
        self._sampler = sampler

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> sampling.SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind in _CONTINUING_KINDS and not parent.is_valid:
            return sampling.SamplingResult(sampling.Decision.DROP)
        return self._sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"RequestsAndJobs{{{self._sampler.get_description()}}}"


def _traced_method(details: Any) -> bool:
    """For the gRPC instrumentation's filters: a server's call details carry
    `method`, a client's `full_method`."""
    method = getattr(details, "method", None) or getattr(details, "full_method", "")
    return not str(method).startswith(UNTRACED_METHOD_PREFIXES)


def server_interceptors() -> list[grpc.ServerInterceptor]:
    """A SERVER span for every call but health and reflection; to go before the
    middleware chain, so that the chain (its log line included) runs inside it."""
    if _provider is None:
        return []
    from opentelemetry.instrumentation.grpc import server_interceptor

    return [server_interceptor(tracer_provider=_provider, filter_=_traced_method)]


def traced_channel(channel: grpc.Channel) -> grpc.Channel:
    """`channel`, with a CLIENT span for each call and its context sent along."""
    if _provider is None:
        return channel
    from opentelemetry.instrumentation.grpc import client_interceptor
    from opentelemetry.instrumentation.grpc.grpcext import intercept_channel

    interceptor = client_interceptor(tracer_provider=_provider, filter_=_traced_method)
    return cast(grpc.Channel, intercept_channel(channel, interceptor))


@contextmanager
def traced_run(service_name: str, operation: str) -> Iterator[None]:
    """A one-off command (`python -m ...janitor`): one trace, `operation` at its
    root, sent before the command ends."""
    start(service_name)
    try:
        with trace.get_tracer(__name__).start_as_current_span(operation):
            yield
    finally:
        shutdown()


class TraceMessages(dramatiq.Middleware):
    """The trace goes on in the worker: the context of the code that queues a
    message goes in the message's options; the worker runs the job in a
    CONSUMER span continuing it, so the job's statements and storage calls,
    and its log lines, belong to the request that queued it.

    Made after `start` (or given a provider); else it does nothing."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        provider = tracer_provider or _provider
        self._tracer = trace.get_tracer(__name__, tracer_provider=provider) if provider else None
        self._jobs = threading.local()  # a worker thread runs one job at a time

    def before_enqueue(self, broker: dramatiq.Broker, message: Any, delay: Any) -> None:
        if self._tracer is None:
            return
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        # Outside a span (a retry queued by dramatiq) the message keeps the context it has.
        if carrier:
            message.options[MESSAGE_OPTION] = carrier

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        if self._tracer is None:
            return
        carried = message.options.get(MESSAGE_OPTION)
        parent = propagate.extract(carried if isinstance(carried, Mapping) else {})
        span = self._tracer.start_span(
            f"process {message.actor_name}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": _broker_system(broker),
                "messaging.operation.type": "process",
                "messaging.destination.name": message.queue_name,
                "messaging.message.id": message.message_id,
                "dramatiq.actor": message.actor_name,
                "dramatiq.retries": int(message.options.get("retries", 0)),
            },
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        self._jobs.current = (span, token)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        job = getattr(self._jobs, "current", None)
        if job is None:  # refused before this middleware saw it
            return
        self._jobs.current = None
        span, token = job
        if exception is not None:
            span.record_exception(exception)
            span.set_status(Status(StatusCode.ERROR, f"{type(exception).__name__}: {exception}"))
        span.end()
        otel_context.detach(token)

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self.after_process_message(broker, message)


def _broker_system(broker: dramatiq.Broker) -> str:
    """rabbitmq, redis or stub (the embedded mode's in-process broker)."""
    return type(broker).__name__.lower().removesuffix("broker")
