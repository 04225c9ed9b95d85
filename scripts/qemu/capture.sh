#!/usr/bin/env bash
# shellcheck disable=SC2054,SC2089,SC2090  # commas are QEMU option syntax; the trace filter regex is a literal
# capture.sh VARIANT OUTDIR
#
# Boots a tiny Linux guest (Debian kernel + busybox-static initramfs) under QEMU/TCG with real virtio devices,
# lets the guest's real virtio drivers drive them (NICs up + link-local pings over an internal hub, a few MB of
# block I/O), then stops the VM and saves, from the same frozen moment:
#   OUTDIR/trace.log.gz       QEMU trace (log backend), filtered to the virtio-relevant lines
#   OUTDIR/qmp.json           QEMU's own answers: x-query-virtio*, query-pci, info qtree
#   OUTDIR/devstate.bin.gz    xen-save-devices-state (savevm stream of device state, no RAM)
#   OUTDIR/migration.bin.gz   full migration stream (only variants that ask for it, and only if small enough)
#   OUTDIR/console.log        guest serial console
#   OUTDIR/manifest.json      what ran: versions, command line, timings, sizes, workload, trace filter
#
# Variants: see `capture.sh --list`. Dependencies come from scripts/qemu/install-deps.sh; this script installs
# nothing. Environment knobs (all optional):
#   DEVREC_QEMU_CACHE     initramfs cache dir (default: ${TMPDIR:-/tmp}/devrec-qemu-cache-$UID)
#   BOOT_TIMEOUT          seconds to wait for the guest's marker line (default 240)
#   QMP_TIMEOUT           seconds for the whole QMP sequence (default 180)
#   EXIT_TIMEOUT          seconds to wait for QEMU to exit after quit (default 30)
#   MIGRATION_MAX_BYTES   keep migration.bin.gz only below this size (default 3000000)
#   CAPTURE_MIGRATION     1/0: force the full migration stream on/off (default: per variant)
#   TRACE_FILTER          1/0: filter the trace (default 1; 0 keeps every traced line)
#   TRACE_MMIO_OPS        1/0: trace memory_region_ops_* on microvm variants too (default 1; see docs)
#   KEEP_WORK             1: keep the per-run temp dir (printed) for debugging
set -euo pipefail

PROG=${0##*/}
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MARKER=DEVREC-CAPTURE-READY

VARIANTS=(pc-modern-net-blk pc-legacy-msix pc-legacy-intx pc-packed microvm-mmio-legacy microvm-mmio-modern
          q35-root-port pc-net-mq)
# The capture matrix (scripts/qemu/matrix.txt): "NAME BASE-VARIANT KNOB=VALUE..." lines; NAME is accepted
# wherever a variant is, and sets the knobs below (the environment can still override none of them: the
# matrix line wins, so a name always means the same capture).
MATRIX=$SCRIPT_DIR/matrix.txt
matrix_names() { [ -f "$MATRIX" ] && sed -e 's/#.*//' "$MATRIX" | awk 'NF >= 2 { print $1 }'; return 0; }

die() { echo "$PROG: error: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }

usage() {
  cat >&2 <<EOF
usage: $PROG VARIANT OUTDIR
       $PROG --list
variants: ${VARIANTS[*]}
EOF
  exit 2
}

[ $# -ge 1 ] || usage
if [ "$1" = "--list" ]; then printf '%s\n' "${VARIANTS[@]}"; matrix_names; exit 0; fi
[ $# -eq 2 ] || usage
VARIANT=$1
OUTDIR=$2
BASE_VARIANT=$VARIANT
MATRIX_LINE=""
if [ -f "$MATRIX" ]; then
  MATRIX_LINE=$(sed -e 's/#.*//' "$MATRIX" | awk -v n="$VARIANT" '$1 == n { $1 = ""; print; exit }')
fi
if [ -n "$MATRIX_LINE" ]; then
  read -r -a _m <<<"$MATRIX_LINE"
  BASE_VARIANT=${_m[0]}
  for kv in "${_m[@]:1}"; do
    case "$kv" in
      QEMU_FLAVOR=*|GUEST_KERNEL=*|TRACE_EVENTS=*|TRACE_TIMESTAMPS=*|CAPTURE_MIGRATION=*|NET_EXTRA=*|BLK_EXTRA=*|IOEVENTFD=*) export "${kv?}" ;;
      *) die "matrix.txt: $VARIANT: unknown knob '$kv'" ;;
    esac
  done
fi
# Matrix knobs (defaults: the host's QEMU 7.2 and Linux 6.1, every event, no timestamps):
#   QEMU_FLAVOR       host | debian13 (QEMU 10.0 of scripts/debian13/setup.sh, run by scripts/debian13/qemu.sh)
#   GUEST_KERNEL      host | debian13 (Debian 13's 6.12 kernel unpacked by scripts/debian13/setup.sh)
#   TRACE_EVENTS      full | usual (no virtio_pci_*) | mmio (microvm: virtio_mmio_* without memory_region_ops)
#                     | virtio (virtio_* and virtqueue_* only: no register accesses at all)
#   TRACE_TIMESTAMPS  1: -msg timestamp=on (every trace line gets QEMU's pid@sec.usec: wall-clock prefix)
#   NET_EXTRA/BLK_EXTRA  extra -device options (comma list) for both NICs / the disk
#   IOEVENTFD         off (default: notify writes traced in order) | on (QEMU's own default, as users run it)
QEMU_FLAVOR=${QEMU_FLAVOR:-host}
GUEST_KERNEL=${GUEST_KERNEL:-host}
TRACE_EVENTS=${TRACE_EVENTS:-full}
TRACE_TIMESTAMPS=${TRACE_TIMESTAMPS:-0}
IOEVENTFD=${IOEVENTFD:-off}
case "$IOEVENTFD" in on|off) ;; *) die "IOEVENTFD must be on or off" ;; esac
case "$QEMU_FLAVOR" in host|debian13) ;; *) die "QEMU_FLAVOR must be host or debian13" ;; esac
case "$GUEST_KERNEL" in host|debian13) ;; *) die "GUEST_KERNEL must be host or debian13" ;; esac
case "$TRACE_EVENTS" in full|usual|mmio|virtio) ;; *) die "TRACE_EVENTS must be full, usual, mmio or virtio" ;; esac

