#!/usr/bin/env bash
# shellcheck disable=SC2054  # commas are QEMU option syntax
# capture.sh VARIANT OUTDIR
#
# A virtio device passed through with vfio-pci to a guest, driven by that guest's real driver, with every access
# seen by the VMM's trace. Nested, so no hardware is needed:
#   host QEMU 7.2 (Debian 12)  -> outer guest: q35 + intel-iommu, Debian 13's 6.12 kernel, intel_iommu=on, and
#                                 the virtio device to pass through (emulated by the host QEMU, id pt0, 00:03.0)
#   outer guest                -> binds 00:03.0 to vfio-pci, runs the Debian 13 root's QEMU 10.0 with
#                                 -device vfio-pci,host=0000:00:03.0,x-no-mmap=on,rombar=0 and vfio trace events
#   inner guest                -> its virtio_pci + virtio_blk/virtio_net drive the device, it prints its sysfs view
# Output in OUTDIR:
#   trace.log.gz        the nested QEMU's trace (-D), vfio events only (see trace-events in manifest.json)
#   sysfs-features.txt  the inner guest's view: /sys/bus/virtio/devices/virtio0/{features,status,device,vendor}
#   qmp.json            the outer QEMU's view of the same device (x-query-virtio-status, x-query-virtio-queue-status
#                       per queue, query-pci), taken with the outer VM stopped while the inner guest idled after
#                       its workload, i.e. the same moment the trace ends at (the nested QEMU is quit afterwards,
#                       the inner guest never shuts down, so no reset follows in the trace)
#   nested-qmp.json     the nested QEMU's QMP answers: query-migrate (blocked-reasons) and the refusal of migrate
#   nested-stderr.txt   the nested QEMU's own messages (vfio warnings)
#   console.log         outer + inner serial consoles
#   manifest.json       versions, exact command lines, timings
#
# Installs nothing. Needs: host qemu-system-x86_64 7.2, busybox-static, cpio, gzip, xz, python3
# (scripts/qemu/install-deps.sh); the Debian 13 root with QEMU 10.0 ($DEVREC_DEBIAN13/root,
# scripts/debian13/setup.sh) and Debian 13's 6.12 kernel unpacked ($DEVREC_DEBIAN13_KERNEL, default
# $DEVREC_DEBIAN13/kernel). Knobs: READY_TIMEOUT (s the inner guest may take, default 1800), KEEP_WORK=1,
# INNER_EXTRA_APPEND (more inner kernel parameters, e.g. loglevel=7 to watch the inner boot),
# PT_DEVICE_EXTRA (more -device properties for the passed-through device, e.g. ctrl_vq=on).
set -euo pipefail
PROG=${0##*/}
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VARIANTS=(virtio-blk virtio-net virtio-net-transitional)
die() { echo "$PROG: error: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }
usage() { echo "usage: $PROG VARIANT OUTDIR | --list   (variants: ${VARIANTS[*]})" >&2; exit 2; }
[ $# -ge 1 ] || usage
if [ "$1" = "--list" ]; then printf '%s\n' "${VARIANTS[@]}"; exit 0; fi
[ $# -eq 2 ] || usage
VARIANT=$1; OUTDIR=$2
READY_TIMEOUT=${READY_TIMEOUT:-1800}
BDF=0000:00:03.0
INNER_APPEND="console=ttyS0 panic=-1 quiet ipv6.disable=1 no_timer_check"
case "$VARIANT" in
  virtio-blk)
    IDS="1af4 1042"; WORKLOAD=blk
    DEVICE_ARGS=(-drive if=none,id=d0,file=@WORK@/disk.img,format=raw
                 -device virtio-blk-pci,drive=d0,id=pt0,addr=03.0,disable-legacy=on,iommu_platform=on)
    DESC="modern-only virtio-blk-pci (disable-legacy=on, iommu_platform=on); inner virtio_blk reads, writes and reads back 1 MiB" ;;
  virtio-net)
    IDS="1af4 1041"; WORKLOAD=net
    DEVICE_ARGS=(-netdev user,id=n0,restrict=on,ipv6=off
                 -device virtio-net-pci,netdev=n0,id=pt0,addr=03.0,disable-legacy=on,iommu_platform=on,romfile=)
    DESC="modern-only virtio-net-pci (disable-legacy=on, iommu_platform=on) on a QEMU user netdev with restrict=on; inner virtio_net pings the netdev's gateway 10.0.2.2" ;;
  virtio-net-transitional)
    # This device's DMA cannot reach the inner guest (no iommu_platform), so the inner guest only probes it: the
    # probe of virtio_net (6.12) posts nothing to any queue (measured: no QUEUE_NOTIFY in the trace).
    IDS="1af4 1000"; WORKLOAD=none; INNER_APPEND="$INNER_APPEND virtio_pci.force_legacy=1"
    DEVICE_ARGS=(-netdev user,id=n0,restrict=on,ipv6=off
                 -device virtio-net-pci,netdev=n0,id=pt0,addr=03.0,disable-legacy=off,disable-modern=off,romfile=)
    DESC="transitional virtio-net-pci (legacy IO BAR0 + modern BAR4) driven by the inner legacy driver (virtio_pci.force_legacy=1). QEMU refuses iommu_platform=on for a device with a legacy interface, so the device's DMA bypasses the emulated IOMMU: the inner guest only probes it (no link up, no traffic): feature negotiation, queue PFNs, MSI-X vectors and DRIVER_OK through the legacy IO BAR, none of which needs DMA" ;;
  *) die "unknown variant '$VARIANT' (known: ${VARIANTS[*]})" ;;
