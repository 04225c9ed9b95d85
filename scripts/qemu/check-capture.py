#!/usr/bin/env python3
"""Check QEMU capture directories made by capture.sh (usage: check-capture.py DIR [DIR...]).

Per directory: the files exist; the trace has virtio lines (and, on PCI, virtio register accesses and
pci_cfg_write lines); qmp.json lists every virtio device with one x-query-virtio-queue-status answer per queue,
a PCI address (PCI machines) or an MMIO base (microvm), and the driver reached DRIVER_OK; devstate.bin.gz
(and migration.bin.gz if present) starts with the QEVM magic 0x5145564d, version 3.
Prints one line per directory; exits 1 if any check failed.
"""
import gzip
import json
import os
import re
import struct
import sys

QEVM = 0x5145564D
DRIVER_OK = 4


def check(d):
    errs = []
    names = ["trace.log.gz", "qmp.json", "devstate.bin.gz", "console.log", "manifest.json"]
    for n in names:
        if not os.path.isfile(os.path.join(d, n)):
            errs.append(f"missing {n}")
    if errs:
        return errs, {}
    with open(os.path.join(d, "manifest.json")) as f:
        man = json.load(f)
    with open(os.path.join(d, "qmp.json")) as f:
        qmp = json.load(f)
    pci = man.get("machine") in ("pc", "q35")
    stamped = bool((man.get("matrix") or {}).get("timestamps"))
    unstamped = 0

    counts = {}
    with gzip.open(os.path.join(d, "trace.log.gz"), "rt", errors="replace") as f:
        for line in f:
            m = re.match(r"^(\d+@[\d.]+:)?(\w+)", line)
            if m and stamped and not m.group(1):
                unstamped += 1
            if m:
                counts[m.group(2)] = counts.get(m.group(2), 0) + 1
    devs = qmp.get("devices") or []
    # QEMU 7.2 traces virtqueue_flush only on split rings (virtqueue_split_flush); packed rings have none.
    all_packed = bool(devs) and all(
        any(t.startswith("VIRTIO_F_RING_PACKED") for t in
            ((x.get("status") or {}).get("guest-features") or {}).get("transports", []))
        for x in devs)
    wanted = ["virtio_set_status", "virtio_queue_notify", "virtqueue_pop", "virtqueue_fill"]
    if not all_packed:
        wanted.append("virtqueue_flush")
    traced = set((man.get("trace") or {}).get("events") or [])
    if unstamped:
        errs.append(f"{unstamped} trace lines without the pid@sec.usec: prefix of -msg timestamp=on")
    # every event that was enabled and that the workload must cause has lines
    if pci:
        wanted += ["pci_cfg_write", "memory_region_ops_write", "memory_region_ops_read"]
    else:
        wanted += ["memory_region_ops_write", "memory_region_ops_read", "virtio_mmio_write_offset"]
    for ev in wanted:
        if (not traced or ev in traced) and not counts.get(ev):
            errs.append(f"trace has no {ev} lines")

    if not devs:
        errs.append("qmp.json lists no virtio devices")
    for dev in devs:
        label = f"{dev.get('qemuType')}({dev.get('path')})"
        st = dev.get("status") or {}
        nvq = st.get("num-vqs")
        if not isinstance(nvq, int) or nvq <= 0:
            errs.append(f"{label}: no num-vqs in x-query-virtio-status")
        elif len(dev.get("queues") or []) != nvq:
            errs.append(f"{label}: {len(dev.get('queues') or [])} queue answers for num-vqs {nvq}")
        if not (st.get("status", {}).get("statuses") and "VIRTIO_CONFIG_S_DRIVER_OK" in str(st["status"])):
            errs.append(f"{label}: driver did not reach DRIVER_OK ({st.get('status')})")
        if pci and not re.fullmatch(r"[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", dev.get("pciAddress") or ""):
            errs.append(f"{label}: no pciAddress")
        if not pci and not dev.get("mmioBase"):
            errs.append(f"{label}: no mmioBase")
    if not isinstance(qmp.get("queryPci"), list) or (pci and not qmp["queryPci"]):
        errs.append("qmp.json has no query-pci answer")  # microvm (no PCI) answers []

    for n in ("devstate.bin.gz", "migration.bin.gz"):
        p = os.path.join(d, n)
        if not os.path.exists(p):
            continue
        with gzip.open(p, "rb") as f:
            head = f.read(8)
        if len(head) < 8:
            errs.append(f"{n}: shorter than 8 bytes")
            continue
        magic, version = struct.unpack(">II", head)
        if magic != QEVM or version != 3:
            errs.append(f"{n}: header {magic:#x} v{version}, expected QEVM {QEVM:#x} v3")
    summary = {
        "devices": len(devs),
        "queues": sum(len(x.get("queues") or []) for x in devs),
        "traceLines": sum(counts.values()),
        "bytes": sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d)),
    }
    return errs, summary


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    bad = 0
    for d in sys.argv[1:]:
        try:
            errs, s = check(d)
        except (OSError, ValueError, EOFError) as e:
            errs, s = [f"{type(e).__name__}: {e}"], {}
        if errs:
            bad += 1
            print(f"FAIL {d}: " + "; ".join(errs))
        else:
            print(f"ok   {d}: {s['devices']} devices, {s['queues']} queues, {s['traceLines']} trace lines, "
                  f"{s['bytes']} bytes")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
