"""Printing a benchmark's results as a plain table."""

import statistics

from bench.wrk import Result


def summarize(samples_ms: list[float]) -> dict[str, str]:
    ordered = sorted(samples_ms)
    return {
        "runs": str(len(ordered)),
        "median ms": f"{statistics.median(ordered):.2f}",
        "min ms": f"{ordered[0]:.2f}",
        "max ms": f"{ordered[-1]:.2f}",
    }


def upload_row(
    name: str, samples_s: list[float], size: int, reference_s: list[float], versus: str
) -> dict[str, str]:
    """One client's row of an upload race: median and best time, throughput,
    and the ratio of the reference client's median to this one's."""
    median = statistics.median(samples_s)
    return {
        "client": name,
        "runs": str(len(samples_s)),
        "median s": f"{median:.2f}",
        "min s": f"{min(samples_s):.2f}",
        "MiB/s": f"{size / (1024 * 1024) / median:.0f}",
        f"vs {versus}": f"{statistics.median(reference_s) / median:.2f}x",
    }


def rate_row(
    label: tuple[str, str], results: list[Result], reference: float, versus: str
) -> dict[str, str]:
    """One row of wrk results (medians over runs) with the ratio of their rate
    to `reference`'s."""
    rate = statistics.median(r.requests_per_second for r in results)
    return {
        label[0]: label[1],
        "requests/s": f"{rate:.0f}",
        "p50 ms": f"{statistics.median(r.p50_ms for r in results):.1f}",
        "p99 ms": f"{statistics.median(r.p99_ms for r in results):.1f}",
        "errors": str(sum(r.errors for r in results)),
        f"vs {versus}": f"{rate / reference:.2f}x",
    }


def print_table(title: str, rows: list[dict[str, str]]) -> None:
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    print(f"\n{title}")
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(row[c].ljust(widths[c]) for c in columns))
