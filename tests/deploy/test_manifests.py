"""deploy/: the compose stack and the Kubernetes manifests, rendered by their own
tools (`docker-compose config`, `kubectl kustomize`: no engine, no cluster) and
checked for what a reviewer would check by hand: every container non-root and
locked down, probes and resources on every pod, budgets and the autoscaler
aimed at real Deployments, every ConfigMap and Secret that is referenced
present, the Envoy config current, and the environment of each process exactly
what its code reads (read by calling the code's own `from_env`).

The tools live in a venv of their own (`make deploy-tools`).
"""

import base64
import os
import re
import shlex
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway import envoy_config
from gateway.localmesh import envoy_binary
from gateway.settings import Settings
from media_formats.media_types import MEDIA_TYPES
from media_service.config import MediaConfig
from mesh.server import LIVENESS
from post_service.config import PostConfig

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "kubernetes" / "base"
COMPOSE_FILE = DEPLOY / "compose.yaml"
COMPOSE_ENV = DEPLOY / "compose.env.example"  # its example secrets, for rendering
ENVOY_SETTINGS = BASE / "envoy-settings.env"
ENVOY_CONFIG = BASE / "envoy.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
TOOLS = ROOT / ".venv" / "deploy-tools" / "bin"
TOOLS_TARGET = "make deploy-tools"

IMAGE = "media-mesh"  # deploy/Dockerfile's image, by the name both stacks use
IMAGE_USER = 10001
IMAGE_ROOT = "/app"  # where the image keeps the code and genproto/ (its ROOT)

# How many instances of each long-running process each stack runs.
INSTANCES = {"media_service": 2, "media_service.worker": 2, "post_service": 2}

# Each process's settings, read the way it reads them at start.
Loader = Callable[[Mapping[str, str]], Any]
LOADERS: dict[str, Loader] = {
    "media_service": MediaConfig.from_env,
    "media_service.worker": MediaConfig.from_env,
    "media_service.janitor": MediaConfig.from_env,
    "post_service": PostConfig.from_env,
    "post_service.reconciler": PostConfig.from_env,
    "gateway.reflection": Settings.from_env,
}

