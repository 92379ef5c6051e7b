"""mesh.metrics: values of forked processes add up at the exporter of the
process that forked them; the probes answer by their checks."""

import subprocess
import sys
import textwrap

# Run in a process of its own: multiprocess mode is process-wide.
FORKED_SERVERS = textwrap.dedent(
    """
    import multiprocessing, sys, httpx
    from mesh import metrics
    from mesh.config import MetricsConfig

    metrics.prepare(sys.argv[1])
    exporter = metrics.Exporter(MetricsConfig("127.0.0.1", 0, sys.argv[1])).start()

    def serve(calls):
        for _ in range(calls):
            metrics.record_call("/media.v1.MediaService/GetMedia", "OK", 0.002)

    children = [multiprocessing.get_context("fork").Process(target=serve, args=(n,)) for n in (3, 4)]
    for child in children:
        child.start()
    for child in children:
        child.join()
    metrics.record_call("/media.v1.MediaService/GetMedia", "NOT_FOUND", 0.001)
    print(httpx.get(f"http://127.0.0.1:{exporter.port}/metrics").text)
    """
)


def test_the_exporter_adds_up_every_forked_process(tmp_path):
    (tmp_path / "counter_999.db").write_bytes(b"left by a previous run")
    text = subprocess.run(
        [sys.executable, "-c", FORKED_SERVERS, str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout

    labels = 'grpc_code="{}",grpc_method="GetMedia",grpc_service="media.v1.MediaService"'
    assert f"grpc_server_handled_total{{{labels.format('OK')}}} 7.0" in text
    assert f"grpc_server_handled_total{{{labels.format('NOT_FOUND')}}} 1.0" in text
    assert (
        'grpc_server_handling_seconds_bucket{grpc_method="GetMedia",grpc_service="media.v1.MediaService",le="0.0025"} 8.0'
        in text
    )
    assert not (tmp_path / "counter_999.db").exists()  # a previous run's values are gone


def test_probes_answer_200_or_503_by_their_check():
    from mesh.config import MetricsConfig
    from mesh.metrics import Exporter

    ready = {"now": True}
    exporter = Exporter(
        MetricsConfig("127.0.0.1", 0, None),
        probes={"/readyz": lambda: ready["now"], "/livez": lambda: 1 / 0 == 0},
    ).start()
    import httpx

    base = f"http://127.0.0.1:{exporter.port}"
    try:
        assert httpx.get(f"{base}/readyz").status_code == 200
        ready["now"] = False
        assert httpx.get(f"{base}/readyz").status_code == 503
        assert httpx.get(f"{base}/livez").status_code == 503  # a failing check is a failure
        assert httpx.get(f"{base}/nothing").status_code == 404
    finally:
        exporter.stop()
