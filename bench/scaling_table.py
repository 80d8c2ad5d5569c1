#!/usr/bin/env python3
# Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
"""Tabulate scaling_bench's JSON output as Markdown.

Usage:
  ./scaling_bench --benchmark_format=json [--benchmark_repetitions=3] | python3 scaling_table.py
  python3 scaling_table.py results.json   # from --benchmark_out=results.json
  python3 scaling_table.py --metric items_per_second results.json

The throughput is the calls_per_s counter by default: calls over the time the calls took, without
each round's fixed cost of waking the threads and spawning the callers. --metric items_per_second
uses the library's figure instead, calls over the real time of the iterations, that cost included.

Prints, per mode, the throughput of each layout and thread count in millions of calls per second,
with its scaling (throughput over the same layout and mode at 1 thread); the BM_Memcmp4K
calibration time of the same run; and, per layout and thread count above 1, the scaling of the
inline and detached modes as a percentage of the scaling of the post baseline. With repetitions,
the medians are used (the library's median aggregate, or the median of the repetitions).
Standard library only.
"""

import argparse
import json
import re
import statistics
import sys

LAYOUTS = ["context_per_thread", "shared_context"]
MODES = ["direct", "post", "inline", "detached", "unsampled"]
NAME = re.compile(r"^BM_Scaling/(?P<layout>[^/]+)/(?P<mode>[^/]+)/threads:(?P<threads>\d+)")
NS_PER_UNIT = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def load(stream):
    text = stream.read()
    start = text.find("{")  # tolerate anything printed before the JSON document
    if start < 0:
        sys.exit("scaling_table.py: no JSON object in the input")
    return json.loads(text[start:])


def medians(benchmarks, value_of):
    """run_name -> median of value_of(entry), preferring the library's median aggregate."""
    runs, aggregated = {}, {}
    for b in benchmarks:
        if b.get("error_occurred"):
            continue
        value = value_of(b)
        if value is None:
            continue
        run = b.get("run_name", b["name"])
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                aggregated[run] = value
        else:
            runs.setdefault(run, []).append(value)
    out = {run: statistics.median(values) for run, values in runs.items()}
    out.update(aggregated)
    return out


def throughput_of(metric):
    other = "items_per_second" if metric == "calls_per_s" else "calls_per_s"

    def throughput(b):
        for key in (metric, other):  # the other one only if a run lacks the metric
            if key in b:
                return float(b[key])
        return None

    return throughput


def real_time_ns(b):
    if "real_time" not in b:
        return None
    return float(b["real_time"]) * NS_PER_UNIT.get(b.get("time_unit", "ns"), 1.0)


def fmt_ratio(r):
    return "–" if r is None else f"{r:.2f}×"


def fmt_rate(r):
    return "–" if r is None else f"{r / 1e6:.2f}"


def fmt_percent(p):
    return "–" if p is None else f"{p:.0f} %"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def main():
    parser = argparse.ArgumentParser(
        description="Tabulate scaling_bench's JSON output as Markdown.")
    parser.add_argument("json", nargs="?", help="the JSON output (default: standard input)")
    parser.add_argument("--metric", choices=["calls_per_s", "items_per_second"],
                        default="calls_per_s", help="the throughput to tabulate")
    args = parser.parse_args()
    if args.json:
        with open(args.json, encoding="utf-8") as f:
            doc = load(f)
    else:
        doc = load(sys.stdin)
    benchmarks = doc.get("benchmarks", [])

    rates = {}  # (layout, mode, threads) -> calls/s
    for run, rate in medians(benchmarks, throughput_of(args.metric)).items():
        m = NAME.match(run)
        if m:
            rates[(m["layout"], m["mode"], int(m["threads"]))] = rate
    if not rates:
        sys.exit("scaling_table.py: no BM_Scaling results in the input")

    layouts = LAYOUTS + sorted({k[0] for k in rates} - set(LAYOUTS))
    layouts = [lay for lay in layouts if any(k[0] == lay for k in rates)]
    modes = MODES + sorted({k[1] for k in rates} - set(MODES))
    modes = [mode for mode in modes if any(k[1] == mode for k in rates)]
    threads = sorted({k[2] for k in rates})
    above_one = [n for n in threads if n > 1]

    def scaling(layout, mode, n):
        return ratio(rates.get((layout, mode, n)), rates.get((layout, mode, 1)))

    repetitions = max((int(b.get("repetitions", 1)) for b in benchmarks), default=1)
    source = f"medians of {repetitions} repetitions" if repetitions > 1 else "one run each"
    what = ("calls over the time spent in the calls" if args.metric == "calls_per_s"
            else "calls over the real time of the iterations")
    print(f"Throughput ({args.metric}: {what}) in millions of calls per second, {source};")
    print("×1 thr is the throughput over the same layout and mode at 1 thread.")
    print()
    header = ["mode"]
    for layout in layouts:
        for n in threads:
            header.append(f"{layout}, {n} thr (M/s)")
            if n > 1:
                header.append(f"{layout}, {n} thr ×1 thr")
    print("| " + " | ".join(header) + " |")
    print("| --- |" + " ---: |" * (len(header) - 1))
    for mode in modes:
        row = [mode]
        for layout in layouts:
            for n in threads:
                row.append(fmt_rate(rates.get((layout, mode, n))))
                if n > 1:
                    row.append(fmt_ratio(scaling(layout, mode, n)))
        print("| " + " | ".join(row) + " |")
    print()

    memcmp = medians(benchmarks, real_time_ns).get("BM_Memcmp4K")
    if memcmp is None:
        print("BM_Memcmp4K: not in the input.")
    else:
        print(f"BM_Memcmp4K median: {memcmp:.1f} ns (the calibration of this run).")
    print()

    if above_one:
        print("Scaling of inline and detached as a percentage of the post baseline's scaling:")
        print()
        print("| layout | threads | post ×1 thr | inline ×1 thr | inline % of post "
              "| detached ×1 thr | detached % of post |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for layout in layouts:
            for n in above_one:
                post = scaling(layout, "post", n)
                cells = [layout, str(n), fmt_ratio(post)]
                for mode in ("inline", "detached"):
                    s = scaling(layout, mode, n)
                    r = ratio(s, post)
                    cells += [fmt_ratio(s), fmt_percent(None if r is None else 100 * r)]
                print("| " + " | ".join(cells) + " |")
        print()

    failed = sorted({b.get("run_name", b["name"]) for b in benchmarks if b.get("error_occurred")})
    for run in failed:
        message = next(b.get("error_message", "") for b in benchmarks
                       if b.get("run_name", b["name"]) == run and b.get("error_occurred"))
        print(f"Failed: {run}: {message}")


if __name__ == "__main__":
    main()
