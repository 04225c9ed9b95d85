#!/bin/busybox sh
# /init of the vDPA capture guest (Debian 13 kernel 6.12; copied into the initramfs by scripts/vdpa/capture.sh).
# Loads vdpa, vduse and virtio_vdpa, puts kprobe events on the VDUSE parent's vdpa_config_ops (ops.tsv), starts
# qemu-storage-daemon's VDUSE block export(s), provisions them with the real `vdpa` tool (also provisioning the
# kernel refuses), lets virtio_blk drive them, and writes every result under /out. At the end /out is printed
# on the serial console as base64 of a tar.gz between two marker lines, and the guest powers off.
# The variant comes from the kernel command line (devrec.variant=NAME).
/bin/busybox mkdir -p /bin /proc /sys /dev /tmp /out
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tracefs nodev /sys/kernel/tracing

VARIANT=$(sed -n 's/.*devrec\.variant=\([a-z0-9-]*\).*/\1/p' /proc/cmdline)
T=/sys/kernel/tracing
say() { echo "devrec-guest: $*"; }
fail() { echo "DEVREC-GUEST-ERROR: $*"; echo "$*" >> /out/errors.txt; }

# run NAME CMD...: runs a command, keeps its stdout (NAME.out when NAME ends in .txt, else NAME), its stderr
# and its exit code; commands.txt lists every command in order with its exit code.
# Each command is also marked in the trace (trace_marker), so the importer sees it among the bus operations.
mark() { echo "devrec: $*" > /sys/kernel/tracing/trace_marker 2>/dev/null; }
run() {
  name=$1; shift
  mark "run $*"
  "$@" > "/out/$name" 2> "/out/$name.err"
  rc=$?
  mark "exit $rc"
  echo "$rc	$name	$*" >> /out/commands.txt
  [ -s "/out/$name.err" ] || rm -f "/out/$name.err"
  return $rc
}

# A refused provisioning attempt: the exact command, the tool's message, the exit code.
refusal() {
  name=$1; shift
  mark "run $*"
  "$@" > /tmp/refusal.out 2> /tmp/refusal.err
  rc=$?
  mark "exit $rc"
  echo "$rc	refusal-$name	$*" >> /out/commands.txt
  { echo "command: $*"; echo "exit: $rc"; sed 's/^/stderr: /' /tmp/refusal.err; sed 's/^/stdout: /' /tmp/refusal.out; } \
    > "/out/refusal-$name.txt"
  [ $rc -ne 0 ] || fail "the kernel accepted '$*' (expected a refusal)"
}

for m in vdpa vhost_iotlb vduse virtio_vdpa virtio_blk failover net_failover virtio_net; do
  insmod /lib/modules/$m.ko || fail "insmod $m"
done
uname -r > /out/uname.txt

# Kprobe events from the op table: one event per op (group devrec, event name = op).
echo 0 > $T/tracing_on
echo > $T/trace
echo "# op	kind	accepted	definition" > /out/probes.txt
grep -v '^#' /ops.tsv | while IFS='	' read -r op kind fn args; do
  [ -n "$op" ] || continue
  def="$kind:devrec/$op $fn $args"
  if echo "$def" >> $T/kprobe_events 2>/dev/null; then ok=yes; else ok=no; fi
  echo "$op	$kind	$ok	$def" >> /out/probes.txt
  [ $ok = yes ] || { echo "$op:"; tail -3 $T/error_log; } >> /out/probe-errors.txt
done
echo 1 > $T/events/devrec/enable || fail "enable devrec kprobe events"
echo 1 > $T/tracing_on

dd if=/dev/zero of=/tmp/disk0.img bs=1M count=8 2>/dev/null
dd if=/dev/zero of=/tmp/disk1.img bs=1M count=4 2>/dev/null

# start_qsd NAME ARGS: one qemu-storage-daemon with VDUSE block exports; waits for /dev/vduse/<name>.
start_qsd() {
  mark "run qemu-storage-daemon $*"
  qemu-storage-daemon "$@" > /out/qsd.log 2>&1 &
  echo "-	qemu-storage-daemon	qemu-storage-daemon $*" >> /out/commands.txt
}
wait_for() { # path, tenths of a second
  i=0; while [ ! -e "$1" ] && [ $i -lt "$2" ]; do sleep 0.1; i=$((i + 1)); done
  [ -e "$1" ] || fail "timed out waiting for $1"
}