BOOT_TIMEOUT=${BOOT_TIMEOUT:-240}
QMP_TIMEOUT=${QMP_TIMEOUT:-180}
EXIT_TIMEOUT=${EXIT_TIMEOUT:-30}
MIGRATION_MAX_BYTES=${MIGRATION_MAX_BYTES:-3000000}
TRACE_FILTER=${TRACE_FILTER:-1}
TRACE_MMIO_OPS=${TRACE_MMIO_OPS:-1}

# ----------------------------------------------------------------------------------------------------------
# Variant table
# ----------------------------------------------------------------------------------------------------------
BASE_APPEND="console=ttyS0 panic=-1 edd=off quiet"
SMP=1
MIGRATION=0
# NETWORK: hub (two NICs on one internal QEMU hub, the default) | tap-mq (one NIC on a multi-queue tap that this
# script creates, keeps down and deletes; see "Network safety" below)
NETWORK=hub
case "$BASE_VARIANT" in
  pc-modern-net-blk)
    MACHINE=pc; TRANSPORT=pci-modern; SMP=2; MIGRATION=1
    NET_OPTS="disable-legacy=on"; BLK_OPTS="disable-legacy=on,num-queues=2"
    DESC="i440fx PC, modern-only virtio-pci (disable-legacy=on): 2 virtio-net-pci on an internal hub + virtio-blk-pci with num-queues=2; 2 vCPUs so blk-mq uses both request queues; MSI-X on" ;;
  pc-legacy-msix)
    MACHINE=pc; TRANSPORT=pci-legacy
    NET_OPTS="disable-modern=on"; BLK_OPTS="disable-modern=on"
    DESC="i440fx PC, legacy-only virtio-pci (disable-modern=on, IO BAR 0) with MSI-X: device config at IO offset 24 once MSI-X is enabled (20 before)" ;;
  pc-legacy-intx)
    MACHINE=pc; TRANSPORT=pci-legacy
    NET_OPTS="disable-modern=on,vectors=0"; BLK_OPTS="disable-modern=on,vectors=0"
    DESC="i440fx PC, legacy-only virtio-pci without MSI-X (vectors=0): INTx + ISR, device config stays at IO offset 20" ;;
  pc-packed)
    MACHINE=pc; TRANSPORT=pci-modern
    NET_OPTS="disable-legacy=on,packed=on"; BLK_OPTS="disable-legacy=on,packed=on"
    DESC="i440fx PC, modern-only virtio-pci with VIRTIO_F_RING_PACKED offered (packed=on) and accepted by Linux 6.1" ;;
  microvm-mmio-legacy)
    MACHINE=microvm; TRANSPORT=mmio-legacy
    DESC="microvm (acpi=on,rtc=on), virtio-mmio version 1 (legacy, QEMU default force-legacy=true): virtio-net-device x2 on an internal hub + virtio-blk-device" ;;
  microvm-mmio-modern)
    MACHINE=microvm; TRANSPORT=mmio-modern
    DESC="microvm (acpi=on,rtc=on), virtio-mmio version 2 (-global virtio-mmio.force-legacy=false): virtio-net-device x2 on an internal hub + virtio-blk-device" ;;
  q35-root-port)
    MACHINE=q35; TRANSPORT=pci-modern; SMP=2
    NET_OPTS=""; BLK_OPTS="num-queues=2"
    DESC="q35 (ICH9), three pcie-root-ports (00:02.0-00:04.0) with one virtio device behind each (the guest sees them on buses 01-03, QEMU's stream on the port's secondary bus): 2 virtio-net-pci + virtio-blk-pci num-queues=2 (modern-only, as on any PCIe port); 2 vCPUs" ;;
  pc-net-mq)
    # virtio_net's probe asks for min(max_virtqueue_pairs, online CPUs) pairs (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET):
    # 2 vCPUs so it asks for both. vectors=6: one per queue (2 rx/tx pairs + ctrl) and one for config changes.
    MACHINE=pc; TRANSPORT=pci-modern; SMP=2; NETWORK=tap-mq
    NET_OPTS="disable-legacy=on,mq=on,vectors=6"; BLK_OPTS=""
    DESC="i440fx PC, one modern-only virtio-net-pci with mq=on on a 2-queue tap (queues=2, vhost=off; the tap is created down by capture.sh and deleted after): 5 virtqueues (2 rx/tx pairs + ctrl), MSI-X vectors=6; 2 vCPUs so Linux sets 2 queue pairs; no disk" ;;
  *) die "unknown variant '$VARIANT' (known: ${VARIANTS[*]} $(matrix_names | tr '\n' ' '))" ;;
esac
[ -n "${NET_EXTRA:-}" ] && NET_OPTS="${NET_OPTS:+$NET_OPTS,}$NET_EXTRA"
[ -n "${BLK_EXTRA:-}" ] && BLK_OPTS="${BLK_OPTS:+$BLK_OPTS,}$BLK_EXTRA"
[ "$TRACE_EVENTS" = mmio ] && [ "$MACHINE" != microvm ] && die "TRACE_EVENTS=mmio is for microvm variants"
case "${CAPTURE_MIGRATION:-}" in
  1) MIGRATION=1 ;; 0) MIGRATION=0 ;; "") ;; *) die "CAPTURE_MIGRATION must be 0 or 1" ;;
esac

