"""post_service dies mid-saga; the reconciler finishes or undoes what it left.

A second post_service, sharing the mesh's database and media_service, is
started with SAGA_FAULT so that it exits right after a step of CreatePost, as
a crash would. The mesh's own post_service reconciles (RECONCILE_AFTER_SECONDS=1).
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest

from gateway import processes
from gateway.devkeys import mint_token
from gateway.processes import free_port
from gateway.settings import ROOT
from genproto.post.v1 import post_pb2, post_pb2_grpc
from harness.media_files import small_jpeg
from harness.rest import Api
from harness.waiting import wait_for
from tests.support import grpc_health, posts_of


@contextmanager
def crashing_post_service(mesh, fault: str, log_dir, **overrides: str) -> Iterator[str]:
    port = free_port()
    env = {
        **mesh.service_env(),
        "POST_SERVICE_PORT": str(port),
        "SERVER_PROCESSES": "1",
        "SAGA_FAULT": fault,
        **overrides,
    }
    child = processes.start(
        "crashing-post-service", [sys.executable, "-m", "post_service"], env, ROOT, log_dir
    )
    try:
        address = f"127.0.0.1:{port}"
        # Up, whether or not it has the media_service it needs to say SERVING.
        processes.wait_until(
            lambda: grpc_health(address) is not None, "the crashing post_service", 60, child
        )
        yield address
    finally:
        processes.stop(child)


def _create_post_and_crash(address: str, token: str, media_ids: list[str]) -> None:
    stub = post_pb2_grpc.PostServiceStub(grpc.insecure_channel(address))
    with pytest.raises(grpc.RpcError) as raised:
        stub.CreatePost(
            post_pb2.CreatePostRequest(content="crash", media_ids=media_ids),
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=10,
        )
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_crash_after_attach_is_finished_by_the_reconciler(
    api: Api, user, settings, mesh, tmp_path
):
    media_id = api.upload(small_jpeg())["mediaId"]

    with crashing_post_service(mesh, "crash-after-attached", tmp_path) as address:
        _create_post_and_crash(address, mint_token(settings, user), [media_id])

    # the media points at a post that readers cannot see yet...
    post_id = api.media(media_id).json()["postId"]
    assert api.http.get(f"/api/v1/posts/{post_id}").status_code == 404
    # ...until the reconciler publishes it
    post = wait_for(lambda: _published(api, post_id), "the reconciler to publish the post")
    assert [m["mediaId"] for m in post["media"]] == [media_id]


def test_a_crash_before_attach_is_undone_when_the_media_cannot_be_attached(
    api: Api, user, settings, mesh, tmp_path
):
    media_id = api.upload(small_jpeg())["mediaId"]
    winner = api.create_post("the real one", [media_id]).json()["postId"]

    with crashing_post_service(mesh, "crash-after-recorded", tmp_path) as address:
        _create_post_and_crash(address, mint_token(settings, user), [media_id])
    stranded = [p for p, status in posts_of(settings.database_url, user) if status == "PENDING"]
    assert len(stranded) == 1

    # the reconciler's attach is refused (the media is taken), so it deletes the post
    wait_for(
        lambda: [p for p, _ in posts_of(settings.database_url, user)] == [winner],
        "the reconciler to delete the stranded post",
    )
    assert api.media(media_id).json()["postId"] == winner


def _published(api: Api, post_id: str):
    reply = api.http.get(f"/api/v1/posts/{post_id}")
    return reply.json() if reply.status_code == 200 else None


def test_one_reconciler_pass_can_be_run_by_hand(mesh):
    import json
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "post_service.reconciler"],
        env=mesh.service_env(), cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert isinstance(json.loads(result.stdout.strip().splitlines()[-1]), dict)


def test_a_post_whose_attach_met_an_outage_is_undone_never_published(
    api: Api, user, settings, mesh, tmp_path
):
    media_id = api.upload(small_jpeg())["mediaId"]
    unreachable = f"127.0.0.1:{free_port()}"

    with crashing_post_service(mesh, "", tmp_path, MEDIA_SERVICE_ADDR=unreachable) as address:
        stub = post_pb2_grpc.PostServiceStub(grpc.insecure_channel(address))
        with pytest.raises(grpc.RpcError) as raised:
            stub.CreatePost(
                post_pb2.CreatePostRequest(content="outage", media_ids=[media_id]),
                metadata=(("authorization", f"Bearer {mint_token(settings, user)}"),),
                timeout=30,
            )
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        # told it failed, the post is marked for undoing, not left to be finished
        assert [status for _, status in posts_of(settings.database_url, user)] == ["DELETING"]

    wait_for(
        lambda: posts_of(settings.database_url, user) == [], "the reconciler to finish the undoing"
    )
    assert api.media(media_id).json()["postId"] == ""