# The kernel's view of every virtio device on a vDPA device, one line each (sysfs-*.txt).
kernel_view() {
  mark "run kernel view (sysfs reads)"
  : > /out/sysfs-features.txt; : > /out/sysfs-status.txt
  for d in /sys/bus/virtio/devices/virtio*; do
    [ -e "$d" ] || continue
    v=${d##*/}
    parent=$(basename "$(readlink -f "$d/..")")
    echo "$v $parent $(cat "$d/features")" >> /out/sysfs-features.txt
    line="$v $parent device=$(cat "$d/device") vendor=$(cat "$d/vendor") status=$(cat "$d/status")"
    [ -e "$d/driver" ] && line="$line driver=$(basename "$(readlink -f "$d/driver")")"
    for b in "$d"/block/vd*; do
      [ -e "$b" ] || continue
      nq=$(ls "$b/mq" | wc -l)
      line="$line disk=${b##*/} hw_queues=$nq sectors=$(cat "$b/size")"
    done
    for n in "$d"/net/*; do
      [ -e "$n" ] || continue
      line="$line netdev=${n##*/} rx_queues=$(ls -d "$n"/queues/rx-* | wc -l) tx_queues=$(ls -d "$n"/queues/tx-* | wc -l) operstate=$(cat "$n/operstate")"
    done
    echo "$line" >> /out/sysfs-status.txt
  done
}

# disk_io DEV: a little I/O through virtio_blk on every CPU.
disk_io() {
  c=0
  while [ $c -lt "$(nproc)" ]; do
    taskset -c $c dd if="$1" of=/dev/null bs=4k count=8 skip=$((8 * c)) iflag=direct 2>/dev/null || fail "dd $1 cpu $c"
    c=$((c + 1))
  done
  dd if=/dev/urandom of="$1" bs=4k count=4 conv=fsync 2>/dev/null || fail "dd write $1"
}

wait_bound() { # vdpa device name -> waits for its virtio device's driver
  i=0
  while [ $i -lt 100 ]; do
    for d in /sys/bus/vdpa/devices/$1/virtio*; do [ -e "$d/driver" ] && return 0; done
    sleep 0.1; i=$((i + 1))
  done
  fail "virtio device of $1 never bound a driver"
}

