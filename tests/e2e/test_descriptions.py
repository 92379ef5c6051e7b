"""UpdateMedia through the gateway: alt text and focal point of the caller's media."""

import math

import grpc
import httpx
import pytest

from gateway.devkeys import mint_token
from genproto.media.v1 import media_pb2, media_pb2_grpc
from harness.media_files import small_jpeg
from harness.rest import Api
from media_client import ApiError, MediaClient


def _patch(api: Api, media_id: str, body: object) -> httpx.Response:
    return api.http.patch(f"/api/v1/media/{media_id}", json=body)


def _shown(media: dict) -> tuple[str, dict | None]:
    """What a client reads of a media (or a post's media): description ("" when
    there is none) and focus (a message: absent until one is set)."""
    return media["description"], media.get("focus")


def test_description_and_focus_round_trip_through_rest(api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]

    reply = _patch(
        api, media_id, {"description": "A cat on a mat", "focus": {"x": 0.5, "y": -0.25}}
    )

    assert reply.status_code == 200, reply.text
    assert _shown(reply.json()) == ("A cat on a mat", {"x": 0.5, "y": -0.25})
    assert _shown(api.media(media_id).json()) == ("A cat on a mat", {"x": 0.5, "y": -0.25})


def test_a_focus_reads_back_as_written_to_a_floats_precision(api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]

    short = _patch(api, media_id, {"focus": {"x": 0.3, "y": -0.7}}).json()["focus"]
    long = _patch(api, media_id, {"focus": {"x": 0.1, "y": 0.123456789}}).json()["focus"]

    # A focus is two 32-bit floats, printed as the shortest decimal of each:
    # 0.3 reads back as 0.3, digits past a float's precision come back rounded.
    assert short == {"x": 0.3, "y": -0.7}
    assert long == {"x": 0.1, "y": pytest.approx(0.123456789, abs=1e-7)}
    assert api.media(media_id).json()["focus"] == long


def test_a_field_left_out_stays_and_an_empty_description_clears(api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]
    _patch(api, media_id, {"description": "first words", "focus": {"x": -1, "y": 1}})

    only_focus = _patch(api, media_id, {"focus": {"x": 0.25, "y": 0.75}})
    only_description = _patch(api, media_id, {"description": "second words"})
    cleared = _patch(api, media_id, {"description": ""})

    assert _shown(only_focus.json()) == ("first words", {"x": 0.25, "y": 0.75})
    assert _shown(only_description.json()) == ("second words", {"x": 0.25, "y": 0.75})
    assert _shown(cleared.json()) == ("", {"x": 0.25, "y": 0.75})
    assert _shown(api.media(media_id).json()) == ("", {"x": 0.25, "y": 0.75})


def test_description_and_focus_show_on_the_post(api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]
    _patch(api, media_id, {"description": "two cats", "focus": {"x": 0.5, "y": 0.5}})

    created = api.create_post("look", [media_id]).json()
    shown = api.http.get(f"/api/v1/posts/{created['postId']}").json()
    feed = api.http.get("/feed", params={"pageSize": 5}).json()

    in_feed = next(p for p in feed["posts"] if p["postId"] == created["postId"])
    for post in (created, shown, in_feed):
        assert _shown(post["media"][0]) == ("two cats", {"x": 0.5, "y": 0.5})


def test_media_can_be_described_after_it_is_attached(api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]
    post_id = api.create_post("described later", [media_id]).json()["postId"]

    reply = _patch(api, media_id, {"description": "a late description", "focus": {"x": 0, "y": -1}})

    assert reply.status_code == 200, reply.text
    assert reply.json()["postId"] == post_id
    shown = api.http.get(f"/api/v1/posts/{post_id}").json()
    assert shown["media"][0]["description"] == "a late description"
    assert shown["media"][0]["focus"] == {"x": 0, "y": -1}  # x = 0 printed too


def test_a_pending_upload_can_be_described_before_it_is_complete(api: Api):
    media_id = api.create_session(small_jpeg()).json()["mediaId"]

    reply = _patch(api, media_id, {"description": "still uploading"})

    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "PENDING"
    assert reply.json()["description"] == "still uploading"


def test_a_description_of_exactly_1500_characters_is_accepted_counting_code_points(api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]
    # 1,500 characters: 3,500 bytes of UTF-8, 2,000 UTF-16 code units.
    description = "é" * 1000 + "\N{CAT FACE}" * 500

    reply = _patch(api, media_id, {"description": description})

    assert reply.status_code == 200, reply.text
    assert api.media(media_id).json()["description"] == description


