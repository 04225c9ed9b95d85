#!/usr/bin/env python3
"""Real-peer compatibility cases: devrec's verdict against QEMU's own migration outcome.

For each source (a real guest whose Linux drivers drove virtio-net x2 + virtio-blk, stopped, saved with
`migrate exec:cat > FILE` as one full migration stream, RAM included) and each target case (a QEMU started with
`-incoming defer` and device properties that differ from the source, or not):
  1. devrec profile --qmp unix:SOCK --device ID -o profile.json --save-qmp answers.json   (the target's own answers)
  2. devrec check STREAM --target profile.json --json                                       (devrec's verdict)
  3. QMP migrate-incoming exec:cat STREAM, wait for completed / failed                     (QEMU's verdict)
and writes OUT/results.json (both answers per case) plus, per case, OUT/CASE/{answers.json, profile.json,
qemu-stderr.txt}. test/compat/real-peer.spec.ts reads results.json (DEVREC_REAL_PEER_RESULTS) and
asserts the verdicts agree and QEMU's error line appears verbatim in devrec's output.

Usage: real-peer.py OUT [--only CASE,...] [--keep-streams]
Needs: QEMU 7.2 (scripts/qemu/install-deps.sh), the initramfs capture.sh builds (run capture.sh once), and for the
QEMU 10.0 cases the Debian 13 root (scripts/debian13/setup.sh; cases are skipped with a note when it is absent).
Streams (~73 MB each) stay in OUT/streams and are deleted at the end unless --keep-streams.
Network safety: sources and targets only have -netdev hubport (internal hub); nothing leaves QEMU.
"""
import argparse
import glob
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
D13 = os.environ.get("DEVREC_DEBIAN13", "/var/cache/devrec/debian13")
MARKER = "DEVREC-CAPTURE-READY"


def log(msg):
    print(f"real-peer: {msg}", file=sys.stderr, flush=True)


def die(msg):
    log(f"error: {msg}")
    sys.exit(1)


