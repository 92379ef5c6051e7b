"""Traces: off unless asked for; when on, the trace goes from a call through
our middleware, streams and other services' calls to the job a message
carries, and every log line names it."""

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import dramatiq
import grpc
import pytest
from dramatiq.brokers.stub import StubBroker
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from mesh import middleware, tracing
from mesh.config import ConfigError
from mesh.errors import NotFound
from mesh.logs import JsonFormatter
from mesh.server import Service, create_server

ECHO = "test.Echo"


@pytest.fixture
def exported() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exported: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """A provider of the test's own (the global one is left alone), sampling
    as the services do."""
    provider = TracerProvider(sampler=tracing.RequestsAndJobs(sampling.DEFAULT_ON))
    provider.add_span_processor(SimpleSpanProcessor(exported))
    yield provider
    provider.shutdown()


def _json_lines(logger_name: str) -> tuple[list[dict], logging.Handler]:
    """The lines `logger_name` logs, formatted as the services format them
    (when they are logged: the current span is the caller's)."""
    lines: list[dict] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(JsonFormatter("test").format(record)))

    handler = Collect()
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return lines, handler


def _hex(number: int, digits: int) -> str:
    return format(number, f"0{digits}x")


# --- off by default, and the standard variables when on ---------------------------------

PROBE = """
import json
import types
import grpc, psycopg2, wrapt
from botocore.client import BaseClient
from dramatiq.brokers.stub import StubBroker
from opentelemetry import trace
from mesh import tracing

on = tracing.start("media_service")
channel = grpc.insecure_channel("127.0.0.1:1")
broker = StubBroker()
middleware = tracing.TraceMessages()
provider = trace.get_tracer_provider()
tracer = trace.get_tracer("probe")
with tracer.start_as_current_span("a request", kind=trace.SpanKind.SERVER) as request:
    recorded = request.is_recording()
    carrier = {}
    middleware.before_enqueue(broker, types.SimpleNamespace(options=carrier), None)
lone_query = tracer.start_span("SELECT", kind=trace.SpanKind.CLIENT)
report = {
    "on": on,
    "provider": type(provider).__name__,
    "psycopg2_wrapped": isinstance(psycopg2.connect, wrapt.FunctionWrapper),
    "botocore_wrapped": isinstance(BaseClient.__dict__["_make_api_call"], wrapt.FunctionWrapper),
    "server_interceptors": len(tracing.server_interceptors()),
    "channel_wrapped": tracing.traced_channel(channel) is not channel,
    "request_recorded": recorded,
    "message_options": sorted(carrier),
    "lone_query_recorded": lone_query.is_recording(),
}
if on:
    report["resource"] = dict(provider.resource.attributes)
    report["sampler"] = provider.sampler.get_description()
lone_query.end()
tracing.shutdown()
print("REPORT " + json.dumps(report))
"""


