#!/usr/bin/env python3
"""Save the device state of a QEMU that never ran (-S): the layout of device types the booted captures do not have.

Usage: devstate-unbooted.py OUT.bin QEMU-COMMAND...   e.g.
  devstate-unbooted.py rng-scsi-balloon.bin qemu-system-x86_64 -nodefaults -no-user-config -display none -S -M pc \
      -accel tcg -device virtio-rng-pci,id=rng0 -device virtio-scsi-pci,id=scsi0 -device virtio-balloon-pci,id=balloon0
(QEMU 10.0: scripts/debian13/qemu.sh in place of qemu-system-x86_64). Adds -qmp on a temporary socket, runs
qmp_capabilities and xen-save-devices-state (live=false), then quit. Standard library only.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, qemu = os.path.abspath(sys.argv[1]), sys.argv[2:]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "qmp.sock")
        proc = subprocess.Popen(qemu + ["-qmp", f"unix:{path},server=on,wait=off"])
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(path):
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"QEMU did not open its QMP socket (exit {proc.poll()})")
                time.sleep(0.1)
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(path)
            f = sock.makefile("rwb")

            def reply():
                while True:
                    m = json.loads(f.readline())
                    if "event" not in m:
                        return m

            def cmd(name, **args):
                f.write(json.dumps({"execute": name, **({"arguments": args} if args else {})}).encode() + b"\n")
                f.flush()
                r = reply()
                if "error" in r:
                    sys.exit(f"QMP {name}: {r['error'].get('desc')}")
                return r["return"]

            reply()  # greeting
            cmd("qmp_capabilities")
            cmd("xen-save-devices-state", filename=out, live=False)
            cmd("quit")
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()


main()