# ---------------------------------------------------------------------------------------------------------------
# QMP (standard library; the devrec side uses its own client in src/qmp/client.ts)
# ---------------------------------------------------------------------------------------------------------------
class Qmp:
    def __init__(self, path, timeout=60):
        self.deadline = time.monotonic() + timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > self.deadline:
                    raise RuntimeError(f"no QMP socket at {path}")
                time.sleep(0.1)
        self.buf = b""
        self.read()  # greeting
        self.cmd("qmp_capabilities")

    def read(self):
        while b"\n" not in self.buf:
            self.sock.settimeout(max(0.1, self.deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("QEMU closed the QMP socket")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        self.deadline = time.monotonic() + 120
        self.sock.sendall(json.dumps({"execute": name, **({"arguments": args} if args else {})}).encode() + b"\n")
        while True:
            r = self.read()
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError(f"QMP {name}: {r['error']}")
            return r.get("return")

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------------------------------------------------------
# Machines
# ---------------------------------------------------------------------------------------------------------------
def qemu_bin(flavor):
    if flavor == "7.2":
        return ["qemu-system-x86_64"]
    return [os.path.join(REPO, "scripts", "debian13", "qemu.sh")]


def have_flavor(flavor):
    return flavor == "7.2" or os.path.exists(os.path.join(D13, "root", ".done"))


# The device set of capture.sh's pc-modern-net-blk variant; a case edits one device's options.
BASE_DEVICES = {
    "net0": "virtio-net-pci,id=net0,netdev=h0,mac=52:54:00:de:0e:01,addr=0x2,ioeventfd=off,disable-legacy=on",
    "net1": "virtio-net-pci,id=net1,netdev=h1,mac=52:54:00:de:0e:02,addr=0x3,ioeventfd=off,disable-legacy=on",
    "blk0": "virtio-blk-pci,id=blk0,drive=disk0,addr=0x4,ioeventfd=off,disable-legacy=on,num-queues=2",
}


def edit_device(spec, remove=(), add=()):
    parts = [p for p in spec.split(",") if p.split("=")[0] not in remove]
    return ",".join(parts + list(add))


def vm_args(flavor, machine, work, devices, kernel, initrd, serial):
    disk = os.path.join(work, "disk.img")
    if not os.path.exists(disk):
        with open(disk, "wb") as f:
            f.truncate(16 * 1024 * 1024)
    args = qemu_bin(flavor) + [
        "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none", "-no-reboot",
        "-accel", "tcg", "-cpu", "qemu64", "-m", "128", "-smp", "2", "-M", machine,
        "-netdev", "hubport,id=h0,hubid=0", "-netdev", "hubport,id=h1,hubid=0",
        "-blockdev", f"driver=file,filename={disk},node-name=disk0-file",
        "-blockdev", "driver=raw,file=disk0-file,node-name=disk0",
    ]
    for d in ("net0", "net1", "blk0"):
        args += ["-device", devices[d]]
    args += ["-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 panic=-1 edd=off quiet",
             "-serial", serial, "-qmp", f"unix:{os.path.join(work, 'qmp.sock')},server=on,wait=off"]
    for i, a in enumerate(args):  # network safety guard
        if a == "-netdev" and not args[i + 1].startswith("hubport,"):
            die(f"refusing netdev {args[i + 1]}")
    return args


def guest_files():
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    if not kernels:
        die("no /boot/vmlinuz-* (run scripts/qemu/install-deps.sh)")
    cache = os.environ.get("DEVREC_QEMU_CACHE", os.path.join(os.environ.get("TMPDIR", "/tmp"), f"devrec-qemu-cache-{os.getuid()}"))
    kver = os.path.basename(kernels[-1])[len("vmlinuz-"):]
    initrds = sorted(glob.glob(os.path.join(cache, f"initramfs-{kver}-*.cpio.gz")), key=os.path.getmtime)
    if not initrds:
        die(f"no initramfs for {kver} in {cache} (run scripts/qemu/capture.sh once: it builds it)")
    return kernels[-1], initrds[-1]


def kill(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------------------------
TRANSITIONAL_DEVICES = {k: edit_device(v, ("disable-legacy",)) for k, v in BASE_DEVICES.items()}

SOURCES = {
    # name: (QEMU, machine type, what it is, devices)
    "qemu72-pc": ("7.2", "pc", "QEMU 7.2, -M pc (pc-i440fx-7.2), capture.sh's pc-modern-net-blk devices", BASE_DEVICES),
    "qemu10-pc-i440fx-7.2": ("10.0", "pc-i440fx-7.2", "QEMU 10.0 running machine pc-i440fx-7.2, same devices", BASE_DEVICES),
    "qemu72-pc-transitional": ("7.2", "pc", "QEMU 7.2, -M pc, the same devices transitional (no disable-legacy)", TRANSITIONAL_DEVICES),
}


def make_source(name, out, kernel, initrd, boot_timeout):
    flavor, machine, _, source_devices = SOURCES[name]
    work = os.path.join(out, "work-" + name)
    os.makedirs(work, exist_ok=True)
    stream = os.path.join(out, "streams", name + ".bin")
    if os.path.exists(stream):
        return stream
    os.makedirs(os.path.dirname(stream), exist_ok=True)
    console = os.path.join(work, "console.log")
    open(console, "w").close()
    args = vm_args(flavor, machine, work, source_devices, kernel, initrd, f"file:{console}")
    log(f"source {name}: booting ({' '.join(shlex.quote(a) for a in args[:3])} ...)")
    with open(os.path.join(work, "qemu.stderr"), "w") as err:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + boot_timeout
        while MARKER not in open(console, errors="replace").read():
            if proc.poll() is not None:
                die(f"source {name}: QEMU exited ({proc.returncode}): {open(os.path.join(work, 'qemu.stderr')).read()[-500:]}")
            if time.monotonic() > deadline:
                die(f"source {name}: no {MARKER} within {boot_timeout}s")
            time.sleep(0.5)
        q = Qmp(os.path.join(work, "qmp.sock"))
        q.cmd("stop")
        # the machine type the stream's configuration section carries (-M pc resolves to pc-i440fx-N.N)
        machine_type = str(q.cmd("qom-get", path="/machine", property="type")).removesuffix("-machine")
        # the device state alone (~150 KB, a few KB gzipped: committed as a unit-test fixture), then the full
        # stream; live=false keeps the block devices active for the migrate that follows
        q.cmd("xen-save-devices-state", filename=stream[:-4] + ".devstate.bin", live=False)
        q.cmd("migrate", uri="exec:cat > " + shlex.quote(stream + ".part"))
        while True:
            st = q.cmd("query-migrate").get("status")
            if st == "completed":
                break
            if st in ("failed", "cancelled"):
                die(f"source {name}: migrate {st}")
            time.sleep(0.2)
        # QEMU says completed once everything is in the pipe; cat may still be writing
        for _ in range(600):
            try:
                q.cmd("query-status")
            except Exception:
                pass
            if subprocess.run(["pgrep", "-f", f"cat > {stream}.part"], stdout=subprocess.DEVNULL).returncode != 0:
                break
            time.sleep(0.1)
        q.cmd("quit")
        q.close()
    finally:
        kill(proc)
    os.rename(stream + ".part", stream)
    subprocess.run(["gzip", "-9", "-n", "-f", stream[:-4] + ".devstate.bin"], check=True)
    with open(stream[:-4] + ".json", "w") as f:
        json.dump({"source": name, "qemu": flavor, "machine": machine_type, "machineOption": machine, "devices": source_devices, "bytes": os.path.getsize(stream)}, f, indent=1)
    log(f"source {name}: {os.path.getsize(stream)} bytes -> {stream}")
    return stream


# ---------------------------------------------------------------------------------------------------------------
# Target cases: (name, source, target QEMU, target machine, device edits {id: (remove, add)}, profiled device, what)
# ---------------------------------------------------------------------------------------------------------------
CASES = [
    ("identical", "qemu72-pc", "7.2", "pc", {}, "net0", "identical target"),
    ("net-event-idx-off", "qemu72-pc", "7.2", "pc", {"net0": ((), ("event_idx=off",))}, "net0", "net0 event_idx=off"),
    ("net-mrg-rxbuf-off", "qemu72-pc", "7.2", "pc", {"net0": ((), ("mrg_rxbuf=off",))}, "net0", "net0 mrg_rxbuf=off"),
    ("net-ctrl-vq-off", "qemu72-pc", "7.2", "pc", {"net0": ((), ("ctrl_vq=off",))}, "net0", "net0 ctrl_vq=off"),
    ("net-mq-on", "qemu72-pc", "7.2", "pc", {"net0": ((), ("mq=on", "vectors=4"))}, "net0", "net0 mq=on (one queue pair: hubport has one)"),
    ("net-packed-on", "qemu72-pc", "7.2", "pc", {"net0": ((), ("packed=on",))}, "net0", "net0 packed=on (source rings are split)"),
    ("net-transitional", "qemu72-pc", "7.2", "pc", {"net0": (("disable-legacy",), ())}, "net0", "net0 transitional (no disable-legacy), source modern-only"),
    ("blk-num-queues-1", "qemu72-pc", "7.2", "pc", {"blk0": (("num-queues",), ("num-queues=1",))}, "blk0", "blk0 num-queues=1 (source 2)"),
    ("blk-num-queues-1-vectors-3", "qemu72-pc", "7.2", "pc", {"blk0": (("num-queues",), ("num-queues=1", "vectors=3"))}, "blk0", "blk0 num-queues=1 vectors=3 (source 2 queues, 3 vectors)"),
    ("net-rx-queue-512", "qemu72-pc", "7.2", "pc", {"net0": ((), ("rx_queue_size=512",))}, "net0", "net0 rx_queue_size=512 (source 256)"),
    ("older-machine", "qemu72-pc", "7.2", "pc-i440fx-7.1", {}, "net0", "older machine type pc-i440fx-7.1"),
    ("qemu10-identical", "qemu72-pc", "10.0", "pc-i440fx-7.2", {}, "net0", "QEMU 10.0 target on pc-i440fx-7.2, identical devices"),
    ("qemu10-net-event-idx-off", "qemu72-pc", "10.0", "pc-i440fx-7.2", {"net0": ((), ("event_idx=off",))}, "net0", "QEMU 10.0 target, net0 event_idx=off"),
    ("qemu10-net-transitional", "qemu72-pc", "10.0", "pc-i440fx-7.2", {"net0": (("disable-legacy",), ())}, "net0", "QEMU 10.0 target, net0 transitional"),
    ("qemu10-source-identical", "qemu10-pc-i440fx-7.2", "7.2", "pc", {}, "net0", "QEMU 10.0 source on pc-i440fx-7.2 -> QEMU 7.2 identical target"),
    ("transitional-source-identical", "qemu72-pc-transitional", "7.2", "pc", {"net0": (("disable-legacy",), ()), "net1": (("disable-legacy",), ()), "blk0": (("disable-legacy",), ())}, "net0", "transitional source -> identical transitional target"),
    ("transitional-source-modern-target", "qemu72-pc-transitional", "7.2", "pc", {"net1": (("disable-legacy",), ()), "blk0": (("disable-legacy",), ())}, "net0", "transitional source -> net0 modern-only (disable-legacy=on) target"),
    ("qemu10-source-mrg-rxbuf-off", "qemu10-pc-i440fx-7.2", "7.2", "pc", {"net0": ((), ("mrg_rxbuf=off",))}, "net0", "QEMU 10.0 source on pc-i440fx-7.2 -> QEMU 7.2 target, net0 mrg_rxbuf=off"),
]


def devrec(args, out_file=None):
    cmd = [shutil.which("node") or "node", os.path.join(REPO, "bin", "devrec")] + args
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    return r.returncode, r.stdout, r.stderr


def run_case(case, stream, out, kernel, initrd):
    name, _src, flavor, machine, edits, device, what = case
    cdir = os.path.join(out, name)
    shutil.rmtree(cdir, ignore_errors=True)
    os.makedirs(cdir)
    devices = dict(BASE_DEVICES)
    for dev, (remove, add) in edits.items():
        devices[dev] = edit_device(devices[dev], remove, add)
    args = vm_args(flavor, machine, cdir, devices, kernel, initrd, "null") + ["-incoming", "defer"]
    stderr_path = os.path.join(cdir, "qemu-stderr.txt")
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    res = {"case": name, "what": what, "targetQemu": flavor, "targetMachine": machine, "device": device,
           "targetDevices": [devices[d] for d in ("net0", "net1", "blk0")]}
    try:
        sock = os.path.join(cdir, "qmp.sock")
        for _ in range(600):
            if os.path.exists(sock) or proc.poll() is not None:
                break
            time.sleep(0.1)
        if proc.poll() is not None:
            res["error"] = f"target QEMU exited at start: {open(stderr_path).read().strip()}"
            return res
        # devrec: profile over QMP, then check
        code, o, e = devrec(["profile", "--qmp", f"unix:{sock}", "--device", device, "-o", os.path.join(cdir, "profile.json"),
                             "--save-qmp", os.path.join(cdir, "answers.json")])
        res["profileExit"] = code
        if code != 0:
            res["error"] = f"devrec profile failed: {e.strip()}"
            return res
        code, o, e = devrec(["check", stream, "--target", os.path.join(cdir, "profile.json")])
        res["devrec"] = {"exit": code, "output": o, "stderr": e}
        # QEMU: the real migration
        q = Qmp(sock)
        t0 = time.monotonic()
        q.cmd("migrate-incoming", uri="exec:cat " + shlex.quote(stream))
        status = None
        while time.monotonic() - t0 < 300:
            if proc.poll() is not None:
                status = f"exited ({proc.returncode})"
                break
            try:
                status = q.cmd("query-migrate").get("status")
            except Exception as ex:  # QEMU exits on a failed incoming migration
                status = f"qmp gone: {ex}"
                proc.wait(30)
                break
            if status in ("completed", "failed"):
                break
            time.sleep(0.2)
        res["qemuSeconds"] = round(time.monotonic() - t0, 2)
        try:
            q.close()
        except Exception:
            pass
    finally:
        kill(proc)
    try:
        os.remove(os.path.join(cdir, "disk.img"))
    except FileNotFoundError:
        pass
    lines = [l for l in open(stderr_path).read().splitlines() if l.strip()]
    res["qemu"] = {"status": status, "exit": proc.returncode, "stderr": lines}
    res["qemuAccepted"] = status == "completed"
    return res


NOISE = ("warning: hub 0 is not connected to host network", "terminating on signal")


def qemu_lines(r):
    """QEMU's stderr lines about the migration (without the hub warning and the SIGTERM note at the end)."""
    return [l for l in r.get("qemu", {}).get("stderr", []) if not any(n in l for n in NOISE)]


def export_fixtures(out, results, fdir):
    """The small files unit tests use without QEMU: per case the target's QMP answers and QEMU's lines, and per
    source its device-state stream (same VM moment as the full stream) and machine type."""
    os.makedirs(os.path.join(fdir, "sources"), exist_ok=True)
    cases = []
    for r in results:
        if "skipped" in r or "error" in r:
            continue
        shutil.copy(os.path.join(out, r["case"], "answers.json"), os.path.join(fdir, r["case"] + ".answers.json"))
        cases.append({k: r[k] for k in ("case", "what", "source", "targetQemu", "targetMachine", "device", "targetDevices", "qemuAccepted")}
                     | {"qemuStderr": qemu_lines(r), "devrecExit": r["devrec"]["exit"]})
        for ext in (".devstate.bin.gz", ".json"):
            src = os.path.join(out, "streams", r["source"] + ext)
            if os.path.exists(src):
                shutil.copy(src, os.path.join(fdir, "sources", r["source"] + ext))
    with open(os.path.join(fdir, "cases.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--only", default="")
    ap.add_argument("--keep-streams", action="store_true")
    ap.add_argument("--fixtures", help="also write the unit-test fixtures (test/fixtures/real-peer) here")
    ap.add_argument("--boot-timeout", type=int, default=int(os.environ.get("BOOT_TIMEOUT", "400")))
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    kernel, initrd = guest_files()
    only = set(filter(None, a.only.split(",")))
    cases = [c for c in CASES if not only or c[0] in only]
    results = []
    prev = os.path.join(out, "results.json")
    if only and os.path.exists(prev):  # a partial re-run keeps the other cases' results
        results = [r for r in json.load(open(prev))["results"] if r["case"] not in only]
    for c in cases:
        src = c[1]
        if not have_flavor(c[2]) or not have_flavor(SOURCES[src][0]):
            results.append({"case": c[0], "what": c[6], "skipped": "QEMU 10.0 not installed (scripts/debian13/setup.sh)"})
            continue
        stream = make_source(src, out, kernel, initrd, a.boot_timeout)
        log(f"case {c[0]}: {c[6]}")
        r = run_case(c, stream, out, kernel, initrd)
        r["source"] = src
        r["sourceWhat"] = SOURCES[src][2]
        results.append(r)
        q = r.get("qemu", {})
        log(f"case {c[0]}: QEMU {q.get('status')}, devrec exit {r.get('devrec', {}).get('exit')} {r.get('error', '')}")
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump({"results": results}, f, indent=1)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"results": results}, f, indent=1)
    if a.fixtures:
        export_fixtures(out, results, os.path.abspath(a.fixtures))
    agree = [r for r in results if "qemu" in r and (r["devrec"]["exit"] == 2) == (not r["qemuAccepted"])]
    ran = [r for r in results if "qemu" in r]
    log(f"{len(ran)} cases ran, {len([r for r in ran if not r['qemuAccepted']])} refused by QEMU, devrec agreed on {len(agree)}")
    if not a.keep_streams:
        for f in glob.glob(os.path.join(out, "streams", "*.bin")):
            os.remove(f)


if __name__ == "__main__":
    main()
