"""The browser's multipart upload against curl, to the same local S3 server.

A 64 MiB file in 8 MiB parts, 4 in flight: once through the demo page in
headless Chromium (the library's uploader: XHR PUTs straight to storage), once
by curl processes PUTting the same parts, 4 at a time, to URLs of a session of
their own. Each is timed from its first part PUT's start to its last one's
end, alternately (A B A B ...), on the same machine in the same run.
"""

import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
from playwright.sync_api import Page, Request, sync_playwright

from bench.table import print_table, upload_row
from gateway import devkeys
from gateway.localmesh import LocalMesh
from gateway.settings import Settings
from harness.browser import CHROMIUM_ARGS
from harness.environment import mesh_environment
from harness.media_files import padded_video
from harness.postgres import fresh_postgres_database

MIB = 1024 * 1024
SIZE = 64 * MIB
CONCURRENCY = 4
ROUNDS = 3


class PartWindow:
    """From the first part PUT's start to the last one's end, in seconds."""

    def __init__(self, page: Page) -> None:
        self.first = self.last = 0.0
        self.done = 0
        page.on("request", self._started)
        page.on("requestfinished", self._finished)

    @staticmethod
    def _is_part(request: Request) -> bool:
        return request.method == "PUT" and "partNumber" in parse_qs(urlparse(request.url).query)

    def _started(self, request: Request) -> None:
        if self._is_part(request) and not self.first:
            self.first = time.perf_counter()

    def _finished(self, request: Request) -> None:
        if self._is_part(request):
            self.last = time.perf_counter()
            self.done += 1


def _browser_upload(page: Page, settings: Settings, path: Path, user: str) -> float:
    window = PartWindow(page)
    token = devkeys.mint_token(settings, user)
    page.goto(f"http://127.0.0.1:{settings.demo_port}/#token={token}")
    page.set_input_files("input[type=file]", str(path))
    parts = -(-SIZE // (8 * MIB))
    deadline = time.monotonic() + 120
    while window.done < parts:
        assert time.monotonic() < deadline, "the browser upload did not finish"
        page.wait_for_timeout(20)
    # Untimed: let complete and processing finish before the next client runs.
    page.wait_for_function(
        "() => ['READY', 'FAILED', 'ERROR'].includes("
        "document.querySelector('[data-testid=status]').textContent)",
        timeout=120_000,
    )
    return window.last - window.first


def _curl_upload(settings: Settings, path: Path, user: str, scratch: Path) -> float:
    token = devkeys.mint_token(settings, user)
    session = httpx.post(
        f"{settings.gateway_url}/api/v1/media/upload-session",
        headers={"authorization": f"Bearer {token}"},
        json={
            "fileName": path.name,
            "fileType": "video/mp4",
            "fileSize": SIZE,
            "mediaType": "post-video",
        },
        timeout=30,
    ).json()
    part_size = int(session["partSize"])
    data = path.read_bytes()
    files = []
    for part in session["parts"]:
        number = part["partNumber"]
        part_file = scratch / f"part-{number}"
        part_file.write_bytes(data[(number - 1) * part_size : number * part_size])
        files.append((part["uploadUrl"], part_file))

    def put(job: tuple[str, Path]) -> None:
        url, part_file = job
        command = ["curl", "-sf", "-o", "/dev/null", "-X", "PUT", "-H", "Content-Type:"]
        subprocess.run([*command, "--data-binary", f"@{part_file}", url], check=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(put, files))
    return time.perf_counter() - started


def main() -> None:
    if shutil.which("curl") is None or shutil.which("chromium") is None:
        raise SystemExit("bench.browser needs curl and chromium (make bench installs chromium)")
    with tempfile.TemporaryDirectory() as scratch, fresh_postgres_database() as database_url:
        directory = Path(scratch)
        env = mesh_environment(directory, DATABASE_URL=database_url)
        settings = Settings.from_env(env)
        path = directory / "upload.mp4"
        path.write_bytes(padded_video(directory, SIZE))
        browser_s, curl_s = [], []
        with LocalMesh(settings, env, log_dir=directory / "logs"), sync_playwright() as pw:
            chromium = pw.chromium.launch(
                executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
            )
            for i in range(ROUNDS):
                context = chromium.new_context()
                browser_s.append(
                    _browser_upload(context.new_page(), settings, path, f"b{i}-{os.getpid()}")
                )
                context.close()
                curl_s.append(_curl_upload(settings, path, f"c{i}-{os.getpid()}", directory))
            chromium.close()
    _report(browser_s, curl_s)


def _report(browser_s: list[float], curl_s: list[float]) -> None:
    print_table(
        f"multipart upload, {SIZE // MIB} MiB in 8 MiB parts, {CONCURRENCY} in flight, to the local S3 server",
        [
            upload_row("Chromium (web/ uploader)", browser_s, SIZE, curl_s, "curl"),
            upload_row("curl, parallel PUTs", curl_s, SIZE, curl_s, "curl"),
        ],
    )


if __name__ == "__main__":
    main()
