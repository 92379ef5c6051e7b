"""Uppy Companion, the peer the session benchmark is measured against.

Installed from npm once into a cache folder (not the project), then run on
loopback with S3 settings for the same S3 server; its `/s3/params` presigns
an upload (no auth, no database).
"""

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway import processes
from gateway.processes import free_port
from gateway.settings import Settings

VERSION = "6.2.2"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "media-mesh" / "companion"


def install() -> Path:
    """Companion's entry point, installed into the cache folder if missing."""
    package = CACHE / "node_modules" / "@uppy" / "companion"
    manifest = package / "package.json"
    if not manifest.exists() or json.loads(manifest.read_text())["version"] != VERSION:
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund",
             "--loglevel=error", f"@uppy/companion@{VERSION}"],
            check=True,
        )  # fmt: skip
    return package / "lib" / "standalone" / "start-server.js"


@contextmanager
def running(settings: Settings, log_dir: Path) -> Iterator[str]:
    """Companion on a free loopback port; the URL of its `/s3/params`."""
    entry = install()
    port = free_port()
    env = {
        **os.environ,
        "NODE_ENV": "production",
        "COMPANION_PORT": str(port),
        "COMPANION_DOMAIN": f"127.0.0.1:{port}",
        "COMPANION_PROTOCOL": "http",
        "COMPANION_DATADIR": str(log_dir),
        "COMPANION_SECRET": "bench-only-secret",
        "COMPANION_PREAUTH_SECRET": "bench-only-preauth-secret",
        "COMPANION_CLIENT_ORIGINS": "true",
        "COMPANION_UPLOAD_URLS": f"{settings.storage_url}/.*",
        "COMPANION_AWS_KEY": "local",
        "COMPANION_AWS_SECRET": "local",
        "COMPANION_AWS_BUCKET": settings.s3_bucket,
        "COMPANION_AWS_REGION": "us-east-1",
        "COMPANION_AWS_ENDPOINT": settings.storage_url,
        "COMPANION_AWS_FORCE_PATH_STYLE": "true",
    }
    child = processes.start("companion", ["node", str(entry)], env, log_dir, log_dir)
    url = f"http://127.0.0.1:{port}"
    try:
        processes.wait_until(
            lambda: _answers(f"{url}/s3/params?filename=a.jpg"), "Companion", 60, child
        )
        yield url
    finally:
        processes.stop(child)


def _answers(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=1) as reply:
        return bool(reply.status == 200)
