"""How bench/scale's figures grow with days of history at one density: the growth table.

Reads the output of several `bench/scale --calls-per-day N --days D` runs (their last line, the
JSON), one file each, and prints per figure its value at each D (a query's or page's median and max
ms), the least-squares slope of the median per extra day of history and the ratio of the longest
history's to the shortest's. A read bounded to a window
(the last 7 days, the last hour) should not grow with the days before that window: its ratio
stays near 1 however much history the database holds. A figure whose ratio passes --grows (1.25
by default) is marked, so the README says why it grows.

    bench/growth run7.log run14.log run30.log

Last line: JSON with days, and per figure its values, slope and ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def last_json(path: Path) -> dict:
    """The JSON line a bench/scale run printed last."""
    for line in reversed(path.read_text(encoding="utf-8").splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit(f"bench/growth: {path} has no JSON line: is it the output of a finished bench/scale run?")


def figures(run: dict) -> dict[str, tuple[float, float | None]]:
    """The figures a run's history could change, by name: (median or value, max or None)."""
    out = {f"query {k}": (v, run["query_max_ms"][k]) for k, v in run["query_median_ms"].items()}
    out |= {f"console {k}": (v["median"], v["max"]) for k, v in run["console_ms"].items()}
    out |= {f"claim {k}": (v, None) for k, v in run["claim_ms"].items()}
    out |= {
        "ingest ratio full/empty": (run["ingest_ratio_full_vs_empty"], None),
        "bytes per call": (run["bytes_per_call"], None),
        "load s": (run["load_s"], None),
        "prune 4 raw weeks s": (run["prune_month_s"], None),
    }
    return out


def number(v: float) -> str:
    """A figure as the table shows it: two decimals under 10 (ratios, claims), one above."""
    return f"{v:,.2f}" if abs(v) < 10 else f"{v:,.1f}"


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="bench/scale outputs, one per history length")
    parser.add_argument("--grows", type=float, default=1.25, help="ratio past which a figure is marked (1.25)")
    args = parser.parse_args()
    runs = sorted((last_json(p) for p in args.runs), key=lambda r: r["days"])
    densities = {r["calls_per_day"] for r in runs}
    if len(runs) < 2 or len({r["days"] for r in runs}) != len(runs):
        print("bench/growth: give runs of at least two different --days", file=sys.stderr)
        return 2
    days = [r["days"] for r in runs]
    per_run = [figures(r) for r in runs]
    names = [n for n in per_run[-1] if all(n in f and f[n][0] is not None for f in per_run)]
    print(f"calls a day: {', '.join(str(d) for d in sorted(densities))}; days of history: {days}")
    print("ms: median / max of the timed runs; slope and ratio of the median\n")
    print("| figure | " + " | ".join(f"{d} days" for d in days) + " | slope per day | ratio | |")
    print("|---|" + "---|" * (len(days) + 3))
    result = {}
    for name in names:
        values = [f[name][0] for f in per_run]
        s = slope(days, values)
        ratio = values[-1] / values[0] if values[0] else None
        mark = "grows" if ratio is not None and ratio > args.grows else ""
        shown = " | ".join(number(v) + ("" if m is None else f" / {number(m)}") for v, m in (f[name] for f in per_run))
        print(f"| {name} | {shown} | {s:+.2f} | {'-' if ratio is None else f'{ratio:.2f}'} | {mark} |")
        result[name] = {
            "values": values,
            "max": [f[name][1] for f in per_run],
            "slope_per_day": round(s, 4),
            "ratio": ratio and round(ratio, 3),
        }
    print(json.dumps({"days": days, "calls_per_day": sorted(densities), "figures": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