esac
INNER_APPEND="$INNER_APPEND devrec.workload=$WORKLOAD${INNER_EXTRA_APPEND:+ $INNER_EXTRA_APPEND}"

need_cmd() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found (package $2; run scripts/qemu/install-deps.sh)"; }
need_cmd qemu-system-x86_64 qemu-system-x86
need_cmd cpio cpio; need_cmd gzip gzip; need_cmd xz xz-utils; need_cmd python3 python3
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || die "/bin/busybox must be busybox-static (run scripts/qemu/install-deps.sh)"
DEB13=${DEVREC_DEBIAN13:-/var/cache/devrec/debian13}
ROOT=$DEB13/root
KDIR=${DEVREC_DEBIAN13_KERNEL:-$DEB13/kernel}
[ -e "$ROOT/.done" ] || die "no Debian 13 root at $ROOT (run scripts/debian13/setup.sh; QEMU 10.0 comes from there)"
[ -e "$KDIR/.done" ] || [ -n "${DEVREC_DEBIAN13_KERNEL:-}" ] || die "no Debian 13 kernel at $KDIR (run scripts/debian13/setup.sh)"
KERNEL=$(ls "$KDIR"/boot/vmlinuz-6.* 2>/dev/null | head -1)
[ -n "$KERNEL" ] || die "no vmlinuz-6.* under $KDIR/boot"
KVER=${KERNEL##*/vmlinuz-}
MODDIR=$KDIR/usr/lib/modules/$KVER/kernel
grep -q '^CONFIG_INTEL_IOMMU=y' "$KDIR/boot/config-$KVER" || die "kernel $KVER lacks CONFIG_INTEL_IOMMU=y"
grep -q '^CONFIG_VIRTIO_PCI=y' "$KDIR/boot/config-$KVER" || die "kernel $KVER lacks a built-in virtio_pci"
HOST_QEMU_VERSION=$(qemu-system-x86_64 --version | head -1)
NESTED_QEMU_VERSION=$("$SCRIPT_DIR/../debian13/qemu.sh" --version | head -1)

mkdir -p "$OUTDIR"; OUTDIR=$(cd "$OUTDIR" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/devrec-vfio-$VARIANT.XXXXXX")
QEMU_PID=""
cleanup() {
  local rc=$?
  if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then kill "$QEMU_PID" 2>/dev/null || true; wait "$QEMU_PID" 2>/dev/null || true; fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
T0=$(date +%s)

unxz_mod() { xz -dc "$MODDIR/$1.ko.xz" > "$2/$(basename "$1").ko" || die "cannot unpack module $1 of kernel $KVER"; }
cpio_gz() { (cd "$1" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) | gzip -${2:-6} -n; }

# --- inner initramfs: busybox + inner-init.sh + virtio_blk / virtio_net -----------------------------------------
IN=$WORK/inner; mkdir -p "$IN"/{bin,dev,proc,sys,tmp,lib/modules}
cp /bin/busybox "$IN/bin/busybox"; ln -s busybox "$IN/bin/sh"
install -m 0755 "$SCRIPT_DIR/inner-init.sh" "$IN/init"
for m in drivers/block/virtio_blk net/core/failover drivers/net/net_failover drivers/net/virtio_net; do unxz_mod "$m" "$IN/lib/modules"; done

# --- outer initramfs: busybox + outer-init.sh + vfio modules + the nested QEMU 10.0 with its libraries ----------
OUT=$WORK/outer; mkdir -p "$OUT"/{bin,dev,proc,sys,tmp,run,etc,lib/modules} "$OUT"/nested/{lib,share,lib/qemu}
cp /bin/busybox "$OUT/bin/busybox"; ln -s busybox "$OUT/bin/sh"
install -m 0755 "$SCRIPT_DIR/outer-init.sh" "$OUT/init"
for m in virt/lib/irqbypass drivers/vfio/vfio drivers/vfio/vfio_iommu_type1 drivers/vfio/pci/vfio-pci-core drivers/vfio/pci/vfio-pci; do
  unxz_mod "$m" "$OUT/lib/modules"
done
LIBS="$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/lib/x86_64-linux-gnu"
"$ROOT/lib64/ld-linux-x86-64.so.2" --library-path "$LIBS" --list "$ROOT/usr/bin/qemu-system-x86_64" \
  | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r lib; do cp -L "$lib" "$OUT/nested/lib/"; done
cp -L "$ROOT/lib64/ld-linux-x86-64.so.2" "$OUT/nested/ld.so"
cp "$ROOT/usr/bin/qemu-system-x86_64" "$OUT/nested/"
for f in bios-256k.bin; do cp -L "$ROOT/usr/share/seabios/$f" "$OUT/nested/share/"; done
for f in linuxboot_dma.bin linuxboot.bin kvmvapic.bin; do cp -L "$ROOT/usr/share/qemu/$f" "$OUT/nested/share/"; done
cp "$KERNEL" "$OUT/nested/vmlinuz"
cpio_gz "$IN" 9 > "$OUT/nested/inner.gz"
TRACE_EVENTS=(vfio_region_read vfio_region_write vfio_region_setup vfio_pci_read_config vfio_pci_write_config
              'vfio_msi*' 'vfio_intx_*' 'vfio_pci_reset*' 'vfio_migration_*' vfio_get_device vfio_populate_device_config)
printf '%s\n' "${TRACE_EVENTS[@]}" > "$OUT/nested/trace-events"
NESTED_DEVICE="vfio-pci,host=$BDF,id=pt0,x-no-mmap=on,rombar=0"
cat > "$OUT/etc/devrec-vfio.conf" <<CONF
BDF=$BDF
IDS="$IDS"
INNER_APPEND="$INNER_APPEND"
READY_TIMEOUT=$READY_TIMEOUT
CONF
log "building the outer initramfs"
cpio_gz "$OUT" 1 > "$WORK/outer.gz"
dd if=/dev/zero of="$WORK/disk.img" bs=1M count=16 status=none

OUTER_APPEND="console=ttyS0 panic=-1 quiet intel_iommu=on no_timer_check"
OUTER_CMD=(qemu-system-x86_64 -M q35 -accel tcg -m 2048 -cpu qemu64 -device intel-iommu
  -kernel "$KERNEL" -initrd "$WORK/outer.gz" -append "$OUTER_APPEND"
  -nographic -no-reboot -nodefaults -serial "file:$WORK/console.log"
  -chardev "socket,id=ctl,path=$WORK/ctl.sock,server=on,wait=off" -serial chardev:ctl
  -qmp "unix:$WORK/qmp.sock,server=on,wait=off")
for a in "${DEVICE_ARGS[@]}"; do OUTER_CMD+=("${a//@WORK@/$WORK}"); done
# PT_DEVICE_EXTRA: more properties for the passed-through device (appended to its -device; a later key wins)
if [ -n "${PT_DEVICE_EXTRA:-}" ]; then OUTER_CMD[-1]="${OUTER_CMD[-1]},$PT_DEVICE_EXTRA"; fi
python3 - "$WORK/run.json" "$VARIANT" "$DESC" "$HOST_QEMU_VERSION" "$NESTED_QEMU_VERSION" "$KVER" "$OUTER_APPEND" "$INNER_APPEND" \
  "$NESTED_DEVICE" "$BDF" "$IDS" "$T0" "$WORK" "${#TRACE_EVENTS[@]}" "${TRACE_EVENTS[@]}" "${OUTER_CMD[@]}" <<'PY'
import json, os, sys
a = sys.argv[2:]
keys = ["variant", "description", "hostQemu", "nestedQemu", "kernel", "outerAppend", "innerAppend", "nestedDevice", "bdf", "ids", "t0", "work"]
run = dict(zip(keys, a[:12]))
n = int(a[12])
run["traceEvents"] = a[13:13 + n]
run["outerCommand"] = [x.replace(run["work"], "WORK") for x in a[13 + n:]]
# the knobs this run was given, so that the manifest's command is the exact one
run["env"] = {k: os.environ[k] for k in ("READY_TIMEOUT", "INNER_EXTRA_APPEND", "PT_DEVICE_EXTRA") if os.environ.get(k)}
json.dump(run, open(sys.argv[1], "w"), indent=1)
PY
log "variant $VARIANT: $DESC"
log "starting the outer guest (nested QEMU boot takes minutes under TCG in TCG)"
nice -n 5 "${OUTER_CMD[@]}" > "$WORK/outer.out" 2> "$WORK/outer.err" &
QEMU_PID=$!
if ! python3 "$SCRIPT_DIR/orchestrate.py" --ctl "$WORK/ctl.sock" --qmp "$WORK/qmp.sock" --work "$WORK" \
     --ready-timeout "$READY_TIMEOUT" > "$WORK/orchestrate.json"; then
  tail -30 "$WORK/console.log" >&2 || true; cat "$WORK/outer.err" >&2 || true
  die "capture failed (console tail above)"
fi
for _ in $(seq 1 120); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 1; done
wait "$QEMU_PID" 2>/dev/null || true; QEMU_PID=""
T1=$(date +%s)

"$SCRIPT_DIR/package.sh" "$WORK" "$OUTDIR" "$T1"
log "done in $((T1 - T0)) s: $(ls "$OUTDIR" | tr '\n' ' ')"
