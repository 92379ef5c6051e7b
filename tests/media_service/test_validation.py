"""What a client declares is checked before anything is signed or recorded."""

import base64
import hashlib

import pytest

from media_formats.media_types import MEDIA_TYPES
from media_service.uploads import storage_key
from media_service.validation import (
    Declaration,
    canonical_checksum,
    canonical_visibility,
    validate,
)
from mesh.errors import InvalidArgument

MIB = 1024 * 1024
INVISIBLE_MESSAGE = (
    "fileName contains invisible formatting characters (such as right-to-left override, "
    "zero-width or line-separator characters)"
)


def _declaration(**overrides) -> Declaration:
    fields = {
        "file_name": "a.jpg",
        "file_type": "image/jpeg",
        "file_size": 1000,
        "media_type": "post-image",
    }
    return Declaration(**{**fields, **overrides})


def test_a_good_declaration_gives_its_media_type():
    assert validate(_declaration()) is MEDIA_TYPES["post-image"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"media_type": ""}, "mediaType is required"),
        (
            {"media_type": "banner"},
            "unknown mediaType 'banner' (known: post-image, post-video, avatar)",
        ),
        ({"file_name": ""}, "fileName is required"),
        ({"file_name": "é" * 128 + ".jpg"}, "fileName is longer than 255 bytes"),
        ({"file_name": "a\x00.jpg"}, "fileName contains control characters"),
        ({"file_name": "a\n.jpg"}, "fileName contains control characters"),
        ({"file_name": "   "}, "fileName is blank"),
        ({"file_name": "\u3000\u00a0"}, "fileName is blank"),
        *[
            ({"file_name": f"photo{ch}gpj.exe"}, INVISIBLE_MESSAGE)
            for ch in ("\u202e", "\u200b", "\u200d", "\u2066", "\u2069", "\ufeff", "\u2028")
        ],
        ({"file_type": ""}, "fileType is required"),
        (
            {"file_type": "image/svg+xml"},
            "fileType 'image/svg+xml' is not allowed for post-image (allowed: image/jpeg, image/png, image/webp, image/gif, image/heic)",
        ),
        (
            {"media_type": "avatar", "file_type": "image/gif"},
            "fileType 'image/gif' is not allowed for avatar (allowed: image/jpeg, image/png, image/webp)",
        ),
        ({"file_size": 0}, "fileSize must be positive, got 0"),
        ({"file_size": -5}, "fileSize must be positive, got -5"),
        (
            {"file_size": 20 * MIB + 1},
            f"fileSize {20 * MIB + 1} exceeds the post-image limit of {20 * MIB} bytes",
        ),
        (
            {"media_type": "avatar", "file_size": 5 * MIB + 1},
            f"fileSize {5 * MIB + 1} exceeds the avatar limit of {5 * MIB} bytes",
        ),
        (
            {"checksum_sha256": "abc"},
            "checksumSha256 must be the base64 of a 32-byte SHA-256 digest",
        ),
        (
            {"checksum_sha256": base64.b64encode(b"x" * 31).decode()},
            "checksumSha256 must be the base64 of a 32-byte SHA-256 digest",
        ),
    ],
)
def test_a_bad_declaration_is_refused_with_a_precise_message(overrides, message):
    with pytest.raises(InvalidArgument) as raised:
        validate(_declaration(**overrides))
    assert raised.value.message == message


def test_a_real_checksum_is_accepted():
    checksum = base64.b64encode(hashlib.sha256(b"data").digest()).decode()

    validate(_declaration(checksum_sha256=checksum))


def test_a_checksum_with_unused_bits_set_is_made_canonical():
    canonical = base64.b64encode(hashlib.sha256(b"data").digest()).decode()
    # The 43rd character carries two unused low bits; set them.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    loose = canonical[:42] + alphabet[alphabet.index(canonical[42]) | 0b11] + "="
    assert loose != canonical and base64.b64decode(loose) == base64.b64decode(canonical)

    assert canonical_checksum(loose) == canonical
    assert canonical_checksum("") == ""


def test_a_file_name_in_any_script_is_accepted():
    validate(_declaration(file_name="日本の写真 — été.jpg"))


def test_a_file_name_of_exactly_255_bytes_is_accepted():
    validate(_declaration(file_name="a" * 251 + ".jpg"))


def test_the_storage_key_never_uses_the_file_name_and_makes_the_user_key_safe():
    key = storage_key("post-image", "auth0|user/../x", "3f2a", "jpg")

    prefix, user, name = key.split("/")
    assert prefix == "post-image"
    assert user == "auth0_user_.._x"
    assert name.endswith("-3f2a.jpg") and name[:13].isdigit()


@pytest.mark.parametrize(
    "given, canonical",
    [("", "PUBLIC"), ("VISIBILITY_UNSPECIFIED", "PUBLIC"), ("PUBLIC", "PUBLIC"),
     ("PRIVATE", "PRIVATE")],
)  # fmt: skip
def test_visibility_is_public_unless_private_is_asked(given, canonical):
    validate(_declaration(visibility=given))
    assert canonical_visibility(given) == canonical


@pytest.mark.parametrize("given", ["7", "private", "SECRET"])
def test_an_unknown_visibility_is_named(given):
    with pytest.raises(InvalidArgument) as raised:
        validate(_declaration(visibility=given))
    assert str(raised.value) == f"unknown visibility {given!r} (known: PUBLIC, PRIVATE)"


def test_a_private_key_is_the_public_one_under_the_private_prefix():
    key = storage_key("post-image", "u", "3f2a", "jpg", private=True)

    assert key.startswith("private/post-image/u/") and key.endswith("-3f2a.jpg")
    assert "private" not in MEDIA_TYPES  # so no public key ever falls under it
