#!/usr/bin/env python3
"""Compare `prescale evaluate` with the statsforecast/Prophet peers at several horizons.

For every trace and every horizon, this runs both sides on the same protocol and
writes ONE Markdown table (to stdout and OUT/peers-table.md):

  * `prescale evaluate --trace FILE --horizon H1,H2,... --every E --format json`
    (models prescale, naive = the last value, seasonal_naive_daily), with
    `--kind gauge` for CPU traces (file name containing `cpu_utilization`, as
    scripts/eval-traces.sh does) and `--kind count` otherwise;
  * the peer harness `peers.py` (tools/forecast-peers) with `--horizon-min`,
    `--origin-every-min`, `--backtest-days 3`, `--max-train-days 14` and
    `--out OUT/<trace>.h<H>m.e<E>m.<models>` (never into the shared folder).

Both sides use origins every E (default 30m) over the last 3 days and training
windows of at most 14 days (peers.py caps AutoTheta at 2 days itself).
prescale rounds a horizon up to whole steps (5m on a 10-minute trace is one
step = 10 minutes); the peers are given that rounded horizon in minutes, so
both forecast the same number of steps. The script checks that the step count
and the origin count agree and adds a warning under the table when not.

Accuracy is 1 - WAPE over every forecast point of every origin on both sides.
"best peer" is the most accurate of the peer models that ran; "Δ best" is
prescale minus it (negative: prescale is behind). "P90 cov" is the share of
actual points at or below prescale's P90 forecast (0.90 is calibrated).

Peer runs are slow (Prophet: ~10 minutes per trace and horizon on 1-minute
data), so peers JSON already in OUT for the same trace, rounded horizon and
origin spacing is reused for every model it holds, and peers.py runs only for
the models still missing (adding Prophet later reruns only Prophet); delete
the files to rerun. prescale itself is rerun every time (seconds).

Example:
  nice -n 10 scripts/compare-peers.py --peers-dir ../shared/tools/forecast-peers \\
      --python target/peers-venv/bin/python --prescale target/release/prescale \\
      --horizon 5m,15m,30m,60m --models AutoETS,AutoTheta,MSTL-AutoETS \\
      --jobs 1 --out target/peers-out ../shared/traces/*_5min.csv
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import time

PEERS = ["AutoETS", "AutoTheta", "MSTL-AutoETS", "Prophet"]
BASELINES = ["naive", "seasonal_naive_daily"]


def die(msg):
    sys.exit(f"compare-peers: {msg}")


def minutes(text, strict=True):
    """'30m', '2h', '90s', '1d' or a bare number of minutes -> minutes (float)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*", text)
    if not m:
        if not strict:
            return None
        die(f"cannot read duration {text!r} (use e.g. 30m, 2h)")
    return float(m.group(1)) * {"s": 1 / 60, "m": 1, "min": 1, "h": 60, "d": 1440, None: 1}[m.group(2)]


def run(cmd, log_path, what):
    """Run cmd, send its stdout+stderr to log_path; exit naming `what` if it fails."""
    t0 = time.time()
    with open(log_path, "w") as log:
        try:
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
        except OSError as e:
            die(f"{what}: cannot start {cmd[0]}: {e}")
    if rc != 0:
        with open(log_path) as fh:
            tail = "".join(fh.readlines()[-15:])
        die(f"{what} failed (exit {rc}); log {log_path}:\n{tail}\ncommand: {' '.join(cmd)}")
    return time.time() - t0


