"""Byte quotas through the gateway: what GET /api/v1/usage shows, a 429 with
a google.rpc.QuotaFailure over REST and gRPC, and an abort that gives the
reservation back (the exact counting under races: tests/media_service/test_admission.py)."""

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from gateway.devkeys import mint_token
from genproto.media.v1 import media_pb2, media_pb2_grpc
from harness.rest import Api

GIB = 1024**3


def _video_session(api: Api, size: int):
    return api.create_session(
        b"", "video/mp4", fileSize=size, mediaType="post-video", fileName="clip.mp4"
    )


def test_a_new_user_has_both_quotas_whole(api):
    reply = api.http.get("/api/v1/usage")

    assert reply.status_code == 200, reply.text
    usage = reply.json()
    assert usage["dailyUpload"]["name"] == "daily-upload"
    assert usage["dailyUpload"]["limitBytes"] == str(2 * GIB)
    assert usage["dailyUpload"]["remainingBytes"] == str(2 * GIB)
    assert usage["stored"]["limitBytes"] == str(20 * GIB)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
    assert usage["dailyUpload"]["resetsAt"] == tomorrow
    assert "resetsAt" not in usage["stored"]  # a message field: left out while unset
    assert usage["stored"]["usedBytes"] == "0"  # a number: printed at its default


def test_over_the_daily_quota_is_429_with_a_quota_failure_and_an_abort_gives_it_back(api):
    first, second = (_video_session(api, GIB).json() for _ in range(2))
    assert api.http.get("/api/v1/usage").json()["dailyUpload"]["reservedBytes"] == str(2 * GIB)

    refused = _video_session(api, GIB)

    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == 8
    assert body["message"].startswith(
        "daily-upload quota exceeded: this upload declares 1 GiB, 0 bytes of 2 GiB left today"
    )
    info, failure = body["details"]  # the ErrorInfo first, then the QuotaFailure
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert info["reason"] == "DAILY_QUOTA_EXCEEDED"
    assert info["metadata"] == {
        "limit": str(2 * GIB),
        "remaining": "0",
        "resetsAt": (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z"),
    }
    assert failure["@type"] == "type.googleapis.com/google.rpc.QuotaFailure"
    # google.rpc.QuotaFailure's other fields, at their defaults, are printed too.
    assert failure["violations"] == [
        {
            "subject": "daily-upload",
            "description": f"0 bytes left of {2 * GIB}",
            "apiService": "",
            "quotaMetric": "",
            "quotaId": "",
            "quotaDimensions": {},
            "quotaValue": "0",
        }
    ]
    assert len(api.http.get("/api/v1/media").json()["media"]) == 2  # nothing half-written

    aborted = api.http.post(f"/api/v1/media/{first['mediaId']}/abort")
    assert aborted.status_code == 200, aborted.text
    assert _video_session(api, GIB).status_code == 200
    assert second["mediaId"]


def test_grpc_callers_get_the_quota_failure_in_the_status_details(api, settings, user):
    for _ in range(2):
        assert _video_session(api, GIB).status_code == 200
    stub = media_pb2_grpc.MediaServiceStub(
        grpc.insecure_channel(f"127.0.0.1:{settings.gateway_port}")
    )

    with pytest.raises(grpc.RpcError) as raised:
        stub.CreateUploadSession(
            media_pb2.CreateUploadSessionRequest(
                file_name="a.mp4", file_type="video/mp4", file_size=GIB, media_type="post-video"
            ),
            metadata=(("authorization", f"Bearer {mint_token(settings, user)}"),),
            timeout=10,
        )

    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(raised.value)
    failures = [d for d in status.details if d.Is(error_details_pb2.QuotaFailure.DESCRIPTOR)]
    assert len(failures) == 1
    failure = error_details_pb2.QuotaFailure()
    failures[0].Unpack(failure)
    assert failure.violations[0].subject == "daily-upload"
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info) and info.reason == "DAILY_QUOTA_EXCEEDED"
