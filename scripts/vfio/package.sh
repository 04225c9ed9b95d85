#!/usr/bin/env bash
# package.sh WORK OUTDIR T1: turns a finished capture's work dir (scripts/vfio/capture.sh) into OUTDIR's files.
# WORK holds run.json (what ran), qmp-outer.json (outer QMP view), nested.tar.gz (the outer guest's dump) and
# console.log. Separate from capture.sh so that a run whose control line needed help can be packaged the same way.
set -euo pipefail
PROG=${0##*/}
die() { echo "$PROG: error: $*" >&2; exit 1; }
[ $# -eq 3 ] || die "usage: $PROG WORK OUTDIR T1"
WORK=$1; OUTDIR=$2; T1=$3
for f in run.json qmp-outer.json nested.tar.gz console.log; do [ -s "$WORK/$f" ] || die "$WORK/$f is missing or empty"; done
mkdir -p "$OUTDIR" "$WORK/nested"
tar -xzf "$WORK/nested.tar.gz" -C "$WORK/nested" || die "the nested dump did not unpack"
[ -s "$WORK/nested/vfio-trace.log" ] || die "the nested QEMU's trace is empty"
grep -q '^DEVREC-VIEW ' "$WORK/nested/inner.log" || die "the inner guest printed no DEVREC-VIEW line"
gzip -9 -n -c "$WORK/nested/vfio-trace.log" > "$OUTDIR/trace.log.gz"
cp "$WORK/qmp-outer.json" "$OUTDIR/qmp.json"
cp "$WORK/nested/nested.err" "$OUTDIR/nested-stderr.txt"
# the console with the terminal control sequences SeaBIOS prints removed
sed -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/\x1bc//g' -e 's/\r//g' "$WORK/console.log" > "$OUTDIR/console.log"
python3 - "$WORK" "$OUTDIR" "$T1" <<'PY'
import json, shlex, sys
work, out, t1 = sys.argv[1], sys.argv[2], int(sys.argv[3])
run = json.load(open(f"{work}/run.json"))
answers = [json.loads(l) for l in open(f"{work}/nested/nested-qmp.jsonl") if l.startswith("{")]
with open(f"{out}/nested-qmp.json", "w") as f:
    json.dump(answers, f, indent=1)
    f.write("\n")
lines = []
for l in open(f"{work}/nested/inner.log", errors="replace"):
    if l.startswith("DEVREC-VIEW "):
        parts = l.split()
        kv = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
        lines.append(f"# inner guest: /sys/bus/virtio/devices/{parts[1]}, read after the workload, before DEVREC-INNER-READY")
        lines += [f"device: {parts[1]}", f"features: {kv['features']}", f"status: {kv['status']}",
                  f"device-id: {kv['device']}", f"vendor: {kv['vendor']}", f"driver: {kv.get('driver', '')}"]
with open(f"{out}/sysfs-features.txt", "w") as f:
    f.write("\n".join(lines) + "\n")
v = run["variant"]
manifest = {
    "variant": v, "description": run["description"],
    "command": " ".join([f"{k}={shlex.quote(x)}" for k, x in run.get("env", {}).items()] + [f"scripts/vfio/capture.sh {v} streams/vfio/{v}"]),
    "hostQemu": run["hostQemu"], "nestedQemu": run["nestedQemu"], "kernel": run["kernel"],
    "outerCommand": run["outerCommand"], "outerAppend": run["outerAppend"],
    "nestedCommand": ["qemu-system-x86_64", "-accel", "tcg", "-M", "pc", "-m", "160", "-cpu", "qemu64", "-nodefaults", "-nographic",
                      "-no-reboot", "-kernel", "vmlinuz", "-initrd", "inner.gz", "-append", run["innerAppend"],
                      "-device", run["nestedDevice"], "-trace", "events=trace-events", "-D", "vfio-trace.log"],
    "passthrough": {"bdf": run["bdf"], "ids": run["ids"]},
    "traceEvents": run["traceEvents"],
    "viewsTakenAt": "the inner guest idles after its workload (DEVREC-INNER-READY); its sysfs view is read just before; the outer VM is stopped for the outer QMP queries; the nested QEMU is then quit over QMP, so the trace ends at that same point (no inner shutdown, no reset)",
    "seconds": t1 - int(run["t0"]),
}
with open(f"{out}/manifest.json", "w") as f:
    json.dump(manifest, f, indent=1)
    f.write("\n")
PY