# ----------------------------------------------------------------------------------------------------------
# What we need (installed by scripts/qemu/install-deps.sh)
# ----------------------------------------------------------------------------------------------------------
need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found (package $2; run scripts/qemu/install-deps.sh)"
}
if [ "$QEMU_FLAVOR" = debian13 ]; then
  # QEMU 10.0 of the Debian 13 root, run through the root's loader (no chroot, no mounts)
  D13=${DEVREC_DEBIAN13:-/var/cache/devrec/debian13}
  [ -e "$D13/root/.done" ] || die "QEMU_FLAVOR=debian13: no Debian 13 root at $D13/root (run scripts/debian13/setup.sh)"
  QEMU_BIN=("$SCRIPT_DIR/../debian13/qemu.sh")
  QEMU_PKG_CMD=(dpkg-query --admindir="$D13/root/var/lib/dpkg" -W -f='${Version}' qemu-system-x86)
else
  need_cmd qemu-system-x86_64 qemu-system-x86
  QEMU_BIN=(qemu-system-x86_64)
  QEMU_PKG_CMD=(dpkg-query -W -f='${Version}' qemu-system-x86)
fi
need_cmd xz xz-utils
need_cmd cpio cpio
need_cmd gzip gzip
need_cmd python3 python3
for c in dd find sort sha256sum grep sed stat od mktemp timeout; do need_cmd "$c" coreutils/grep/sed/findutils; done
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found (package busybox-static; run scripts/qemu/install-deps.sh)"
BUSYBOX_VERSION=$("$BUSYBOX" --help 2>/dev/null || true); BUSYBOX_VERSION=${BUSYBOX_VERSION%%$'\n'*}
case "$BUSYBOX_VERSION" in BusyBox*) ;; *) die "$BUSYBOX is not busybox" ;; esac
ldd "$BUSYBOX" >/dev/null 2>&1 && die "$BUSYBOX is dynamically linked; the guest needs busybox-static"
for f in guest-init.sh qmp-capture.py check-capture.py; do
  [ -f "$SCRIPT_DIR/$f" ] || die "missing $SCRIPT_DIR/$f"
done

# Guest kernel: the newest installed Debian kernel that has both an image and its modules (host), or Debian 13's
# 6.12 kernel unpacked by scripts/debian13/setup.sh (GUEST_KERNEL=debian13; its modules are .ko.xz and
# virtio_pci is built in there).
if [ "$GUEST_KERNEL" = debian13 ]; then
  D13=${DEVREC_DEBIAN13:-/var/cache/devrec/debian13}
  [ -e "$D13/kernel/.done" ] || die "GUEST_KERNEL=debian13: no kernel at $D13/kernel (run scripts/debian13/setup.sh)"
  KROOT=$D13/kernel
  KPKG_FIXED=$(cat "$D13/kernel/package" 2>/dev/null || echo unknown)
else
  KROOT=""
  KPKG_FIXED=""
fi
KVER=""
for k in $(ls -1 "$KROOT/lib/modules" "$KROOT/usr/lib/modules" 2>/dev/null | grep -v ':$' | sort -V -r -u); do
  for md in "$KROOT/lib/modules/$k" "$KROOT/usr/lib/modules/$k"; do
    if [ -f "$KROOT/boot/vmlinuz-$k" ] && [ -d "$md/kernel/drivers/virtio" ]; then KVER=$k; MODROOT=$md; break 2; fi
  done
done
[ -n "$KVER" ] || die "no kernel with modules found ($KROOT/boot/vmlinuz-* + modules; package linux-image-amd64)"
KERNEL=$KROOT/boot/vmlinuz-$KVER
[ -r "$KERNEL" ] || die "$KERNEL is not readable"
MODDIR=$MODROOT/kernel
MODULES=(drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio
         drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci
         net/core/failover drivers/net/net_failover drivers/net/virtio_net drivers/block/virtio_blk)
MODFILES=()
BUILTIN=()
for m in "${MODULES[@]}"; do
  f=""
  for ext in ko ko.xz; do [ -f "$MODDIR/$m.$ext" ] && { f="$MODDIR/$m.$ext"; break; }; done
  if [ -z "$f" ]; then
    grep -qx "kernel/$m.ko" "$MODROOT/modules.builtin" 2>/dev/null || die "kernel module $MODDIR/$m.ko not found (kernel $KVER)"
    BUILTIN+=("${m##*/}")
    continue
  fi
  MODFILES+=("$f")
done

QEMU_VERSION_LINE=$("${QEMU_BIN[@]}" --version) || die "${QEMU_BIN[*]} --version failed"
QEMU_VERSION_LINE=${QEMU_VERSION_LINE%%$'\n'*}
"${QEMU_BIN[@]}" -trace help >/dev/null 2>&1 || die "${QEMU_BIN[*]} -trace help failed (no trace support?)"
TRACE_AVAILABLE=$("${QEMU_BIN[@]}" -trace help 2>/dev/null)