def test_a_description_over_1500_characters_is_refused_and_nothing_changes(api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]
    _patch(api, media_id, {"description": "kept", "focus": {"x": 0.5, "y": 0.5}})
    before = _shown(api.media(media_id).json())

    reply = _patch(api, media_id, {"description": "é" * 1501, "focus": {"x": -0.5, "y": -0.5}})

    assert reply.status_code == 400
    assert reply.json()["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert reply.json()["message"] == "description is 1501 characters; at most 1500 are allowed"
    assert _shown(api.media(media_id).json()) == before


@pytest.mark.parametrize(
    "focus, message",
    [
        ({"x": 1.5, "y": 0}, "focus.x must be between -1 and 1, got 1.5"),
        ({"x": 0, "y": -1.01}, "focus.y must be between -1 and 1, got -1.01"),
        ({"x": "NaN", "y": 0}, "focus.x must be between -1 and 1, got NaN"),
        ({"x": 0, "y": "-Infinity"}, "focus.y must be between -1 and 1, got -Infinity"),
        # beyond any float: the gateway refuses the JSON itself
        ({"x": 1e39, "y": 0}, "focus.x: invalid value 1e+39 for type TYPE_FLOAT"),
    ],
)
def test_a_focus_out_of_range_is_refused_and_nothing_changes(api: Api, focus, message):
    media_id = api.upload(small_jpeg())["mediaId"]
    _patch(api, media_id, {"description": "kept", "focus": {"x": 0.5, "y": 0.5}})
    before = _shown(api.media(media_id).json())

    reply = _patch(api, media_id, {"description": "not written", "focus": focus})

    assert reply.status_code == 400, reply.text
    assert reply.json()["message"] == message
    assert _shown(api.media(media_id).json()) == before


def test_a_nan_focus_over_grpc_is_refused(settings, user, api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]
    stub = media_pb2_grpc.MediaServiceStub(
        grpc.insecure_channel(f"127.0.0.1:{settings.gateway_port}")
    )
    request = media_pb2.UpdateMediaRequest(
        media_id=media_id, focus=media_pb2.Focus(x=0.0, y=math.nan)
    )

    with pytest.raises(grpc.RpcError) as raised:
        stub.UpdateMedia(
            request,
            metadata=(("authorization", f"Bearer {mint_token(settings, user)}"),),
            timeout=10,
        )

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "focus.y must be between -1 and 1, got NaN"
    assert "focus" not in api.media(media_id).json()  # a message never set stays out


@pytest.mark.parametrize("body", [{}, {"focus": None}])
def test_an_update_with_neither_field_is_refused(api: Api, body):
    media_id = api.upload(small_jpeg())["mediaId"]

    reply = _patch(api, media_id, body)

    assert reply.status_code == 400
    assert reply.json()["message"] == "nothing to update: give description, focus or both"


def test_another_users_media_is_not_found_and_unchanged(api: Api, other_api: Api):
    foreign = other_api.upload(small_jpeg())["mediaId"]

    reply = _patch(api, foreign, {"description": "not mine"})

    assert reply.status_code == 404
    assert reply.json()["message"] == f"media {foreign} not found"
    assert other_api.media(foreign).json()["description"] == ""


def test_a_deleted_media_is_not_found(api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]
    assert api.http.delete(f"/api/v1/media/{media_id}").status_code == 200

    reply = _patch(api, media_id, {"description": "too late"})

    assert reply.status_code == 404
    assert reply.json()["message"] == f"media {media_id} not found"


def test_an_aborted_upload_cannot_be_described(api: Api):
    media_id = api.create_session(small_jpeg()).json()["mediaId"]
    assert api.http.post(f"/api/v1/media/{media_id}/abort").status_code == 200

    reply = _patch(api, media_id, {"description": "too late"})

    assert reply.status_code == 400
    assert reply.json()["code"] == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert reply.json()["message"] == (
        f"media {media_id} is ABORTED; only PENDING, UPLOADED, PROCESSING, READY or FAILED "
        "media can be updated"
    )


def test_a_browser_preflight_for_patch_is_allowed(settings):
    origin = settings.cors_origins[0]

    reply = httpx.options(
        f"{settings.gateway_url}/api/v1/media/00000000-0000-0000-0000-000000000000",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )

    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == origin
    assert "PATCH" in reply.headers["access-control-allow-methods"]


def test_a_browser_patch_gets_the_cors_grant(api: Api, settings):
    origin = settings.cors_origins[0]
    media_id = api.upload(small_jpeg())["mediaId"]

    reply = api.http.patch(
        f"/api/v1/media/{media_id}", json={"description": "from a page"}, headers={"Origin": origin}
    )

    assert reply.status_code == 200, reply.text
    assert reply.headers["access-control-allow-origin"] == origin


def test_the_python_client_updates_media(settings, user, api: Api):
    media_id = api.upload(small_jpeg())["mediaId"]

    with MediaClient(settings.gateway_url, mint_token(settings, user)) as client:
        described = client.update(media_id, description="from a script")
        focused = client.update(media_id, focus=(-0.5, 0.25))
        with pytest.raises(ApiError) as refused:
            client.update(media_id)

    assert (described.description, described.HasField("focus")) == ("from a script", False)
    assert (focused.description, focused.focus.x, focused.focus.y) == ("from a script", -0.5, 0.25)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.message == "nothing to update: give description, focus or both"
