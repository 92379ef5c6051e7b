"""Printing a benchmark's results as a plain table."""

import statistics


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


def print_table(title: str, rows: list[dict[str, str]]) -> None:
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    print(f"\n{title}")
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(row[c].ljust(widths[c]) for c in columns))