# ----------------------------------------------------------------------------------------------------------
# Work dir, cleanup, QEMU lifetime
# ----------------------------------------------------------------------------------------------------------
mkdir -p "$OUTDIR" || die "cannot create OUTDIR $OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/devrec-capture-$VARIANT.XXXXXX")
QEMU_PID=""
cleanup() {
  local rc=$?
  if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
    kill -TERM "$QEMU_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$QEMU_PID" 2>/dev/null || true
    wait "$QEMU_PID" 2>/dev/null || true
  fi
  if [ -n "${TAP_MADE:-}" ]; then
    ip tuntap del dev "$TAP_MADE" mode tap multi_queue 2>/dev/null || ip link del dev "$TAP_MADE" 2>/dev/null \
      || log "warning: could not delete tap $TAP_MADE (delete it: ip link del dev $TAP_MADE)"
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then
    log "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The tap of NETWORK=tap-mq: a fresh name (devrec-mq + this shell's pid), refused if it exists already (never
# someone else's interface), created multi-queue and left down; cleanup deletes it (TAP_MADE), on failure too.
TAP_MADE=""; TAP_FLAGS_START=""
tap_is_down() { ! ip -o link show dev "$1" 2>/dev/null | grep -q '<[^>]*\bUP\b'; }
make_tap() {
  command -v ip >/dev/null 2>&1 || die "'ip' not found (package iproute2)"
  [ -c /dev/net/tun ] || die "pc-net-mq needs /dev/net/tun (a tap device); this machine has none"
  TAP=devrec-mq$(( $$ % 1000000 ))
  ip link show dev "$TAP" >/dev/null 2>&1 && die "interface $TAP exists already: not ours, not touching it"
  ip tuntap add dev "$TAP" mode tap multi_queue 2>"$WORK/tap.err" \
    || die "cannot create tap $TAP (ip tuntap add dev $TAP mode tap multi_queue: $(head -c 300 "$WORK/tap.err"); needs root)"
  TAP_MADE=$TAP
  tap_is_down "$TAP" || die "tap $TAP is up right after creation: refusing to run"
  TAP_FLAGS_START=$(ip -o link show dev "$TAP" | sed -e 's/^[0-9]*: *//' -e 's/ *\\.*$//')
}

T_START=$(date +%s.%N)
elapsed() { python3 -c "import sys; print(round($(date +%s.%N) - $T_START, 2))"; }

# ----------------------------------------------------------------------------------------------------------
# initramfs (cached by content: kernel version, module files, busybox, guest-init.sh)
# ----------------------------------------------------------------------------------------------------------
CACHE=${DEVREC_QEMU_CACHE:-${TMPDIR:-/tmp}/devrec-qemu-cache-$(id -u)}
mkdir -p "$CACHE" || die "cannot create cache dir $CACHE"
KEY=$( { echo "$KVER ${BUILTIN[*]}"; sha256sum "${MODFILES[@]}" "$BUSYBOX" "$SCRIPT_DIR/guest-init.sh"; } | sha256sum | cut -c1-16)
INITRAMFS=$CACHE/initramfs-$KVER-$KEY.cpio.gz
if [ ! -s "$INITRAMFS" ]; then
  log "building initramfs $INITRAMFS"
  root=$WORK/initramfs-root
  mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
  cp "$BUSYBOX" "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  install -m 0755 "$SCRIPT_DIR/guest-init.sh" "$root/init"
  for f in "${MODFILES[@]}"; do
    b=${f##*/}
    case "$f" in
      *.ko.xz) xz -dc "$f" > "$root/lib/modules/${b%.xz}" || die "xz -d $f failed" ;;
      *) cp "$f" "$root/lib/modules/" ;;
    esac
    echo "${b%%.ko*}" >> "$root/lib/modules/load-order"
  done
  printf '%s\n' "${BUILTIN[@]}" > "$root/lib/modules/builtin"
  # The kernel's built-in initramfs already has /dev/console; add it anyway where mknod is allowed.
  mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
  (cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) | gzip -9 -n \
    > "$INITRAMFS.tmp.$$" || die "building the initramfs failed"
  mv -f "$INITRAMFS.tmp.$$" "$INITRAMFS"
fi

# Raw disk image for virtio-blk (16 MiB of zeros; the guest writes 2 MiB of random data into it).
DISK=$WORK/disk.img
dd if=/dev/zero of="$DISK" bs=1M count=16 status=none || die "creating the disk image $DISK failed"

# ----------------------------------------------------------------------------------------------------------
# Trace events
# ----------------------------------------------------------------------------------------------------------
EVENTS=(virtio_set_status virtio_queue_notify virtqueue_pop virtqueue_fill virtqueue_flush virtio_notify)
case "$MACHINE" in
  pc|q35)
    # full: every event the importer can read; usual: without virtio_pci_* (a common hand-picked set)
    case "$TRACE_EVENTS" in
      full) EVENTS+=(pci_cfg_write memory_region_ops_read memory_region_ops_write
                     virtio_pci_notify virtio_pci_notify_write virtio_pci_notify_write_pio) ;;
      usual) EVENTS+=(pci_cfg_write memory_region_ops_read memory_region_ops_write) ;;
    esac ;;
  microvm)
    # virtio_mmio_* lines carry no device or address; memory_region_ops_* do (region 'virtio-mmio', absolute
    # address). The reference notes said this stalled microvm; with tsc_early_khz/tsc=reliable it booted
    # 18 times out of 18 here, so it is on by default (TRACE_MMIO_OPS=0 or TRACE_EVENTS=mmio turns it off).
    case "$TRACE_EVENTS" in
      full|usual|mmio)
        EVENTS+=(virtio_mmio_read virtio_mmio_write_offset virtio_mmio_guest_page virtio_mmio_queue_write
                 virtio_mmio_setting_irq)
        if [ "$TRACE_MMIO_OPS" = 1 ] && [ "$TRACE_EVENTS" != mmio ]; then EVENTS+=(memory_region_ops_read memory_region_ops_write); fi ;;
    esac ;;
esac
EVENTS_ENABLED=()
for e in "${EVENTS[@]}"; do
  if grep -qx "$e" <<<"$TRACE_AVAILABLE"; then EVENTS_ENABLED+=("$e"); else log "warning: trace event $e not in this QEMU; skipped"; fi
done
printf '%s\n' "${EVENTS_ENABLED[@]}" > "$WORK/trace-events"

