// npx tsx bench/trace-import.ts: QEMU trace import alone (no other work in the process), over the committed
// pc-modern-net-blk capture repeated 300 times, six rounds alternating the importer as it is and as it was before issue 13; prints lines/s per round.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { QemuTraceImporter } from '../src/sources/qemu-trace.js';
import { QemuTraceImporter as Before } from './baseline/qemu-trace-before-issue13.js';

const lines = gunzipSync(readFileSync(path.resolve('streams/qemu/pc-modern-net-blk/trace.log.gz'))).toString('utf8').split('\n');
for (let round = 1; round <= 6; round++) {
  let events = 0;
  // odd rounds: the importer as it is; even rounds: as it was before issue 13 (same lines, same process)
  const which = round % 2 ? 'now' : 'before issue 13';
  const importer = round % 2 ? new QemuTraceImporter('bench', async (_d, evs) => void (events += evs.length)) : new Before('bench', async (_d, evs) => void (events += evs.length));
  const t = performance.now();
  let n = 0;
  for (let r = 0; r < 300; r++) {
    for (const l of lines) {
      const p = importer.line(l);
      if (p) await p;
      n++;
    }
  }
  await importer.finish();
  const ms = performance.now() - t;
  console.log(`round ${round} (${which}): ${n.toLocaleString('en-US')} lines in ${ms.toFixed(0)} ms = ${Math.round(n / (ms / 1000)).toLocaleString('en-US')} lines/s, ${events.toLocaleString('en-US')} events`);
}
// the new attribution alone: virtio-mmio tied from virtio_mmio_* lines and vdev pointers (a stamped trace, so the
// pid@sec.usec prefix is cut on every line); the importer before issue 13 tied no device in it
const mmioLines = gunzipSync(readFileSync(path.resolve('streams/qemu/microvm-mmio-modern-noops/trace.log.gz'))).toString('utf8').split('\n');
for (let round = 1; round <= 3; round++) {
  let events = 0;
  const importer = new QemuTraceImporter('bench-mmio', async (_d, evs) => void (events += evs.length));
  const t = performance.now();
  let n = 0;
  for (let r = 0; r < 400; r++) {
    for (const l of mmioLines) {
      const p = importer.line(l);
      if (p) await p;
      n++;
    }
  }
  await importer.finish();
  const ms = performance.now() - t;
  console.log(`mmio round ${round} (now, virtio_mmio_* alone): ${n.toLocaleString('en-US')} lines in ${ms.toFixed(0)} ms = ${Math.round(n / (ms / 1000)).toLocaleString('en-US')} lines/s, ${events.toLocaleString('en-US')} events`);
}
console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end (2 cores)`);

