#!/usr/bin/env bash
# capture.sh VARIANT OUTDIR   |   capture.sh --list
#
# A real vDPA device with no hardware: boots Debian 13's kernel 6.12 under this machine's QEMU (TCG) with a
# busybox initramfs holding the kernel's vdpa/vduse/virtio_vdpa/virtio_blk modules plus Debian 13's `vdpa`
# (iproute2 6.15) and `qemu-storage-daemon` (QEMU 10.0, VDUSE block export) with their libraries. The guest
# (guest-init.sh) provisions the VDUSE device with `vdpa dev add`, lets virtio_blk drive it through
# virtio_vdpa, records the VDUSE parent's vDPA bus operations with kprobe events (ops/vduse.tsv), and reports:
#   OUTDIR/mgmtdev.json, dev.json, config.json   vdpa -jp mgmtdev show / dev show / dev config show
#   OUTDIR/commands.txt                          every command the guest ran: exit code, output file, argv
#   OUTDIR/refusal-*.txt                         provisioning the kernel refused: command, exit code, message
#   OUTDIR/trace.txt                             the kprobe events (tracefs `trace`), probes.txt their definitions
#   OUTDIR/sysfs-features.txt, sysfs-status.txt  /sys/bus/virtio/devices/*: features bits, device, status, disk
#   OUTDIR/qsd.log, uname.txt                    qemu-storage-daemon output, guest kernel release
#   OUTDIR/manifest.json                         what ran: versions, kernel command line, QEMU command, timing
# get_config/set_config events fetch 8 bytes of the buffer; capture.sh keeps only the first `len` of them (the
# rest is whatever followed the buffer in kernel memory).
#
# Needs: scripts/debian13/setup.sh done (root + kernel; DEVREC_DEBIAN13), host qemu-system-x86_64, busybox-static,
# xz, cpio, gzip (scripts/qemu/install-deps.sh). Knobs: BOOT_TIMEOUT (s, default 300), KEEP_WORK=1.
set -euo pipefail
PROG=${0##*/}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VARIANTS=(blk blk-mq2 blk-reset net)
die() { echo "$PROG: error: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }

[ $# -ge 1 ] || die "usage: $PROG VARIANT OUTDIR | --list (variants: ${VARIANTS[*]})"
if [ "$1" = --list ]; then printf '%s\n' "${VARIANTS[@]}"; exit 0; fi
[ $# -eq 2 ] || die "usage: $PROG VARIANT OUTDIR"
VARIANT=$1; OUTDIR=$2
case " ${VARIANTS[*]} " in *" $VARIANT "*) ;; *) die "unknown variant '$VARIANT' (known: ${VARIANTS[*]})" ;; esac
SMP=1
CPU=()
case "$VARIANT" in
  blk) DESC="one VDUSE block device (1 queue of 128), provisioned with no attributes; provisioning the kernel refuses" ;;
  blk-mq2) SMP=2; DESC="two VDUSE block devices: vduse0 with 2 queues of 128, vduse1 with 1 queue of 256; 2 vCPUs" ;;
  blk-reset) DESC="one VDUSE block device driven, then virtio_blk unbound and bound again, then vdpa dev del + dev add" ;;
  net) CPU=(-cpu max)  # Debian 13's DPDK needs SSE4.2 (package sse4.2-support); TCG's default qemu64 CPU has none
       DESC="one VDUSE virtio-net device made by DPDK 24.11's vhost library (vduse-net.c), driven by virtio_net" ;;
esac
BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}

