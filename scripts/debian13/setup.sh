#!/usr/bin/env bash
# A Debian 13 (trixie) root with QEMU 10.0, iproute2's vdpa and qemu-storage-daemon, plus Debian 13's 6.12
# kernel unpacked beside it, made without changing this machine's system (debootstrap into a folder, apt-get
# download with its own sources list and lists directory, dpkg-deb -x).
# Usage: scripts/debian13/setup.sh [DIR]   (default: $DEVREC_DEBIAN13 or /var/cache/devrec/debian13)
# Afterwards: DIR/root (chroot with qemu-system-x86_64, qemu-storage-daemon, vdpa) and DIR/kernel
# (boot/vmlinuz-*, usr/lib/modules/<ver>/). Idempotent: each part is made once (a .done marker).
set -euo pipefail
DIR="${1:-${DEVREC_DEBIAN13:-/var/cache/devrec/debian13}}"
mkdir -p "$DIR"
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v xz >/dev/null || need+=(xz-utils)
if [ "${#need[@]}" -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
# The mirror this machine already uses (deb822 URIs: line or a one-line "deb URL suite" entry).
MIRROR="$(grep -hoE '^(URIs: *|deb +)https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
  | sed -E 's/^(URIs: *|deb +)//' | grep -m1 -E '/debian/?$' || true)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

if [ ! -e "$DIR/root/.done" ]; then
  rm -rf "$DIR/root"
  debootstrap --variant=minbase --include=qemu-system-x86,qemu-utils,qemu-block-extra,iproute2,ovmf \
    trixie "$DIR/root" "$MIRROR" > "$DIR/debootstrap.log" 2>&1 \
    || { tail -20 "$DIR/debootstrap.log" >&2; echo "debian13/setup.sh: debootstrap of trixie from $MIRROR failed (log: $DIR/debootstrap.log)" >&2; exit 1; }
  touch "$DIR/root/.done"
fi

if [ ! -e "$DIR/kernel/.done" ]; then
  apt="$DIR/apt"; mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/cache"
  echo "deb $MIRROR trixie main" > "$apt/sources.list"
  opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=/dev/null
        -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "Dir::Cache::Archives=$apt/archives"
        -o Dir::State::status=/dev/null -o APT::Architecture=amd64)
  apt-get "${opts[@]}" update -q >/dev/null
  pkg="$(apt-cache "${opts[@]}" depends linux-image-amd64 | grep -oE 'linux-image-6\.[0-9a-z.+~-]+-amd64' | grep -v unsigned | head -1)"
  [ -n "$pkg" ] || { echo "debian13/setup.sh: no linux-image-6.*-amd64 in trixie's package lists" >&2; exit 1; }
  (cd "$apt/archives" && apt-get "${opts[@]}" download "$pkg" >/dev/null)
  rm -rf "$DIR/kernel"; mkdir -p "$DIR/kernel"
  dpkg-deb -x "$apt/archives/${pkg}"_*.deb "$DIR/kernel"
  echo "$pkg" > "$DIR/kernel/package"
  touch "$DIR/kernel/.done"
fi
echo "$DIR"
