"""Posts with media through the gateway: post_service checks and links over gRPC."""

from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from gateway.devkeys import mint_token
from genproto.post.v1 import post_pb2, post_pb2_grpc
from harness.media_files import small_jpeg
from harness.rest import Api
from tests.support import posts_of


def test_a_post_links_the_callers_media_and_shows_it(api: Api, user: str):
    media_id = api.upload(small_jpeg())["mediaId"]

    reply = api.create_post("first post", [media_id])

    assert reply.status_code == 200, reply.text
    post = reply.json()
    assert post["authorId"] == user
    assert post["content"] == "first post"
    assert [m["mediaId"] for m in post["media"]] == [media_id]
    assert api.media(media_id).json()["postId"] == post["postId"]
    shown = api.http.get(f"/api/v1/posts/{post['postId']}").json()
    assert shown["postId"] == post["postId"]
    assert shown["media"][0]["mediaId"] == media_id
    assert shown["media"][0]["cdnUrl"] == api.media(media_id).json()["cdnUrl"]


def test_another_users_media_cannot_be_posted_and_nothing_is_linked(
    api: Api, other_api: Api, settings, user
):
    foreign = other_api.upload(small_jpeg())["mediaId"]
    own = api.upload(small_jpeg())["mediaId"]

    reply = api.create_post("not mine", [own, foreign])

    assert reply.status_code == 404
    assert reply.json()["message"] == f"media {foreign} not found"
    assert api.media(own).json()["postId"] == ""
    assert other_api.media(foreign).json()["postId"] == ""
    assert posts_of(settings.database_url, user) == []


def test_pending_media_cannot_be_posted(api: Api, settings, user):
    pending = api.create_session(small_jpeg()).json()["mediaId"]

    reply = api.create_post("too early", [pending])

    assert reply.status_code == 400
    assert reply.json()["message"] == (
        f"media {pending} is PENDING; only UPLOADED, PROCESSING or READY media can be attached"
    )
    assert posts_of(settings.database_url, user) == []


def test_a_media_already_in_a_post_cannot_be_posted_again(api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]
    first = api.create_post("one", [media_id]).json()

    reply = api.create_post("two", [media_id])

    assert reply.status_code == 409
    assert reply.json()["message"] == f"media {media_id} is already attached to another post"
    # media_service's reason, passed on by post_service as it came
    [info] = reply.json()["details"]
    assert (info["reason"], info["metadata"]) == (
        "MEDIA_ATTACHED",
        {"mediaId": media_id, "postId": first["postId"]},
    )
    assert api.media(media_id).json()["postId"] == first["postId"]


def test_the_feed_lists_published_posts_newest_first(api: Api):
    first = api.create_post("older", []).json()["postId"]
    second = api.create_post("newer", []).json()["postId"]

    feed = api.http.get("/feed", params={"pageSize": 2}).json()

    assert [p["postId"] for p in feed["posts"]] == [second, first]


def test_posts_are_made_and_listed_under_api_v1_too(api: Api, user: str):
    """`POST /api/v1/posts` and `GET /api/v1/posts` are the same calls as
    `/feed/submit` and `/feed` (additional bindings)."""
    media_id = api.upload(small_jpeg())["mediaId"]
    older = api.create_post("by /feed/submit", []).json()["postId"]

    made = api.http.post("/api/v1/posts", json={"content": "by /api/v1", "mediaIds": [media_id]})

    assert made.status_code == 200, made.text
    assert made.json()["authorId"] == user
    assert [m["mediaId"] for m in made.json()["media"]] == [media_id]
    newest = [made.json()["postId"], older]
    for path in ("/api/v1/posts", "/feed"):  # the media may become READY in between
        listed = api.http.get(path, params={"pageSize": 2}).json()
        assert [p["postId"] for p in listed["posts"]] == newest, path
    refused = api.http.post("/api/v1/posts", json={"content": ""})
    assert (refused.status_code, refused.json()["message"]) == (
        400,
        "a post needs content or media",
    )


@pytest.mark.parametrize(
    "content, media_count, message",
    [
        ("", 0, "a post needs content or media"),
        ("   ", 0, "a post needs content or media"),
        ("x" * 5001, 0, "content is longer than 5000 characters"),
        ("many", 11, "a post can have at most 10 media, got 11"),
    ],
)
def test_a_bad_post_is_refused(api: Api, settings, user, content, media_count, message):
    media_ids = [f"m{i}" for i in range(media_count)]

    reply = api.create_post(content, media_ids)

    assert reply.status_code == 400
    assert reply.json()["message"] == message
    assert posts_of(settings.database_url, user) == []


def test_a_post_of_exactly_5000_characters_is_accepted(api: Api):
    assert api.create_post("x" * 5000, []).status_code == 200


def test_duplicate_media_are_refused(api: Api, settings, user):
    media_id = api.upload(small_jpeg())["mediaId"]

    reply = api.create_post("twice", [media_id, media_id])

    assert reply.status_code == 400
    assert reply.json()["message"] == f"mediaIds lists {media_id} more than once"
    assert api.media(media_id).json()["postId"] == ""
    assert posts_of(settings.database_url, user) == []


