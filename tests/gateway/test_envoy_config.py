"""The rendered Envoy config is valid for Envoy itself, in each shape it can take."""

import subprocess
from pathlib import Path

import pytest
import yaml

from gateway import devkeys, envoy_config
from gateway.localmesh import envoy_binary
from gateway.settings import Settings


def _validate(config: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "envoy.yaml"
    path.write_text(config)
    return subprocess.run(
        [envoy_binary(), "--mode", "validate", "--config-path", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {
            "CORS_ORIGINS": "https://app.example.com,https://www.example.com",
            "GATEWAY_PORT": "18080",
        },
        {
            "JWKS_URL": "https://id.example.com/.well-known/jwks.json",
            "JWT_ISSUER": "https://id.example.com/",
        },
        {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.example:4317",
        },
    ],
    ids=["defaults", "cors-origins", "remote-jwks", "traces"],
)
def test_envoy_accepts_the_rendered_config(environ: dict[str, str], tmp_path: Path):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), **environ})
    devkeys.ensure_dev_keys(settings)

    result = _validate(envoy_config.render(settings), tmp_path)

    assert result.returncode == 0, result.stderr[-2000:]


def test_cors_allows_exactly_the_configured_origins(tmp_path: Path):
    settings = Settings.from_env(
        {"DATA_DIR": str(tmp_path), "CORS_ORIGINS": "https://app.example.com"}
    )

    config = yaml.safe_load(envoy_config.render(settings))

    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    host = manager["typed_config"]["route_config"]["virtual_hosts"][0]
    policy = host["typed_per_filter_config"]["envoy.filters.http.cors"]
    assert policy["allow_origin_string_match"] == [{"exact": "https://app.example.com"}]


def test_tokens_are_read_from_the_authorization_header_only(tmp_path: Path):
    config = yaml.safe_load(envoy_config.render(Settings.from_env({"DATA_DIR": str(tmp_path)})))

    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    filters = {f["name"]: f for f in manager["typed_config"]["http_filters"]}
    provider = filters["envoy.filters.http.jwt_authn"]["typed_config"]["providers"]["mesh"]
    assert provider["from_headers"] == [{"name": "Authorization", "value_prefix": "Bearer "}]
    assert "from_params" not in provider
    names = list(filters)
    assert names.index("envoy.filters.http.grpc_web") < names.index("envoy.filters.http.jwt_authn")


def _typed_configs(node: object) -> list[dict]:
    if isinstance(node, dict):
        found = [node["typed_config"]] if isinstance(node.get("typed_config"), dict) else []
        return found + [c for value in node.values() for c in _typed_configs(value)]
    if isinstance(node, list):
        return [c for value in node for c in _typed_configs(value)]
    return []


def test_every_typed_config_names_its_type(tmp_path: Path):
    config = yaml.safe_load(envoy_config.render(Settings.from_env({"DATA_DIR": str(tmp_path)})))

    typed = _typed_configs(config)

    assert len(typed) > 5
    assert [c for c in typed if not c.get("@type", "").startswith("type.googleapis.com/")] == []


def test_connections_and_streams_are_bounded_the_edge_proxy_way(tmp_path: Path):
    config = yaml.safe_load(envoy_config.render(Settings.from_env({"DATA_DIR": str(tmp_path)})))

    listener = config["static_resources"]["listeners"][0]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert listener["per_connection_buffer_limit_bytes"] == 32 * 1024
    assert manager["request_headers_timeout"] == "10s"
    assert manager["common_http_protocol_options"]["idle_timeout"] == "10s"
    assert manager["http2_protocol_options"]["max_concurrent_streams"] == 100
    assert manager["max_request_headers_kb"] == 32
    # Nothing that would end a healthy long-lived stream once it is going.
    assert "max_stream_duration" not in manager["common_http_protocol_options"]
    assert "max_connection_duration" not in manager["common_http_protocol_options"]
    actions = {a["name"]: a for a in config["overload_manager"]["actions"]}
    reduce = actions["envoy.overload_actions.reduce_timeouts"]
    assert {t["name"] for t in reduce["triggers"]} == {
        "envoy.resource_monitors.global_downstream_max_connections",
        "envoy.resource_monitors.fixed_heap",
    }
    assert [t["timer"] for t in reduce["typed_config"]["timer_scale_factors"]] == [
        "HTTP_DOWNSTREAM_CONNECTION_IDLE"
    ]


def _manager_and_clusters(settings: Settings) -> tuple[dict, dict[str, dict]]:
    config = yaml.safe_load(envoy_config.render(settings))
    listener = config["static_resources"]["listeners"][0]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return manager, {c["name"]: c for c in config["static_resources"]["clusters"]}


def _access_log_fields(manager: dict) -> dict[str, str]:
    return manager["access_log"][0]["typed_config"]["log_format"]["json_format"]


def test_with_an_otlp_collector_every_request_is_traced_to_it(tmp_path: Path):
    settings = Settings.from_env(
        {
            "DATA_DIR": str(tmp_path),
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.example:4317",
        }
    )

    manager, clusters = _manager_and_clusters(settings)

    provider = manager["tracing"]["provider"]
    assert provider["name"] == "envoy.tracers.opentelemetry"
    assert provider["typed_config"]["service_name"] == "gateway"
    assert provider["typed_config"]["grpc_service"]["envoy_grpc"] == {
        "cluster_name": "otel_collector"
    }
    assert _access_log_fields(manager)["trace_id"] == "%TRACE_ID%"
    # a caller's x-request-id is not rewritten to carry the trace decision
    assert manager["request_id_extension"]["typed_config"]["pack_trace_reason"] is False
    collector = clusters["otel_collector"]
    [endpoint] = collector["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert endpoint["endpoint"]["address"]["socket_address"] == {
        "address": "collector.example",
        "port_value": 4317,
    }
    protocols = collector["typed_extension_protocol_options"]
    http = protocols["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert "http2_protocol_options" in http["explicit_http_config"]  # OTLP is gRPC


def test_without_a_collector_nothing_is_traced(tmp_path: Path):
    manager, clusters = _manager_and_clusters(Settings.from_env({"DATA_DIR": str(tmp_path)}))

    assert "tracing" not in manager
    assert "trace_id" not in _access_log_fields(manager)
    assert "request_id_extension" not in manager
    assert "otel_collector" not in clusters
