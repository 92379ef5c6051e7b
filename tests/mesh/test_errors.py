"""The error tree's registry: each class's gRPC code and HTTP status, both ways."""

import grpc
import pytest

from mesh.errors import (
    ERRORS,
    AlreadyExists,
    Conflict,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    MeshError,
    NotFound,
    PermissionDenied,
    Reason,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    error_class,
    error_class_for_http,
    error_for_status,
    invalid_field,
    local_reply_codes,
)

# The contract's table (DESIGN.md, Errors), and the gateway's own replies.
HTTP_STATUS = {
    InvalidArgument: 400,
    FailedPrecondition: 400,
    Unauthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    AlreadyExists: 409,
    Conflict: 409,
    ResourceExhausted: 429,
    DeadlineExceeded: 504,
    Unavailable: 503,
    Internal: 500,
}


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_each_class_holds_its_grpc_code_and_http_status(cls: type[MeshError]):
    code = grpc.StatusCode[cls.code]

    assert cls.code_number == code.value[0]
    assert cls.http_status == HTTP_STATUS[cls]


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_a_code_finds_its_class_by_name_and_by_number(cls: type[MeshError]):
    assert error_class(cls.code) is cls
    assert error_class(cls.code_number) is cls


def test_a_code_no_class_has_is_the_base_class():
    assert error_class("DATA_LOSS") is MeshError
    assert error_class(15) is MeshError
    assert (MeshError.code, MeshError.code_number, MeshError.http_status) == ("UNKNOWN", 2, 500)


@pytest.mark.parametrize(
    "http_status, cls",
    [
        (400, InvalidArgument),  # not FAILED_PRECONDITION: a bare 400 is a bad request
        (401, Unauthenticated),
        (403, PermissionDenied),
        (404, NotFound),
        (408, DeadlineExceeded),
        (409, Conflict),  # not ALREADY_EXISTS: a bare 409 is a conflict with the state
        (413, ResourceExhausted),
        (429, ResourceExhausted),
        (431, ResourceExhausted),
        (500, Internal),
        (503, Unavailable),
        (504, DeadlineExceeded),
        (418, MeshError),
    ],
)
def test_an_http_status_finds_its_class(http_status: int, cls: type[MeshError]):
    assert error_class_for_http(http_status) is cls


def test_every_http_status_of_a_class_leads_back_to_a_class_with_that_status():
    for cls in ERRORS:
        for http_status in (cls.http_status, *cls.gateway_statuses):
            found = error_class_for_http(http_status)
            assert http_status in (found.http_status, *found.gateway_statuses)


def test_the_gateways_local_replies_carry_the_registrys_codes():
    assert local_reply_codes() == [
        (400, 3),
        (401, 16),
        (403, 7),
        (404, 5),
        (408, 4),
        (409, 10),
        (413, 8),
        (429, 8),
        (431, 8),
        (500, 13),
        (503, 14),
        (504, 4),
    ]


def test_an_error_carries_its_reason_and_metadata_as_text():
    error = NotFound("media m not found", reason="MEDIA_NOT_FOUND", metadata={"mediaId": "m"})
    sized = InvalidArgument("too big", reason="FILE_TOO_LARGE", metadata={"limit": 5})

    assert (error.message, error.reason, error.metadata) == (
        "media m not found",
        "MEDIA_NOT_FOUND",
        {"mediaId": "m"},
    )
    assert sized.metadata == {"limit": "5"}
    assert error.code == "NOT_FOUND"


def test_without_a_reason_an_error_falls_back_to_its_classs_default_or_its_code():
    assert NotFound("gone").reason == "NOT_FOUND"
    assert NotFound("gone").metadata == {}
    assert Internal("media_service failed on this request").reason == Reason.SERVICE_FAILED


def test_invalid_field_names_the_field():
    error = invalid_field("pageSize", "pageSize must not be negative, got -1")

    assert type(error) is InvalidArgument
    assert error.reason == Reason.INVALID_FIELD
    assert error.metadata == {"field": "pageSize"}


def test_error_for_status_builds_the_class_of_the_code_with_what_it_is_given():
    error = error_for_status(
        "ALREADY_EXISTS",
        "media m is already attached to another post",
        reason="MEDIA_ATTACHED",
        metadata={"mediaId": "m", "postId": "p"},
    )

    assert type(error) is AlreadyExists
    assert error.reason == "MEDIA_ATTACHED"
    assert error.metadata == {"mediaId": "m", "postId": "p"}
    assert type(error_for_status("CANCELLED", "stopped")) is MeshError
