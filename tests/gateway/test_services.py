"""One table of services drives the gateway: its clusters, routes, transcoding
and reflection all follow from the rows and from the services' descriptors."""

from pathlib import Path

import yaml
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import MethodDescriptor

from gateway import envoy_config, reflection
from gateway.services import INTERNAL_METHODS, UPSTREAMS, is_read, read_methods, stream_methods
from gateway.settings import Settings


def _config(tmp_path: Path, **environ: str) -> dict:
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), **environ})
    config: dict = yaml.safe_load(envoy_config.render(settings))
    return config


def _routes(config: dict) -> list[dict]:
    listener = config["static_resources"]["listeners"][0]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    routes: list[dict] = manager["route_config"]["virtual_hosts"][0]["routes"]
    return routes


def _filter(config: dict, name: str) -> dict:
    listener = config["static_resources"]["listeners"][0]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    [found] = [f["typed_config"] for f in manager["http_filters"] if f["name"] == name]
    return found


def test_the_reads_are_the_methods_reached_by_get():
    assert read_methods() == [
        ("/media.v1.MediaService/ListUploadParts", "media_service"),
        ("/media.v1.MediaService/GetMedia", "media_service"),
        ("/media.v1.MediaService/ListMedia", "media_service"),
        ("/media.v1.MediaService/GetUsage", "media_service"),
        ("/post.v1.PostService/GetPost", "post_service"),
        ("/post.v1.PostService/ListFeed", "post_service"),  # two GET bindings
    ]
    assert stream_methods() == [("/media.v1.MediaService/WatchMedia", "media_service")]


def _method(rule: http_pb2.HttpRule | None, streaming: bool = False) -> MethodDescriptor:
    """A method of a service of its own, with `rule` as its google.api.http."""
    pool = descriptor_pool.DescriptorPool()
    for module in (descriptor_pb2, http_pb2, annotations_pb2):
        file = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(file)
        pool.Add(file)
    file = descriptor_pb2.FileDescriptorProto(
        name="x.proto", package="x.v1", dependency=["google/api/annotations.proto"]
    )
    file.message_type.add(name="M")
    method = file.service.add(name="Svc").method.add(
        name="Call", input_type=".x.v1.M", output_type=".x.v1.M", server_streaming=streaming
    )
    if rule is not None:
        method.options.Extensions[annotations_pb2.http].CopyFrom(rule)
    pool.Add(file)
    return pool.FindServiceByName("x.v1.Svc").methods_by_name["Call"]


def test_a_method_is_a_read_when_any_of_its_bindings_is_a_get_and_it_does_not_stream():
    get = http_pb2.HttpRule(get="/x")
    post_or_get = http_pb2.HttpRule(post="/x", body="*", additional_bindings=[get])
    posts = http_pb2.HttpRule(
        post="/x", body="*", additional_bindings=[http_pb2.HttpRule(post="/y", body="*")]
    )

    assert is_read(_method(get))
    assert is_read(_method(post_or_get))
    assert not is_read(_method(posts))
    assert not is_read(_method(None))  # internal
    assert not is_read(_method(get, streaming=True))


def test_every_service_of_the_table_is_a_health_checked_cluster_of_its_upstreams(tmp_path: Path):
    config = _config(
        tmp_path,
        MEDIA_SERVICE_UPSTREAMS="media-a:50051,media-b:50051",
        POST_SERVICE_UPSTREAMS="10.0.0.7:6000",
    )

    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    shown = {
        name: (
            cluster["type"],
            cluster["health_checks"][0]["grpc_health_check"]["service_name"],
            [
                e["endpoint"]["address"]["socket_address"]
                for e in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
            ],
        )
        for name, cluster in clusters.items()
        if name != "reflection"
    }
    assert shown == {
        "media_service": (
            "STRICT_DNS",
            "media.v1.MediaService",
            [
                {"address": "media-a", "port_value": 50051},
                {"address": "media-b", "port_value": 50051},
            ],
        ),
        "post_service": (
            "STATIC",
            "post.v1.PostService",
            [{"address": "10.0.0.7", "port_value": 6000}],
        ),
    }


def test_routes_and_transcoding_follow_the_table_and_the_descriptors(tmp_path: Path):
    config = _config(tmp_path)

    routes = _routes(config)
    by_path = {r["match"]["path"]: r for r in routes if "path" in r["match"]}
    by_prefix = {r["match"]["prefix"]: r for r in routes if "prefix" in r["match"]}
    for path in INTERNAL_METHODS:
        assert by_path[path]["direct_response"]["status"] == 404, path
    for path, cluster in read_methods():
        route = by_path[path]["route"]
        assert route["cluster"] == cluster
        assert "reset" in route["retry_policy"]["retry_on"].split(","), path
    for path, cluster in stream_methods():
        assert by_path[path]["route"]["cluster"] == cluster
        assert by_path[path]["route"]["timeout"] == "0s"
    for upstream in UPSTREAMS:
        route = by_prefix[upstream.prefix]["route"]
        assert route["cluster"] == upstream.name
        assert route["retry_policy"]["retry_on"] == "connect-failure,refused-stream"
    assert by_prefix["/"]["route"]["cluster"] == UPSTREAMS[0].name
    transcoder = _filter(config, "envoy.filters.http.grpc_json_transcoder")
    assert transcoder["services"] == ["media.v1.MediaService", "post.v1.PostService"]


def test_rest_json_prints_every_field_with_the_proto3_json_names(tmp_path: Path):
    transcoder = _filter(_config(tmp_path), "envoy.filters.http.grpc_json_transcoder")

    assert transcoder["print_options"] == {
        "add_whitespace": False,
        "always_print_primitive_fields": True,
        "always_print_enums_as_ints": False,
        "preserve_proto_field_names": False,
    }


def test_the_reflection_lists_the_services_of_the_table():
    pool = reflection.load_pool(envoy_config.DESCRIPTOR_SET)

    assert reflection.PUBLIC_SERVICES == ["media.v1.MediaService", "post.v1.PostService"]
    for name in reflection.PUBLIC_SERVICES:
        assert pool.FindServiceByName(name).methods
