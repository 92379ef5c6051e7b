"""Dependencies that stop answering: the database hangs, storage goes down, the
database is not there yet at start.

A media_service of the test's own (one process, its own port) reaches the
mesh's PostgreSQL and S3 server through TCP proxies the test can make hang or
refuse; it shares the mesh's database, bucket and broker, so what it writes
is what the mesh sees. Calls go straight at its port, as the gateway's would.
"""

import time
from urllib.parse import urlparse

import grpc
import httpx
import psycopg2
import pytest

from gateway import processes
from gateway.devkeys import mint_token
from genproto.media.v1 import media_pb2
from harness.media_files import small_jpeg
from harness.waiting import wait_for
from tests.own_services import isolated_media_service
from tests.support import grpc_serving

MIB = 1024 * 1024
# The gateway's timeout for a write: the service must answer before it.
GATEWAY_TIMEOUT_SECONDS = 15


def _statuses(database_url: str, owner: str) -> list[str]:
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT status FROM media WHERE owner_id = %s", (owner,))
        return [row[0] for row in cursor.fetchall()]


def test_a_hung_database_is_unavailable_in_seconds_and_leaves_nothing_behind(
    mesh, settings, s3, user, tmp_path
):
    with isolated_media_service(mesh, tmp_path) as service:
        metadata = (("authorization", f"Bearer {mint_token(settings, user)}"),)
        request = media_pb2.CreateUploadSessionRequest(
            file_name="clip.mp4", file_type="video/mp4", file_size=50 * MIB, media_type="post-video"
        )
        # Given a pooled connection to the database, which then holds every
        # connection open and answers nothing
        service.stub.ListMedia(media_pb2.ListMediaRequest(), metadata=metadata, timeout=10)
        service.database.hang()

        # When sessions are asked for (multipart: storage is written first)
        started = time.monotonic()
        for _ in range(2):
            with pytest.raises(grpc.RpcError) as raised:
                service.stub.CreateUploadSession(
                    request, metadata=metadata, timeout=GATEWAY_TIMEOUT_SECONDS
                )
            # Then each answer is UNAVAILABLE, in words, well before the gateway gives up
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
            assert raised.value.details() == "the database is unavailable; try again shortly"
        assert (time.monotonic() - started) / 2 < GATEWAY_TIMEOUT_SECONDS / 2

        # And once it answers again, no session was recorded and no upload left open
        service.database.heal()
        assert _statuses(settings.database_url, user) == []
        uploads = s3.list_multipart_uploads(Bucket=settings.s3_bucket, Prefix=f"post-video/{user}/")
        assert uploads.get("Uploads", []) == []
        # and the service serves again
        reply = service.stub.ListMedia(media_pb2.ListMediaRequest(), metadata=metadata, timeout=10)
        assert list(reply.media) == []


def test_a_delete_that_met_a_storage_outage_is_finished_by_its_retry(
    mesh, settings, s3, user, tmp_path
):
    with isolated_media_service(mesh, tmp_path) as service:
        metadata = (("authorization", f"Bearer {mint_token(settings, user)}"),)
        data = small_jpeg()
        session = service.stub.CreateUploadSession(
            media_pb2.CreateUploadSessionRequest(
                file_name="a.jpg", file_type="image/jpeg", file_size=len(data), media_type="avatar"
            ),
            metadata=metadata,
            timeout=10,
        )
        headers = dict(session.upload_headers)
        assert httpx.put(session.upload_url, content=data, headers=headers).status_code == 200
        service.stub.CompleteUpload(
            media_pb2.CompleteUploadRequest(media_id=session.media_id),
            metadata=metadata,
            timeout=10,
        )
        key = urlparse(session.upload_url).path.split(f"/{settings.s3_bucket}/", 1)[1]
        delete = media_pb2.DeleteMediaRequest(media_id=session.media_id)

        # Given storage is down: the delete answers 503
        service.storage.refuse()
        with pytest.raises(grpc.RpcError) as raised:
            service.stub.DeleteMedia(delete, metadata=metadata, timeout=GATEWAY_TIMEOUT_SECONDS)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert raised.value.details() == "object storage is unavailable; try again shortly"

        # When it is retried once storage is back
        service.storage.heal()
        retried = service.stub.DeleteMedia(delete, metadata=metadata, timeout=10)

        # Then the retry answers as the first delete would have, and the object is gone
        assert media_pb2.MediaStatus.Name(retried.status) == "DELETED"
        assert s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=key).get("KeyCount") == 0
        again = service.stub.DeleteMedia(delete, metadata=metadata, timeout=10)
        assert media_pb2.MediaStatus.Name(again.status) == "DELETED"


def test_a_database_missing_at_start_is_one_line_and_a_retry_not_a_traceback(mesh, tmp_path):
    with isolated_media_service(mesh, tmp_path, wait=False) as service:
        # Given the database refuses connections while the service starts
        service.database.refuse()
        log = service.child.log_path
        assert log is not None

        # Then it says so in one line per attempt, and keeps trying
        wait_for(
            lambda: log.read_text().count("cannot reach the database") >= 2,
            "two attempts to reach the database",
            timeout=30,
        )
        assert "Traceback" not in log.read_text()
        assert service.child.process.poll() is None

        # And once the database is there, it serves
        service.database.heal()
        processes.wait_until(
            lambda: grpc_serving(service.address), "media_service", 60, service.child
        )
