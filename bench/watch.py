"""WatchMedia on the real mesh (PostgreSQL, RabbitMQ, the worker a process of
its own, both services on two processes each, Envoy in front).

1. From a commit to the watcher's message: 200 small JPEGs, 8 in flight, each
   followed by a stream of its own, opened through the gateway (native gRPC)
   before its upload is completed. For each event, the wall clock when the
   client read it minus the media's `updatedAt`, which the committing process
   sets just before its UPDATE: an upper bound of commit -> message (one
   machine, one clock). READY and PROCESSING are the worker's commits,
   UPLOADED is media_service's own, at complete.
2. Memory per open stream: 500 quiet streams (50 users x 10, the per-user cap,
   each on a PENDING media of its user); the resident set (VmRSS) of
   media_service's server processes and of Envoy before they open and while
   they are open. Then every stream is cancelled, and the table says how long
   until their slots (rows of media_watches) are all gone.
"""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import psycopg2

from bench.mesh import running_mesh
from bench.table import print_table, summarize
from gateway import devkeys
from gateway.settings import Settings
from genproto.media.v1 import media_pb2, media_pb2_grpc
from harness.media_files import small_jpeg
from harness.rest import Api, put
from harness.waiting import wait_for

MEDIA = 200
IN_FLIGHT = 8  # uploads at once, each by a user of its own, each with one stream
WARM_UP_PER_CLIENT = 2  # untimed uploads first: connections, pools, tokens seen
USERS = 50
STREAMS_PER_USER = 10  # WATCH_STREAMS_PER_USER's default
STREAM_SECONDS = 300.0  # every stream's deadline: longer than the whole benchmark
SETTLE_SECONDS = 2.0
FREED_WITHIN_SECONDS = 30.0
KIB = 1024

COMMITTED_BY = {
    "READY": "worker, at the end of the job",
    "PROCESSING": "worker, claiming the job",
    "UPLOADED": "media_service, at complete",
}


def main() -> None:
    with running_mesh() as bench:
        _latency(bench.settings)
        _memory(bench.settings, bench.database_url)


class Stream:
    """One WatchMedia call, read in a thread of its own; each event is kept
    with the wall clock at which it was read."""

    def __init__(self, channel: grpc.Channel, token: str, media_id: str) -> None:
        self.call = _watch(channel, token, media_id)
        self.events: list[tuple[float, media_pb2.MediaEvent]] = []
        self.error: grpc.RpcError | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for event in self.call:
                self.events.append((time.time(), event))
        except grpc.RpcError as error:
            self.error = error

    def wait_first(self) -> None:
        wait_for(lambda: self.events or not self._reader.is_alive(), "the stream's first event")
        self._check()

    def wait_end(self) -> None:
        self._reader.join(STREAM_SECONDS)
        self._check()

    def _check(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"WatchMedia failed: {self.error.code()} {self.error.details()}")


def _channel(settings: Settings) -> grpc.Channel:
    """A client of its own: its own connection to the gateway. (By default grpc
    lets channels to one address share a connection, and the gateway takes at
    most 100 streams on one.)"""
    return grpc.insecure_channel(
        f"127.0.0.1:{settings.gateway_port}", options=[("grpc.use_local_subchannel_pool", 1)]
    )


def _watch(channel: grpc.Channel, token: str, media_id: str) -> Any:
    stub = media_pb2_grpc.MediaServiceStub(channel)
    return stub.WatchMedia(
        media_pb2.WatchMediaRequest(media_ids=[media_id]),
        metadata=(("authorization", f"Bearer {token}"),),
        timeout=STREAM_SECONDS,
    )


def _latency(settings: Settings) -> None:
    per_client = MEDIA // IN_FLIGHT

    def client(i: int) -> list[dict[str, float]]:
        token = devkeys.mint_token(settings, f"bench-watch-latency-{i}")
        api = Api(settings.gateway_url, token)
        with _channel(settings) as channel, api.http:
            for _ in range(WARM_UP_PER_CLIENT):
                _follow_upload(api, channel, token)
            return [_follow_upload(api, channel, token) for _ in range(per_client)]

    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        samples = [
            s for client_samples in pool.map(client, range(IN_FLIGHT)) for s in client_samples
        ]
    rows = []
    for status, committer in COMMITTED_BY.items():
        ms = [s[status] for s in samples if status in s]
        rows.append(
            {
                "event": status,
                "committed by": committer,
                **summarize(ms),
                "p99 ms": f"{_p99(ms):.2f}",
            }
        )
    print_table(
        f"WatchMedia: commit -> watcher's message ({len(samples)} small JPEGs, {IN_FLIGHT} in "
        "flight, one stream each, native gRPC through Envoy)",
        rows,
    )
    print(
        "  time read by the client minus the media's updatedAt, set by the committing process"
        " just before its UPDATE: an upper bound of commit -> message"
    )