def _probe(**environ: str) -> tuple[dict, str]:
    """PROBE run in a process of its own (tracing is global to a process), with
    `environ` for the OTEL_* variables; its report and everything it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(environ)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [line] = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    return json.loads(line.removeprefix("REPORT ")), result.stdout


@pytest.mark.parametrize("environ", [{}, {"OTEL_TRACES_EXPORTER": "none"}], ids=["unset", "none"])
def test_off_by_default_nothing_is_installed_or_wrapped(environ: dict[str, str]):
    report, _ = _probe(**environ)

    assert report == {
        "on": False,
        "provider": "ProxyTracerProvider",  # the API's no-op
        "psycopg2_wrapped": False,
        "botocore_wrapped": False,
        "server_interceptors": 0,
        "channel_wrapped": False,
        "request_recorded": False,
        "message_options": [],
        "lone_query_recorded": False,
    }


def test_on_the_sdk_is_set_up_from_the_standard_variables():
    report, printed = _probe(
        OTEL_TRACES_EXPORTER="console",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test,service.namespace=media-mesh",
        OTEL_TRACES_SAMPLER="parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG="1.0",
    )

    assert report["on"] and report["provider"] == "TracerProvider"
    assert report["psycopg2_wrapped"] and report["botocore_wrapped"]
    assert report["server_interceptors"] == 1 and report["channel_wrapped"]
    assert report["resource"]["service.name"] == "media_service"  # the name it was given
    assert report["resource"]["deployment.environment"] == "test"
    assert report["resource"]["service.namespace"] == "media-mesh"
    assert report["sampler"].startswith("RequestsAndJobs{ParentBased{root:TraceIdRatioBased{1.0}")
    # a request's context goes into a message; a query outside any request starts no trace
    assert report["request_recorded"] and report["message_options"] == ["trace_context"]
    assert not report["lone_query_recorded"]
    # shutdown sent what was left: the request's span, to the console exporter
    assert '"name": "a request"' in printed
    assert '"name": "SELECT"' not in printed


def test_otel_service_name_overrides_the_services_own():
    report, _ = _probe(OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="media-eu-1")

    assert report["resource"]["service.name"] == "media-eu-1"


@pytest.mark.parametrize(
    "environ, named",
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "OTEL_TRACES_EXPORTER='jaeger'"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            "(protocol 'http/protobuf')",
        ),
        ({"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER must be one of"),
    ],
)
def test_a_setting_that_cannot_work_is_named_at_start(
    environ: dict[str, str], named: str, monkeypatch: pytest.MonkeyPatch
):
    for key, value in environ.items():
        monkeypatch.setenv(key, value)

    with pytest.raises(ConfigError) as raised:
        tracing.check_settings()

    assert named in str(raised.value)


@pytest.mark.parametrize("exporter", ["otlp", "console", "none"])
def test_the_installed_exporters_pass_the_check(exporter: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", exporter)

    tracing.check_settings()


# --- log lines -------------------------------------------------------------------------


def test_a_log_line_carries_the_trace_and_span_ids_of_the_current_span(provider):
    lines, handler = _json_lines("test.tracing")
    try:
        logging.getLogger("test.tracing").info("outside")
        with provider.get_tracer("test").start_as_current_span("call") as span:
            logging.getLogger("test.tracing").info("inside")
    finally:
        logging.getLogger("test.tracing").removeHandler(handler)

    outside, inside = lines
    assert "trace_id" not in outside and "span_id" not in outside
    context = span.get_span_context()
    assert inside["trace_id"] == _hex(context.trace_id, 32)
    assert inside["span_id"] == _hex(context.span_id, 16)


# --- jobs: the context travels in the message ---------------------------------------------


def _stub_broker(provider: TracerProvider) -> StubBroker:
    broker = StubBroker()
    broker.add_middleware(tracing.TraceMessages(tracer_provider=provider))
    return broker


def _run_jobs(broker: StubBroker, queue: str) -> None:
    worker = dramatiq.Worker(broker, worker_timeout=50)
    worker.start()
    try:
        broker.join(queue, timeout=10_000, fail_fast=False)
        worker.join()
    finally:
        worker.stop()


def _only(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    [span] = [s for s in spans if s.name == name]
    return span


def test_a_job_runs_in_a_consumer_span_continuing_the_trace_that_queued_it(provider, exported):
    broker = _stub_broker(provider)
    seen: list[dict] = []

    def process_media(media_id: str) -> None:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter("worker"))
        record = logging.LogRecord("job", logging.INFO, __file__, 0, "processed", None, None)
        handler.handle(record)
        seen.append(json.loads(stream.getvalue()))

    actor = dramatiq.actor(broker=broker, queue_name="jobs", max_retries=0)(process_media)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("CompleteUpload", kind=SpanKind.SERVER) as request:
        message = actor.send("m1")

    # the context rides in the message's options (and so through the broker's encoding)
    carried = message.options["trace_context"]["traceparent"]
    request_context = request.get_span_context()
    assert carried.split("-")[1:3] == [
        _hex(request_context.trace_id, 32),
        _hex(request_context.span_id, 16),
    ]

    _run_jobs(broker, "jobs")

    job = _only(exported.get_finished_spans(), "process process_media")
    assert job.kind == SpanKind.CONSUMER
    assert job.context.trace_id == request_context.trace_id
    assert job.parent is not None and job.parent.span_id == request_context.span_id
    assert job.attributes is not None
    assert job.attributes["messaging.system"] == "stub"
    assert job.attributes["messaging.destination.name"] == "jobs"
    assert job.attributes["messaging.message.id"] == message.message_id
    assert job.status.status_code == StatusCode.UNSET
    # what the job logs belongs to its span
    [line] = seen
    assert line["trace_id"] == _hex(request_context.trace_id, 32)
    assert line["span_id"] == _hex(job.context.span_id, 16)


def test_a_job_queued_outside_a_trace_starts_one_and_a_failure_is_recorded(provider, exported):
    broker = _stub_broker(provider)

    def process_media(media_id: str) -> None:
        raise ValueError(f"cannot decode {media_id}")

    actor = dramatiq.actor(broker=broker, queue_name="jobs", max_retries=0)(process_media)
    message = actor.send("m2")

    assert "trace_context" not in message.options
    _run_jobs(broker, "jobs")

    job = _only(exported.get_finished_spans(), "process process_media")
    assert job.parent is None  # a trace of its own
    assert job.status.status_code == StatusCode.ERROR
    assert job.status.description == "ValueError: cannot decode m2"
    assert [event.name for event in job.events] == ["exception"]


# --- RPCs: the instrumentation's interceptor around our middleware chain -------------------


def _register_echo(servicer, server: grpc.Server) -> None:
    def say(request: bytes, context) -> bytes:
        return b"hello"

    def fail(request: bytes, context) -> bytes:
        raise NotFound("media m not found")

    def count(request: bytes, context) -> Iterator[bytes]:
        for n in range(3):
            yield str(n).encode()

    handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {
        "Say": grpc.unary_unary_rpc_method_handler(say),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Count": grpc.unary_stream_rpc_method_handler(count),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(ECHO, handlers)])


@pytest.fixture
def traced_server(provider, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A server made by create_server, with tracing on (to the test's provider)."""
    monkeypatch.setattr(tracing, "_provider", provider)
    running = create_server(
        [Service(ECHO, None, _register_echo)],
        [middleware.log_requests, middleware.map_errors],
        "127.0.0.1:0",
    )
    running.server.start()
    yield f"127.0.0.1:{running.port}"
    running.server.stop(0)


