// npx tsx bench/migration.ts [--runs N]: export and import time per device and stream size, for the simulated
// virtio-net-pci device recorded on the embedded file store at several lengths. Prints a markdown table.
//   first export: projector replays the whole stream (cold; it leaves snapshots behind), encodes, and records
//                 the 4 VFIO arcs (4 durable appends, one fdatasync each)
//   export: the same revision again (projection from the nearest snapshot + encode + 4 durable appends)
//   encode: DeviceState -> stream bytes only (CPU)
//   parse: bytes -> DeviceState (framing, integrity, device parts, devrec records; CPU)
//   import stream: parse + the target's VFIO arcs + snapshot event, one durable append to a new file store
// Numbers are what this machine did in this run; nothing is assumed.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { exportDevice, type ExportFormat } from '../src/migration/exporter.js';
import { importStream, parseMigrationStream } from '../src/migration/importer.js';
import { encodeChunks } from '../src/migration/encode.js';
import { wrapQemuVfio } from '../src/migration/qemu-vfio.js';
import { Projector } from '../src/project/projector.js';
import { netLifecycle } from '../src/sim/net-lifecycle.js';
import { FileEventStore } from '../src/store/file-store.js';

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf('--runs') + 1] ?? 5) || 5;
const DEVICE = 'virtio-net-pci@00:02.0';
const ROUNDS = [10, 1_000, 10_000, 100_000];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
const us = (x: number) => (x * 1000).toFixed(0);
const ms = (x: number) => (x < 1 ? x.toFixed(3) : x < 10 ? x.toFixed(2) : x.toFixed(1));

const rows: string[] = [];
const dirs: string[] = [];
try {
  for (const rounds of ROUNDS) {
    const dir = mkdtempSync(path.join(tmpdir(), 'devrec-bench-mig-'));
    dirs.push(dir);
    const store = await FileEventStore.open(path.join(dir, 'src'));
    const events = [...netLifecycle({ trafficRounds: rounds })].map((s) => s.event);
    for (let i = 0; i < events.length; i += 8192) await store.append(DEVICE, events.slice(i, i + 8192));
    const at = (await store.head(DEVICE));
    // The first export replays the whole stream (cold projection) and leaves projector snapshots behind.
    const cold = await time(() => exportDevice(store, DEVICE, { at }));
    const state = await new Projector(store).stateAt(DEVICE, at);
    for (const format of ['devrec', 'qemu-vfio'] as ExportFormat[]) {
      let bytes: Uint8Array = new Uint8Array(0);
      const exp: number[] = [];
      const enc: number[] = [];
      const parse: number[] = [];
      const imp: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        exp.push(await time(async () => (bytes = (await exportDevice(store, DEVICE, { at, format })).bytes)));
        enc.push(await time(() => {
          for (let k = 0; k < 100; k++) {
            const c = encodeChunks(state, { vfioFlags: 7, exportedAtNs: 1n });
            if (format === 'qemu-vfio') wrapQemuVfio(c.precopy, c.stopCopy, state.pci?.config ?? new Uint8Array(0));
          }
        }) / 100);
        parse.push(await time(() => {
          for (let k = 0; k < 100; k++) parseMigrationStream(bytes);
        }) / 100);
        const target = await FileEventStore.open(path.join(dir, `dst-${format}-${r}`));
        imp.push(await time(() => importStream(target, bytes)));
        await target.close();
      }
      rows.push(`| ${events.length.toLocaleString('en-US')} | ${format} | ${bytes.length} | ${format === 'devrec' ? ms(cold) : ''} | ${ms(median(exp))} | ${us(median(enc))} | ${us(median(parse))} | ${ms(median(imp))} |`);
    }
    await store.close();
  }
} finally {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

console.log(`Migration stream benchmark (${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; median of ${RUNS} runs; ms)\n`);
console.log('| events in stream | format | stream bytes | first export, ms (cold replay) | export, ms | encode, µs | parse, µs | import stream, ms |');
console.log('|---:|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