def run_prescale(args, trace, name):
    kind = "gauge" if "cpu_utilization" in name else "count"
    out = os.path.join(args.out, f"{name}.prescale.json")
    cmd = [args.prescale, "evaluate", "--quiet", "--trace", trace, "--kind", kind,
           "--horizon", args.horizon, "--every", args.every, "--last", "3d", "--max-train", "14d",
           "--models", ",".join(["prescale"] + BASELINES), "--format", "json"]
    if args.jobs:
        cmd += ["--jobs", str(args.jobs)]
    log = out[:-len(".json")] + ".log"
    t0 = time.time()
    with open(out, "w") as fh, open(log, "w") as err:
        rc = subprocess.run(cmd, stdout=fh, stderr=err).returncode
    if rc != 0:
        with open(log) as fh:
            tail = "".join(fh.readlines()[-15:])
        die(f"prescale evaluate failed on {trace} (exit {rc}); log {log}:\n{tail}\ncommand: {' '.join(cmd)}")
    try:
        with open(out) as fh:
            doc = json.load(fh)
    except ValueError as e:
        die(f"prescale evaluate on {trace} wrote unreadable JSON {out}: {e}")
    blocks = doc["horizons"] if "horizons" in doc else [doc]
    note(f"{name}: prescale ({kind}) {len(blocks)} horizon(s) in {time.time() - t0:.1f} s")
    return doc, blocks, kind


def run_peers(args, trace, name, h_min, every_min):
    """Peer scores for one trace and rounded horizon: (meta, model -> scores).

    Every `<trace>.h<H>m.e<E>m.<models>.json` already in OUT is reused for the
    models it holds; peers.py runs only for the models none of them holds.
    """
    base = f"{name}.h{h_min:g}m.e{every_min:g}m."
    meta, scores = None, {}
    for f in sorted(glob.glob(os.path.join(glob.escape(args.out), base + "*.json"))):
        try:
            with open(f) as fh:
                doc = json.load(fh)
        except ValueError:
            note(f"{f} is unreadable, ignored")
            continue
        found = [m for m in args.models if m in doc.get("models", {}) and m not in scores]
        if found:
            note(f"{name} {h_min:g} min: reused {','.join(found)} from {f}")
            meta = meta or doc["meta"]
            scores.update({m: doc["models"][m] for m in found})
    missing = [m for m in args.models if m not in scores]
    if missing:
        prefix = os.path.join(args.out, base + "+".join(missing))
        cmd = [args.python, os.path.join(args.peers_dir, "peers.py"), trace,
               "--horizon-min", f"{h_min:g}", "--origin-every-min", f"{every_min:g}",
               "--backtest-days", "3", "--max-train-days", "14",
               "--models", ",".join(missing), "--jobs", str(args.jobs or 1), "--out", prefix]
        secs = run(cmd, prefix + ".log", f"peers.py on {trace} at {h_min:g} min")
        try:
            with open(prefix + ".json") as fh:
                doc = json.load(fh)
        except (OSError, ValueError) as e:
            die(f"peers.py on {trace} at {h_min:g} min did not write {prefix}.json: {e}")
        note(f"{name} {h_min:g} min: peers {','.join(missing)} in {secs:.0f} s")
        meta = doc["meta"]
        scores.update(doc["models"])
    return meta, scores


