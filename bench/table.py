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


def print_table(title: str, rows: list[dict[str, str]]) -> None:
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    print(f"\n{title}")
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(row[c].ljust(widths[c]) for c in columns))