# ----------------------------------------------------------------------------------------------------------
# QEMU command line
# ----------------------------------------------------------------------------------------------------------
APPEND=$BASE_APPEND
# Debian 13's 6.12 kernel does not come up in 128 MiB with this initramfs (no console output at all); 6.1 does.
MEM_MIB=128
[ "$GUEST_KERNEL" = debian13 ] && MEM_MIB=512
# On a loaded TCG host the kernel's IO-APIC timer check fails ("..MP-BIOS bug: 8254 timer not connected"; 6.12
# hangs, 6.1 panics "IO-APIC + timer doesn't work!"): skip that check (the LAPIC timer is used anyway).
APPEND="$APPEND no_timer_check"
QEMU=("${QEMU_BIN[@]}" -nodefaults -no-user-config -display none -monitor none -no-reboot
      -accel tcg -cpu qemu64 -m "$MEM_MIB" -smp "$SMP")
# Network safety: two internal hub ports and no other netdev; nothing leaves QEMU. The tap-mq variant has one
# tap instead, made by make_tap (above): created here, never brought up (a tap that is down drops every frame
# QEMU writes to it and delivers none to it), no address, no bridge, deleted on exit; QEMU runs no script on it.
if [ "$NETWORK" = tap-mq ]; then
  make_tap
  TAP_NETDEV="tap,id=t0,ifname=$TAP,script=no,downscript=no,queues=2,vhost=off"
  NETDEVS=(-netdev "$TAP_NETDEV")
else
  NETDEVS=(-netdev hubport,id=h0,hubid=0 -netdev hubport,id=h1,hubid=0)
fi
BLOCKDEV=(-blockdev "driver=file,filename=$DISK,node-name=disk0-file"
          -blockdev "driver=raw,file=disk0-file,node-name=disk0")
# ioeventfd=off on every virtio transport: with ioeventfd (QEMU's default) a queue-notify write is turned into
# an eventfd signal inside the memory core and never reaches the region's ops, so the trace would have no
# memory_region_ops_write / virtio_mmio_write_offset line for it and virtio_queue_notify would be logged later,
# from the main loop. With it off, the notify write and its virtio_queue_notify are traced in order.
case "$MACHINE" in
  pc)
    NET_OPTS="ioeventfd=$IOEVENTFD,$NET_OPTS"; BLK_OPTS="ioeventfd=$IOEVENTFD,$BLK_OPTS"
    if [ "$NETWORK" = tap-mq ]; then
      QEMU+=(-M pc "${NETDEVS[@]}" -device "virtio-net-pci,id=net0,netdev=t0,mac=52:54:00:de:0e:01,addr=0x2,$NET_OPTS")
    else
    QEMU+=(-M pc "${NETDEVS[@]}" "${BLOCKDEV[@]}"
      -device "virtio-net-pci,id=net0,netdev=h0,mac=52:54:00:de:0e:01,addr=0x2,$NET_OPTS"
      -device "virtio-net-pci,id=net1,netdev=h1,mac=52:54:00:de:0e:02,addr=0x3,$NET_OPTS"
      -device "virtio-blk-pci,id=blk0,drive=disk0,addr=0x4,$BLK_OPTS")
    fi ;;
  q35)
    # One pcie-root-port per device: QEMU names them by the port (00:02.0 ...), the guest by the bus number
    # SeaBIOS/Linux program into the port (01, 02, 03).
    NET_OPTS="ioeventfd=$IOEVENTFD${NET_OPTS:+,$NET_OPTS}"; BLK_OPTS="ioeventfd=$IOEVENTFD${BLK_OPTS:+,$BLK_OPTS}"
    QEMU+=(-M q35 "${NETDEVS[@]}" "${BLOCKDEV[@]}"
      -device pcie-root-port,id=rp0,bus=pcie.0,addr=0x2,chassis=1,slot=1
      -device pcie-root-port,id=rp1,bus=pcie.0,addr=0x3,chassis=2,slot=2
      -device pcie-root-port,id=rp2,bus=pcie.0,addr=0x4,chassis=3,slot=3
      -device "virtio-net-pci,id=net0,netdev=h0,mac=52:54:00:de:0e:01,bus=rp0,addr=0x0,$NET_OPTS"
      -device "virtio-net-pci,id=net1,netdev=h1,mac=52:54:00:de:0e:02,bus=rp1,addr=0x0,$NET_OPTS"
      -device "virtio-blk-pci,id=blk0,drive=disk0,bus=rp2,addr=0x0,$BLK_OPTS") ;;
  microvm)
    APPEND="$APPEND tsc_early_khz=2000000 tsc=reliable"
    QEMU+=(-M microvm,acpi=on,rtc=on -global "virtio-mmio.ioeventfd=$IOEVENTFD")
    [ "$TRANSPORT" = mmio-modern ] && QEMU+=(-global virtio-mmio.force-legacy=false)
    QEMU+=("${NETDEVS[@]}" "${BLOCKDEV[@]}"
      -device virtio-net-device,id=net0,netdev=h0,mac=52:54:00:de:0e:01
      -device virtio-net-device,id=net1,netdev=h1,mac=52:54:00:de:0e:02
      -device virtio-blk-device,id=blk0,drive=disk0) ;;
esac
[ "$TRACE_TIMESTAMPS" = 1 ] && QEMU+=(-msg timestamp=on)
QEMU+=(-kernel "$KERNEL" -initrd "$INITRAMFS" -append "$APPEND"
       -serial "file:$WORK/console.log"
       -qmp "unix:$WORK/qmp.sock,server=on,wait=off"
       -D "$WORK/trace.log" -trace "events=$WORK/trace-events"
       -pidfile "$WORK/qemu.pid")

