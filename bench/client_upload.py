"""The Python client's upload of a 200 MB file against `aws s3 cp`, to the
same local S3 server, with the same part size (8 MiB) and the same number of
parts in flight (4).

Each is the command a user runs, timed from start to exit: ours asks the
gateway for a session, PUTs the parts, completes (the server then checks the
stored object); aws creates, PUTs and completes the multipart upload itself.
Alternated A B C A B C on the same machine in the same run; the S3 server
keeps objects in memory, for all. The ratio is to aws with its default
checksum per part (CRC32), as ours declare one (SHA-256, read from the file
before the session); aws declaring none is shown too (the S3 server's
assembly is then dearer: see _aws_environment). awscli is installed
from PyPI once into a cache folder of its own (not the project's venv: it
pins its own botocore).
"""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.table import print_table, upload_row
from gateway import devkeys
from gateway.localmesh import LocalMesh
from gateway.settings import ROOT, Settings
from harness.environment import mesh_environment
from harness.media_files import write_fake_mp4
from harness.postgres import fresh_postgres_database
from media_client import MediaClient, ProcessingFailed

AWSCLI_VERSION = "1.46.3"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "media-mesh" / "awscli"
MIB = 1024 * 1024
SIZE = 200 * MIB
PART_MIB = 8
CONCURRENCY = 4
ROUNDS = 5


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


def _aws_environment(settings: Settings, scratch: Path, checksums: bool) -> dict[str, str]:
    """awscli set to our part size and concurrency. Without `checksums` it
    declares none, as our presigned parts do (per-part checksums come with byte
    quotas and dedup); with them (its default) it declares a CRC32 per part, and
    the S3 server's assembly then combines those instead of computing a
    full-object CRC64NVME in Python as it does for uploads that declared none."""
    config = scratch / f"aws-config-{checksums}"
    config.write_text(
        "[default]\n"
        f"request_checksum_calculation = {'when_supported' if checksums else 'when_required'}\n"
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
    # Untimed: let processing end (the worker reads the whole object) and free
    # the S3 server's memory before the next run.
    media_id = json.loads(stdout)["mediaId"]
    with MediaClient(settings.gateway_url, token) as client:
        with contextlib.suppress(ProcessingFailed):  # random bytes: no video in them
            client.wait_ready(media_id, timeout=300)
        client.delete(media_id)
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
        # The S3 server keeps objects in memory (by default it spills anything
        # over 5 MiB to temporary files): its own disk writes were the largest
        # and noisiest part of either command's time. The same for both clients.
        env = mesh_environment(
            directory, DATABASE_URL=database_url, MOTO_S3_DEFAULT_KEY_BUFFER_SIZE=str(1 << 30)
        )
        settings = Settings.from_env(env)
        path = directory / "upload.mp4"
        write_fake_mp4(path, SIZE)
        ours, theirs, theirs_checksummed = [], [], []
        with LocalMesh(settings, env, log_dir=directory / "logs"):
            plain = _aws_environment(settings, directory, checksums=False)
            checksummed = _aws_environment(settings, directory, checksums=True)
            for i in range(ROUNDS):
                ours.append(_ours(settings, path, f"cli{i}-{os.getpid()}", directory))
                theirs.append(_aws(aws, settings, path, plain))
                theirs_checksummed.append(_aws(aws, settings, path, checksummed))
    _report(ours, theirs, theirs_checksummed)


def _report(ours: list[float], theirs: list[float], theirs_checksummed: list[float]) -> None:
    def row(name: str, samples: list[float]) -> dict[str, str]:
        return upload_row(name, samples, SIZE, theirs_checksummed, "aws")

    print_table(
        f"upload of {SIZE // MIB} MiB in {PART_MIB} MiB parts, {CONCURRENCY} in flight, "
        "whole command, to the local S3 server (alternated; medians)",
        [
            row("python -m media_client upload", ours),
            row(f"aws s3 cp (awscli {AWSCLI_VERSION}), no checksums", theirs),
            row("aws s3 cp, its default CRC32 per part", theirs_checksummed),
        ],
    )


if __name__ == "__main__":
    main()
