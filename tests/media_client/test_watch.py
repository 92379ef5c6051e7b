"""Following media: MediaClient.watch and wait_ready against a scripted
MediaService on a local port, so that every answer a real server may give
(a broken stream, a refusal, silence until the deadline) is played exactly."""

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from genproto.media.v1 import media_pb2, media_pb2_grpc
from media_client import ApiError, MediaClient, ProcessingFailed, ServiceUnavailable
from media_client.client import WATCH_REOPENS
from media_client.resume import ResumeStore

Status = media_pb2.MediaStatus
HOLD = "hold"  # a script step: stay open, sending nothing, until the call ends
KEEP_ALIVE = media_pb2.MediaEvent(keep_alive=True)


def state(
    status: media_pb2.MediaStatus.ValueType, media_id: str = "m1", **fields: Any
) -> media_pb2.MediaEvent:
    return media_pb2.MediaEvent(media=media_pb2.Media(media_id=media_id, status=status, **fields))


@dataclass
class ScriptedMedia(media_pb2_grpc.MediaServiceServicer):
    """Each WatchMedia call plays the next script: events, then maybe a status
    to end with or HOLD. GetMedia answers `polled` in turn, the last one for
    good. `ended` is set once a WatchMedia call is over."""

    scripts: list[list[object]] = field(default_factory=list)
    polled: list[media_pb2.MediaStatus.ValueType] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    watched: list[list[str]] = field(default_factory=list)
    ended: threading.Event = field(default_factory=threading.Event)

    def WatchMedia(self, request, context):
        self.calls.append("WatchMedia")
        self.watched.append(list(request.media_ids))
        # However it ends (done, cancelled, past its deadline); a call cancelled
        # while a message is on its way is not resumed, so only this tells.
        context.add_callback(self.ended.set)
        for step in self.scripts.pop(0):
            if isinstance(step, grpc.StatusCode):
                context.abort(step, f"scripted {step.name}")
            elif step == HOLD:
                while context.is_active():
                    time.sleep(0.01)
                return
            else:
                yield step

    def GetMedia(self, request, context):
        self.calls.append("GetMedia")
        status = self.polled.pop(0) if len(self.polled) > 1 else self.polled[0]
        return media_pb2.Media(media_id=request.media_id, status=status)


@pytest.fixture
def service() -> ScriptedMedia:
    # A stand-in serves only what the client under test calls: the other RPCs
    # stay abstract (and would answer UNIMPLEMENTED).
    return ScriptedMedia()  # type: ignore[abstract]


@pytest.fixture
def client(service, tmp_path) -> Iterator[MediaClient]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    media_pb2_grpc.add_MediaServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with MediaClient(
            f"127.0.0.1:{port}", "a-token", resume_store=ResumeStore(tmp_path)
        ) as client:
            yield client
    finally:
        server.stop(0)


def statuses(media: Iterator[media_pb2.Media]) -> list[str]:
    return [Status.Name(one.status) for one in media]


def test_watch_yields_each_state_skips_keep_alives_and_ends_with_the_stream(service, client):
    service.scripts = [[state(Status.PENDING), KEEP_ALIVE, state(Status.UPLOADED), KEEP_ALIVE,
                        state(Status.PROCESSING), state(Status.READY)]]  # fmt: skip

    assert statuses(client.watch(["m1"])) == ["PENDING", "UPLOADED", "PROCESSING", "READY"]
    assert service.calls == ["WatchMedia"]


def test_a_stream_broken_mid_way_is_reopened_without_repeating_a_state(service, client):
    service.scripts = [
        [state(Status.PENDING), state(Status.UPLOADED), grpc.StatusCode.UNAVAILABLE],
        [state(Status.UPLOADED), state(Status.PROCESSING), state(Status.READY)],
    ]

    assert statuses(client.watch(["m1"])) == ["PENDING", "UPLOADED", "PROCESSING", "READY"]
    assert service.calls == ["WatchMedia", "WatchMedia"]


def test_a_reopened_stream_follows_only_the_media_not_yet_final(service, client):
    service.scripts = [
        [state(Status.READY, "a"), state(Status.PROCESSING, "b"), grpc.StatusCode.UNAVAILABLE],
        [state(Status.FAILED, "b", failure_reason="cannot be decoded")],
    ]

    changes = list(client.watch(["a", "b"]))

    assert [(one.media_id, Status.Name(one.status)) for one in changes] == [
        ("a", "READY"), ("b", "PROCESSING"), ("b", "FAILED")
    ]  # fmt: skip
    assert service.watched == [["a", "b"], ["b"]]