# Network safety guard: only internal hub ports, or exactly the tap this script made (no scripts, its own
# ifname); never a -nic / -net / other netdev backend.
net_guard() {
  local i a
  for ((i = 0; i < ${#QEMU[@]}; i++)); do
    case "${QEMU[$i]}" in
      -netdev)
        a=${QEMU[$((i + 1))]}
        case "$a" in
          hubport,*) ;;
          tap,*) [ -n "${TAP_MADE:-}" ] && [ "$a" = "tap,id=t0,ifname=$TAP_MADE,script=no,downscript=no,queues=2,vhost=off" ] \
                   || die "refusing netdev '$a': the only tap allowed is the one capture.sh created (ifname ${TAP_MADE:-none}, script=no, downscript=no)" ;;
          *) die "refusing netdev '$a': only hubport, or the tap capture.sh created, is allowed" ;;
        esac ;;
      -nic|-net) die "refusing ${QEMU[$i]}: only -netdev hubport, or the tap capture.sh created, is allowed" ;;
    esac
  done
}
net_guard

# Command line as JSON, with the per-run temp dir written as $WORK and the cache dir as $CACHE.
python3 - "$WORK" "$CACHE" "${QEMU[@]}" > "$WORK/cmdline.json" <<'EOF'
import json, sys
work, cache, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
print(json.dumps([a.replace(work, "$WORK").replace(cache, "$CACHE") for a in argv]))
EOF

# ----------------------------------------------------------------------------------------------------------
# Boot, wait for the marker, read QEMU's view, quit
# ----------------------------------------------------------------------------------------------------------
log "$VARIANT: booting ($QEMU_VERSION_LINE, kernel $KVER, TCG, smp $SMP)"
: > "$WORK/console.log"
"${QEMU[@]}" >"$WORK/qemu.stdout" 2>"$WORK/qemu.stderr" </dev/null &
QEMU_PID=$!

T_BOOT0=$(date +%s.%N)
deadline=$(( $(date +%s) + BOOT_TIMEOUT ))
while :; do
  if grep -q "^$MARKER" "$WORK/console.log" 2>/dev/null; then break; fi
  if ! kill -0 "$QEMU_PID" 2>/dev/null; then
    wait "$QEMU_PID" 2>/dev/null && rc=0 || rc=$?
    QEMU_PID=""
    log "QEMU stderr:"; sed 's/^/  /' "$WORK/qemu.stderr" >&2 || true
    log "console tail:"; tail -n 30 "$WORK/console.log" | sed 's/^/  /' >&2 || true
    die "$VARIANT: QEMU exited (status $rc) before the guest printed $MARKER"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    log "console tail:"; tail -n 30 "$WORK/console.log" | sed 's/^/  /' >&2 || true
    log "QEMU stderr:"; sed 's/^/  /' "$WORK/qemu.stderr" >&2 || true
    die "$VARIANT: guest did not print $MARKER within ${BOOT_TIMEOUT}s (QEMU killed)"
  fi
  sleep 0.2
done
BOOT_S=$(python3 -c "print(round($(date +%s.%N) - $T_BOOT0, 2))")
log "$VARIANT: guest ready after ${BOOT_S}s"
if grep -q '^DEVREC-GUEST-ERROR' "$WORK/console.log"; then
  grep '^DEVREC-GUEST-ERROR' "$WORK/console.log" | sed 's/^/  /' >&2
  die "$VARIANT: the guest workload reported errors (see above)"
fi

QMP_ARGS=(--socket "$WORK/qmp.sock" --out "$WORK/qmp.json" --devstate "$WORK/devstate.bin"
          --command-line "$WORK/cmdline.json" --timeout "$QMP_TIMEOUT")
[ "$MIGRATION" = 1 ] && QMP_ARGS+=(--migration "$WORK/migration.bin")
T_QMP0=$(date +%s.%N)
if ! python3 "$SCRIPT_DIR/qmp-capture.py" "${QMP_ARGS[@]}"; then
  die "$VARIANT: reading QEMU's state over QMP failed (see the qmp-capture.py message above)"
fi
QMP_S=$(python3 -c "print(round($(date +%s.%N) - $T_QMP0, 2))")

# quit was sent; give QEMU EXIT_TIMEOUT seconds to exit, then kill it.
deadline=$(( $(date +%s) + EXIT_TIMEOUT ))
while kill -0 "$QEMU_PID" 2>/dev/null; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    die "$VARIANT: QEMU did not exit within ${EXIT_TIMEOUT}s after quit (killed)"
  fi
  sleep 0.1
done
wait "$QEMU_PID" 2>/dev/null && rc=0 || rc=$?
QEMU_PID=""
[ "$rc" -eq 0 ] || { sed 's/^/  /' "$WORK/qemu.stderr" >&2; die "$VARIANT: QEMU exited with status $rc after quit"; }
TAP_FLAGS_END=""
if [ -n "$TAP_MADE" ]; then
  tap_is_down "$TAP_MADE" || die "tap $TAP_MADE was up when QEMU exited: capture discarded"
  TAP_FLAGS_END=$(ip -o link show dev "$TAP_MADE" | sed -e 's/^[0-9]*: *//' -e 's/ *\\.*$//')
fi

# ----------------------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------------------
[ -s "$WORK/trace.log" ] || die "$VARIANT: QEMU wrote no trace ($WORK/trace.log is empty)"
# Keep: memory_region_ops_* on virtio-pci* / msix-table / msix-pba / virtio-mmio regions, pci_cfg_write of virtio devices,
# and every virtio_* / virtqueue_* line. An optional "pid@sec.usec:" prefix (-msg timestamp=on) is allowed.
TRACE_FILTER_RE="^([0-9]+@[0-9.]+:)?((memory_region_ops_(read|write) .* name '(virtio-pci[^']*|msix-table|msix-pba|virtio-mmio)')|(pci_cfg_write )|(virtio_|virtqueue_))"
RAW_TRACE_BYTES=$(stat -c %s "$WORK/trace.log")
RAW_TRACE_LINES=$(wc -l < "$WORK/trace.log")
rm -f "$OUTDIR/trace.log.gz" "$OUTDIR/migration.bin.gz" "$OUTDIR/migration-vmdesc.json.gz" "$OUTDIR/devstate.bin.gz"
if [ "$TRACE_FILTER" = 1 ]; then
  grep -E "$TRACE_FILTER_RE" "$WORK/trace.log" > "$WORK/trace.kept" || die "$VARIANT: no virtio lines in the trace"
