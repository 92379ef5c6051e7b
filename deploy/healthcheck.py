"""A container health check for where no native probe reaches (in the image as
/app/healthcheck.py):

    python /app/healthcheck.py grpc 127.0.0.1:50051 [SERVICE]   # grpc.health.v1 says SERVING
    python /app/healthcheck.py http http://127.0.0.1:9466/readyz  # answers 200

Exit 0 when healthy, 1 (with one line on stderr) when not. Compose has no gRPC
probe of its own, and Kubernetes' probes reach the pod's address only, while
the gateway's reflection server listens on loopback.
"""

import sys
import urllib.request

TIMEOUT_SECONDS = 3.0


def grpc_serving(target: str, service: str = "") -> str | None:
    """None when `target` says SERVING for `service`, else why not."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT_SECONDS
            )
        except grpc.RpcError as error:
            return f"{target}: {error.code().name}"
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return f"{target}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    return None


def http_ok(url: str) -> str | None:
    """None when `url` answers 200, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as reply:
            status = reply.status
    except OSError as error:  # URLError and HTTPError (a non-2xx answer) are OSErrors
        return f"{url}: {error}"
    return None if status == 200 else f"{url}: HTTP {status}"


def main(argv: list[str]) -> int:
    if len(argv) in (2, 3) and argv[0] == "grpc":
        problem = grpc_serving(*argv[1:])
    elif len(argv) == 2 and argv[0] == "http":
        problem = http_ok(argv[1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
