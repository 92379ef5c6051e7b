"""python -m gateway.reflection: gRPC reflection of the public API, for the gateway.

Each service reflects only itself on its own port. Behind the one gateway
port, grpcurl needs both services at once, so Envoy routes reflection here:
a small server that answers from the descriptor set Envoy transcodes with.
"""

import signal
import threading
from concurrent import futures
from pathlib import Path

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway.envoy_config import DESCRIPTOR_SET
from gateway.settings import Settings

PUBLIC_SERVICES = ["media.v1.MediaService", "post.v1.PostService"]


def load_pool(path: Path) -> descriptor_pool.DescriptorPool:
    files = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:  # --include_imports put dependencies first
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
