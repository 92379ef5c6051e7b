"""Traces across the real mesh: Envoy, both services, the worker, exported
over OTLP/gRPC to a collector the test runs itself.

One mesh of its own (tracing is chosen at start), with OTEL_TRACES_EXPORTER=otlp
pointing every process, Envoy included, at the collector.
"""

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from gateway.devkeys import mint_token
from gateway.localmesh import LocalMesh
from harness.environment import production_mesh
from harness.media_files import small_jpeg
from harness.rest import Api, put
from harness.waiting import wait_for

SERVER = trace_pb2.Span.SPAN_KIND_SERVER
CLIENT = trace_pb2.Span.SPAN_KIND_CLIENT
CONSUMER = trace_pb2.Span.SPAN_KIND_CONSUMER
COMPLETE = "/media.v1.MediaService/CompleteUpload"
CREATE_POST = "/post.v1.PostService/CreatePost"
ATTACH = "/media.v1.MediaService/AttachMedia"
# Envoy sends its spans every 5 s (or every 5 spans); the services every 0.1 s here.
SPANS_TIMEOUT = 30


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str  # "" for the root of a trace
    attributes: dict[str, Any]


def _value(value: common_pb2.AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace collector that keeps every span it is sent."""

    def __init__(self) -> None:
        self._spans: list[Span] = []
        self._lock = threading.Lock()

    def Export(self, request, context):  # noqa: N802 (the gRPC method's name)
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        Span(
                            service=resource.get("service.name", ""),
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                        )
                    )
        with self._lock:
            self._spans.extend(received)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self, trace_id: str | None = None) -> list[Span]:
        with self._lock:
            return [s for s in self._spans if trace_id is None or s.trace_id == trace_id]


@pytest.fixture(scope="module")
def collector() -> Iterator[tuple[Collector, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = Collector()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(0)


@pytest.fixture(scope="module")
def traced_mesh(collector, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    _, port = collector
    with production_mesh(
        tmp_path_factory.mktemp("traced-mesh"),
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
        OTEL_BSP_SCHEDULE_DELAY="100",
    ) as running:
        yield running


@pytest.fixture
def api(traced_mesh: LocalMesh) -> Api:
    settings = traced_mesh.settings
    return Api(settings.gateway_url, mint_token(settings, f"user-{uuid.uuid4().hex[:8]}"))


def _descends_from(span: Span, ancestor: Span, spans: list[Span]) -> bool:
    by_id = {s.span_id: s for s in spans}
    parent = by_id.get(span.parent_id)
    while parent is not None:
        if parent.span_id == ancestor.span_id:
            return True
        parent = by_id.get(parent.parent_id)
    return False


def _one(spans: list[Span], **wanted: Any) -> Span | None:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in wanted.items())]
    assert len(found) <= 1, found
    return found[0] if found else None


def _log_lines(mesh: LocalMesh, component: str) -> list[dict]:
    lines = []
    for text in mesh.log_path(component).read_text().splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            continue  # what is not ours (a traceback's lines)
    return lines


def _is_postgres(span: Span) -> bool:
    return span.kind == CLIENT and "postgresql" in (
        span.attributes.get("db.system"),
        span.attributes.get("db.system.name"),
    )


def _is_storage(span: Span, operation: str) -> bool:
    return span.kind == CLIENT and span.name == f"S3.{operation}"


def test_an_upload_is_one_trace_from_the_gateway_through_media_service_to_the_worker(
    api: Api, collector, traced_mesh: LocalMesh
):
    spans_of = collector[0].spans
    data = small_jpeg()
    session = api.create_session(data).json()
    put(session, data)
    # The caller's own W3C context: Envoy continues its trace.
    trace_id, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    completed = api.http.post(
        f"/api/v1/media/{session['mediaId']}/complete",
        headers={"traceparent": f"00-{trace_id}-{caller_span}-01"},
    )
    assert completed.status_code == 200, completed.text
    wait_for(
        lambda: api.media(session["mediaId"]).json()["status"] == "READY",
        "processing to mark the media READY",
    )

    def whole_trace() -> tuple[Span, Span, Span, list[Span]] | None:
        spans = spans_of(trace_id)
        gateway = _one(spans, service="gateway", parent_id=caller_span)
        complete = _one(spans, service="media_service", name=COMPLETE, kind=SERVER)
        job = _one(spans, service="media_service.worker", kind=CONSUMER)
        if gateway and complete and job:
            return gateway, complete, job, spans
        return None

    gateway, complete, job, spans = wait_for(
        whole_trace, "the gateway's, media_service's and the worker's spans", SPANS_TIMEOUT
    )
    # Envoy's span continues the caller's; media_service's continues Envoy's
    assert complete.parent_id == gateway.span_id
    # the job continues the complete that queued it
    assert _descends_from(job, complete, spans)
    assert job.name == "process process_media"
    assert job.attributes["messaging.system"] == "rabbitmq"
    # the database and storage calls of each, inside them
    in_complete = [s for s in spans if _descends_from(s, complete, spans)]
    in_job = [s for s in spans if _descends_from(s, job, spans)]
    assert any(_is_postgres(s) for s in in_complete), in_complete
    assert any(_is_storage(s, "HeadObject") for s in in_complete), in_complete
    assert any(_is_postgres(s) for s in in_job), in_job
    assert any(_is_storage(s, "GetObject") for s in in_job), in_job
    assert any(_is_storage(s, "PutObject") for s in in_job), in_job
    # and each process's log lines of the work carry the trace id, the gateway's too
    [access] = wait_for(
        lambda: [x for x in _log_lines(traced_mesh, "envoy") if x.get("trace_id") == trace_id],
        "the gateway's access log line (written every 0.5 s)",
    )
    assert access["path"] == f"/api/v1/media/{session['mediaId']}/complete"
    [logged] = [
        line
        for line in _log_lines(traced_mesh, "media_service")
        if line.get("method") == COMPLETE and line.get("trace_id") == trace_id
    ]
    assert logged["span_id"] == complete.span_id
    [processed] = [
        line
        for line in _log_lines(traced_mesh, "worker")
        if line["message"] == "processed" and line.get("media_id") == session["mediaId"]
    ]
    assert (processed["trace_id"], processed["span_id"]) == (trace_id, job.span_id)


def test_a_post_is_one_trace_from_post_service_into_media_service(
    api: Api, collector, traced_mesh: LocalMesh
):
    spans_of = collector[0].spans
    media_id = api.upload(small_jpeg())["mediaId"]

    posted = api.create_post("traced", [media_id])

    assert posted.status_code == 200, posted.text

    def whole_trace() -> tuple[Span, Span, Span, list[Span]] | None:
        create = _one(spans_of(), service="post_service", name=CREATE_POST, kind=SERVER)
        if create is None:
            return None
        spans = spans_of(create.trace_id)
        gateway = _one(spans, service="gateway", span_id=create.parent_id)
        attach = _one(spans, service="media_service", name=ATTACH, kind=SERVER)
        if gateway and attach:
            return gateway, create, attach, spans
        return None

    gateway, create, attach, spans = wait_for(
        whole_trace, "the gateway's and both services' spans of the post", SPANS_TIMEOUT
    )
    # no traceparent came with the request: the trace starts at the gateway
    assert gateway.parent_id == ""
    # post_service's call to media_service is a span of its own, and media_service's continues it
    call = _one(spans, service="post_service", name=ATTACH, kind=CLIENT)
    assert call is not None and _descends_from(call, create, spans)
    assert attach.parent_id == call.span_id
    assert any(_is_postgres(s) for s in spans if _descends_from(s, attach, spans))
    # both services' log lines for the call carry its trace id
    for component, method, span in (
        ("post_service", CREATE_POST, create),
        ("media_service", ATTACH, attach),
    ):
        [logged] = [
            line
            for line in _log_lines(traced_mesh, component)
            if line.get("method") == method and line.get("trace_id") == create.trace_id
        ]
        assert logged["span_id"] == span.span_id
