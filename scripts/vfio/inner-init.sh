#!/bin/busybox sh
# /init of the INNER guest (nested QEMU 10.0, inside the outer guest), copied into its initramfs by
# scripts/vfio/capture.sh. The passed-through virtio device is this guest's only virtio device. The guest's own
# driver (virtio_pci + virtio_blk / virtio_net of Debian 13's 6.12 kernel) drives it with a small fixed workload,
# then the guest prints what its driver sees in sysfs and the marker line DEVREC-INNER-READY, and idles: the
# device is left untouched from then on, so the host can read the outer QEMU's view of the same device.
/bin/busybox mkdir -p /bin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "devrec-inner: $*"; }
# The driver modules load in the background, time-bounded (DRIVER_WAIT s, devrec.driver_wait=N): a probe that
# waits for something the device never delivers must not keep this guest from printing what it reached.
DRIVER_WAIT=$(sed -n 's/.*devrec.driver_wait=\([0-9]*\).*/\1/p' /proc/cmdline)
DRIVER_WAIT=${DRIVER_WAIT:-600}
(
  for m in failover net_failover virtio_net virtio_blk; do
    [ -f /lib/modules/$m.ko ] && { insmod /lib/modules/$m.ko || say "insmod $m failed"; }
  done
  : > /tmp/insmod.done
) &
LOADER=$!
i=0
while [ $i -lt $((DRIVER_WAIT * 5)) ]; do
  [ -e /tmp/insmod.done ] && [ -e /sys/bus/virtio/devices/virtio0/driver ] && break
  [ -e /tmp/insmod.done ] && [ $i -ge 100 ] && break
  sleep 0.2; i=$((i + 1))
done
if [ ! -e /tmp/insmod.done ]; then
  say "driver load not finished after ${DRIVER_WAIT}s; where the loading task waits:"
  for t in /proc/[0-9]*; do
    case "$(cat $t/comm 2>/dev/null)" in insmod) say "insmod ${t##*/} state: $(sed -n 's/^State:[[:space:]]*//p' $t/status)"; cat $t/stack 2>/dev/null;; esac
  done
  for d in /sys/bus/virtio/devices/virtio*; do [ -e "$d" ] && say "${d##*/} status now $(cat $d/status)"; done
fi
sleep 1
WORKLOAD=$(sed -n 's/.*devrec.workload=\([a-z-]*\).*/\1/p' /proc/cmdline)
say "workload ${WORKLOAD:-none}"
case "$WORKLOAD" in
  blk)
    # Read 1 MiB, write 1 MiB of pattern and read it back: real requests through the passed-through queue.
    dd if=/dev/vda of=/dev/null bs=64k count=16 2>/dev/null || say "read /dev/vda failed"
    dd if=/dev/urandom of=/tmp/pat bs=64k count=16 2>/dev/null
    dd if=/tmp/pat of=/dev/vda bs=64k count=16 seek=32 conv=fsync 2>/dev/null || say "write /dev/vda failed"
    echo 3 > /proc/sys/vm/drop_caches
    dd if=/dev/vda of=/tmp/back bs=64k count=16 skip=32 2>/dev/null
    cmp -s /tmp/pat /tmp/back && say "blk write/read-back ok" || say "blk read-back MISMATCH"
    ;;
  net)
    # The outer NIC sits on a QEMU user netdev with restrict=on and ipv6=off; IPv6 is off in this kernel too
    # (ipv6.disable=1), so nothing moves once the pings are done.
    ip link set dev eth0 up && ip addr add 10.0.2.15/24 dev eth0 || say "eth0 setup failed"
    sleep 1
    ping -c 3 -W 2 10.0.2.2 && say "net ping ok" || say "net ping got no answer"
    ;;
  none) ;;
esac
sleep 1
for d in /sys/bus/virtio/devices/virtio*; do
  [ -e "$d" ] || continue
  echo "DEVREC-VIEW ${d##*/} device=$(cat $d/device) vendor=$(cat $d/vendor) status=$(cat $d/status) features=$(cat $d/features) driver=$(basename $(readlink $d/driver 2>/dev/null) 2>/dev/null)"
done
for p in /sys/bus/pci/devices/*; do
  echo "DEVREC-PCI ${p##*/} vendor=$(cat $p/vendor) device=$(cat $p/device) class=$(cat $p/class) driver=$(basename $(readlink $p/driver 2>/dev/null) 2>/dev/null)"
done
echo DEVREC-INNER-READY
while true; do sleep 3600; done
