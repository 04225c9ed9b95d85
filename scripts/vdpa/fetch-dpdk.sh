#!/usr/bin/env bash
# DPDK 24.11 from Debian 13 (its vhost library can implement a VDUSE virtio-net device), unpacked beside the
# Debian 13 root without changing that root or this machine: apt-get download with its own sources list and
# lists directory, then dpkg-deb -x of dpdk and the packages it depends on that the root does not already hold.
# Usage: scripts/vdpa/fetch-dpdk.sh [DIR]   (default: $DEVREC_VDPA_CACHE/dpdk or /var/cache/devrec/vdpa/dpdk)
# Afterwards DIR/root holds usr/bin/dpdk-testpmd and the librte-* libraries. Idempotent (DIR/root/.done).
set -euo pipefail
DEB13="${DEVREC_DEBIAN13:-/var/cache/devrec/debian13}"
DIR="${1:-${DEVREC_VDPA_CACHE:-/var/cache/devrec/vdpa}/dpdk}"
[ -e "$DEB13/root/.done" ] || { echo "fetch-dpdk.sh: no Debian 13 root at $DEB13/root (run scripts/debian13/setup.sh)" >&2; exit 1; }
[ -e "$DIR/root/.done" ] && { echo "$DIR"; exit 0; }
MIRROR="$(sed -n 's/^deb \([^ ]*\) trixie main$/\1/p' "$DEB13/apt/sources.list" 2>/dev/null || true)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
apt="$DIR/apt"; mkdir -p "$apt/lists/partial" "$apt/archives/partial"
echo "deb $MIRROR trixie main" > "$apt/sources.list"
opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=/dev/null -o "Dir::State::Lists=$apt/lists"
      -o "Dir::Cache::Archives=$apt/archives" -o "Dir::Cache=$apt/cache" -o Dir::State::status=/dev/null -o APT::Architecture=amd64)
mkdir -p "$apt/cache"
apt-get "${opts[@]}" update -q >/dev/null
# Packages the Debian 13 root already has (its dpkg status) are taken from the root at run time.
have="$(sed -n 's/^Package: //p' "$DEB13/root/var/lib/dpkg/status" | sort -u)"
want="$(apt-cache "${opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
         --no-replaces --no-enhances dpdk | grep -E '^[a-z0-9]' | grep -v '^<' | sort -u)"
pkgs="$(comm -23 <(echo "$want") <(echo "$have"))"
(cd "$apt/archives" && apt-get "${opts[@]}" download $pkgs >/dev/null)
rm -rf "$DIR/root"; mkdir -p "$DIR/root"
for d in "$apt"/archives/*.deb; do dpkg-deb -x "$d" "$DIR/root"; done
echo "$pkgs" > "$DIR/root/packages"
touch "$DIR/root/.done"
echo "$DIR"