run mgmtdev.json vdpa -jp mgmtdev show
# VDUSE devices present when each command runs are listed by the commands that need them (vduse-devices.txt).
vduse_list() { ls /dev/vduse | grep -v '^control$' > /out/vduse-devices.txt; }
EXPORT="--export type=vduse-blk,id=e0,node-name=f0,name=vduse0,writable=on"
case "$VARIANT" in
  blk)
    start_qsd --blockdev driver=file,node-name=f0,filename=/tmp/disk0.img $EXPORT,num-queues=1,queue-size=128
    wait_for /dev/vduse/vduse0 300
    vduse_list
    # Provisioning the VDUSE management device refuses (it declares no config_attr_mask).
    refusal mac vdpa dev add name vduse0 mgmtdev vduse mac 52:54:00:12:34:56
    refusal device-features vdpa dev add name vduse0 mgmtdev vduse device_features 0x330006644
    refusal max-vqp vdpa dev add name vduse0 mgmtdev vduse max_vqp 2
    refusal mtu vdpa dev add name vduse0 mgmtdev vduse mtu 1500
    # Attributes without their feature bit in the provisioned device_features (which check comes first?).
    refusal mac-without-feature vdpa dev add name vduse0 mgmtdev vduse device_features 0x300000000 mac 52:54:00:12:34:56
    refusal max-vqp-without-mq vdpa dev add name vduse0 mgmtdev vduse device_features 0x300020000 max_vqp 2
    refusal max-vqp-zero vdpa dev add name vduse0 mgmtdev vduse max_vqp 0
    refusal mgmtdev vdpa dev add name vduse0 mgmtdev vdpa_sim_blk
    refusal no-vduse-device vdpa dev add name vduse9 mgmtdev vduse
    run dev-add.txt vdpa dev add name vduse0 mgmtdev vduse || fail "vdpa dev add vduse0"
    wait_bound vduse0
    refusal duplicate vdpa dev add name vduse0 mgmtdev vduse
    disk_io /dev/vda
    refusal vstats vdpa -jp dev vstats show vduse0 qidx 0
    ;;
  blk-mq2)
    start_qsd --blockdev driver=file,node-name=f0,filename=/tmp/disk0.img \
      --blockdev driver=file,node-name=f1,filename=/tmp/disk1.img \
      $EXPORT,num-queues=2,queue-size=128 \
      --export type=vduse-blk,id=e1,node-name=f1,name=vduse1,writable=on,num-queues=1,queue-size=256
    wait_for /dev/vduse/vduse0 300; wait_for /dev/vduse/vduse1 300
    run dev-add.txt vdpa dev add name vduse0 mgmtdev vduse || fail "vdpa dev add vduse0"
    wait_bound vduse0
    run dev-add-1.txt vdpa dev add name vduse1 mgmtdev vduse || fail "vdpa dev add vduse1"
    wait_bound vduse1
    for b in /dev/vda /dev/vdb; do disk_io $b; done
    ;;
  blk-reset)
    start_qsd --blockdev driver=file,node-name=f0,filename=/tmp/disk0.img $EXPORT,num-queues=1,queue-size=128
    wait_for /dev/vduse/vduse0 300
    run dev-add.txt vdpa dev add name vduse0 mgmtdev vduse || fail "vdpa dev add vduse0"
    wait_bound vduse0
    disk_io /dev/vda
    # Driver reset and re-initialisation: unbind virtio_blk, bind it again.
    v=$(basename /sys/bus/vdpa/devices/vduse0/virtio*)
    mark "run unbind $v"
    echo "$v" > /sys/bus/virtio/drivers/virtio_blk/unbind || fail "unbind $v"
    echo "-	unbind	echo $v > /sys/bus/virtio/drivers/virtio_blk/unbind" >> /out/commands.txt
    mark "run bind $v"
    echo "$v" > /sys/bus/virtio/drivers/virtio_blk/bind || fail "bind $v"
    echo "-	bind	echo $v > /sys/bus/virtio/drivers/virtio_blk/bind" >> /out/commands.txt
    wait_bound vduse0
    disk_io /dev/vda
    # The whole device again: delete and re-add the vDPA device (a new virtio device on the same VDUSE device).
    run dev-del.txt vdpa dev del vduse0 || fail "vdpa dev del vduse0"
    run dev-add-again.txt vdpa dev add name vduse0 mgmtdev vduse || fail "vdpa dev add vduse0 (again)"
    wait_bound vduse0
    disk_io /dev/vda
    ;;
  net)
    # DPDK's vhost library creates the VDUSE net device (EAL without hugepages or PCI; one lcore).
    mark "run vduse-net net0"
    mkdir -p /var/run /dev/shm
    EAL="--no-huge -m 128 --no-pci --no-shconf -l 0"
    # First as the library offers it (CTRL_VQ, MQ, 128 queue pairs): the kernel refuses to create the device.
    vduse-net net0 0 128 $EAL > /out/refusal-vduse-create.txt 2>&1
    echo "$?	refusal-vduse-create	vduse-net net0 0 128 $EAL" >> /out/commands.txt
    # Then without the control virtqueue and what needs it (CTRL_RX/VLAN/ANNOUNCE/MAC_ADDR/GUEST_OFFLOADS, MQ).
    vduse-net net0 0xEE0004 1 $EAL > /out/vduse-net.log 2>&1 &
    echo "-	vduse-net	vduse-net net0 0xEE0004 1 $EAL" >> /out/commands.txt
    wait_for /dev/vduse/net0 900
    [ -e /dev/vduse/net0 ] || ps > /out/ps.txt
    vduse_list
    refusal mac vdpa dev add name net0 mgmtdev vduse mac 52:54:00:12:34:56
    run dev-add.txt vdpa dev add name net0 mgmtdev vduse || fail "vdpa dev add net0"
    wait_bound net0
    for n in /sys/class/net/eth*; do [ -e "$n" ] && ip link set dev "${n##*/}" up; done
    sleep 1
    ip link > /out/ip-link.txt 2>&1
    ;;
  *) fail "unknown variant '$VARIANT'" ;;
esac

sleep 0.5
run dev.json vdpa -jp dev show
run config.json vdpa -jp dev config show
kernel_view
echo 0 > $T/tracing_on
grep -v '^#' $T/trace > /out/trace.txt
grep -c . /out/trace.txt > /dev/null || fail "no kprobe events recorded"
[ -e $T/per_cpu/cpu0/stats ] && cat $T/per_cpu/cpu*/stats | grep -E '^(overrun|dropped)' > /out/trace-stats.txt

say "variant $VARIANT done"
echo DEVREC-OUT-BEGIN
(cd /out && tar czf - .) | base64
echo DEVREC-OUT-END
sync
poweroff -f
