"""Which RPCs of the API are public and which are internal.

The proto is the source of truth: a method with a `google.api.http` mapping
is public (the gateway routes it), and so is one that streams its replies
(a stream follows something for a caller; gRPC and grpc-web carry it, REST
does not); any other is internal, callable only by another service of the
mesh with the service credential.
"""

from google.api import annotations_pb2
from google.protobuf.descriptor import ServiceDescriptor


def method_path(service: ServiceDescriptor, name: str) -> str:
    return f"/{service.full_name}/{name}"


def internal_methods(*services: ServiceDescriptor) -> list[str]:
    return [
        method_path(service, method.name)
        for service in services
        for method in service.methods
        if not method.GetOptions().HasExtension(annotations_pb2.http)
        and not method.server_streaming
    ]
