#!/usr/bin/env bash
# Runs `prescale backtest` (defaults: 3-minute cold start, capacity = P99 demand / 10, 500 ms SLA,
# all five policies) on every shared trace; writes one JSON per trace into OUT (default
# target/backtest) and prints one line per trace. Extra arguments go to `prescale backtest`.
# Usage: scripts/backtest-traces.sh [TRACES_DIR] [OUT] [BACKTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
traces=${1:-../shared/traces}
out=${2:-target/backtest}
mkdir -p "$out"
cargo build --release --locked -q -p prescale
for f in "$traces"/*.csv; do
  name=$(basename "$f" .csv)
  kind=count
  case "$name" in *cpu_utilization*) kind=gauge ;; esac
  target/release/prescale backtest --quiet --kind "$kind" --trace "$f" --format json "${@:3}" >"$out/$name.json"
  python3 - "$out/$name.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
p = {x["name"]: x for x in d["policies"]}
ps, k, s = p["prescale"], p["keda_reactive"], p["static_peak"]
def rel(a, b):
    return f"{(a / b - 1) * 100:+.0f}%" if b else "n/a"
print(f'{d["trace"].split("/")[-1][:44]:44s} underprov {ps["underprovisioned_minutes"]:8.1f} vs keda {k["underprovisioned_minutes"]:8.1f} ({rel(ps["underprovisioned_minutes"], k["underprovisioned_minutes"])}) '
      f'| GPU-h {ps["gpu_hours"]:8.1f} vs keda {rel(ps["gpu_hours"], k["gpu_hours"])} vs static {rel(ps["gpu_hours"], s["gpu_hours"])} '
      f'| SLA {ps["sla_attainment"]*100:.2f}% | warm {ps["warm_first_requests"]}/{ps["first_requests_after_idle"]}')
PY
done
