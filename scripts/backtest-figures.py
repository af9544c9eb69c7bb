#!/usr/bin/env python3
"""Re-measures the backtest figures of docs/benchmarks.md with the release binary.

Usage: scripts/backtest-figures.py [TRACES_DIR] [SECTION...]

Sections (default: all): slo (SLO mode, the default: every policy on every trace with at
least 7 days, at SLOs 0.95/0.99/0.999 and cold starts of 1, 3 and 10 minutes, with the
clairvoyant bound), tables (every policy on every trace, with the clairvoyant bound, prescale
at the fixed headroom P90, the expert override `--quantile 0.9`), units (each trace and the
same trace divided by 60: prescale's figures must match, in SLO mode and at P90), drain
(quantile x drain, with the backlog term's signals), grid (target utilization x quantile x
drain on the diurnal traces). Prints Markdown to stdout; the derived traces of `units` go to a
temporary directory, never into the repository.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "prescale")
TRACES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "traces")
SECTIONS = sys.argv[2:] or ["slo", "tables", "units", "drain", "grid"]
# The fixed headroom of the reference tables (SLO mode is the default).
FIXED = ["--quantile", "0.9"]
DIURNAL = [
    "web_nasa_http_1995-07_1min",
    "llm_servegen_m_small_10min",
    "social_twitter_volume_AMZN_5min",
]
ALL = "static_peak,keda_reactive,knative_kpa,crane_dsp,prescale,clairvoyant"


def kind(name):
    return "gauge" if "cpu_utilization" in name else "count"


def backtest(path, *args, declared_kind=True):
    """`prescale backtest` on `path` (with the trace's kind unless `declared_kind` is off: the
    SLO table runs the defaults only, as the issue asks)."""
    name = os.path.basename(path)[:-4]
    kind_args = ["--kind", kind(name)] if declared_kind else []
    cmd = [BIN, "backtest", "--quiet", *kind_args, "--trace", path, "--format", "json"]
    out = subprocess.run(cmd + list(args), check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def policies(d):
    return {p["name"]: p for p in d["policies"]}


def traces():
    return sorted(f[:-4] for f in os.listdir(TRACES) if f.endswith(".csv"))


def tables():
    for name in traces():
        d = backtest(os.path.join(TRACES, name + ".csv"), "--policies", ALL, *FIXED)
        s = d["settings"]
        print(f"#### `{name}.csv`\n")
        print(
            f'capacity {s["capacity_per_replica_per_min"]:.4g} units/min per replica '
            f'(P99 demand / 10), cold start {s["cold_start_secs"]:.0f} s, SLA {s["sla_ms"]:.0f} ms\n'
        )
        print("| policy | GPU-h | cost $ | underprov. min | SLA % | P95 ms | queue peak | cold starts | scale events | warm after idle |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for p in d["policies"]:
            print(
                f'| {p["name"]} | {p["gpu_hours"]:.1f} | {p["cost_usd"]:.0f} | {p["underprovisioned_minutes"]:.1f} '
                f'| {p["sla_attainment"] * 100:.2f} | {p["p95_latency_ms"]:.0f} | {p["queue_peak"]:.0f} '
                f'| {p["cold_starts"]} | {p["scale_events"]} | {p["warm_first_requests"]}/{p["first_requests_after_idle"]} |'
            )
        print()


def units():
    print("| trace | GPU-h (as is) | GPU-h (/60) | difference | SLA % (as is) | SLA % (/60) | difference |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in traces():
            src = os.path.join(TRACES, name + ".csv")
            dst = os.path.join(tmp, name + ".csv")
            with open(src) as f, open(dst, "w") as g:
                g.write(f.readline())
                for line in f:
                    t, v = line.strip().split(",")
                    g.write(f"{t},{float(v) / 60.0!r}\n")
            for mode, extra in [("SLO 0.99", []), ("P90", FIXED)]:
                a = policies(backtest(src, "--policies", "prescale", *extra))["prescale"]
                b = policies(backtest(dst, "--policies", "prescale", *extra))["prescale"]
                dg = (b["gpu_hours"] / a["gpu_hours"] - 1) * 100 if a["gpu_hours"] else 0.0
                ds = (b["sla_attainment"] - a["sla_attainment"]) * 100
                print(
                    f'| {name} ({mode}) | {a["gpu_hours"]:.1f} | {b["gpu_hours"]:.1f} | {dg:+.2f}% '
                    f'| {a["sla_attainment"] * 100:.2f} | {b["sla_attainment"] * 100:.2f} | {ds:+.2f} pt |'
                )
    print()


def days(path):
    """The span of a trace in days, from its first and last timestamps."""
    from datetime import datetime

    with open(path) as f:
        rows = [line.split(",")[0] for line in f.read().split("\n")[1:] if line.strip()]
    t = [datetime.fromisoformat(r.replace("Z", "+00:00")) for r in (rows[0], rows[-1])]
    return (t[1] - t[0]).total_seconds() / 86400.0


def slo():
    head = "| trace | SLO | cold start | prescale SLA % | prescale GPU-h | × bound | bound SLA % | bound GPU-h | vs static GPU-h | dominated by | s |"
    print(head)
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    runs = [(x, "3m") for x in ["0.99", "0.95", "0.999"]] + [("0.99", "1m"), ("0.99", "10m")]
    for slo_, cold in runs:
        for name in traces():
            path = os.path.join(TRACES, name + ".csv")
            if days(path) < 7.0:
                continue
            d0 = time.time()
            d = backtest(path, "--policies", ALL, "--slo", slo_, "--cold-start", cold, declared_kind=False)
            secs = time.time() - d0
            ps = policies(d)
            p, b, st = ps["prescale"], ps["clairvoyant"], ps["static_peak"]
            dom = [
                n for n in ["keda_reactive", "knative_kpa", "crane_dsp"]
                if ps[n]["sla_attainment"] > p["sla_attainment"] and ps[n]["gpu_hours"] < p["gpu_hours"]
            ]
            ok = p["sla_attainment"] >= float(slo_)
            sla = f'{p["sla_attainment"] * 100:.2f}'
            print(
                f'| {name} | {slo_} | {cold} | {"**" + sla + "**" if ok else sla} | {p["gpu_hours"]:.1f} '
                f'| {p["gpu_hours"] / b["gpu_hours"]:.2f}× | {b["sla_attainment"] * 100:.2f} | {b["gpu_hours"]:.1f} '
                f'| {(p["gpu_hours"] / st["gpu_hours"] - 1) * 100:+.0f}% | {", ".join(dom) or "none"} | {secs:.1f} |'
            )
    print()


def drain():
    print("| trace | signals | drain | quantile | GPU-h | underprov. min | SLA % |")
    print("|---|---|---|---|---|---|---|")
    for name in DIURNAL + ["cloud_aws_elb_request_count_8c0756_5min"]:
        path = os.path.join(TRACES, name + ".csv")
        for signals, drains in [("demand", ["5m"]), ("queue,ready", ["5m", "1m"])]:
            for dr in drains:
                for q in ["0.5", "0.75", "0.9", "0.97", "0.98", "0.99"]:
                    args = ["--policies", "prescale", "--quantile", q, "--drain", dr]
                    if signals != "demand":
                        args += ["--signals", signals]
                    p = policies(backtest(path, *args))["prescale"]
                    print(
                        f'| {name} | {signals} | {dr if signals != "demand" else "-"} | {q} | {p["gpu_hours"]:.1f} '
                        f'| {p["underprovisioned_minutes"]:.1f} | {p["sla_attainment"] * 100:.2f} |'
                    )
    print()


def grid():
    static = {
        n: policies(backtest(os.path.join(TRACES, n + ".csv"), "--policies", "static_peak"))["static_peak"]["gpu_hours"]
        for n in DIURNAL
    }
    head = " | ".join(f"{n.split('_')[1]} SLA % | GPU-h vs static" for n in DIURNAL)
    print(f"| target utilization | quantile | signals, drain | {head} |")
    print("|---|---|---|" + "---|---|" * len(DIURNAL))
    for u in ["1.0", "0.8", "0.67", "0.5"]:
        for q in ["0.9", "0.95", "0.97", "0.99"]:
            for signals, dr in [("demand", None), ("queue,ready", "1m")]:
                cells = []
                for n in DIURNAL:
                    args = ["--policies", "prescale", "--target-utilization", u, "--quantile", q]
                    if dr:
                        args += ["--signals", signals, "--drain", dr]
                    p = policies(backtest(os.path.join(TRACES, n + ".csv"), *args))["prescale"]
                    sla = p["sla_attainment"] * 100
                    rel = (p["gpu_hours"] / static[n] - 1) * 100
                    mark = "**" if sla >= 99.0 and rel <= -40.0 else ""
                    cells.append(f"{mark}{sla:.2f}{mark} | {rel:+.0f}%")
                label = "demand only" if not dr else f"queue+ready, {dr}"
                print(f"| {u} | {q} | {label} | " + " | ".join(cells) + " |")
    print()


for section in SECTIONS:
    print(f"<!-- {section} -->")
    {"slo": slo, "tables": tables, "units": units, "drain": drain, "grid": grid}[section]()
    sys.stdout.flush()
