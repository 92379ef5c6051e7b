"""`make run`'s mode: SQLite, the in-process worker and the embedded S3 server,
started by the real entry point, and stopped by Ctrl-C without orphans."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gateway import devkeys
from gateway.settings import ROOT, Settings
from harness.environment import mesh_environment
from harness.media_files import small_jpeg
from harness.rest import Api, put
from harness.waiting import wait_for
from tests.support import Watching


def _processes_with(marker: str) -> list[int]:
    """Pids of processes whose environment holds `marker` (our DATA_DIR)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def embedded(tmp_path: Path):
    env = mesh_environment(tmp_path / "data")
    runner = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "run.log").open("wb"),
        text=True,
    )
    banner = wait_for(lambda: _banner_line(runner), "make run's banner", timeout=90)
    yield runner, Settings.from_env(env), banner, f"DATA_DIR={env['DATA_DIR']}"
    if runner.poll() is None:
        runner.kill()


def _banner_line(runner: subprocess.Popen) -> str | None:
    assert runner.stdout is not None
    line = runner.stdout.readline()
    assert line or runner.poll() is None, "gateway run exited before it was up"
    return line if "gateway" in line and "http://" in line else None


def test_the_embedded_mesh_runs_the_whole_flow_then_stops_cleanly(embedded):
    runner, settings, banner, marker = embedded
    assert settings.gateway_url in banner
    api = Api(settings.gateway_url, devkeys.mint_token(settings, "alice"))

    # The flow works on SQLite with the in-process worker, watched live
    data = small_jpeg()
    session = api.create_session(data).json()
    token = devkeys.mint_token(settings, "alice")
    watching = Watching(f"127.0.0.1:{settings.gateway_port}", token, [session["mediaId"]])
    watching.wait_first()
    put(session, data)
    media = api.complete(session["mediaId"]).json()
    assert httpx.get(media["cdnUrl"]).status_code == 200
    watching.wait_end()
    assert watching.error is None, watching.error
    # SQLite has no notifications: its poller may see two quick changes as one
    flow = ["PENDING", "UPLOADED", "PROCESSING", "READY"]
    assert watching.statuses[0] == "PENDING" and watching.statuses[-1] == "READY"
    assert watching.statuses == [status for status in flow if status in watching.statuses]
    post = api.create_post("embedded", [media["mediaId"]])
    assert post.status_code == 200, post.text
    assert (settings.data_dir / "media.db").exists() and (settings.data_dir / "post.db").exists()
    assert len(_processes_with(marker)) >= 6  # runner, S3, 2 x 2 servers (+parents), Envoy

    # Ctrl-C stops every process it started
    runner.send_signal(signal.SIGINT)
    assert runner.wait(timeout=30) == 0
    wait_for(lambda: _processes_with(marker) == [], "every process of the mesh to exit", timeout=10)