DEB13="${DEVREC_DEBIAN13:-/var/cache/devrec/debian13}"
ROOT="$DEB13/root"
[ -e "$ROOT/.done" ] || die "no Debian 13 root at $ROOT (run scripts/debian13/setup.sh)"
[ -e "$DEB13/kernel/.done" ] || die "no Debian 13 kernel at $DEB13/kernel (run scripts/debian13/setup.sh)"
KERNEL=$(ls "$DEB13"/kernel/boot/vmlinuz-* | head -1)
KVER=${KERNEL##*/vmlinuz-}
MODDIR="$DEB13/kernel/usr/lib/modules/$KVER/kernel"
for c in qemu-system-x86_64 xz cpio gzip sha256sum; do command -v $c >/dev/null || die "'$c' not found (scripts/qemu/install-deps.sh)"; done
BUSYBOX=/bin/busybox
[ -x $BUSYBOX ] && ! ldd $BUSYBOX >/dev/null 2>&1 || die "$BUSYBOX must be busybox-static (scripts/qemu/install-deps.sh)"

mkdir -p "$OUTDIR"; OUTDIR=$(cd "$OUTDIR" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/devrec-vdpa-$VARIANT.XXXXXX")
QEMU_PID=""
cleanup() {
  [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null || true
  if [ "${KEEP_WORK:-0}" = 1 ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# ---- initramfs: busybox, modules (xz -d), vdpa + qemu-storage-daemon with their libraries -----------------
IR=$WORK/initramfs
mkdir -p "$IR"/{bin,lib/modules,lib64,usr/bin,usr/sbin,etc}
cp $BUSYBOX "$IR/bin/busybox"
for m in drivers/vdpa/vdpa drivers/vhost/vhost_iotlb drivers/vdpa/vdpa_user/vduse drivers/virtio/virtio_vdpa \
         drivers/block/virtio_blk net/core/failover drivers/net/net_failover drivers/net/virtio_net; do
  f="$MODDIR/$m.ko.xz"; [ -f "$f" ] || die "kernel module $f not found"
  xz -dc "$f" > "$IR/lib/modules/${m##*/}.ko"
done
LDSO="$ROOT/lib64/ld-linux-x86-64.so.2"
DPDK="${DEVREC_VDPA_CACHE:-/var/cache/devrec/vdpa}/dpdk"
LIBPATH="$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/lib/x86_64-linux-gnu"
if [ "$VARIANT" = net ]; then
  [ -e "$DPDK/.done" ] || die "no DPDK vhost build at $DPDK (run scripts/vdpa/fetch-dpdk.sh)"
  LIBPATH="$DPDK/root/usr/lib/x86_64-linux-gnu:$LIBPATH"
fi
copy_with_libs() { # FILE [DEST]: a program of the root (or FILE DEST from elsewhere) with its libraries
  local src=$ROOT$1 dest=${2:-$1}
  [ -n "${2:-}" ] && src=$1
  mkdir -p "$IR$(dirname "$dest")"; cp "$src" "$IR$dest"
  "$LDSO" --library-path "$LIBPATH" --list "$src" | awk '/=> \//{print $3}' | while read -r lib; do
    rel=${lib#"$ROOT"}; rel=/lib/x86_64-linux-gnu/${rel##*/}
    [ -e "$IR$rel" ] || { mkdir -p "$IR/lib/x86_64-linux-gnu"; cp -L "$lib" "$IR$rel"; }
  done
}
copy_with_libs /usr/sbin/vdpa
copy_with_libs /usr/bin/qemu-storage-daemon
[ "$VARIANT" = net ] && copy_with_libs "$DPDK/vduse-net" /usr/bin/vduse-net
cp -L "$LDSO" "$IR/lib64/ld-linux-x86-64.so.2"
cp "$HERE/guest-init.sh" "$IR/init"; chmod +x "$IR/init"
cp "$HERE/ops/vduse.tsv" "$IR/ops.tsv"
echo "root:x:0:0:root:/:/bin/sh" > "$IR/etc/passwd"
(cd "$IR" && find . | cpio -o -H newc --quiet | gzip -1) > "$WORK/initrd.gz"

# ---- boot ----------------------------------------------------------------------------------------------------
APPEND="console=ttyS0 quiet loglevel=1 panic=-1 devrec.variant=$VARIANT"
QEMU_CMD=(nice qemu-system-x86_64 -M pc "${CPU[@]}" -m 1024 -smp $SMP -nographic -no-reboot -kernel "$KERNEL"
          -initrd "$WORK/initrd.gz" -append "$APPEND" -serial "file:$WORK/console.log" -monitor none -display none)
log "booting $VARIANT (kernel $KVER, smp $SMP)"
start=$(date +%s)
"${QEMU_CMD[@]}" > "$WORK/qemu.out" 2>&1 &
QEMU_PID=$!
while kill -0 $QEMU_PID 2>/dev/null; do
  [ $(( $(date +%s) - start )) -lt "$BOOT_TIMEOUT" ] || die "guest did not finish in ${BOOT_TIMEOUT}s (console: $(tail -3 "$WORK/console.log" | tr '\n' ' '))"
  sleep 1
done
wait $QEMU_PID || true; QEMU_PID=""
secs=$(( $(date +%s) - start ))
grep -q DEVREC-OUT-END "$WORK/console.log" \
  || die "guest printed no results (console tail: $(tail -5 "$WORK/console.log" | tr '\n' ' '))"

# ---- results -------------------------------------------------------------------------------------------------
rm -rf "$OUTDIR"; mkdir -p "$OUTDIR"
sed -n '/^DEVREC-OUT-BEGIN/,/^DEVREC-OUT-END/p' "$WORK/console.log" | tr -d '\r' | grep -v '^DEVREC-OUT-' \
  | base64 -d | tar xzf - -C "$OUTDIR"
# get_config/set_config: keep the first `len` bytes of the 8 fetched.
awk '{
  if (match($0, / len=[0-9]+ data=\{[^}]*\}/)) {
    seg = substr($0, RSTART, RLENGTH); n = seg; sub(/ data=.*/, "", n); sub(/ len=/, "", n)
    d = seg; sub(/.*data=\{/, "", d); sub(/\}/, "", d); k = split(d, b, ",")
    out = ""; for (i = 1; i <= k && i <= n + 0; i++) out = out (i > 1 ? "," : "") b[i]
    $0 = substr($0, 1, RSTART - 1) " len=" n " data={" out "}" substr($0, RSTART + RLENGTH)
  }
  print }' "$OUTDIR/trace.txt" > "$WORK/trace.txt" && mv "$WORK/trace.txt" "$OUTDIR/trace.txt"
[ -s "$OUTDIR/errors.txt" ] && log "guest reported errors: $(tr '\n' ';' < "$OUTDIR/errors.txt")"
QEMU_VERSION=$(qemu-system-x86_64 --version | head -1)
VDPA_VERSION=$(dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f '${Version}' iproute2 2>/dev/null || echo unknown)
QSD_VERSION=$(dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f '${Version}' qemu-system-common 2>/dev/null || echo unknown)
python3 - "$OUTDIR/manifest.json" <<EOF
import json, sys
json.dump({
  "variant": "$VARIANT", "description": "$DESC",
  "kernel": "$KVER (Debian 13 $(cat "$DEB13/kernel/package"))", "iproute2": "$VDPA_VERSION", "qemu_storage_daemon": "$QSD_VERSION",
  "host_qemu": "$QEMU_VERSION", "accel": "tcg", "smp": $SMP, "seconds": $secs,
  "kernel_append": "$APPEND",
  "command": "scripts/vdpa/capture.sh $VARIANT streams/vdpa/$VARIANT",
  "qemu_command": "qemu-system-x86_64 -M pc ${CPU[*]} -m 1024 -smp $SMP -nographic -no-reboot -kernel vmlinuz-$KVER -initrd initrd.gz -append '$APPEND'",
  "trace_note": "get_config/set_config data trimmed to len bytes (8 fetched)",
}, open(sys.argv[1], "w"), indent=2)
EOF
log "$VARIANT: ${secs}s, $(wc -l < "$OUTDIR/trace.txt") kprobe events -> $OUTDIR"
