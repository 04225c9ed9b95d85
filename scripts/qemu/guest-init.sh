#!/bin/busybox sh
# /init of the capture guest (copied into the initramfs by capture.sh; busybox-static is the only userland).
# It loads the Debian kernel's virtio modules, drives every virtio NIC and disk it finds with a small, fixed
# workload, prints what the guest drivers negotiated, prints the marker line capture.sh waits for, then idles
# so that the host can stop the VM and read QEMU's own view of the devices.
#
# Network: the NICs get no addresses (only the kernel's automatic IPv6 link-local ones) and are wired by
# capture.sh to an internal QEMU hub, so every packet stays inside QEMU.
/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

say() { echo "devrec-guest: $*"; }
fail() { echo "DEVREC-GUEST-ERROR: $*"; }

# Keep IPv6 quiet and address-free apart from link-local: no SLAAC, no router solicitations, no DAD delay.
for k in accept_ra autoconf router_solicitations accept_dad; do
  echo 0 > /proc/sys/net/ipv6/conf/default/$k 2>/dev/null
done

# Module load order matters (dependencies first): capture.sh writes it to /lib/modules/load-order, leaving out
# what the kernel has built in (/lib/modules/builtin, e.g. virtio_pci in Debian 13's 6.12).
for m in $(cat /lib/modules/load-order); do
  if [ -f /lib/modules/$m.ko ]; then
    insmod /lib/modules/$m.ko || fail "insmod $m"
  else
    fail "module $m missing from initramfs"
  fi
done
say "kernel $(uname -r); built in: $(cat /lib/modules/builtin | tr '\n' ' ')"

# Wait (bounded) for the drivers to bind: every virtio device on the bus should have a driver.
i=0
while [ $i -lt 50 ]; do
  unbound=0
  for d in /sys/bus/virtio/devices/virtio*; do
    [ -e "$d" ] || continue
    [ -e "$d/driver" ] || unbound=1
  done
  [ $unbound -eq 0 ] && [ -e /sys/bus/virtio/devices/virtio0 ] && break
  sleep 0.1; i=$((i + 1))
done
sleep 0.2

nics=""
for n in /sys/class/net/eth*; do [ -e "$n" ] && nics="$nics ${n##*/}"; done
disks=""
for b in /sys/block/vd*; do [ -e "$b" ] && disks="$disks ${b##*/}"; done
say "nics:${nics:- none} disks:${disks:- none} cpus: $(nproc)"

# --- network workload: links up, a few link-local pings between the hub-connected NICs -------------------
for n in $nics; do ip link set dev "$n" up || fail "ip link set $n up"; done
sleep 1
for n in $nics; do
  # ff02::1 on one NIC reaches the other NIC through QEMU's internal hub (and nothing else).
  ping6 -c 2 -W 1 -I "$n" ff02::1 >/dev/null 2>&1 || true
  # A multi-queue NIC: one ping per online CPU, pinned with taskset. virtio_net maps CPU i to TX queue i (XPS,
  # virtnet_set_affinity), so each CPU's packets go out on its own queue.
  ntx=$(ls -d /sys/class/net/$n/queues/tx-* 2>/dev/null | wc -l)
  if [ "$ntx" -gt 1 ]; then
    c=0
    while [ $c -lt "$(nproc)" ]; do
      taskset -c $c ping6 -c 2 -W 1 -I "$n" ff02::1 >/dev/null 2>&1 || true
      c=$((c + 1))
    done
  fi
done
for n in $nics; do
  say "net $n: $(cat /sys/class/net/$n/address) rx_packets=$(cat /sys/class/net/$n/statistics/rx_packets) tx_packets=$(cat /sys/class/net/$n/statistics/tx_packets)"
  # multi-queue NICs: which CPUs send on which TX queue
  if [ -e /sys/class/net/$n/queues/tx-1 ]; then
    for x in /sys/class/net/$n/queues/tx-*; do say "net $n ${x##*/} xps_cpus $(cat $x/xps_cpus 2>/dev/null)"; done
  fi
done

# --- block workload: read 4 MiB, write 2 MiB (with flush), drop caches, read it back -------------------
for d in $disks; do
  dev=/dev/$d
  dd if=$dev of=/dev/null bs=64k count=64 2>/dev/null || fail "dd read $dev"
  dd if=/dev/urandom of=$dev bs=64k count=32 seek=64 conv=fsync 2>/dev/null || fail "dd write $dev"
  sync
  echo 3 > /proc/sys/vm/drop_caches
  # One direct read per online CPU, pinned, so that multi-queue disks see requests on every queue.
  c=0
  while [ $c -lt "$(nproc)" ]; do
    taskset -c $c dd if=$dev of=/dev/null bs=64k count=32 skip=$((64 + 32 * c)) iflag=direct 2>/dev/null \
      || fail "dd direct read $dev on cpu $c"
    c=$((c + 1))
  done
  say "blk $d: $(cat /sys/block/$d/size) sectors, stat: $(cat /sys/block/$d/stat | tr -s ' ')"
  for q in /sys/block/$d/mq/*; do [ -e "$q" ] && say "blk $d hwq ${q##*/} cpus $(cat $q/cpu_list)"; done
done
sync

# --- what the guest drivers negotiated (cross-check for QEMU's answers) --------------------------------
for d in /sys/bus/virtio/devices/virtio*; do
  [ -e "$d" ] || continue
  drv=$(readlink "$d/driver"); drv=${drv##*/}
  say "virtio ${d##*/}: device=$(cat $d/device) vendor=$(cat $d/vendor) status=$(cat $d/status) driver=${drv:-none} features=$(cat $d/features)"
done
grep -iE 'virtio|cpu' /proc/interrupts | tr -s ' ' | while read -r line; do say "irq $line"; done

echo "DEVREC-CAPTURE-READY"
# Idle: the host stops the VM over QMP and quits QEMU.
while true; do sleep 3600; done
