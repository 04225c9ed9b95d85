#!/usr/bin/env bash
# Install what scripts/qemu/capture.sh needs, from Debian's own packages.
# Idempotent: does nothing (and prints nothing) when everything is already there.
# Quiet on success; on failure prints the apt output and exits non-zero.
set -euo pipefail

PKGS=(qemu-system-x86 busybox-static linux-image-amd64 cpio gzip socat)

missing=()
for p in "${PKGS[@]}"; do
  # dpkg-query prints "install ok installed" for an installed package.
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
# The kernel package must also have left a kernel image and its modules behind.
if ! compgen -G '/boot/vmlinuz-*' >/dev/null || ! compgen -G '/lib/modules/*/kernel/drivers/virtio' >/dev/null; then
  case " ${missing[*]-} " in *" linux-image-amd64 "*) ;; *) missing+=(linux-image-amd64) ;; esac
fi
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
  command -v sudo >/dev/null || { echo "install-deps.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
else
  SUDO=
fi

log=$(mktemp "${TMPDIR:-/tmp}/qemu-install-deps.XXXXXX")
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -q && \
       $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-deps.sh: apt-get failed installing: ${missing[*]}" >&2
  exit 1
fi
