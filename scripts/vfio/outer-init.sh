#!/bin/busybox sh
# /init of the OUTER guest (host QEMU 7.2, q35 + intel-iommu, Debian 13's 6.12 kernel with intel_iommu=on),
# copied into its initramfs by scripts/vfio/capture.sh. It hands the virtio device at $BDF to vfio-pci, runs the
# nested QEMU 10.0 with that device passed through (vfio-pci, x-no-mmap=on so every BAR access is a traced
# vfio_region_read/write), waits for the inner guest's DEVREC-INNER-READY line, asks the nested QEMU over QMP
# whether it can migrate, then tells the host (on ttyS1, the control line) that the inner guest is idle. The host
# pauses the outer VM, reads the outer QEMU's view of the device, resumes it and answers GO. The nested QEMU is
# then quit over QMP (the inner guest does not shut down, so its driver never resets the device inside the trace)
# and everything the nested side produced goes back to the host on ttyS1 as base64(tar.gz).
/bin/busybox mkdir -p /bin /proc /sys /dev /tmp /run
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
. /etc/devrec-vfio.conf          # BDF, IDS, INNER_APPEND, NESTED_ARGS, READY_TIMEOUT (written by capture.sh)
say() { echo "devrec-outer: $*"; }
fail() { echo "DEVREC-OUTER-ERROR: $*"; sleep 1; poweroff -f; }
stty -F /dev/ttyS1 raw -echo 2>/dev/null
# Held open for the whole run: bytes reaching a UART whose tty is closed are dropped.
exec 5<>/dev/ttyS1
ctl() { echo "$*" >&5; }

for m in irqbypass vfio vfio_iommu_type1 vfio-pci-core vfio-pci; do
  insmod /lib/modules/$m.ko || fail "insmod $m"
done
D=/sys/bus/pci/devices/$BDF
[ -e "$D" ] || fail "no PCI device $BDF"
say "device $BDF $(cat $D/vendor):$(cat $D/device) driver=$(basename $(readlink $D/driver 2>/dev/null) 2>/dev/null) iommu_group=$(basename $(readlink $D/iommu_group 2>/dev/null) 2>/dev/null)"
[ -e "$D/iommu_group" ] || fail "$BDF has no IOMMU group (is intel_iommu=on and -device intel-iommu there?)"
[ -e "$D/driver" ] && echo "$BDF" > "$D/driver/unbind"
echo vfio-pci > "$D/driver_override"
echo "$BDF" > /sys/bus/pci/drivers_probe
GROUP=$(basename "$(readlink $D/iommu_group)")
[ -e /dev/vfio/$GROUP ] || fail "/dev/vfio/$GROUP did not appear after binding $BDF to vfio-pci"
say "bound $BDF to vfio-pci, /dev/vfio/$GROUP"
for r in 0 1 2 3 4 5; do
  [ -e "$D/resource$r" ] && say "BAR$r $(sed -n "$((r + 1))p" $D/resource)"
done

mkfifo /tmp/qmp.in /tmp/qmp.out
: > /tmp/inner.log
export QEMU_MODULE_DIR=/nested/lib/qemu
/nested/ld.so --library-path /nested/lib /nested/qemu-system-x86_64 -L /nested/share \
  -accel tcg -M pc -m 160 -cpu qemu64 -nodefaults -nographic -no-reboot \
  -kernel /nested/vmlinuz -initrd /nested/inner.gz -append "$INNER_APPEND" \
  -serial file:/tmp/inner.log \
  -chardev pipe,id=qmp,path=/tmp/qmp -mon chardev=qmp,mode=control \
  -device "vfio-pci,host=$BDF,id=pt0,x-no-mmap=on,rombar=0" \
  -trace events=/nested/trace-events -D /tmp/vfio-trace.log \
  > /tmp/nested.out 2> /tmp/nested.err &
NESTED=$!
tail -f /tmp/inner.log &
TAIL=$!
exec 3<>/tmp/qmp.out 4<>/tmp/qmp.in
qmp() {  # one command; its answer (return or error) goes to stdout and to /tmp/nested-qmp.jsonl
  echo "$1" >&4
  while read -r -t "${2:-60}" l <&3; do
    echo "$l" >> /tmp/nested-qmp.jsonl
    case "$l" in *'"return"'*|*'"error"'*) echo "$l"; return 0;; esac
  done
  echo "no answer to $1" >> /tmp/nested-qmp.jsonl
  return 1
}
read -r -t 120 greeting <&3 && echo "$greeting" >> /tmp/nested-qmp.jsonl

i=0
while ! grep -q DEVREC-INNER-READY /tmp/inner.log; do
  kill -0 $NESTED 2>/dev/null || { cat /tmp/nested.err; fail "nested QEMU exited before the inner guest was ready"; }
  [ $i -ge "$READY_TIMEOUT" ] && { cat /tmp/nested.err; fail "inner guest not ready after ${READY_TIMEOUT}s"; }
  sleep 1; i=$((i + 1))
done
say "inner guest ready after ${i}s"
qmp '{"execute":"qmp_capabilities"}' >/dev/null
qmp '{"execute":"query-version"}' >/dev/null
qmp '{"execute":"query-status"}' >/dev/null
# Does the nested QEMU allow migrating a VM with this vfio-pci device? query-migrate lists the blockers; a real
# migrate attempt (to a sink that discards everything) is refused with QEMU's own words.
qmp '{"execute":"query-migrate"}' >/dev/null
qmp '{"execute":"migrate","arguments":{"uri":"exec:cat > /dev/null"}}' >/dev/null
qmp '{"execute":"query-migrate"}' >/dev/null
qmp '{"execute":"query-pci"}' >/dev/null
say "nested QMP answers taken"

ctl DEVREC-OUTER-READY
read -r go <&5
say "host said: $go"
qmp '{"execute":"quit"}' 30 >/dev/null
i=0
while kill -0 $NESTED 2>/dev/null && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
kill $TAIL 2>/dev/null
cp /tmp/nested.err /tmp/nested.out /tmp/inner.log /tmp/vfio-trace.log /tmp/nested-qmp.jsonl /run/ 2>/dev/null
say "trace lines: $(wc -l < /run/vfio-trace.log)"
ctl DEVREC-DUMP-BEGIN
(cd /run && tar -c nested.err nested.out inner.log vfio-trace.log nested-qmp.jsonl | gzip -9 | base64) >&5
ctl DEVREC-DUMP-END
sleep 1
poweroff -f
