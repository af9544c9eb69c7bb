#!/usr/bin/env bash
# Runs `prescale evaluate` (default protocol) on every shared trace with at least 7 days of
# history and writes one JSON file per trace into OUT (default: target/eval). Further
# arguments go to `prescale evaluate`, e.g. `--horizon 5m,15m,30m,60m` (one line per horizon).
# Usage: scripts/eval-traces.sh [TRACES_DIR] [OUT] [EVALUATE ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
traces=${1:-../shared/traces}
out=${2:-target/eval}
mkdir -p "$out"
cargo build --release --locked -q -p prescale
for f in "$traces"/*.csv; do
  name=$(basename "$f" .csv)
  kind=count
  case "$name" in *cpu_utilization*) kind=gauge ;; esac
  # Traces shorter than 7 days are not part of the accuracy targets.
  rows=$(($(wc -l <"$f") - 1))
  step=$(awk -F, 'NR==2{a=$1} NR==3{b=$1} END{cmd="date -d " a " +%s"; cmd | getline x; close(cmd); cmd="date -d " b " +%s"; cmd | getline y; print y-x}' "$f")
  if [ $((rows * step)) -lt $((7 * 86400)) ]; then
    echo "skip $name (shorter than 7 days)"
    continue
  fi
  start=$(date +%s.%N)
  target/release/prescale evaluate --quiet --kind "$kind" --trace "$f" --format json "${@:3}" >"$out/$name.json"
  end=$(date +%s.%N)
  python3 - "$out/$name.json" "$(echo "$end - $start" | bc)" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
blocks = d["horizons"] if "horizons" in d else [d]
for b in blocks:
    rows = {m["name"]: m for m in b["models"]}
    p = rows["prescale"]
    others = [m for m in b["models"] if m["name"] != "prescale"]
    best_other = max(others, key=lambda m: m["accuracy"]) if others else p
    extra = " ".join(f'{n} {rows[n]["accuracy"]:.4f}' for n in ("naive", "seasonal_naive_daily") if n in rows)
    print(f'{d["trace"].split("/")[-1]:48s} {b["horizon_minutes"]:3d} min: prescale acc {p["accuracy"]:.4f} '
          f'cov {p["p90_coverage"]:.3f} | best other {best_other["name"]} {best_other["accuracy"]:.4f} '
          f'| {extra} | {p["ms_per_origin"]:.1f} ms/origin, wall {float(sys.argv[2]):.1f} s')
PY
done
