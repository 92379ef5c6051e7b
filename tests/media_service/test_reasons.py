"""Each refusal of a declaration or a parts list names its specific reason
and what it concerns, for programs to branch on (the messages are tested
beside the checks)."""

import pytest

from media_service.multipart import check_against_storage, check_parts_list
from media_service.storage import StoredPart
from media_service.validation import Declaration, validate
from mesh.errors import InvalidArgument

MIB = 1024 * 1024
GOOD = {"file_name": "a.jpg", "file_type": "image/jpeg", "file_size": 1000}


@pytest.mark.parametrize(
    "overrides, reason, metadata",
    [
        ({"media_type": "banner"}, "UNKNOWN_MEDIA_TYPE", {"mediaType": "banner"}),
        (
            {"file_type": "image/svg+xml"},
            "FILE_TYPE_NOT_ALLOWED",
            {"mediaType": "post-image", "fileType": "image/svg+xml"},
        ),
        (
            {"media_type": "avatar", "file_size": 5 * MIB + 1},
            "FILE_TOO_LARGE",
            {"mediaType": "avatar", "limit": str(5 * MIB)},
        ),
        ({"media_type": ""}, "INVALID_FIELD", {"field": "mediaType"}),
        ({"file_name": " "}, "INVALID_FIELD", {"field": "fileName"}),
        ({"file_type": ""}, "INVALID_FIELD", {"field": "fileType"}),
        ({"file_size": 0}, "INVALID_FIELD", {"field": "fileSize"}),
        ({"checksum_sha256": "abc"}, "INVALID_FIELD", {"field": "checksumSha256"}),
        ({"visibility": "SECRET"}, "INVALID_FIELD", {"field": "visibility"}),
    ],
)
def test_a_refused_declaration_names_its_reason(overrides, reason, metadata):
    declaration = Declaration(**{**GOOD, "media_type": "post-image", **overrides})

    with pytest.raises(InvalidArgument) as raised:
        validate(declaration)

    assert (raised.value.reason, raised.value.metadata) == (reason, metadata)


@pytest.mark.parametrize(
    "parts, reason, metadata",
    [
        ([], "INVALID_FIELD", {"field": "parts"}),
        ([(1, "a"), (4, "d")], "INVALID_FIELD", {"field": "parts", "partNumber": "4"}),
        ([(1, "a"), (1, "a")], "INVALID_FIELD", {"field": "parts", "partNumber": "1"}),
        ([(1, '""')], "INVALID_FIELD", {"field": "parts", "partNumber": "1"}),
        ([(1, "a"), (3, "c")], "PART_NOT_LISTED", {"partNumber": "2"}),
    ],
)
def test_a_wrong_parts_list_names_its_reason(parts, reason, metadata):
    with pytest.raises(InvalidArgument) as raised:
        check_parts_list(parts, total_parts=3)

    assert (raised.value.reason, raised.value.metadata) == (reason, metadata)


@pytest.mark.parametrize(
    "stored, reason",
    [
        ([StoredPart(1, 10, '"a"')], "PART_NOT_UPLOADED"),
        ([StoredPart(1, 10, '"a"'), StoredPart(2, 10, '"x"')], "PART_ETAG_MISMATCH"),
        (
            [StoredPart(1, 10, '"a"'), StoredPart(2, 10, '"b"', checksum_sha256="other")],
            "PART_CHECKSUM_MISMATCH",
        ),
    ],
)
def test_a_part_storage_does_not_hold_as_listed_is_named_by_number(stored, reason):
    with pytest.raises(InvalidArgument) as raised:
        check_against_storage([(1, "a"), (2, "b")], stored, {2: "declared"})

    assert (raised.value.reason, raised.value.metadata) == (reason, {"partNumber": "2"})