def _follow_upload(api: Api, channel: grpc.Channel, token: str) -> dict[str, float]:
    """One upload followed from before complete to READY: for each status seen
    after PENDING, milliseconds from its updatedAt to the client reading it."""
    data = small_jpeg()
    reply = api.create_session(data)
    if reply.status_code != 200:
        raise RuntimeError(f"CreateUploadSession: {reply.status_code} {reply.text}")
    session = reply.json()
    stream = Stream(channel, token, session["mediaId"])
    stream.wait_first()
    put(session, data)
    completed = api.complete(session["mediaId"])
    if completed.status_code != 200:
        raise RuntimeError(f"CompleteUpload: {completed.status_code} {completed.text}")
    stream.wait_end()
    seen = {
        media_pb2.MediaStatus.Name(event.media.status): (
            received - event.media.updated_at.ToNanoseconds() / 1e9
        )
        * 1000
        for received, event in stream.events[1:]
        if not event.keep_alive
    }
    if "READY" not in seen:
        raise RuntimeError(f"the stream ended without READY: {sorted(seen)}")
    return seen


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[-(-len(ordered) * 99 // 100) - 1]  # nearest rank


def _memory(settings: Settings, database_url: str) -> None:
    users = [f"bench-watch-memory-{i}" for i in range(USERS)]
    tokens = [devkeys.mint_token(settings, user) for user in users]
    media_ids = [_pending(settings, token) for token in tokens]
    servers, envoy = _serving_processes()
    time.sleep(SETTLE_SECONDS)
    before = {"media_service": _status(servers), "Envoy": _status([envoy])}

    started = time.monotonic()
    channels = [_channel(settings) for _ in users]
    calls = []
    for channel, token, media_id in zip(channels, tokens, media_ids, strict=True):
        opened = [_watch(channel, token, media_id) for _ in range(STREAMS_PER_USER)]
        for call in opened:
            next(call)  # the first event: the media, PENDING
        calls.extend(opened)
    open_seconds = time.monotonic() - started
    held = _slots(database_url, users)
    if held != len(calls):
        raise RuntimeError(f"{len(calls)} streams are open but {held} slots are held")
    time.sleep(SETTLE_SECONDS)
    during = {"media_service": _status(servers), "Envoy": _status([envoy])}

    cancelled = time.monotonic()
    for call in calls:
        call.cancel()
    for channel in channels:
        channel.close()
    wait_for(
        lambda: _slots(database_url, users) == 0,
        "every cancelled stream's slot to be released",
        timeout=FREED_WITHIN_SECONDS,
    )
    freed = f"{held} -> 0 in {time.monotonic() - cancelled:.2f} s"
    _report_memory(len(calls), open_seconds, before, during, freed, len(servers))


def _pending(settings: Settings, token: str) -> str:
    api = Api(settings.gateway_url, token)
    with api.http:
        reply = api.create_session(small_jpeg())
    if reply.status_code != 200:
        raise RuntimeError(f"CreateUploadSession: {reply.status_code} {reply.text}")
    return str(reply.json()["mediaId"])


def _slots(database_url: str, users: list[str]) -> int:
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM media_watches WHERE user_id = ANY(%s)", (users,))
        return int(cursor.fetchone()[0])


def _report_memory(
    streams: int,
    open_seconds: float,
    before: dict[str, tuple[int, int]],
    during: dict[str, tuple[int, int]],
    freed: str,
    server_processes: int,
) -> None:
    names = {
        "media_service": f"media_service ({server_processes} server processes)",
        "Envoy": "Envoy",
    }
    total_before = sum(rss for rss, _ in before.values())
    total_during = sum(rss for rss, _ in during.values())
    rows = [
        {
            "process": names[name],
            "RSS before MiB": f"{before[name][0] / KIB:.1f}",
            "RSS open MiB": f"{during[name][0] / KIB:.1f}",
            "KiB per stream": f"{(during[name][0] - before[name][0]) / streams:.1f}",
            "threads": f"{before[name][1]} -> {during[name][1]}",
            "slots after cancel": "",
        }
        for name in names
    ]
    rows.append(
        {
            "process": "total",
            "RSS before MiB": f"{total_before / KIB:.1f}",
            "RSS open MiB": f"{total_during / KIB:.1f}",
            "KiB per stream": f"{(total_during - total_before) / streams:.1f}",
            "threads": "",
            "slots after cancel": freed,
        }
    )
    print_table(
        f"WatchMedia: memory with {streams} quiet streams open ({USERS} users x "
        f"{STREAMS_PER_USER}, through Envoy; all open and answered in {open_seconds:.1f} s)",
        rows,
    )


def _serving_processes() -> tuple[list[int], int]:
    """The pids of media_service's server processes (the children of the
    process this benchmark started for it) and of Envoy."""
    ours = {pid: _cmdline(pid) for pid in _children(os.getpid())}
    supervisor = next(pid for pid, argv in ours.items() if argv[1:] == ["-m", "media_service"])
    envoy = next(pid for pid, argv in ours.items() if Path(argv[0]).name == "envoy")
    servers = _children(supervisor)
    if not servers:
        raise RuntimeError("media_service runs no server process of its own")
    return servers, envoy


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> list[str]:
    return (Path("/proc") / str(pid) / "cmdline").read_text().rstrip("\0").split("\0")


def _status(pids: list[int]) -> tuple[int, int]:
    """Summed resident set (KiB) and threads of `pids`."""
    rss = threads = 0
    for pid in pids:
        fields = dict(
            line.split(":", 1)
            for line in (Path("/proc") / str(pid) / "status").read_text().splitlines()
        )
        rss += int(fields["VmRSS"].split()[0])
        threads += int(fields["Threads"])
    return rss, threads


if __name__ == "__main__":
    main()