else
  mv "$WORK/trace.log" "$WORK/trace.kept"
fi
KEPT_TRACE_BYTES=$(stat -c %s "$WORK/trace.kept")
KEPT_TRACE_LINES=$(wc -l < "$WORK/trace.kept")
gzip -9 -n -c "$WORK/trace.kept" > "$OUTDIR/trace.log.gz"
[ -s "$WORK/devstate.bin" ] || die "$VARIANT: xen-save-devices-state wrote nothing"
DEVSTATE_BYTES=$(stat -c %s "$WORK/devstate.bin")
gzip -9 -n -c "$WORK/devstate.bin" > "$OUTDIR/devstate.bin.gz"
MIGRATION_BYTES=""; MIGRATION_GZ_BYTES=""; MIGRATION_KEPT=false
if [ "$MIGRATION" = 1 ]; then
  [ -s "$WORK/migration.bin" ] || die "$VARIANT: the migration stream is empty"
  MIGRATION_BYTES=$(stat -c %s "$WORK/migration.bin")
  # The JSON vmstate description QEMU appends after QEMU_VM_EOF (u8 0x06, be32 length, JSON) describes the
  # device sections field by field; devstate.bin has none, so keep it even when the stream itself is too big.
  python3 - "$WORK/migration.bin" "$WORK/migration-vmdesc.json" <<'PY' || die "$VARIANT: no vmdesc JSON at the end of the migration stream"
import json, os, struct, sys
src, dst = sys.argv[1], sys.argv[2]
n = os.path.getsize(src)
with open(src, "rb") as f:
    f.seek(max(0, n - 8 * 1024 * 1024))
    tail = f.read()
base = n - len(tail)
for i in range(len(tail) - 6, -1, -1):
    if tail[i] == 0x06 and tail[i + 5:i + 6] == b"{" and tail[i - 1] == 0x00:
        (length,) = struct.unpack(">I", tail[i + 1:i + 5])
        if base + i + 5 + length == n:
            desc = json.loads(tail[i + 5:])
            with open(dst, "w") as out:
                json.dump(desc, out, indent=1)
                out.write("\n")
            sys.exit(0)
sys.exit(1)
PY
  gzip -9 -n -c "$WORK/migration-vmdesc.json" > "$OUTDIR/migration-vmdesc.json.gz"
  gzip -9 -n -c "$WORK/migration.bin" > "$WORK/migration.bin.gz"
  MIGRATION_GZ_BYTES=$(stat -c %s "$WORK/migration.bin.gz")
  if [ "$MIGRATION_GZ_BYTES" -le "$MIGRATION_MAX_BYTES" ]; then
    mv "$WORK/migration.bin.gz" "$OUTDIR/migration.bin.gz"; MIGRATION_KEPT=true
  else
    log "$VARIANT: migration.bin.gz is $MIGRATION_GZ_BYTES bytes (> $MIGRATION_MAX_BYTES): not kept, size recorded"
  fi
fi
cp "$WORK/qmp.json" "$OUTDIR/qmp.json"
# Console: drop carriage returns so the file diffs cleanly.
tr -d '\r' < "$WORK/console.log" > "$OUTDIR/console.log"

TOTAL_S=$(elapsed)
QEMU_PKG=$("${QEMU_PKG_CMD[@]}" 2>/dev/null || echo unknown)
if [ -n "$KPKG_FIXED" ]; then KPKG=$KPKG_FIXED
else KPKG=$(dpkg-query -W -f='${Package} ${Version}' "linux-image-$KVER" 2>/dev/null || echo unknown); fi

if [ "$NETWORK" = tap-mq ]; then
  NET_DESC="one virtio-net NIC on a multi-queue tap (-netdev tap,ifname=devrec-mqN,script=no,downscript=no,queues=2,vhost=off) that capture.sh created with 'ip tuntap add mode tap multi_queue' and never brought up (a tap that is down drops every frame QEMU writes and delivers none; no address, no bridge), deleted when capture.sh exits; guest has no configured addresses (IPv6 link-local only, autoconf/RA/DAD/RS disabled)"
  NET_WORKLOAD="ip link set up on eth0; ping6 -c 2 -I eth0 ff02::1, then one such ping per vCPU pinned with taskset (virtio_net's XPS maps CPU i to TX queue i); nothing answers (the host tap is down: QEMU's writes to it fail and the frames are dropped), so the RX queues get nothing"
else
  NET_DESC="two virtio-net NICs on one internal QEMU hub (-netdev hubport, hubid 0); no other netdev; guest has no configured addresses (IPv6 link-local only, autoconf/RA/DAD/RS disabled)"
  NET_WORKLOAD="ip link set up on every ethN; ping6 -c 2 -I ethN ff02::1 on each (crosses the internal hub)"
fi
export NETWORK NET_DESC NET_WORKLOAD TAP_MADE TAP_FLAGS_START TAP_FLAGS_END
export IOEVENTFD MEM_MIB BASE_VARIANT QEMU_FLAVOR GUEST_KERNEL TRACE_EVENTS TRACE_TIMESTAMPS VARIANT MACHINE TRANSPORT DESC SMP KVER KPKG QEMU_VERSION_LINE QEMU_PKG BUSYBOX_VERSION APPEND \
  BOOT_S QMP_S TOTAL_S RAW_TRACE_BYTES RAW_TRACE_LINES KEPT_TRACE_BYTES KEPT_TRACE_LINES TRACE_FILTER \
  TRACE_FILTER_RE DEVSTATE_BYTES MIGRATION MIGRATION_BYTES MIGRATION_GZ_BYTES MIGRATION_KEPT \
  MIGRATION_MAX_BYTES OUTDIR WORK MARKER
