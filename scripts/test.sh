#!/usr/bin/env bash
# The project's test command: formatting, lints, then every test (unit, integration, doc),
# and the benchmarks built and run once in test mode.
set -euo pipefail
cd "$(dirname "$0")/.."

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