def note(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def fmt(v):
    return "n/a" if v is None else f"{v:.4f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("traces", nargs="+", metavar="TRACE.csv", help="timestamp,value CSV files")
    ap.add_argument("--peers-dir", required=True, help="folder holding peers.py (tools/forecast-peers)")
    ap.add_argument("--python", required=True, help="Python of a venv with the peers' requirements.txt")
    ap.add_argument("--prescale", default="target/release/prescale", help="prescale binary (default %(default)s)")
    ap.add_argument("--horizon", default="30m", help="comma-separated horizons, e.g. 5m,15m,30m,60m (default 30m)")
    ap.add_argument("--every", default="30m", help="time between origins on both sides (default 30m)")
    ap.add_argument("--models", default=",".join(PEERS),
                    help=f"peer models, comma-separated (default {','.join(PEERS)})")
    ap.add_argument("--jobs", type=int, default=None,
                    help="peers.py processes over origins and prescale worker threads "
                         "(default: peers 1, prescale one per core)")
    ap.add_argument("--out", default="target/peers", help="folder for JSON, logs and the table (default %(default)s)")
    args = ap.parse_args()

    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in PEERS]
    if unknown:
        die(f"unknown peer model(s) {unknown}; choose from {PEERS}")
    if not os.path.isfile(os.path.join(args.peers_dir, "peers.py")):
        die(f"no peers.py in --peers-dir {args.peers_dir}")
    for path, flag in ((args.python, "--python"), (args.prescale, "--prescale")):
        if not os.access(path, os.X_OK):
            die(f"{flag} {path} is not an executable file")
    for t in args.traces:
        if not os.path.isfile(t):
            die(f"trace {t} does not exist")
    every_min = minutes(args.every)
    os.makedirs(args.out, exist_ok=True)

    n_h = len(args.horizon.split(","))
    peer_cols = [m for m in PEERS if m in args.models]
    head = ["trace", "horizon", "origins", "prescale", "naive", "seasonal naive (daily)",
            *peer_cols, "best peer", "prescale − best peer", "prescale P90 cov"]
    rows, warnings = [], []
    t_all = time.time()
    for trace in args.traces:
        name = os.path.splitext(os.path.basename(trace))[0]
        doc, blocks, kind = run_prescale(args, trace, name)
        if len(blocks) != n_h:
            die(f"prescale evaluate on {trace} gave {len(blocks)} horizon blocks for {n_h} horizons")
        step_min = doc["step_seconds"] / 60
        for req, b in zip(args.horizon.split(","), blocks):
            pres = {m["name"]: m for m in b["models"]}
            if "prescale" not in pres:
                die(f"prescale evaluate on {trace}: no 'prescale' model in the output")
            h_min = b["horizon_steps"] * step_min  # prescale's rounded-up horizon
            meta, scores = run_peers(args, trace, name, h_min, every_min)
            label = f"{h_min:g} min" + ("" if minutes(req, False) in (h_min, None) else f" ({req.strip()} rounded up)")
            if meta["h"] != b["horizon_steps"]:
                warnings.append(f"{name} {label}: peers forecast {meta['h']} steps, prescale {b['horizon_steps']}")
            origins = {"prescale": b["origins"], "peers.py": meta["n_origins"]}
            origins.update({f"{k} scored": s["origins"] for k, s in scores.items()})
            origins.update({f"{k} scored": pres[k]["origins"] for k in ["prescale"] + BASELINES if k in pres})
            if len(set(origins.values())) != 1:
                warnings.append(f"{name} {label}: origin counts differ: "
                                + ", ".join(f"{k} {v}" for k, v in origins.items()))
            if meta.get("filled_points") or doc.get("filled"):
                warnings.append(f"{name}: filled steps: prescale {doc.get('filled')} ({kind}), "
                                f"peers {meta.get('filled_points')} (interpolated)")
            acc = {k: scores[k]["acc"] for k in peer_cols if k in scores and scores[k].get("origins")}
            best = max(acc, key=acc.get) if acc else None
            p = pres["prescale"]
            cells = [name, label, str(b["origins"]), fmt(p["accuracy"]),
                     *(fmt(pres[k]["accuracy"]) if k in pres else "n/a" for k in BASELINES),
                     *(fmt(acc.get(k)) for k in peer_cols),
                     f"{best} {acc[best]:.4f}" if best else "n/a",
                     f"{p['accuracy'] - acc[best]:+.4f}" if best else "n/a",
                     f"{p['p90_coverage']:.3f}"]
            rows.append(cells)

    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", f"Accuracy = 1 − WAPE. Origins every {args.every} over the last 3 days, training windows "
              "≤ 14 days (AutoTheta ≤ 2 days, peers.py's own cap). Peers: " + ", ".join(peer_cols) + "."]
    if warnings:
        lines += [""] + [f"- **warning:** {w}" for w in dict.fromkeys(warnings)]
    else:
        lines += ["", "Origin and step counts agree between prescale and the peers in every row."]
    table = "\n".join(lines) + "\n"
    print(table)
    with open(os.path.join(args.out, "peers-table.md"), "w") as fh:
        fh.write(table)
    note(f"wrote {os.path.join(args.out, 'peers-table.md')} ({time.time() - t_all:.0f} s in all)")


if __name__ == "__main__":
    main()