python3 - "${EVENTS_ENABLED[@]}" > "$OUTDIR/manifest.json" <<'EOF'
import datetime, json, os, sys
e = os.environ
out = e["OUTDIR"]
def size(name):
    p = os.path.join(out, name)
    return os.path.getsize(p) if os.path.exists(p) else None
with open(os.path.join(e["WORK"], "cmdline.json")) as f:
    cmdline = json.load(f)
with open(os.path.join(out, "console.log"), errors="replace") as f:
    guest = [l.rstrip("\n")[len("devrec-guest: "):] for l in f if l.startswith("devrec-guest: ")]
with open(os.path.join(out, "qmp.json")) as f:
    qmp = json.load(f)
filtered = e["TRACE_FILTER"] == "1"
m = {
    "variant": e["VARIANT"],
    "matrix": {"base": e["BASE_VARIANT"], "qemu": e["QEMU_FLAVOR"], "guestKernel": e["GUEST_KERNEL"],
               "traceEvents": e["TRACE_EVENTS"], "timestamps": e["TRACE_TIMESTAMPS"] == "1",
               "ioeventfd": e["IOEVENTFD"]},
    "description": e["DESC"],
    "machine": e["MACHINE"],
    "machineType": qmp.get("machine"),
    "transport": e["TRANSPORT"],
    "accel": "tcg",
    "vcpus": int(e["SMP"]),
    "memoryMiB": int(e["MEM_MIB"]),
    "qemu": {"version": qmp.get("qemuVersion"), "versionLine": e["QEMU_VERSION_LINE"],
             "debianPackage": "qemu-system-x86 " + e["QEMU_PKG"]},
    "kernel": {"release": e["KVER"], "debianPackage": e["KPKG"], "append": e["APPEND"]},
    "busybox": e["BUSYBOX_VERSION"],
    "commandLine": cmdline,
    "commandLineNote": "$WORK is the per-run temp dir (disk.img, console.log, trace.log, qmp.sock), "
                       "$CACHE the initramfs cache dir",
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "timingsS": {"bootToMarker": float(e["BOOT_S"]), "qmpSequence": float(e["QMP_S"]),
                 "total": float(e["TOTAL_S"])},
    "network": e["NET_DESC"],
    "workload": [
        "load modules: virtio_ring virtio virtio_mmio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci "
        "failover net_failover virtio_net virtio_blk",
        e["NET_WORKLOAD"],
        "per disk: dd read 4 MiB (bs=64k count=64); dd write 2 MiB of /dev/urandom at 4 MiB (conv=fsync); sync; "
        "drop_caches; one O_DIRECT 2 MiB read per vCPU pinned with taskset",
        "print negotiated features per virtio device, then the marker line " + e["MARKER"] + " and idle",
        "host: QMP stop, then queries, xen-save-devices-state" +
            (", migrate exec:cat" if e["MIGRATION"] == "1" else "") + ", quit",
    ],
    "guestReport": guest,
    "trace": {
        "backend": "log (-D trace.log)",
        "events": sys.argv[1:],
        "rawBytes": int(e["RAW_TRACE_BYTES"]), "rawLines": int(e["RAW_TRACE_LINES"]),
        "filtered": filtered,
        "filter": ("grep -E " + json.dumps(e["TRACE_FILTER_RE"]) +
                   ": keeps memory_region_ops_* lines of regions virtio-pci*, msix-table, msix-pba, virtio-mmio; "
                   "every pci_cfg_write line (bridges and unrelated devices too); every virtio_* and virtqueue_* line") if filtered else None,
        "keptBytes": int(e["KEPT_TRACE_BYTES"]), "keptLines": int(e["KEPT_TRACE_LINES"]),
        "endsAt": "QMP stop: tracing is switched off (trace-event-set-state name=* enable=false) right after "
                  "stop, so the last lines are the virtio_set_status lines (one per device, unchanged status) "
                  "that the stop's vm state change handlers log; qmp.json and devstate.bin are read after it",
    },
    "devices": [{k: d.get(k) for k in ("qemuType", "name", "qdevId", "pciAddress", "mmioBase", "path")
                 if d.get(k) is not None} | {"numQueues": len(d.get("queues", []))} for d in qmp["devices"]],
    "files": {
        "trace.log.gz": size("trace.log.gz"),
        "qmp.json": size("qmp.json"),
        "devstate.bin.gz": size("devstate.bin.gz"),
        "devstateRawBytes": int(e["DEVSTATE_BYTES"]),
        "console.log": size("console.log"),
        "migration.bin.gz": size("migration.bin.gz"),
        "migration-vmdesc.json.gz": size("migration-vmdesc.json.gz"),
    },
}
if e["NETWORK"] == "tap-mq":
    m["tap"] = {"ifname": e["TAP_MADE"], "flagsAtStart": e["TAP_FLAGS_START"], "flagsAfterQemuExit": e["TAP_FLAGS_END"],
                "deleted": "by capture.sh's exit trap (ip tuntap del)"}
if e["MIGRATION"] == "1":
    m["migration"] = {
        "captured": True,
        "rawBytes": int(e["MIGRATION_BYTES"]),
        "gzBytes": int(e["MIGRATION_GZ_BYTES"]),
        "kept": e["MIGRATION_KEPT"] == "true",
        "keepLimitBytes": int(e["MIGRATION_MAX_BYTES"]),
        "uri": "exec:cat > $WORK/migration.bin",
    }
print(json.dumps(m, indent=1))
EOF

python3 "$SCRIPT_DIR/check-capture.py" "$OUTDIR" || die "$VARIANT: the capture in $OUTDIR failed its checks"
log "$VARIANT: done in ${TOTAL_S}s (boot ${BOOT_S}s, QMP ${QMP_S}s) -> $OUTDIR ($(du -sh "$OUTDIR" | cut -f1))"
