#!/usr/bin/env bash
# Speed and accuracy of prescale against Python statsforecast's MSTL (MSTL + AutoETS trend) on
# the same series, origins and windows, each on one core. Not run in CI: it installs
# statsforecast from PyPI into target/peers-venv and uses the peer harness in
# ../shared/tools/forecast-peers.
#
# Usage: scripts/compare-statsforecast.sh TRACE.csv [EVERY_MIN] [SEASONS]
#   EVERY_MIN  minutes between origins (default 120: 37 origins over 3 days)
#   SEASONS    statsforecast MSTL seasons in steps (default: the harness's day + week)
set -euo pipefail
cd "$(dirname "$0")/.."
trace=$1
every=${2:-120}
seasons=${3:-}
peers=../shared/tools/forecast-peers
venv=target/peers-venv
work=target/peers
mkdir -p "$work"
cp "$peers"/peers.py "$work"/
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q statsforecast==2.1.1 numpy==2.4.6 pandas==2.3.3 \
    statsmodels==0.15.0 scipy==1.17.1
fi
cargo build --release --locked -q -p prescale
name=$(basename "$trace" .csv)
args=(--origin-every-min "$every" --models MSTL-AutoETS --jobs 1 --out "$work/$name")
[ -n "$seasons" ] && args+=(--seasons "$seasons")
"$venv/bin/python" "$work/peers.py" "$trace" "${args[@]}" >/dev/null
target/release/prescale evaluate --quiet --jobs 1 --every "${every}m" --models prescale,mstl \
  --format json --trace "$trace" >"$work/$name.prescale.json"
python3 - "$work/$name.json" "$work/$name.prescale.json" <<'PY'
import json, sys
peer = json.load(open(sys.argv[1]))
ours = json.load(open(sys.argv[2]))
sf = peer["models"]["MSTL-AutoETS"]
p = next(m for m in ours["models"] if m["name"] == "prescale")
print(f"statsforecast MSTL-AutoETS: acc {sf['acc']:.4f}, {sf['ms_per_origin']:.1f} ms/origin")
print(f"prescale:                   acc {p['accuracy']:.4f}, {p['ms_per_origin']:.1f} ms/origin")
print(f"speed-up: {sf['ms_per_origin'] / p['ms_per_origin']:.1f}x, accuracy difference {p['accuracy'] - sf['acc']:+.4f}")
PY
