#!/usr/bin/env python3
"""Read QEMU's own view of its virtio devices over QMP, at one frozen moment, then quit QEMU.

Used by capture.sh once the guest has printed its marker line. Standard library only.

Sequence: qmp_capabilities; stop (nothing moves after this); every trace event off (the trace ends here);
query-version, machine type;
x-query-virtio; per device x-query-virtio-status and x-query-virtio-queue-status for every queue; query-rx-filter;
query-pci; `info qtree` (maps virtio-mmio transports to their MMIO base); xen-save-devices-state
(device-state-only savevm stream); optionally a full migration stream (migrate exec:cat > FILE, waited for);
quit. Writes the answers as one JSON object (--out).

Every wait has a deadline (--timeout seconds for the whole sequence); on any failure the script exits 1
with a message naming the QMP command and QEMU's error.
"""
import argparse
import json
import os
import re
import shlex
import socket
import sys
import time


class QmpError(Exception):
    pass


class Qmp:
    def __init__(self, path, deadline):
        self.deadline = deadline
        self.events = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.settimeout(self._left())
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() >= self.deadline:
                    raise QmpError(f"could not connect to the QMP socket {path}")
                time.sleep(0.1)
        self.buf = b""
        self.greeting = self._read_msg()
        if "QMP" not in self.greeting:
            raise QmpError(f"unexpected QMP greeting: {self.greeting!r}")
        self.cmd("qmp_capabilities")

    def _left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise QmpError("timed out talking to QEMU over QMP")
        return left

    def _read_msg(self):
        while b"\n" not in self.buf:
            self.sock.settimeout(self._left())
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise QmpError("timed out waiting for a QMP answer")
            if not chunk:
                raise QmpError("QEMU closed the QMP connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, command, **args):
        name = command
        msg = {"execute": command}
        if args:
            msg["arguments"] = args
        self.sock.settimeout(self._left())
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read_msg()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                err = reply["error"]
                raise QmpError(f"QMP {name} {json.dumps(args)} failed: {err.get('class')}: {err.get('desc')}")
            if "return" in reply:
                return reply["return"]
            raise QmpError(f"QMP {name}: unexpected reply {reply!r}")

    def quit(self):
        """Send quit; QEMU may answer, or close/reset the socket while exiting: both are success."""
        try:
            self.cmd("quit")
            while True:
                self.events.append(self._read_msg())
        except QmpError as e:
            if "timed out" in str(e):
                raise
        except (ConnectionResetError, BrokenPipeError):
            pass


def parse_qtree_mmio(qtree):
    """Map qdev ids / device types on virtio-mmio buses to their transport's MMIO base.

    `info qtree` prints, per virtio-mmio transport:
        dev: virtio-mmio, id ""
          ...
          mmio 00000000feb00e00/0000000000000200
          bus: virtio-mmio-bus.7
            type virtio-mmio-bus
            dev: virtio-blk-device, id "blk0"
    Returns a list of {bus, mmioBase, mmioSize, type, id}.
    """
    out = []
    stack = []  # (indent, kind, info)
    for raw in qtree.splitlines():
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        m = re.match(r'dev: ([^,]+), id "(.*)"$', line)
        if m:
            info = {"type": m.group(1), "id": m.group(2), "mmio": None}
            parent_bus = next((s for s in reversed(stack) if s[1] == "bus"), None)
            if parent_bus and parent_bus[2]["name"].startswith("virtio-mmio-bus"):
                transport = next((s for s in reversed(stack) if s[1] == "dev"), None)
                mmio = transport[2]["mmio"] if transport else None
                out.append({
                    "bus": parent_bus[2]["name"],
                    "type": info["type"],
                    "id": info["id"],
                    "mmioBase": mmio[0] if mmio else None,
                    "mmioSize": mmio[1] if mmio else None,
                })
            stack.append((indent, "dev", info))
            continue
        m = re.match(r"bus: (\S+)$", line)
        if m:
            stack.append((indent, "bus", {"name": m.group(1)}))
            continue
        m = re.match(r"mmio ([0-9a-f]+)/([0-9a-f]+)$", line)
        if m and stack and stack[-1][1] == "dev" and stack[-1][2]["mmio"] is None:
            stack[-1][2]["mmio"] = ("0x%x" % int(m.group(1), 16), "0x%x" % int(m.group(2), 16))
    return out


def pci_devices(query_pci):
    """Flatten query-pci (including devices behind bridges) into [{bus, slot, function, qdev_id, ...}]."""
    out = []

    def walk(devs):
        for d in devs:
            out.append(d)
            br = d.get("pci_bridge")
            if br and br.get("devices"):
                walk(br["devices"])

    for bus in query_pci:
        walk(bus.get("devices", []))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", required=True, help="QMP unix socket path")
    ap.add_argument("--out", required=True, help="qmp.json to write")
    ap.add_argument("--devstate", required=True, help="file for xen-save-devices-state")
    ap.add_argument("--migration", help="file for a full migration stream (optional)")
    ap.add_argument("--command-line", help="JSON file holding QEMU's argv (copied into the output)")
    ap.add_argument("--timeout", type=float, default=120.0, help="deadline for the whole sequence, seconds")
    a = ap.parse_args()

    deadline = time.monotonic() + a.timeout
    timings = {}
    t0 = time.monotonic()
    q = Qmp(a.socket, deadline)
    q.cmd("stop")
    status = q.cmd("query-status")
    if status.get("running"):
        raise QmpError(f"VM still running after stop: {status}")
    # Tracing off right after stop, so the trace ends at the frozen moment. Without this, QEMU kept logging
    # after the stop: on microvm two `virtio_mmio_setting_irq ... IRQ 1` lines (the NICs) followed the stop's
    # virtio_set_status lines, most likely from quit tearing down the hub ports (link status change ->
    # virtio-net config interrupt). The stop itself logs one virtio_set_status line per device with its
    # unchanged status (vm state change handler); those come before this point and stay in the trace.
    q.cmd("trace-event-set-state", **{"name": "*", "enable": False, "ignore-unavailable": True})
    timings["stoppedAfterS"] = round(time.monotonic() - t0, 3)

    version = q.cmd("query-version")
    machine_type = q.cmd("qom-get", path="/machine", property="type")
    qemu_ver = version["qemu"]
    result = {
        "qemuVersion": "%d.%d.%d" % (qemu_ver["major"], qemu_ver["minor"], qemu_ver["micro"]),
        "qemuPackage": version.get("package", "").strip(),
        "machine": re.sub(r"-machine$", "", machine_type),
        "commandLine": None,
        "runState": status,
        "devices": [],
        "queryPci": None,
        "virtioMmioTransports": [],
        "qtree": None,
    }
    if a.command_line:
        with open(a.command_line) as f:
            result["commandLine"] = json.load(f)

    query_pci = q.cmd("query-pci")
    result["queryPci"] = query_pci
    by_qdev_id = {d.get("qdev_id"): d for d in pci_devices(query_pci) if d.get("qdev_id")}
    qtree = q.cmd("human-monitor-command", **{"command-line": "info qtree"})
    result["qtree"] = qtree
    mmio = parse_qtree_mmio(qtree)
    result["virtioMmioTransports"] = mmio
    mmio_by_id = {m["id"]: m for m in mmio if m["id"]}

    for v in q.cmd("x-query-virtio"):
        path = v["path"]
        status = q.cmd("x-query-virtio-status", path=path)
        queues = []
        for n in range(int(status["num-vqs"])):
            queues.append(q.cmd("x-query-virtio-queue-status", path=path, queue=n))
        # The -device object is the PCI proxy (".../<id>/virtio-backend" -> ".../<id>") or, on virtio-mmio,
        # the virtio device itself ("/machine/peripheral/<id>").
        proxy_path = re.sub(r"/virtio-backend$", "", path)
        qdev_id = proxy_path.rsplit("/", 1)[-1] if proxy_path.startswith("/machine/peripheral/") else None
        dev = {
            "path": path,
            "name": v.get("name"),
            "qemuType": q.cmd("qom-get", path=proxy_path, property="type"),
            "qdevId": qdev_id,
        }
        pci = by_qdev_id.get(qdev_id) if qdev_id else None
        if pci is not None:
            dev["pciAddress"] = "%02x:%02x.%x" % (pci["bus"], pci["slot"], pci["function"])
        if qdev_id in mmio_by_id:
            dev["mmioBase"] = mmio_by_id[qdev_id]["mmioBase"]
            dev["mmioBus"] = mmio_by_id[qdev_id]["bus"]
        dev["status"] = status
        dev["queues"] = queues
        result["devices"].append(dev)
    # virtio-net's receive filter as QEMU keeps it (virtio_net_query_rxfilter, one entry per NIC named by its
    # qdev id): what the guest's control commands set, to check devrec's netControl against. QEMU answers for
    # NICs whose model supports it; an error (no such NIC model) is kept instead.
    try:
        result["rxFilter"] = q.cmd("query-rx-filter")
    except QmpError as e:
        result["rxFilter"] = None
        result["rxFilterError"] = str(e)
    timings["queriedAfterS"] = round(time.monotonic() - t0, 3)

    # live=false: with the default live=true and a stopped VM, QEMU 7.2 inactivates every block device after
    # saving (for Xen's migration hand-over), and a later `migrate` then aborts QEMU in
    # bdrv_inactivate_recurse (assertion !(bs->open_flags & BDRV_O_INACTIVE)). The saved bytes are the same.
    q.cmd("xen-save-devices-state", filename=os.path.abspath(a.devstate), live=False)
    timings["devstateAfterS"] = round(time.monotonic() - t0, 3)

    if a.migration:
        q.cmd("migrate", uri="exec:cat > " + shlex.quote(os.path.abspath(a.migration)))
        while True:
            mig = q.cmd("query-migrate")
            st = mig.get("status")
            if st == "completed":
                result["migration"] = mig
                break
            if st in ("failed", "cancelled"):
                raise QmpError(f"migration {st}: {mig.get('error-desc', mig)}")
            time.sleep(0.2)
            q._left()  # raises once the deadline has passed
        timings["migrationAfterS"] = round(time.monotonic() - t0, 3)

    result["qmpTimings"] = timings
    result["qmpEvents"] = q.events
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1, sort_keys=False)
        f.write("\n")
    q.quit()


if __name__ == "__main__":
    try:
        main()
    except (QmpError, OSError, KeyError, ValueError) as e:
        print(f"qmp-capture.py: {e}", file=sys.stderr)
        sys.exit(1)
