#!/usr/bin/env bash
# A VDUSE virtio-net device for the vDPA capture: DPDK 24.11's vhost library from Debian 13 (Debian 13 ships no
# DPDK application binary, not even dpdk-testpmd), and scripts/vdpa/vduse-net/vduse-net.c built against it with
# this machine's gcc. Nothing is installed: apt-get download with its own sources list and lists directory,
# dpkg-deb -x into DIR/root, the Debian 13 root (scripts/debian13/setup.sh) supplies libc and the other libraries.
# Usage: scripts/vdpa/fetch-dpdk.sh [DIR]   (default: $DEVREC_VDPA_CACHE/dpdk or /var/cache/devrec/vdpa/dpdk)
# Afterwards: DIR/vduse-net and DIR/root/usr/lib/x86_64-linux-gnu/librte_*.so*. Idempotent (DIR/.done).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DEB13="${DEVREC_DEBIAN13:-/var/cache/devrec/debian13}"
DIR="${1:-${DEVREC_VDPA_CACHE:-/var/cache/devrec/vdpa}/dpdk}"
[ -e "$DEB13/root/.done" ] || { echo "fetch-dpdk.sh: no Debian 13 root at $DEB13/root (run scripts/debian13/setup.sh)" >&2; exit 1; }
[ -e "$DIR/.done" ] && { echo "$DIR"; exit 0; }
if ! command -v gcc >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc libc6-dev >/dev/null
fi
MIRROR="$(sed -n 's/^deb \([^ ]*\) trixie main$/\1/p' "$DEB13/apt/sources.list" 2>/dev/null || true)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
apt="$DIR/apt"; mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/cache"
echo "deb $MIRROR trixie main" > "$apt/sources.list"
opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=/dev/null -o "Dir::State::Lists=$apt/lists"
      -o "Dir::Cache::Archives=$apt/archives" -o "Dir::Cache=$apt/cache" -o Dir::State::status=/dev/null -o APT::Architecture=amd64)
apt-get "${opts[@]}" update -q >/dev/null
# librte-vhost25 and what it needs beyond the Debian 13 root; libdpdk-dev for the headers only.
have="$(sed -n 's/^Package: //p' "$DEB13/root/var/lib/dpkg/status" | sort -u)"
want="$(apt-cache "${opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
         --no-replaces --no-enhances librte-vhost25 | grep -E '^[a-z0-9]' | sort -u)"
pkgs="$(comm -23 <(echo "$want") <(echo "$have")) libdpdk-dev"
rm -f "$apt"/archives/*.deb
# shellcheck disable=SC2086
(cd "$apt/archives" && apt-get "${opts[@]}" download $pkgs >/dev/null 2>&1)
rm -rf "$DIR/root"; mkdir -p "$DIR/root"
for d in "$apt"/archives/*.deb; do dpkg-deb -x "$d" "$DIR/root"; done
# DPDK's headers include <bsd/string.h> (libbsd-dev); vduse-net.c uses none of its functions.
mkdir -p "$DIR/stub/bsd"
printf '#include <string.h>\nsize_t strlcpy(char *, const char *, size_t);\nsize_t strlcat(char *, const char *, size_t);\n' > "$DIR/stub/bsd/string.h"
gcc -O1 -march=corei7 -include rte_config.h -I "$DIR/stub" -I "$DIR/root/usr/include/dpdk" \
  -I "$DIR/root/usr/include/x86_64-linux-gnu/dpdk" -o "$DIR/vduse-net" "$HERE/vduse-net/vduse-net.c" \
  -L "$DIR/root/usr/lib/x86_64-linux-gnu" -lrte_vhost -lrte_eal -Wl,--allow-shlib-undefined
echo "$pkgs" > "$DIR/packages"
touch "$DIR/.done"
echo "$DIR"
