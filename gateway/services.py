"""The services behind the gateway: one row each, and what follows from them.

Everything the gateway says about a service comes from its row here and from
the service's descriptor (protos/ is the source of truth): Envoy's cluster and
health check, its routes (a prefix per service; reads, streams and internal
methods by their own paths), the services the transcoder maps to REST, the
services the gateway's reflection lists, and the processes the local mesh runs.
"""

from dataclasses import dataclass

from google.api import annotations_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from gateway.settings import Endpoint, Settings
from genproto.media.v1 import media_pb2
from genproto.post.v1 import post_pb2
from mesh.api import internal_methods, method_path

Route = tuple[str, str]  # (a method's gRPC path, the cluster it goes to)


@dataclass(frozen=True)
class Upstream:
    """A service the gateway routes to: every instance of it is one cluster."""

    service: ServiceDescriptor  # its proto service, from the generated stubs
    # Envoy's cluster; also the module the local mesh runs (`python -m NAME`)
    # and the name of its component (`NAME-2` for a second instance).
    name: str
    upstreams_field: str  # the Settings field listing its instances (host, port)
    port_variable: str  # the variable the service reads its port from

    @property
    def full_name(self) -> str:
        """`media.v1.MediaService`: its health check, transcoding and reflection."""
        return self.service.full_name

    @property
    def prefix(self) -> str:
        """Where every gRPC path of the service starts."""
        return f"/{self.service.full_name}/"

    def endpoints(self, settings: Settings) -> list[Endpoint]:
        endpoints: list[Endpoint] = getattr(settings, self.upstreams_field)
        return endpoints


UPSTREAMS = (
    Upstream(
        service=media_pb2.DESCRIPTOR.services_by_name["MediaService"],
        name="media_service",
        upstreams_field="media_upstreams",
        port_variable="MEDIA_SERVICE_PORT",
    ),
    Upstream(
        service=post_pb2.DESCRIPTOR.services_by_name["PostService"],
        name="post_service",
        upstreams_field="post_upstreams",
        port_variable="POST_SERVICE_PORT",
    ),
)
BY_NAME = {upstream.name: upstream for upstream in UPSTREAMS}
# Methods without a REST mapping (and no stream) are internal: never routed.
INTERNAL_METHODS = internal_methods(*(upstream.service for upstream in UPSTREAMS))


def is_read(method: MethodDescriptor) -> bool:
    """Reached by HTTP GET, by its rule or one of its additional bindings, so
    safe to call again (HTTP's own rule for GET); a stream is not a read."""
    options = method.GetOptions()
    if method.server_streaming or not options.HasExtension(annotations_pb2.http):
        return False
    rule = options.Extensions[annotations_pb2.http]
    return any(r.WhichOneof("pattern") == "get" for r in [rule, *rule.additional_bindings])


def read_methods() -> list[Route]:
    return [
        (method_path(upstream.service, method.name), upstream.name)
        for upstream in UPSTREAMS
        for method in upstream.service.methods
        if is_read(method)
    ]


def stream_methods() -> list[Route]:
    """Methods that stream their replies (gRPC and grpc-web only)."""
    return [
        (method_path(upstream.service, method.name), upstream.name)
        for upstream in UPSTREAMS
        for method in upstream.service.methods
        if method.server_streaming
    ]
