#!/usr/bin/env python3
"""Host side of a VFIO passthrough capture (run by scripts/vfio/capture.sh while the outer QEMU runs).

Talks to the outer guest over its second serial port (a unix socket chardev, the "control line") and to the
outer QEMU 7.2 over QMP:
  1. wait for DEVREC-OUTER-READY on the control line (the inner guest finished its workload and is idle, the
     nested QEMU's QMP answers are taken);
  2. outer QMP: stop (the outer VM, hence the nested QEMU and the inner guest, are frozen), query-version,
     x-query-virtio, x-query-virtio-status and x-query-virtio-queue-status for every queue of the passed-through
     device, query-pci; cont;
  3. answer GO on the control line; the outer guest quits the nested QEMU and sends back base64(tar.gz) of what
     the nested side produced between DEVREC-DUMP-BEGIN and DEVREC-DUMP-END;
  4. write qmp-outer.json and nested.tar.gz into --work.
Standard library only. Every wait has a deadline; failures exit 1 with one line naming what was awaited.
"""
import argparse
import base64
import importlib.util
import json
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("qmp_capture", os.path.join(HERE, "..", "qemu", "qmp-capture.py"))
qmp_capture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(qmp_capture)


def die(msg):
    print(f"orchestrate.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


class Retry(Exception):
    pass


class Line:
    def __init__(self, path, deadline):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    die(f"could not connect to the control line {path}")
                time.sleep(0.2)
        self.buf = b""

    def read_line(self, deadline, what, retry=False):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                if retry:
                    raise Retry()
                die(f"timed out waiting for {what} on the control line")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                if retry:
                    raise Retry()
                die(f"timed out waiting for {what} on the control line")
            if not chunk:
                die(f"the outer guest closed the control line while we waited for {what}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("ascii", "replace").strip("\r ")

    def wait_for(self, marker, deadline, resend=None):
        """Reads lines until `marker`; with `resend`, sends it again every 5 s meanwhile (a byte that reaches the
        guest's UART while its tty is closed is lost)."""
        skipped = []
        while True:
            step = min(deadline, time.monotonic() + 5) if resend else deadline
            try:
                line = self.read_line(step, marker, retry=True) if resend else self.read_line(deadline, marker)
            except Retry:
                if time.monotonic() >= deadline:
                    die(f"timed out waiting for {marker} on the control line")
                self.sock.sendall(resend)
                continue
            if line == marker:
                return skipped
            skipped.append(line)


def outer_view(qmp_path, deadline, qdev_id):
    q = qmp_capture.Qmp(qmp_path, deadline)
    out = {"takenAt": "outer VM stopped (QMP stop) while the inner guest idled after DEVREC-INNER-READY"}
    q.cmd("stop")
    try:
        out["query-version"] = q.cmd("query-version")
        out["x-query-virtio"] = q.cmd("x-query-virtio")
        path = None
        for d in out["x-query-virtio"]:
            if d["path"].startswith(f"/machine/peripheral/{qdev_id}/"):
                path = d["path"]
        if path is None:
            raise qmp_capture.QmpError(f"x-query-virtio lists no device under /machine/peripheral/{qdev_id}/")
        st = q.cmd("x-query-virtio-status", path=path)
        out["x-query-virtio-status"] = {"path": path, "return": st}
        queues = []
        for i in range(st["num-vqs"]):
            queues.append(q.cmd("x-query-virtio-queue-status", path=path, queue=i))
        out["x-query-virtio-queue-status"] = queues
        out["query-pci"] = q.cmd("query-pci")
    finally:
        q.cmd("cont")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--qmp", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--qdev-id", default="pt0")
    ap.add_argument("--ready-timeout", type=float, default=1800)
    ap.add_argument("--dump-timeout", type=float, default=600)
    ap.add_argument("--resume", action="store_true",
                    help="the outer view is already taken (qmp-outer.json): only answer GO and take the dump")
    a = ap.parse_args()
    t0 = time.monotonic()
    line = Line(a.ctl, t0 + 120)
    if not a.resume:
        line.wait_for("DEVREC-OUTER-READY", t0 + a.ready_timeout)
        try:
            view = outer_view(a.qmp, time.monotonic() + 120, a.qdev_id)
        except qmp_capture.QmpError as e:
            die(str(e))
        with open(os.path.join(a.work, "qmp-outer.json"), "w") as f:
            json.dump(view, f, indent=1, sort_keys=True)
            f.write("\n")
    t_ready = time.monotonic()
    line.sock.sendall(b"GO\n")
    deadline = time.monotonic() + a.dump_timeout
    line.wait_for("DEVREC-DUMP-BEGIN", deadline, resend=b"GO\n")
    chunks = []
    while True:
        l = line.read_line(deadline, "DEVREC-DUMP-END")
        if l == "DEVREC-DUMP-END":
            break
        chunks.append(l)
    data = base64.b64decode("".join(chunks), validate=False)
    with open(os.path.join(a.work, "nested.tar.gz"), "wb") as f:
        f.write(data)
    print(json.dumps({"readyAfterSeconds": round(t_ready - t0, 1), "dumpBytes": len(data)}))


if __name__ == "__main__":
    main()
