#!/usr/bin/env bash
# Run a program of the Debian 13 root (default qemu-system-x86_64, QEMU 10.0) on this machine without chroot:
# through the root's own dynamic loader and libraries, with its firmware and QEMU modules. No mounts, so several
# can run at once. Usage: scripts/debian13/qemu.sh [--bin /usr/bin/NAME] ARGS...
# The root comes from scripts/debian13/setup.sh ($DEVREC_DEBIAN13, default /var/cache/devrec/debian13).
set -euo pipefail
DIR="${DEVREC_DEBIAN13:-/var/cache/devrec/debian13}"
ROOT="$DIR/root"
[ -e "$ROOT/.done" ] || { echo "debian13/qemu.sh: no Debian 13 root at $ROOT (run scripts/debian13/setup.sh first)" >&2; exit 1; }
BIN=/usr/bin/qemu-system-x86_64
if [ "${1:-}" = "--bin" ]; then BIN="$2"; shift 2; fi
LIBS="$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/lib/x86_64-linux-gnu:$ROOT/usr/lib/x86_64-linux-gnu/pulseaudio"
export QEMU_MODULE_DIR="$ROOT/usr/lib/x86_64-linux-gnu/qemu"
extra=()
case "$BIN" in *qemu-system-*) extra=(-L "$ROOT/usr/share/qemu" -L "$ROOT/usr/share/seabios");; esac
exec "$ROOT/lib64/ld-linux-x86-64.so.2" --library-path "$LIBS" "$ROOT$BIN" "${extra[@]}" "$@"