def test_reopening_is_bounded_then_wait_ready_polls(service, client):
    refused = [grpc.StatusCode.UNAVAILABLE]
    service.scripts = [[state(Status.PROCESSING), grpc.StatusCode.UNAVAILABLE]] + [
        refused
    ] * WATCH_REOPENS
    service.polled = [Status.READY]

    assert client.wait_ready("m1", timeout=10).status == Status.READY
    assert service.calls == ["WatchMedia"] * (1 + WATCH_REOPENS) + ["GetMedia"]


def test_watch_raises_once_the_reopens_are_spent(service, client):
    service.scripts = [[state(Status.PROCESSING), grpc.StatusCode.UNAVAILABLE]] + [
        [grpc.StatusCode.UNAVAILABLE]
    ] * WATCH_REOPENS

    changes = client.watch(["m1"])
    assert next(changes).status == Status.PROCESSING
    with pytest.raises(ServiceUnavailable) as raised:
        next(changes)
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAVAILABLE,
    ],
)
def test_a_stream_refused_at_open_is_not_reopened_wait_ready_polls_instead(service, client, code):
    service.scripts = [[code]]
    service.polled = [Status.PROCESSING, Status.READY]

    with pytest.raises(ApiError) as raised:
        list(client.watch(["m1"]))
    assert raised.value.code == code
    service.scripts = [[code]]
    assert client.wait_ready("m1", timeout=10).status == Status.READY
    assert service.calls == ["WatchMedia", "WatchMedia", "GetMedia", "GetMedia"]


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT]
)  # fmt: skip
def test_a_refused_id_is_an_api_error_as_for_any_call(service, client, code):
    service.scripts = [[code]]

    with pytest.raises(ApiError) as raised:
        client.wait_ready("m1", timeout=10)

    assert (raised.value.code, raised.value.message) == (code, f"scripted {code.name}")
    assert service.calls == ["WatchMedia"]


def test_wait_ready_returns_the_ready_media_from_the_stream_without_polling(service, client):
    service.scripts = [[state(Status.PROCESSING), state(Status.READY, width=320)]]

    media = client.wait_ready("m1", timeout=10)

    assert (media.status, media.width) == (Status.READY, 320)
    assert service.calls == ["WatchMedia"]


def test_wait_ready_raises_processing_failed_with_the_media(service, client):
    service.scripts = [[state(Status.PROCESSING), state(Status.FAILED, failure_reason="no video")]]

    with pytest.raises(ProcessingFailed, match="processing failed: no video") as raised:
        client.wait_ready("m1", timeout=10)

    assert raised.value.media.media_id == "m1"
    assert service.calls == ["WatchMedia"]


def test_wait_ready_times_out_at_its_deadline_saying_the_last_state(service, client):
    service.scripts = [[state(Status.PROCESSING), KEEP_ALIVE, HOLD]]
    started = time.monotonic()

    with pytest.raises(TimeoutError, match=r"^m1 is still PROCESSING after 0\.5 s$"):
        client.wait_ready("m1", timeout=0.5)

    assert 0.5 <= time.monotonic() - started < 2
    assert service.calls == ["WatchMedia"]
    assert service.ended.wait(5)


def test_no_first_event_before_the_deadline_is_told_by_one_poll(service, client):
    service.scripts = [[HOLD]]
    service.polled = [Status.UPLOADED]

    with pytest.raises(TimeoutError, match=r"^m1 is still UPLOADED after 0\.3 s$"):
        client.wait_ready("m1", timeout=0.3)

    assert service.calls == ["WatchMedia", "GetMedia"]


def test_a_stream_ended_on_another_final_state_leaves_the_answer_to_get_media(service, client):
    service.scripts = [[state(Status.PENDING), state(Status.EXPIRED)]]
    service.polled = [Status.EXPIRED]

    with pytest.raises(TimeoutError, match=r"^m1 is still EXPIRED after 0\.5 s$"):
        client.wait_ready("m1", timeout=0.5)

    assert service.calls[:2] == ["WatchMedia", "GetMedia"]


def test_closing_the_generator_cancels_the_call(service, client):
    service.scripts = [[state(Status.PENDING), HOLD]]
    changes = client.watch(["m1"])
    assert next(changes).status == Status.PENDING

    changes.close()

    assert service.ended.wait(5), "the server still holds the stream"


def test_one_id_on_its_own_is_refused_before_any_call(service, client):
    with pytest.raises(TypeError, match="a sequence of ids, not one id"):
        next(client.watch("m1"))
    assert service.calls == []