# Variables the code reads that no deploy sets, and why.
NOT_SET_IN_DEPLOYS = {
    "PROCESSING_FAULT": "tests only: makes a worker crash or stall mid-job",
    "SAGA_FAULT": "tests only: makes post_service exit mid-saga",
    "DATA_DIR": "the embedded mode's files (SQLite, dev keys); deploys set DATABASE_URL, "
    "JWKS_URL and SERVICE_TOKEN_PATH instead",
    "JWKS_PATH": "the dev key pair's JWKS; deploys set JWKS_URL",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "the per-signal override of "
    "OTEL_EXPORTER_OTLP_ENDPOINT, which deploys set",
}
# The gateway's settings that only the local mesh (`make run`) uses: the
# deploy's Envoy config and the reflection server do not.
LOCAL_MESH_ONLY = {
    "DEMO_PORT": "the demo page's server",
    "S3_PORT": "the embedded S3 server",
    "MEDIA_SERVICE_PORT": "the local instances; a deploy names them in MEDIA_SERVICE_UPSTREAMS",
    "POST_SERVICE_PORT": "the local instances; a deploy names them in POST_SERVICE_UPSTREAMS",
    "MEDIA_SERVICE_METRICS_PORT": "the local instances' exporters",
    "POST_SERVICE_METRICS_PORT": "the local instances' exporters",
    "WORKER_METRICS_PORT": "the local instances' exporters",
    "DATABASE_URL": "handed to the local services",
    "BROKER_URL": "handed to the local services",
    "S3_ENDPOINT_URL": "handed to the local services",
    "S3_BUCKET": "handed to the local services",
}
# Set in deploys and read by a library, not through mesh.config.Env.
READ_BY_LIBRARIES = {
    "OTEL_SERVICE_NAME": "the OpenTelemetry SDK (mesh/tracing.py)",
    "OTEL_TRACES_EXPORTER": "the OpenTelemetry SDK (mesh/tracing.py)",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "the OpenTelemetry SDK (mesh/tracing.py)",
}
# `python -m <service> migrate` only migrates.
MIGRATE_NEEDS = {"DATABASE_URL"}
# Never a literal in a Kubernetes manifest or ConfigMap.
SECRET_VARIABLES = {"DATABASE_URL", "BROKER_URL", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"}
# Compose services allowed to run as root, and why (the same in compose.yaml).
COMPOSE_ROOT = {
    "minio": "MinIO's image has no user of its own and its /data is root's: a numeric "
    "user could not write a fresh volume (capabilities dropped; Kubernetes uses R2)",
}


# --- rendering ---------------------------------------------------------------


def run_tool(name: str, *args: str | Path, home: Path) -> str:
    """A tool of .venv/deploy-tools, with none of the caller's environment."""
    binary = TOOLS / name
    if not os.access(binary, os.X_OK):
        pytest.fail(f"{name} is missing from .venv/deploy-tools: `{TOOLS_TARGET}` installs it")
    result = subprocess.run(
        [str(binary), *map(str, args)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"{name} {' '.join(map(str, args))} failed:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("home")
    args = ("--env-file", COMPOSE_ENV, "-f", COMPOSE_FILE, "config")
    rendered: dict[str, Any] = yaml.safe_load(run_tool("docker-compose", *args, home=home))
    return rendered


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> "Manifests":
    home = tmp_path_factory.mktemp("home")
    text = run_tool("kubectl", "kustomize", BASE, home=home)
    return Manifests([doc for doc in yaml.safe_load_all(text) if doc])


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as `make deploy-config` passes them (comments skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        if re.match(r"[A-Z][A-Z0-9_]*=", line):
            key, _, value = line.partition("=")
            values[key] = value
    return values


@pytest.fixture(scope="module")
def envoy_settings() -> dict[str, str]:
    return read_env_file(ENVOY_SETTINGS)


class Manifests:
    """The rendered objects, found by kind and name."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = objects

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return next((o for o in self.of_kind(kind) if o["metadata"]["name"] == name), None)

    def data(self, kind: str, name: str) -> dict[str, str]:
        found = self.get(kind, name)
        assert found is not None, f"{kind} {name} is referenced but not in the manifests"
        if kind == "Secret":
            return {k: base64.b64decode(v).decode() for k, v in found.get("data", {}).items()}
        return dict(found.get("data", {}))

    def workloads(self) -> list[dict[str, Any]]:
        return self.of_kind("Deployment") + self.of_kind("Job")

    def replicas(self, workload: dict[str, Any]) -> int:
        """A Deployment's replicas, or its autoscaler's minimum; a Job's one."""
        if workload["kind"] != "Deployment":
            return 1
        for hpa in self.of_kind("HorizontalPodAutoscaler"):
            if hpa["spec"]["scaleTargetRef"]["name"] == workload["metadata"]["name"]:
                return int(hpa["spec"]["minReplicas"])
        return int(workload["spec"].get("replicas", 1))


# --- the containers of both stacks, alike --------------------------------------


@dataclass
class Container:
    where: str  # for messages: "compose service worker-1", "Deployment/worker worker"
    workload: str  # the compose service, or the Kubernetes Deployment or Job ("Kind/name")
    image: str
    argv: list[str]
    env: dict[str, str]
    replicas: int = 1
    from_secrets: set[str] = field(default_factory=set)  # variables a Secret sets
    spec: dict[str, Any] = field(default_factory=dict)  # as rendered
    pod: dict[str, Any] = field(default_factory=dict)  # Kubernetes: the pod spec

    @property
    def ours(self) -> bool:
        return self.image.split(":")[0] == IMAGE

    @property
    def module(self) -> str:
        """`media_service` for `python -m media_service ...`; `envoy` for Envoy."""
        if self.argv[:2] == ["python", "-m"] and len(self.argv) > 2:
            return self.argv[2]
        return Path(self.argv[0]).name if self.argv else ""

    @property
    def migrates(self) -> bool:
        return self.argv[:2] == ["python", "-m"] and self.argv[3:] == ["migrate"]

    @property
    def serves(self) -> bool:
        """A long-running process (not a migration)."""
        return not self.migrates


def compose_containers(rendered: dict[str, Any]) -> list[Container]:
    containers = []
    for name, service in rendered["services"].items():
        command = service.get("command", [])
        containers.append(
            Container(
                where=f"compose service {name}",
                workload=name,
                image=service.get("image", ""),
                argv=shlex.split(command) if isinstance(command, str) else list(command),
                env={
                    k: "" if v is None else str(v)
                    for k, v in service.get("environment", {}).items()
                },
                spec=service,
            )
        )
    return containers


def kube_containers(manifests: Manifests) -> list[Container]:
    containers = []
    for workload in manifests.workloads():
        pod = workload["spec"]["template"]["spec"]
        for spec in pod["containers"]:
            env, from_secrets = kube_env(spec, manifests)
            containers.append(
                Container(
                    where=f"{workload['kind']}/{workload['metadata']['name']} {spec['name']}",
                    workload=f"{workload['kind']}/{workload['metadata']['name']}",
                    image=spec["image"],
                    argv=[*spec.get("command", []), *spec.get("args", [])],
                    env=env,
                    replicas=manifests.replicas(workload),
                    from_secrets=from_secrets,
                    spec=spec,
                    pod=pod,
                )
            )
    return containers


def kube_env(spec: dict[str, Any], manifests: Manifests) -> tuple[dict[str, str], set[str]]:
    """A container's environment, its ConfigMaps and Secrets looked up (a later
    source wins, as in Kubernetes), and which variables a Secret sets."""
    env: dict[str, str] = {}
    from_secrets: set[str] = set()

    def put(name: str, value: str, kind: str) -> None:
        assert name not in env, f"{spec['name']}: {name} is set twice"
        env[name] = value
        if kind == "Secret":
            from_secrets.add(name)

    for source in spec.get("envFrom", []):
        kind, ref = _env_source(source)
        for key, value in manifests.data(kind, ref["name"]).items():
            put(source.get("prefix", "") + key, value, kind)
    for item in spec.get("env", []):
        if "value" in item:
            put(item["name"], str(item["value"]), "literal")
            continue
        selector = item["valueFrom"]
        kind = "Secret" if "secretKeyRef" in selector else "ConfigMap"
        ref = selector.get("secretKeyRef") or selector["configMapKeyRef"]
        data = manifests.data(kind, ref["name"])
        assert ref["key"] in data, f"{kind} {ref['name']} has no key {ref['key']}"
        put(item["name"], data[ref["key"]], kind)
    return env, from_secrets


def _env_source(source: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if "secretRef" in source:
        return "Secret", source["secretRef"]
    return "ConfigMap", source["configMapRef"]


@pytest.fixture(scope="module", params=["compose", "kubernetes"])
def stack(
    request: pytest.FixtureRequest, compose: dict[str, Any], kube: Manifests
) -> list[Container]:
    if request.param == "compose":
        return compose_containers(compose)
    return kube_containers(kube)


class Recording(dict[str, str]):
    """An environment that notes every variable looked up (mesh.config.Env reads
    with `.get`)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


def load(container: Container) -> tuple[Any, set[str]]:
    """The process's settings as it would load them from this environment, and
    the variables it read."""
    environ = Recording(container.env)
    return LOADERS[container.module](environ), environ.read


def read_by_code() -> set[str]:
    """Every variable some process reads, its conditional ones included."""
    read: set[str] = set()
    for environ in ({}, {"OTEL_TRACES_EXPORTER": "otlp", "BROKER_URL": "amqp://x"}):
        for loader in set(LOADERS.values()):
            recording = Recording(environ)
            loader(recording)
            read |= recording.read
    return read


def ours(containers: Iterable[Container]) -> list[Container]:
    return [c for c in containers if c.ours]


def running(containers: Iterable[Container], module: str) -> list[Container]:
    return [c for c in containers if c.module == module and c.serves]


# --- both stacks ---------------------------------------------------------------


def test_each_stack_runs_every_process(stack: list[Container]) -> None:
    for module, count in INSTANCES.items():
        instances = sum(c.replicas for c in running(stack, module))
        assert instances == count, f"{module}: {instances} instances, expected {count}"
    for module in ("envoy", "gateway.reflection"):
        assert running(stack, module), f"nothing runs {module}"
    migrations = {c.module for c in stack if c.migrates}
    assert migrations == {"media_service", "post_service"}, f"migrations run: {migrations}"


def test_our_processes_are_known_commands(stack: list[Container]) -> None:
    for container in ours(stack):
        assert container.module in [*LOADERS, "envoy"], f"{container.where}: {container.argv}"


def test_every_variable_set_is_read_by_its_process(stack: list[Container]) -> None:
    """Catches typos and leftovers: a variable nothing reads does nothing."""
    for container in ours(stack):
        if container.module == "envoy":
            assert not container.env, f"{container.where}: Envoy reads no variable, its file"
            continue
        _config, read = load(container)
        unread = set(container.env) - read - set(READ_BY_LIBRARIES)
        assert not unread, f"{container.where} sets what it never reads: {sorted(unread)}"


def test_every_variable_read_is_set(stack: list[Container]) -> None:
    """Each setting is written down in the deploy, not left to a default that
    suits a laptop (SERVER_PROCESSES: the host's CPU count; BIND_HOST: loopback)."""
    for container in ours(stack):
        if container.module == "envoy":
            continue
        _config, read = load(container)
        if container.migrates:
            needed = MIGRATE_NEEDS
        elif container.module == "gateway.reflection":
            needed = read - set(NOT_SET_IN_DEPLOYS) - set(LOCAL_MESH_ONLY)
        else:
            needed = read - set(NOT_SET_IN_DEPLOYS)
        missing = needed - set(container.env)
        assert not missing, f"{container.where} leaves unset: {sorted(missing)}"


def test_the_exceptions_name_variables_the_code_reads() -> None:
    read = read_by_code()
    for allowlist in (NOT_SET_IN_DEPLOYS, LOCAL_MESH_ONLY):
        stale = set(allowlist) - read
        assert not stale, f"no code reads {sorted(stale)}: take them off the list"


def test_services_listen_on_every_interface(stack: list[Container]) -> None:
    for module in ("media_service", "post_service", "media_service.worker"):
        for container in running(stack, module):
            config, _read = load(container)
            metrics = config.worker_metrics if module.endswith("worker") else config.metrics
            assert (config.server.host, metrics.host) == ("0.0.0.0", "0.0.0.0"), container.where


def test_services_and_envoy_trust_the_same_identity_provider(
    stack: list[Container], envoy_settings: dict[str, str]
) -> None:
    expected = {k: envoy_settings[k] for k in ("JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE")}
    for container in ours(stack):
        if container.module in ("media_service", "post_service") and container.serves:
            config, _read = load(container)
            auth = config.auth
            assert {
                "JWKS_URL": auth.jwks_url,
                "JWT_ISSUER": auth.issuer,
                "JWT_AUDIENCE": auth.audience,
            } == expected, container.where


def test_images_are_pinned(stack: list[Container]) -> None:
    for container in stack:
        name, _, tag = container.image.rpartition(":")
        assert name and tag and tag != "latest", f"{container.where}: image {container.image!r}"


# --- compose -------------------------------------------------------------------


def test_compose_runs_everything_as_a_numeric_non_root_user(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(COMPOSE_ROOT) <= set(services), "an exception names a service that is gone"
    for name, service in services.items():
        if name in COMPOSE_ROOT:
            assert service.get("cap_drop") == ["ALL"], f"{name} runs as root: drop every capability"
            continue
        user = str(service.get("user", ""))
        assert re.fullmatch(r"\d+(:\d+)?", user), f"{name}: user {user!r} is not numeric"
        assert int(user.split(":")[0]) != 0, f"{name} runs as root"


def test_compose_locks_down_our_containers(compose: dict[str, Any]) -> None:
    for container in ours(compose_containers(compose)):
        spec = container.spec
        assert spec.get("user") == f"{IMAGE_USER}:{IMAGE_USER}", container.where
        assert spec.get("read_only") is True, f"{container.where}: root filesystem writable"
        assert "/tmp" in spec.get("tmpfs", []), f"{container.where}: no tmpfs /tmp"
        assert spec.get("cap_drop") == ["ALL"], container.where
        assert "no-new-privileges:true" in spec.get("security_opt", []), container.where
        # tini, the image's entrypoint, stays PID 1.
        assert "entrypoint" not in spec, f"{container.where} replaces the entrypoint"


def test_compose_health_checks_ask_the_right_ports(compose: dict[str, Any]) -> None:
    for container in ours(compose_containers(compose)):
        if container.migrates:
            continue
        test = container.spec.get("healthcheck", {}).get("test", [])
        assert test[:3] == ["CMD", "python", "/app/healthcheck.py"], f"{container.where}: {test}"
        mode, target = test[3], test[4]
        assert int(target.rsplit(":", 1)[1].split("/")[0]) == expected_probe_port(container), (
            f"{container.where} checks {target}"
        )
        assert mode == ("http" if container.module in ("envoy", "media_service.worker") else "grpc")


def expected_probe_port(container: Container) -> int:
    if container.module == "envoy":
        return int(read_env_file(ENVOY_SETTINGS)["ENVOY_ADMIN_PORT"])
    config, _read = load(container)
    if container.module == "gateway.reflection":
        return int(config.reflection_port)
    if container.module == "media_service.worker":
        return int(config.worker_metrics.port)
    return int(config.server.port)


def test_compose_starts_services_after_their_migrations(compose: dict[str, Any]) -> None:
    services = compose["services"]
    migrations = {c.module: name for name, c in _by_name(compose).items() if c.migrates}
    for name, container in _by_name(compose).items():
        service = container.module.split(".")[0]  # a worker is media_service's
        if service in migrations and container.serves:
            condition = services[name].get("depends_on", {}).get(migrations[service], {})
            assert condition.get("condition") == "service_completed_successfully", name


def _by_name(compose: dict[str, Any]) -> dict[str, Container]:
    return {c.workload: c for c in compose_containers(compose)}


def test_compose_service_names_reach_every_instance(
    compose: dict[str, Any], envoy_settings: dict[str, str]
) -> None:
    """Envoy's upstreams and post_service's MEDIA_SERVICE_ADDR are network
    aliases that every instance of the service carries."""
    targets = {
        "media_service": envoy_settings["MEDIA_SERVICE_UPSTREAMS"],
        "post_service": envoy_settings["POST_SERVICE_UPSTREAMS"],
    }
    for container in running(compose_containers(compose), "post_service"):
        targets["media_service"] += "," + container.env["MEDIA_SERVICE_ADDR"].removeprefix(
            "dns:///"
        )
    for module, target_list in targets.items():
        for target in target_list.split(","):
            host, _, port = target.rpartition(":")
            carriers = [
                c
                for c in compose_containers(compose)
                if host in c.spec.get("networks", {}).get("default", {}).get("aliases", [])
            ]
            assert {c.module for c in carriers} == {module}, f"{target} is not {module}"
            assert len(carriers) == INSTANCES[module], f"{target}: {len(carriers)} instances"
            for carrier in carriers:
                assert load(carrier)[0].server.port == int(port), f"{carrier.where} vs {target}"


def test_compose_gateway_runs_the_committed_config(compose: dict[str, Any]) -> None:
    (envoy,) = running(compose_containers(compose), "envoy")
    config_path = envoy.argv[envoy.argv.index("--config-path") + 1]
    mounts = dict(reversed(m.split(":")[:2]) for m in envoy.spec.get("volumes", []))
    assert Path(mounts[config_path]) == ENVOY_CONFIG, f"{config_path} is not {ENVOY_CONFIG.name}"
    (reflection,) = running(compose_containers(compose), "gateway.reflection")
    # Envoy reaches the reflection server on loopback: one network namespace.
    assert reflection.spec.get("network_mode") == f"service:{envoy.workload}"


def test_compose_service_token_is_a_mounted_secret(compose: dict[str, Any]) -> None:
    for container in ours(compose_containers(compose)):
        path = container.env.get("SERVICE_TOKEN_PATH")
        if path is None:
            continue
        secret = path.removeprefix("/run/secrets/")
        sources = [
            s["source"] if isinstance(s, dict) else s for s in container.spec.get("secrets", [])
        ]
        assert secret in sources and secret in compose["secrets"], f"{container.where}: {path}"


def test_compose_storage_is_set_up_like_production(
    compose: dict[str, Any], envoy_settings: dict[str, str]
) -> None:
    """The bucket the services use, public reads of the media types' prefixes
    only (never private/), browsers' origins as the gateway's."""
    (media, *_rest) = running(compose_containers(compose), "media_service")
    config, _read = load(media)
    setup = " ".join(compose["services"]["storage-setup"]["command"])
    assert f"mc mb --ignore-existing local/{config.storage.bucket}" in setup
    public = set(re.findall(rf"anonymous set download local/{config.storage.bucket}/(\S+)", setup))
    assert public == set(MEDIA_TYPES), f"public prefixes {public}"
    minio = compose["services"]["minio"]["environment"]
    assert minio["MINIO_API_CORS_ALLOW_ORIGIN"] == envoy_settings["CORS_ORIGINS"]
    assert config.storage.cdn_base_url.startswith(config.storage.endpoint_url)


# --- Kubernetes ----------------------------------------------------------------


def test_kubernetes_pods_run_as_the_image_user(kube: Manifests) -> None:
    for container in kube_containers(kube):
        pod = container.pod.get("securityContext", {})
        own = container.spec.get("securityContext", {})
        assert {**pod, **own}.get("runAsNonRoot") is True, container.where
        user = {**pod, **own}.get("runAsUser")
        assert isinstance(user, int) and user == IMAGE_USER, f"{container.where}: {user!r}"


def test_kubernetes_containers_are_locked_down(kube: Manifests) -> None:
    for container in kube_containers(kube):
        context = container.spec.get("securityContext", {})
        assert context.get("allowPrivilegeEscalation") is False, container.where
        assert context.get("readOnlyRootFilesystem") is True, container.where
        assert context.get("capabilities", {}).get("drop") == ["ALL"], container.where
        volumes = {v["name"]: v for v in container.pod.get("volumes", [])}
        tmp = [m for m in container.spec.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
        assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{container.where}: no /tmp"
        # tini, the image's entrypoint, stays PID 1: the process is in args.
        assert "command" not in container.spec, f"{container.where} replaces the entrypoint"


def test_kubernetes_containers_have_resources(kube: Manifests) -> None:
    for container in kube_containers(kube):
        resources = container.spec.get("resources", {})
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                assert resources.get(bound, {}).get(resource), (
                    f"{container.where}: {bound}.{resource}"
                )


def test_kubernetes_probes(kube: Manifests, envoy_settings: dict[str, str]) -> None:
    for container in kube_containers(kube):
        if container.workload.startswith("Job/"):
            continue
        ready, alive = container.spec.get("readinessProbe"), container.spec.get("livenessProbe")
        assert ready and alive, f"{container.where}: readiness and liveness probes"
        ports = {p["name"]: p["containerPort"] for p in container.spec.get("ports", [])}
        module = container.module
        if module in ("media_service", "post_service"):
            config, _read = load(container)
            service = (
                "media.v1.MediaService" if module == "media_service" else "post.v1.PostService"
            )
            assert ready["grpc"] == {"port": config.server.port, "service": service}, (
                container.where
            )
            assert alive["grpc"] == {"port": config.server.port, "service": LIVENESS}, (
                container.where
            )
        elif module == "media_service.worker":
            config, _read = load(container)
            for probe, path in ((ready, "/readyz"), (alive, "/livez")):
                get = probe["httpGet"]
                assert get["path"] == path, container.where
                assert ports.get(get["port"], get["port"]) == config.worker_metrics.port
        elif module == "envoy":
            for probe in (ready, alive):
                get = probe["httpGet"]
                assert get["path"] == "/ready", container.where
                port = ports.get(get["port"], get["port"])
                assert port == int(envoy_settings["ENVOY_ADMIN_PORT"]), container.where
        else:
            assert module == "gateway.reflection", f"{container.where}: which probes?"


def test_kubernetes_metrics_are_scraped(kube: Manifests, envoy_settings: dict[str, str]) -> None:
    for deployment in kube.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        template = deployment["spec"]["template"]
        notes = template["metadata"].get("annotations", {})
        assert notes.get("prometheus.io/scrape") == "true", name
        containers = [c for c in kube_containers(kube) if c.workload == f"Deployment/{name}"]
        ports = {p["containerPort"] for c in containers for p in c.spec.get("ports", [])}
        port = int(notes["prometheus.io/port"])
        assert port in ports, f"{name}: scrape port {port} is not one of {ports}"
        modules = {c.module for c in containers}
        if "envoy" in modules:
            assert port == int(envoy_settings["ENVOY_ADMIN_PORT"]), name
            assert notes["prometheus.io/path"] == "/stats/prometheus", name
            continue
        (container,) = containers
        config, _read = load(container)
        metrics = config.worker_metrics if container.module.endswith("worker") else config.metrics
        assert port == metrics.port and notes["prometheus.io/path"] == "/metrics", name


def test_kubernetes_workloads_select_their_own_pods(kube: Manifests) -> None:
    for deployment in kube.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        assert _selected(kube, deployment["spec"]["selector"]["matchLabels"]) == [name], name


def test_kubernetes_every_deployment_has_a_disruption_budget(kube: Manifests) -> None:
    budgeted = []
    for budget in kube.of_kind("PodDisruptionBudget"):
        targets = _selected(kube, budget["spec"]["selector"]["matchLabels"])
        assert len(targets) == 1, f"PDB {budget['metadata']['name']} selects {targets}"
        budgeted += targets
        assert kube.replicas(kube.get("Deployment", targets[0]) or {}) > int(
            budget["spec"].get("minAvailable", 0)
        ), f"PDB {budget['metadata']['name']} would block every eviction"
    deployments = sorted(d["metadata"]["name"] for d in kube.of_kind("Deployment"))
    assert sorted(budgeted) == deployments


def _selected(kube: Manifests, labels: dict[str, str]) -> list[str]:
    return [
        d["metadata"]["name"]
        for d in kube.of_kind("Deployment")
        if labels.items() <= d["spec"]["template"]["metadata"]["labels"].items()
    ]


def test_kubernetes_workers_scale_on_cpu(kube: Manifests) -> None:
    autoscalers = kube.of_kind("HorizontalPodAutoscaler")
    for hpa in autoscalers:
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and kube.get("Deployment", target["name"]), target
    (worker,) = [c for c in kube_containers(kube) if c.module == "media_service.worker"]
    (hpa,) = [
        h
        for h in autoscalers
        if worker.workload.endswith("/" + h["spec"]["scaleTargetRef"]["name"])
    ]
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu"}
    assert hpa["spec"]["minReplicas"] == INSTANCES["media_service.worker"]


def test_kubernetes_service_names_reach_every_ready_pod(
    kube: Manifests, envoy_settings: dict[str, str]
) -> None:
    """Envoy's upstreams and MEDIA_SERVICE_ADDR name headless Services (every
    pod's address) of the Deployment that serves them, on its port."""
    targets = [
        ("media_service", envoy_settings["MEDIA_SERVICE_UPSTREAMS"]),
        ("post_service", envoy_settings["POST_SERVICE_UPSTREAMS"]),
    ]
    targets += [
        ("media_service", c.env["MEDIA_SERVICE_ADDR"].removeprefix("dns:///"))
        for c in running(kube_containers(kube), "post_service")
    ]
    for module, target in targets:
        host, _, port = target.rpartition(":")
        service = kube.get("Service", host)
        assert service is not None, f"no Service {host}"
        assert service["spec"].get("clusterIP") == "None", f"Service {host} is not headless"
        (deployment,) = _selected(kube, service["spec"]["selector"])
        (served,) = [c for c in kube_containers(kube) if c.workload == f"Deployment/{deployment}"]
        assert served.module == module and load(served)[0].server.port == int(port), target
        assert int(port) in {p["port"] for p in service["spec"]["ports"]}, target


def test_kubernetes_gateway_service(kube: Manifests, envoy_settings: dict[str, str]) -> None:
    (envoy,) = running(kube_containers(kube), "envoy")
    service = kube.get("Service", "gateway")
    assert service is not None and service["spec"].get("clusterIP") != "None"
    (deployment,) = _selected(kube, service["spec"]["selector"])
    assert envoy.workload == f"Deployment/{deployment}"
    ports = {p["name"]: p["containerPort"] for p in envoy.spec["ports"]}
    targets = {ports.get(p["targetPort"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert targets == {int(envoy_settings["GATEWAY_PORT"])}, "the admin port stays unexposed"


def test_kubernetes_references_exist(kube: Manifests) -> None:
    for container in kube_containers(kube):
        for source in container.spec.get("envFrom", []):
            kind, ref = _env_source(source)
            assert kube.get(kind, ref["name"]), f"{container.where}: no {kind} {ref['name']}"
    for workload in kube.workloads():
        for volume in workload["spec"]["template"]["spec"].get("volumes", []):
            if "configMap" in volume:
                assert kube.get("ConfigMap", volume["configMap"]["name"]), volume
            if "secret" in volume:
                assert kube.get("Secret", volume["secret"]["secretName"]), volume


def test_kubernetes_secrets_come_from_secrets(kube: Manifests) -> None:
    for config_map in kube.of_kind("ConfigMap"):
        exposed = SECRET_VARIABLES & set(config_map.get("data", {}))
        assert not exposed, f"ConfigMap {config_map['metadata']['name']} holds {sorted(exposed)}"
    for container in kube_containers(kube):
        literal = (SECRET_VARIABLES & set(container.env)) - container.from_secrets
        assert not literal, f"{container.where}: {sorted(literal)} not from a Secret"


def test_kubernetes_service_token_is_a_mounted_secret(kube: Manifests) -> None:
    for container in kube_containers(kube):
        path = container.env.get("SERVICE_TOKEN_PATH")
        if path is None:
            continue
        directory, _, key = path.rpartition("/")
        (mount,) = [m for m in container.spec["volumeMounts"] if m["mountPath"] == directory]
        (volume,) = [v for v in container.pod["volumes"] if v["name"] == mount["name"]]
        assert key in kube.data("Secret", volume["secret"]["secretName"]), container.where


def test_kubernetes_gateway_runs_the_committed_config(kube: Manifests) -> None:
    (envoy,) = running(kube_containers(kube), "envoy")
    config_path = envoy.argv[envoy.argv.index("--config-path") + 1]
    directory, _, key = config_path.rpartition("/")
    (mount,) = [m for m in envoy.spec["volumeMounts"] if m["mountPath"] == directory]
    (volume,) = [v for v in envoy.pod["volumes"] if v["name"] == mount["name"]]
    assert kube.data("ConfigMap", volume["configMap"]["name"])[key] == ENVOY_CONFIG.read_text()
    # The reflection server shares the pod (and its loopback) with Envoy.
    (reflection,) = running(kube_containers(kube), "gateway.reflection")
    assert reflection.pod is envoy.pod


# --- the Envoy config and the image --------------------------------------------


def test_envoy_config_is_current(envoy_settings: dict[str, str]) -> None:
    fresh = envoy_config.render(Settings.from_env(envoy_settings)) + "\n"
    assert ENVOY_CONFIG.read_text() == fresh, "stale: `make deploy-config` renders it"


def test_envoy_config_names_no_machine_path(envoy_settings: dict[str, str]) -> None:
    text = ENVOY_CONFIG.read_text()
    assert str(ROOT) not in text
    descriptor = f"{IMAGE_ROOT}/genproto/descriptor_set.pb"
    assert envoy_settings["DESCRIPTOR_SET_PATH"] == descriptor
    assert f'proto_descriptor: "{descriptor}"' in text
    assert "local_jwks" not in text, "a deploy verifies tokens with the provider's JWKS_URL"


def test_envoy_accepts_the_config(tmp_path: Path) -> None:
    repository_descriptor = str(envoy_config.DESCRIPTOR_SET)
    config = ENVOY_CONFIG.read_text().replace(
        f"{IMAGE_ROOT}/genproto/descriptor_set.pb", repository_descriptor
    )
    path = tmp_path / "envoy.yaml"
    path.write_text(config)
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "--config-path", str(path), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_one_non_root_image_with_everything() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in lines
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) == 2 and all(s.startswith("FROM ${PYTHON_IMAGE}") for s in stages)
    runtime = lines[lines.index(stages[-1]) :]
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users == [f"{IMAGE_USER}:{IMAGE_USER}"], f"the runtime runs as {users}"
    assert f"WORKDIR {IMAGE_ROOT}" in runtime
    assert any("apt-get install" in line and " ffmpeg" in line for line in runtime)
    copied = [line.split()[-1] for line in runtime if line.startswith("COPY --from=build /src/")]
    assert f"{IMAGE_ROOT}/genproto" in copied and f"{IMAGE_ROOT}/healthcheck.py" in copied


def test_build_context_holds_what_the_image_copies() -> None:
    """.dockerignore lets in only what is listed: each source the image is made
    from must be."""
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    dockerfile = DOCKERFILE.read_text()
    sources = set(re.findall(r"COPY --from=build /src/(\S+)", dockerfile))
    sources |= {"pyproject.toml", "protos"}  # read by the build stage itself
    # The stubs are generated in the build stage, never taken from a checkout.
    sources.remove("genproto")
    assert "genproto" not in allowed
    assert sources <= allowed, f"not in the build context: {sorted(sources - allowed)}"
