"""Health that tells the truth: a service says NOT_SERVING while a dependency it
needs does not answer, and SERVING again once it does, checked in the
background (mesh.health)."""

from harness.waiting import wait_for
from tests.own_services import isolated_media_service, own_service
from tests.support import grpc_health
from tests.tcp_proxy import TcpProxy

# Two check intervals and a check's timeout, with room for a busy machine.
SETTLES_WITHIN = 15


def _says(address: str, status: str) -> None:
    wait_for(lambda: grpc_health(address) == status, f"health {status}", SETTLES_WITHIN)


def test_media_service_is_not_serving_while_its_database_or_storage_is_down(
    mesh, settings, tmp_path
):
    with isolated_media_service(mesh, tmp_path) as service:
        for dependency in (service.database, service.storage):
            dependency.refuse()
            _says(service.address, "NOT_SERVING")
            # Alive all the same: a liveness probe must not restart it.
            assert grpc_health(service.address, "liveness") == "SERVING"
            dependency.heal()
            _says(service.address, "SERVING")


def test_post_service_is_not_serving_while_media_service_is_unreachable(mesh, settings, tmp_path):
    media = TcpProxy(settings.media_port)
    try:
        with own_service(
            mesh,
            "post_service",
            "POST_SERVICE_PORT",
            tmp_path,
            MEDIA_SERVICE_ADDR=f"127.0.0.1:{media.port}",
        ) as (address, _):
            media.refuse()
            _says(address, "NOT_SERVING")
            media.heal()
            _says(address, "SERVING")
    finally:
        media.close()
