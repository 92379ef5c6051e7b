"""The control plane's speed, on the real mesh (PostgreSQL, Envoy, both services).

1. `CreateUploadSession` through the gateway (REST, JWT, validation, presign,
   the insert with the per-user cap) against Uppy Companion's `/s3/params`
   (presign only), both loaded by wrk with 32 connections, alternated A B A B
   in the same run; medians and their ratio.
2. The other paths (`GetMedia`, `ListMedia`, `CompleteUpload` of a single PUT,
   `CreatePost`) and the ceiling: the same stack answering a call refused
   before any lookup (Envoy, JWT, transcoding, the service's middleware; no
   database, no signing).
3. Native gRPC straight at media_service (Python clients), and one call at a
   time: the latency of a session when nothing waits.
4. The sessions again with a million media rows in the table.

Load and mesh share the two cores. Sessions come from 10,000 users, each
under the default cap of 20. Jobs are queued on RabbitMQ with no worker, so
processing takes no CPU from the control plane.

Profile a serving process under this load with py-spy (from PyPI):
    py-spy record --pid <media_service server pid> --gil --duration 10 -o profile.svg
"""

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
import psycopg2

from bench import companion
from bench.mesh import running_mesh
from bench.table import print_table, rate_row
from bench.wrk import Call, Result, load
from gateway import devkeys
from gateway.settings import Settings
from genproto.media.v1 import media_pb2, media_pb2_grpc
from harness.media_files import small_jpeg

USERS = 10_000
ROUNDS = 3
SECONDS = 10
SHORT_SECONDS = 4
WARM_UP_SECONDS = 5
MESH_WARM_UP_SECONDS = 45
# The session every benchmark asks for: as a REST body, and as a gRPC request.
SESSION = '{"fileName":"a.jpg","fileType":"image/jpeg","fileSize":100000,"mediaType":"post-image"}'
SESSION_REQUEST = media_pb2.CreateUploadSessionRequest(
    file_name="a.jpg", file_type="image/jpeg", file_size=100_000, media_type="post-image"
)
FILLER_ROWS = 1_000_000


def main() -> None:
    with running_mesh() as bench:
        settings = bench.settings
        bench.mesh.stop_component("worker")  # jobs wait in the queue: no processing CPU here
        tokens = [devkeys.mint_token(settings, f"bench-{i}") for i in range(USERS)]
        sessions = session_calls(tokens)
        with companion.running(settings, bench.directory) as companion_url:
            empty = _against_companion(settings, sessions, companion_url)
        _other_paths(settings, tokens)
        _native_grpc(settings, tokens)
        _with_a_million_rows(settings, bench.database_url, sessions, empty)


def session_calls(tokens: list[str]) -> list[Call]:
    """One REST CreateUploadSession per user, in turn."""
    return [Call(t, "POST", "/api/v1/media/upload-session", SESSION) for t in tokens]


def _against_companion(settings: Settings, sessions: list[Call], companion_url: str) -> float:
    params = [Call("", "GET", "/s3/params?filename=a.jpg&type=image%2Fjpeg")]
    ours: list[Result] = []
    theirs: list[Result] = []
    _warm_up(settings, sessions)
    load(companion_url, params, WARM_UP_SECONDS)
    for _ in range(ROUNDS):
        ours.append(load(settings.gateway_url, sessions, SECONDS))
        theirs.append(load(companion_url, params, SECONDS))
    peer = statistics.median(r.requests_per_second for r in theirs)
    print_table(
        f"CreateUploadSession vs Uppy Companion {companion.VERSION} /s3/params "
        f"(wrk, 32 connections, {ROUNDS} x {SECONDS} s each, alternated; medians)",
        [
            rate_row(("path", "media mesh: REST via Envoy"), ours, peer, "Companion"),
            rate_row(("path", "Companion /s3/params"), theirs, peer, "Companion"),
        ],
    )
    return statistics.median(r.requests_per_second for r in ours)


def _warm_up(settings: Settings, sessions: list[Call]) -> None:
    """Untimed: pools filled, and each user's token seen a few times over, as
    in a busy minute of users who keep working (each server process and
    Envoy then remember it as verified, until it expires)."""
    load(settings.gateway_url, sessions, MESH_WARM_UP_SECONDS)


