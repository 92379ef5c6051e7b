"""The Python client's upload of a 200 MB file against `aws s3 cp`, to the
same local S3 server, with the same part size (8 MiB) and the same number of
parts in flight (4).

Each is the command a user runs, timed from start to exit: ours asks the
gateway for a session, PUTs the parts, completes (the server then checks the
stored object); aws creates, PUTs and completes the multipart upload itself.
Alternated A B A B on the same machine in the same run. awscli is installed
from PyPI once into a cache folder of its own (not the project's venv: it
pins its own botocore).
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.table import print_table
from gateway import devkeys
from gateway.localmesh import LocalMesh
from gateway.settings import ROOT, Settings
from tests.conftest import mesh_environment
from tests.support import fresh_postgres_database, write_fake_mp4

AWSCLI_VERSION = "1.46.3"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "media-mesh" / "awscli"
MIB = 1024 * 1024
SIZE = 200 * MIB
PART_MIB = 8
CONCURRENCY = 4
ROUNDS = 3


def install_awscli() -> Path:
    """The `aws` command of a venv in the cache folder, made if missing."""
    aws = CACHE / "bin" / "aws"
    if not aws.exists():
        subprocess.run([sys.executable, "-m", "venv", str(CACHE)], check=True)
        subprocess.run(
            [str(CACHE / "bin" / "pip"), "install", "--quiet", f"awscli=={AWSCLI_VERSION}"],
            check=True,
        )
    return aws


def _aws_environment(settings: Settings, scratch: Path) -> dict[str, str]:
    config = scratch / "aws-config"
    config.write_text(
        "[default]\n"
        "s3 =\n"
        f"  multipart_chunksize = {PART_MIB}MB\n"
        f"  max_concurrent_requests = {CONCURRENCY}\n"
        "  addressing_style = path\n"
    )
    return {
        **os.environ,
        "AWS_CONFIG_FILE": str(config),
        # the embedded S3 server takes any keys (gateway.storage_setup uses these)
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed: {done.stderr}")
    return elapsed, done.stdout


def _ours(settings: Settings, path: Path, user: str, scratch: Path) -> float:
    token = devkeys.mint_token(settings, user)
    env = {
        **os.environ,
        "MEDIA_TOKEN": token,
        "MEDIA_GATEWAY": settings.gateway_url,
        "XDG_CACHE_HOME": str(scratch / "cache"),
    }
    command = [sys.executable, "-m", "media_client", "upload", str(path)]
    elapsed, stdout = _timed([*command, "--concurrency", str(CONCURRENCY)], env)
    # Untimed: free the S3 server's memory before the next run.
    media_id = stdout.split('"mediaId":"', 1)[1].split('"', 1)[0]
    httpx.delete(
        f"{settings.gateway_url}/api/v1/media/{media_id}",
        headers={"authorization": f"Bearer {token}"},
        timeout=60,
    ).raise_for_status()
    return elapsed


def _aws(aws: Path, settings: Settings, path: Path, env: dict[str, str]) -> float:
    target = f"s3://{settings.s3_bucket}/bench/{path.name}"
    endpoint = ["--endpoint-url", f"http://127.0.0.1:{settings.s3_port}"]
    elapsed, _ = _timed([str(aws), "s3", "cp", str(path), target, *endpoint, "--quiet"], env)
    _timed([str(aws), "s3", "rm", target, *endpoint, "--quiet"], env)
    return elapsed


def main() -> None:
    aws = install_awscli()
    with tempfile.TemporaryDirectory() as scratch, fresh_postgres_database() as database_url:
        directory = Path(scratch)
        env = mesh_environment(directory, DATABASE_URL=database_url)
        settings = Settings.from_env(env)
        path = directory / "upload.mp4"
        write_fake_mp4(path, SIZE)
        ours, theirs = [], []
        with LocalMesh(settings, env, log_dir=directory / "logs"):
            aws_env = _aws_environment(settings, directory)
            for i in range(ROUNDS):
                ours.append(_ours(settings, path, f"cli{i}-{os.getpid()}", directory))
                theirs.append(_aws(aws, settings, path, aws_env))
    _report(ours, theirs)


def _report(ours: list[float], theirs: list[float]) -> None:
    def row(name: str, samples: list[float]) -> dict[str, str]:
        median = statistics.median(samples)
        return {
            "client": name,
            "runs": str(len(samples)),
            "median s": f"{median:.2f}",
            "min s": f"{min(samples):.2f}",
            "MiB/s": f"{SIZE / MIB / median:.0f}",
            "vs aws": f"{statistics.median(theirs) / median:.2f}x",
        }

    print_table(
        f"upload of {SIZE // MIB} MiB in {PART_MIB} MiB parts, {CONCURRENCY} in flight, "
        "whole command, to the local S3 server (alternated; medians)",
        [
            row("python -m media_client upload", ours),
            row(f"aws s3 cp (awscli {AWSCLI_VERSION})", theirs),
        ],
    )


if __name__ == "__main__":
    main()
