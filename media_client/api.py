"""The API over native gRPC: the channel, the caller's token on every call, a
deadline, retries of what is safe to retry, and errors as ApiError.

The target is the gateway (`http://127.0.0.1:8080`, or `https://…` for TLS)
or, for an internal caller, a service's own `host:port`. Calls that change
nothing, or that the server makes idempotent (completing, aborting, deleting,
setting a description or focus; a post with its idempotency key), are retried
by grpc itself on UNAVAILABLE, with exponential backoff and jitter.
CreateUploadSession is not: a session whose reply was lost would hold one of
the user's pending slots until it expires. Nor is WatchMedia, a stream: grpc
gives up retrying one once its first message is in, so reopening a broken
watch is MediaClient.watch's job.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import grpc

from genproto.media.v1 import media_pb2_grpc
from genproto.post.v1 import post_pb2_grpc
from media_client.errors import from_rpc_error

DEFAULT_TIMEOUT_SECONDS = 30.0

_RETRIED = {
    "media.v1.MediaService": [
        "GetMedia",
        "ListMedia",
        "ListUploadParts",
        "CompleteUpload",
        "CompleteMultipartUpload",
        "AbortUpload",
        "UpdateMedia",
        "DeleteMedia",
    ],
    "post.v1.PostService": ["CreatePost", "GetPost", "ListFeed"],
}
_RETRY_POLICY = {
    "maxAttempts": 4,
    "initialBackoff": "0.5s",
    "maxBackoff": "8s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [
                    {"service": service, "method": method}
                    for service, methods in _RETRIED.items()
                    for method in methods
                ],
                "retryPolicy": _RETRY_POLICY,
            }
        ]
    }
)

Reply = TypeVar("Reply")


def channel_for(target: str) -> grpc.Channel:
    """A channel to `target`: an http(s) URL of the gateway, or `host:port`."""
    options = [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", SERVICE_CONFIG),
        ("grpc.keepalive_time_ms", 30_000),
    ]
    parts = urlsplit(target if "://" in target else f"//{target}")
    if not parts.hostname:
        raise ValueError(f"{target!r} is not a gateway URL or host:port")
    if parts.scheme == "https":
        address = f"{parts.hostname}:{parts.port or 443}"
        return grpc.secure_channel(address, grpc.ssl_channel_credentials(), options)
    if parts.scheme not in ("", "http"):
        raise ValueError(f"{target!r}: the gateway is http:// or https://")
    return grpc.insecure_channel(f"{parts.hostname}:{parts.port or 80}", options)


class Api:
    """The two services' stubs, called as the token's user."""

    def __init__(self, channel: grpc.Channel, token: str, timeout: float) -> None:
        self.channel = channel
        self.media = media_pb2_grpc.MediaServiceStub(channel)
        self.posts = post_pb2_grpc.PostServiceStub(channel)
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._timeout = timeout

    def call(self, method: Callable[..., Reply], request: Any) -> Reply:
        """`method(request)` with the token and the deadline; ApiError if it fails."""
        try:
            return method(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def stream(
        self, method: Callable[..., Iterable[Reply]], request: Any, timeout: float | None
    ) -> Generator[Reply, None, None]:
        """The replies of the server-streaming `method(request)`, with the
        token and `timeout` seconds for the whole stream (None: no deadline);
        ApiError if it fails. Closing the iterator cancels the call."""
        call: Any = method(request, metadata=self._metadata, timeout=timeout)  # a grpc.Call too
        try:
            yield from call
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        finally:
            call.cancel()  # a no-op once the stream has ended
