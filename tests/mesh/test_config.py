"""A bad setting fails at start with one line naming the variable."""

import subprocess
import sys

import pytest

from media_service.config import MediaConfig
from mesh.config import ConfigError
from post_service.config import PostConfig


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"MEDIA_SERVICE_PORT": "abc"}, "MEDIA_SERVICE_PORT must be an integer, got 'abc'"),
        (
            {"MEDIA_SERVICE_PORT": "70000"},
            "MEDIA_SERVICE_PORT must be a TCP port (1-65535), got 70000",
        ),
        (
            {"DATABASE_URL": "mysql://x"},
            "DATABASE_URL must be a URL starting with postgresql://, postgres://, sqlite://, got 'mysql://x'",
        ),
        (
            {"BROKER_URL": "kafka://x"},
            "BROKER_URL must be a URL starting with amqp://, amqps://, redis://, rediss://, got 'kafka://x'",
        ),
        ({"SERVER_PROCESSES": "0"}, "SERVER_PROCESSES must be at least 1, got 0"),
        (
            {"PRIVATE_URL_TTL_SECONDS": "604801"},  # SigV4's limit is a week
            "PRIVATE_URL_TTL_SECONDS must be at most 604800, got 604801",
        ),
    ],
)
def test_a_wrong_media_setting_is_named(environ, message):
    with pytest.raises(ConfigError) as raised:
        MediaConfig.from_env(environ)
    assert str(raised.value) == message


def test_defaults_work_locally():
    media = MediaConfig.from_env({})
    post = PostConfig.from_env({})

    assert media.server.address == "127.0.0.1:50051"
    assert media.database_url == "sqlite:///.data/media.db"
    assert media.storage.cdn_base_url == "http://127.0.0.1:9000/media"
    assert media.storage.presign_ttl_seconds == 900
    assert media.storage.private_url_ttl_seconds == 600
    assert media.broker_url is None
    assert post.server.address == "127.0.0.1:50052"
    assert post.media_service_address == "127.0.0.1:50051"


@pytest.mark.parametrize(
    "module, variable",
    [
        ("media_service", "MEDIA_SERVICE_PORT"),
        ("post_service", "POST_SERVICE_PORT"),
        ("media_service.worker", "S3_ENDPOINT_URL"),
    ],
)
def test_a_service_started_with_a_wrong_setting_exits_with_one_line(module, variable):
    env = {"PATH": "/usr/bin:/bin", variable: "abc"}

    result = subprocess.run(
        [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"{module}: {variable} must be")
