"""python -m gateway.reflection: gRPC reflection of the public API, for the gateway.

Each service reflects only itself on its own port. Behind the one gateway
port, grpcurl needs both services at once, so Envoy routes reflection here:
a small server that answers from the descriptor set Envoy transcodes with,
less what the gateway never routes: the internal methods (those without a
REST mapping) and the messages and enums only they use.
"""

import signal
import threading
from collections.abc import Iterable, Iterator
from concurrent import futures
from pathlib import Path
from typing import TypeVar

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway.envoy_config import DESCRIPTOR_SET
from gateway.services import INTERNAL_METHODS, UPSTREAMS
from gateway.settings import Settings

PUBLIC_SERVICES = [upstream.full_name for upstream in UPSTREAMS]
# Files of others (well-known types, google.api, google.rpc) are served whole.
FOREIGN_FILES = "google/"
_Type = TypeVar("_Type", descriptor_pb2.DescriptorProto, descriptor_pb2.EnumDescriptorProto)


def public_files(
    files: Iterable[descriptor_pb2.FileDescriptorProto], internal_methods: Iterable[str]
) -> list[descriptor_pb2.FileDescriptorProto]:
    """Copies of `files` without the methods at `internal_methods` (paths like
    /media.v1.MediaService/AttachMedia), nor the messages and enums of our own
    files that only those methods use, directly or through one another."""
    internal = set(internal_methods)
    copies = [_copy(file) for file in files]
    ours = [file for file in copies if not file.name.startswith(FOREIGN_FILES)]
    # Every top-level message and enum of our files, by ".package.Name".
    messages = {f".{f.package}.{m.name}": m for f in ours for m in f.message_type}
    types = {*messages, *(f".{f.package}.{e.name}" for f in ours for e in f.enum_type)}

    def reached(roots: Iterable[str]) -> set[str]:
        """The top-level types of our files that `roots` reach, roots included."""
        seen: set[str] = set()
        pending = [_top_level(root, types) for root in roots]
        while pending:
            name = pending.pop()
            if not name or name in seen:
                continue
            seen.add(name)
            if name in messages:
                pending += [_top_level(t, types) for t in _field_types(messages[name])]
        return seen

    def is_internal(file: descriptor_pb2.FileDescriptorProto, service: str, method: str) -> bool:
        return f"/{file.package}.{service}/{method}" in internal

    public_roots: list[str] = []
    internal_roots: list[str] = []
    for file in ours:
        for service in file.service:
            for method in service.method:
                roots = (
                    internal_roots if is_internal(file, service.name, method.name) else public_roots
                )
                roots += [method.input_type, method.output_type]
    # What a public method uses stays, and so does what no method uses (the
    # message that brings the error details into the set): only what the
    # internal methods alone use goes.
    internal_use = reached(internal_roots)
    kept = reached([*public_roots, *(types - internal_use)])
    for file in ours:
        for service in file.service:
            public = [m for m in service.method if not is_internal(file, service.name, m.name)]
            del service.method[:]
            service.method.extend(public)
        _retain(file.message_type, file.package, kept)
        _retain(file.enum_type, file.package, kept)
    return copies


def _retain(declared: RepeatedCompositeFieldContainer[_Type], package: str, kept: set[str]) -> None:
    remaining = [t for t in declared if f".{package}.{t.name}" in kept]
    del declared[:]
    declared.extend(remaining)


def _copy(file: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    copy = descriptor_pb2.FileDescriptorProto()
    copy.CopyFrom(file)
    return copy


def _field_types(message: descriptor_pb2.DescriptorProto) -> Iterator[str]:
    """The message and enum types a message's fields name, its nested types' too."""
    for field in message.field:
        if field.type_name:
            yield field.type_name
    for nested in message.nested_type:
        yield from _field_types(nested)


def _top_level(type_name: str, types: set[str]) -> str:
    """Our top-level type that declares `type_name` (".pkg.Outer.Inner" ->
    ".pkg.Outer"), or "" for a type of another file."""
    name = type_name
    while name and name not in types:
        name = name.rpartition(".")[0]
    return name


def load_pool(
    path: Path, internal_methods: Iterable[str] = INTERNAL_METHODS
) -> descriptor_pool.DescriptorPool:
    files = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in public_files(files.file, internal_methods):  # dependencies come first
        pool.Add(file)
    return pool


def create_server(address: str, descriptor_set: Path = DESCRIPTOR_SET) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*PUBLIC_SERVICES, reflection.SERVICE_NAME], server, pool=load_pool(descriptor_set)
    )
    if server.add_insecure_port(address) == 0:
        raise SystemExit(f"gateway.reflection: cannot listen on {address}")
    return server


def main() -> None:
    settings = Settings.from_env()
    server = create_server(f"{settings.host}:{settings.reflection_port}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    stop.wait()
    server.stop(2).wait()


if __name__ == "__main__":
    main()
