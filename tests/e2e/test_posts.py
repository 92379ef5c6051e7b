"""Posts with media through the gateway: post_service checks and links over gRPC."""

from tests.support import Api, fake_jpeg


def test_a_post_links_the_callers_media_and_shows_it(api: Api, user: str):
    media_id = api.upload(fake_jpeg())["mediaId"]

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


def test_another_users_media_cannot_be_posted_and_nothing_is_linked(api: Api, other_api: Api):
    foreign = other_api.upload(fake_jpeg())["mediaId"]
    own = api.upload(fake_jpeg())["mediaId"]

    reply = api.create_post("not mine", [own, foreign])

    assert reply.status_code == 404
    assert reply.json()["message"] == f"media {foreign} not found"
    assert "postId" not in api.media(own).json()
    assert "postId" not in other_api.media(foreign).json()


def test_pending_media_cannot_be_posted(api: Api):
    pending = api.create_session(fake_jpeg()).json()["mediaId"]

    reply = api.create_post("too early", [pending])

    assert reply.status_code == 400
    assert reply.json()["message"] == (
        f"media {pending} is PENDING; only UPLOADED, PROCESSING or READY media can be attached"
    )


def test_a_media_already_in_a_post_cannot_be_posted_again(api: Api):
    media_id = api.upload(fake_jpeg())["mediaId"]
    first = api.create_post("one", [media_id]).json()

    reply = api.create_post("two", [media_id])

    assert reply.status_code == 409
    assert reply.json()["message"] == f"media {media_id} is already attached to another post"
    assert api.media(media_id).json()["postId"] == first["postId"]


def test_the_feed_lists_published_posts_newest_first(api: Api):
    first = api.create_post("older", []).json()["postId"]
    second = api.create_post("newer", []).json()["postId"]

    feed = api.http.get("/feed", params={"pageSize": 2}).json()

    assert [p["postId"] for p in feed["posts"]] == [second, first]
