#!/usr/bin/env bash
# Builds the release binary and splits it for shipping:
#   $DIST_DIR/prescale        stripped of debug info (what the image and a release ship), with a
#                             .gnu_debuglink naming the symbols file (and its CRC)
#   $DIST_DIR/prescale.debug  the debug info (DWARF and symbol table) alone, kept apart: put it
#                             beside the binary (or under /usr/lib/debug) and gdb and perf find
#                             it through the debug link.
# The release profile keeps debug info (Cargo.toml), so target/release/prescale itself is large
# (about 210 MB); the stripped binary is a fraction of that.
#   scripts/dist.sh            # DIST_DIR defaults to target/dist
set -euo pipefail
cd "$(dirname "$0")/.."
DIST_DIR="${DIST_DIR:-target/dist}"
OBJCOPY="${OBJCOPY:-objcopy}"

if ! command -v "$OBJCOPY" >/dev/null 2>&1; then
  echo "error: $OBJCOPY (binutils) is needed to split the debug info" >&2
  exit 1
fi
if [ "${DIST_SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release --locked -p prescale
fi
mkdir -p "$DIST_DIR"
bin="$DIST_DIR/prescale"
install -m 0755 target/release/prescale "$bin"
"$OBJCOPY" --only-keep-debug "$bin" "$bin.debug"
chmod 0644 "$bin.debug"
# --strip-debug keeps the dynamic symbols (and, without --strip-unneeded, the symbol table's
# function names, so a panic's backtrace still names functions); the DWARF goes.
"$OBJCOPY" --strip-debug --add-gnu-debuglink="$bin.debug" "$bin"
echo "dist: $(du -h "$bin" | cut -f1) $bin (stripped), $(du -h "$bin.debug" | cut -f1) $bin.debug"