def test_an_unknown_media_is_not_found_and_the_others_stay_free(api: Api):
    own = api.upload(small_jpeg())["mediaId"]

    reply = api.create_post("ghost", [own, "00000000-0000-0000-0000-000000000000"])

    assert reply.status_code == 404
    assert reply.json()["message"] == "media 00000000-0000-0000-0000-000000000000 not found"
    assert api.media(own).json()["postId"] == ""


def test_two_posts_racing_for_one_media_end_with_exactly_one_winner(api: Api):
    for _ in range(8):
        media_id = api.upload(small_jpeg())["mediaId"]

        with ThreadPoolExecutor(max_workers=2) as pool:
            replies = list(pool.map(api.create_post, ["a", "b"], [[media_id]] * 2))

        assert sorted(r.status_code for r in replies) == [200, 409], [r.text for r in replies]
        winner = next(r.json() for r in replies if r.status_code == 200)
        assert api.media(media_id).json()["postId"] == winner["postId"]


def test_the_feed_pages_with_each_posts_media(api: Api, other_api: Api):
    posts = []
    for text in ("one", "two", "three"):
        media_id = api.upload(small_jpeg())["mediaId"]
        posts.append((api.create_post(text, [media_id]).json()["postId"], media_id))
    # others post meanwhile: the feed is everyone's, so page until ours are all seen
    other_api.create_post("someone else", [])

    seen: dict[str, list[str]] = {}
    token, pages = "", 0
    while True:
        page = api.http.get(
            "/feed", params={"pageSize": 2, **({"pageToken": token} if token else {})}
        ).json()
        pages += 1
        assert len(page["posts"]) <= 2
        seen.update({p["postId"]: [m["mediaId"] for m in p["media"]] for p in page["posts"]})
        token = page["nextPageToken"]
        if not token:
            break

    assert pages >= 2
    for post_id, media_id in posts:
        assert seen[post_id] == [media_id]
    order = list(seen)
    assert order.index(posts[2][0]) < order.index(posts[1][0]) < order.index(posts[0][0])


def test_the_author_deletes_a_post_and_its_media_are_free_again(api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]
    post_id = api.create_post("soon gone", [media_id]).json()["postId"]

    reply = api.http.delete(f"/api/v1/posts/{post_id}")

    assert reply.status_code == 200
    assert reply.json() == {"postId": post_id, "detachedMediaIds": [media_id]}
    assert api.http.get(f"/api/v1/posts/{post_id}").status_code == 404
    assert api.media(media_id).json()["postId"] == ""
    assert api.create_post("again", [media_id]).status_code == 200


def test_only_the_author_can_delete_a_post(api: Api, other_api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]
    post_id = api.create_post("mine", [media_id]).json()["postId"]

    reply = other_api.http.delete(f"/api/v1/posts/{post_id}")

    assert reply.status_code == 403
    assert reply.json()["message"] == f"only the author of post {post_id} can delete it"
    [info] = reply.json()["details"]
    assert (info["reason"], info["metadata"]) == ("NOT_POST_AUTHOR", {"postId": post_id})
    assert api.media(media_id).json()["postId"] == post_id


def test_a_retry_with_the_same_idempotency_key_returns_the_original_post(api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]
    body = {"content": "once", "mediaIds": [media_id]}

    first = api.http.post("/feed/submit", json=body, headers={"Idempotency-Key": "k-1"})
    retry = api.http.post("/feed/submit", json=body, headers={"Idempotency-Key": "k-1"})
    different = api.http.post(
        "/feed/submit", json={**body, "content": "twice"}, headers={"Idempotency-Key": "k-1"}
    )

    assert first.status_code == retry.status_code == 200
    assert retry.json()["postId"] == first.json()["postId"]
    assert different.status_code == 400
    assert (
        different.json()["message"] == "Idempotency-Key was already used with a different request"
    )


def test_the_idempotency_key_is_a_field_in_grpc(settings, user):
    stub = post_pb2_grpc.PostServiceStub(
        grpc.insecure_channel(f"127.0.0.1:{settings.gateway_port}")
    )
    metadata = (("authorization", f"Bearer {mint_token(settings, user)}"),)
    request = post_pb2.CreatePostRequest(content="via grpc", idempotency_key="g-1")

    first = stub.CreatePost(request, metadata=metadata, timeout=10)
    again = stub.CreatePost(request, metadata=metadata, timeout=10)

    assert first.post_id == again.post_id


def test_a_post_shows_its_media_variants_once_ready(api: Api):
    from harness import media_files
    from harness.waiting import wait_for

    media_id = api.upload(media_files.phone_photo(640, 480))["mediaId"]
    post_id = api.create_post("with variants", [media_id]).json()["postId"]

    def shown_ready():
        media = api.http.get(f"/api/v1/posts/{post_id}").json()["media"][0]
        return media if media["status"] == "READY" else None

    media = wait_for(shown_ready, "the post to show its media READY")
    assert {v["name"] for v in media["variants"]} == {"thumb", "large"}
    assert (media["width"], media["height"]) == (480, 640)
    assert media["blurhash"]
