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
    ],
    ids=["defaults", "cors-origins", "remote-jwks"],
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