def _other_paths(settings: Settings, tokens: list[str]) -> None:
    owned = _pending_media(settings, tokens[:1000])
    uploaded = _uploaded_media(settings, tokens[1000:3000])
    too_long = "x" * 37
    scenarios = {
        "ceiling: refused before any lookup": [Call(t, "GET", f"/api/v1/media/{too_long}") for t in tokens],
        "GetMedia": [Call(t, "GET", f"/api/v1/media/{m}") for t, m in owned],
        "ListMedia (20 a page)": [Call(t, "GET", "/api/v1/media?pageSize=20") for t, _ in owned],
        "CreateUploadSession": session_calls(tokens),
        "CompleteUpload (single PUT)": [Call(t, "POST", f"/api/v1/media/{m}/complete") for t, m in uploaded],
        "CreatePost (text)": [Call(t, "POST", "/feed/submit", '{"content":"bench"}') for t in tokens],
    }  # fmt: skip
    results = {
        name: load(settings.gateway_url, calls, SHORT_SECONDS) for name, calls in scenarios.items()
    }
    ceiling = results["ceiling: refused before any lookup"].requests_per_second
    print_table(
        f"REST paths through Envoy (wrk, 32 connections, {SHORT_SECONDS} s each)",
        [
            {
                "path": name,
                "requests/s": f"{r.requests_per_second:.0f}",
                "p50 ms": f"{r.p50_ms:.1f}",
                "p99 ms": f"{r.p99_ms:.1f}",
                "of ceiling": f"{r.requests_per_second / ceiling:.0%}",
                "non-2xx": str(r.errors),
            }
            for name, r in results.items()
        ],
    )


def _pending_media(settings: Settings, tokens: list[str]) -> list[tuple[str, str]]:
    def create(token: str) -> tuple[str, str]:
        reply = httpx.post(
            f"{settings.gateway_url}/api/v1/media/upload-session",
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
            content=SESSION,
            timeout=30,
        )
        return token, reply.json()["mediaId"]

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(create, tokens))


def _uploaded_media(settings: Settings, tokens: list[str]) -> list[tuple[str, str]]:
    data = small_jpeg()
    body = {
        "fileName": "a.jpg",
        "fileType": "image/jpeg",
        "fileSize": len(data),
        "mediaType": "post-image",
    }

    def upload(token: str) -> tuple[str, str]:
        with httpx.Client(timeout=30) as client:
            session = client.post(
                f"{settings.gateway_url}/api/v1/media/upload-session",
                headers={"authorization": f"Bearer {token}"},
                json=body,
            ).json()
            client.put(session["uploadUrl"], content=data, headers=session["uploadHeaders"])
        return token, session["mediaId"]

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(upload, tokens))


def _native_grpc(settings: Settings, tokens: list[str]) -> None:
    address = f"127.0.0.1:{settings.media_port}"
    stub = media_pb2_grpc.MediaServiceStub(grpc.insecure_channel(address))

    def call(i: int) -> float:
        started = time.perf_counter()
        stub.CreateUploadSession(
            SESSION_REQUEST,
            metadata=(("authorization", f"Bearer {tokens[i % len(tokens)]}"),),
            timeout=30,
        )
        return (time.perf_counter() - started) * 1000

    one_at_a_time = [call(i) for i in range(1000)]
    started = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        parallel = sorted(pool.map(call, range(3000)))
    rate = 3000 / (time.perf_counter() - started)
    print_table(
        "CreateUploadSession, native gRPC straight at media_service (Python clients)",
        [
            {"clients": "1, one call at a time", "requests/s": f"{1000 / (sum(one_at_a_time) / 1000):.0f}",
             "p50 ms": f"{statistics.median(one_at_a_time):.2f}",
             "p99 ms": f"{sorted(one_at_a_time)[989]:.2f}"},
            {"clients": "32 threads", "requests/s": f"{rate:.0f}",
             "p50 ms": f"{statistics.median(parallel):.2f}", "p99 ms": f"{parallel[2969]:.2f}"},
        ],
    )  # fmt: skip


def _with_a_million_rows(
    settings: Settings, database_url: str, sessions: list[Call], empty: float
) -> None:
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO media (id, owner_id, media_type, status, file_name, file_type,"
            " file_size, storage_key, variants, expires_at, urls_expire_at, created_at, updated_at)"
            " SELECT md5(i::text), 'filler-' || (i %% 50000), 'post-image',"
            " (ARRAY['READY','DELETED','EXPIRED','ABORTED','PENDING'])[i %% 5 + 1],"
            " 'a.jpg', 'image/jpeg', 1000, 'filler/' || i, '[]',"
            " now() - interval '2 days', now() - interval '2 days',"
            " now() - interval '2 days', now() - interval '2 days'"
            " FROM generate_series(1, %s) i",
            (FILLER_ROWS,),
        )
        cursor.execute("ANALYZE media")
    results = [load(settings.gateway_url, sessions, SECONDS) for _ in range(2)]
    rate = statistics.median(r.requests_per_second for r in results)
    print_table(
        "CreateUploadSession via Envoy as the table grows (wrk, 32 connections)",
        [
            {"media rows": "empty (above)", "requests/s": f"{empty:.0f}", "vs empty": "1.00x"},
            {"media rows": f"{FILLER_ROWS:,} more", "requests/s": f"{rate:.0f}", "vs empty": f"{rate / empty:.2f}x"},
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
