"""Which storage failures are outages (503) and which are the request's."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from media_service.storage import _outage_is_unavailable
from mesh.errors import Unavailable


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "HeadObject"
    )


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        _client_error("InternalError", 500),
        _client_error("SlowDown", 503),
        _client_error("AccessDenied", 403),
        _client_error("NoSuchBucket", 404),
        _client_error("InvalidAccessKeyId", 403),
    ],
)
def test_an_outage_or_a_misconfiguration_is_unavailable(error):
    with pytest.raises(Unavailable), _outage_is_unavailable():
        raise error


def test_a_missing_key_is_left_to_the_caller():
    with pytest.raises(ClientError), _outage_is_unavailable():
        raise _client_error("NoSuchKey", 404)