def test_calls_and_streams_are_spans_around_the_middleware_continuing_the_callers_trace(
    traced_server: str, provider, exported
):
    lines, handler = _json_lines("mesh.rpc")
    channel = tracing.traced_channel(grpc.insecure_channel(traced_server))
    try:
        say_rpc: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"/{ECHO}/Say")
        fail_rpc: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"/{ECHO}/Fail")
        count_rpc: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
            f"/{ECHO}/Count"
        )
        with provider.get_tracer("test").start_as_current_span("CreatePost") as caller:
            assert say_rpc(b"", timeout=5) == b"hello"
            replies = list(count_rpc(b"", timeout=5))
            with pytest.raises(grpc.RpcError) as failed:
                fail_rpc(b"", timeout=5)
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    finally:
        channel.close()
        logging.getLogger("mesh.rpc").removeHandler(handler)

    assert replies == [b"0", b"1", b"2"]
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND
    spans = exported.get_finished_spans()
    trace_id = caller.get_span_context().trace_id
    for method in ("Say", "Count", "Fail"):
        name = f"/{ECHO}/{method}"
        [client] = [s for s in spans if s.name == name and s.kind == SpanKind.CLIENT]
        [server] = [s for s in spans if s.name == name and s.kind == SpanKind.SERVER]
        assert client.context.trace_id == server.context.trace_id == trace_id
        assert client.parent is not None and client.parent.span_id == caller.context.span_id
        assert server.parent is not None and server.parent.span_id == client.context.span_id
        assert server.parent.is_remote
        # the middleware's log line of the call is written inside the call's span
        [line] = [line for line in lines if line.get("method") == name]
        assert line["trace_id"] == _hex(trace_id, 32)
        assert line["span_id"] == _hex(server.context.span_id, 16)
    fail = _only([s for s in spans if s.kind == SpanKind.SERVER], f"/{ECHO}/Fail")
    assert fail.attributes is not None and fail.attributes["rpc.grpc.status_code"] == 5
    # the stream's span ends with the stream, after the last reply
    count = _only([s for s in spans if s.kind == SpanKind.SERVER], f"/{ECHO}/Count")
    assert count.attributes is not None and count.attributes["rpc.grpc.status_code"] == 0
    # health checks are not traced (every few seconds, from everywhere)
    assert not [s for s in spans if "grpc.health" in s.name]


def test_a_trace_starts_at_a_request_or_a_job_never_at_a_lone_outgoing_call(provider):
    tracer = provider.get_tracer("test")

    for kind in (SpanKind.CLIENT, SpanKind.PRODUCER):
        assert not tracer.start_span("lone", kind=kind).is_recording()
    for kind in (SpanKind.SERVER, SpanKind.CONSUMER, SpanKind.INTERNAL):
        assert tracer.start_span("entry", kind=kind).is_recording()
    with tracer.start_as_current_span("request", kind=SpanKind.SERVER):
        assert tracer.start_span("SELECT", kind=SpanKind.CLIENT).is_recording()
