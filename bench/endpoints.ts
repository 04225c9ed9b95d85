// npx tsx bench/endpoints.ts [--runs N] [--parallel N]: live migration over TCP on 127.0.0.1 (bench only; writes
// no file). Devices are the three of the committed QEMU capture streams/qemu/pc-modern-net-blk, imported again
// under prefixes as many times as needed; source and target are embedded file stores in temp directories (every
// VFIO arc and the target's import are durable appends, one fdatasync each). Prints a markdown table.
//   downtime: the STOP_COPY arc (device stopped) to the target's ACK (state applied and durable on the target)
//   total:    connect to the completion annotation, per device
//   wall:     first connect to the last completion, for the whole batch
// Numbers are what this machine did in this run; nothing is assumed.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { type MigrateResult, migrateDevice } from '../src/endpoints/source.js';
import { startTarget } from '../src/endpoints/target.js';
import { importQemuTrace } from '../src/sources/import-trace.js';
import { FileEventStore } from '../src/store/file-store.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) || dflt : dflt;
};
const RUNS = opt('--runs', 5);
const PARALLEL = opt('--parallel', 100);
const TRACE = 'streams/qemu/pc-modern-net-blk/trace.log.gz';

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length - 1) * p))]!;
const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'devrec-bench-ep-'));
  dirs.push(d);
  return d;
};

async function sourceWith(count: number): Promise<{ store: FileEventStore; devices: string[] }> {
  const store = await FileEventStore.open(tmp());
  const devices: string[] = [];
  for (let i = 0; devices.length < count; i++) {
    const s = await importQemuTrace(store, TRACE, { prefix: `vm${i}/` });
    devices.push(...s.devices.map((d) => d.id));
  }
  return { store, devices: devices.slice(0, count) };
}

interface Row { name: string; n: number; results: MigrateResult[]; wallMs: number }

async function batch(name: string, n: number): Promise<Row> {
  const { store: src, devices } = await sourceWith(n);
  const dst = await FileEventStore.open(tmp());
  // the target's default cap on sessions in flight (16) would refuse a parallel batch: this bench sizes it to the batch
  const target = await startTarget({ store: dst, port: 0, host: '127.0.0.1', maxConnections: n + 16, maxSessions: n });
  try {
    const t0 = performance.now();
    const results = await Promise.all(devices.map((device) => migrateDevice({ store: src, device, to: { host: '127.0.0.1', port: target.port } })));
    return { name, n, results, wallMs: performance.now() - t0 };
  } finally {
    await target.close();
    await src.close();
    await dst.close();
  }
}

const rows: Row[] = [];
try {
  // one device at a time, RUNS times (fresh stores each time)
  const singles: MigrateResult[] = [];
  let singleWall = 0;
  for (let i = 0; i < RUNS; i++) {
    const r = await batch('1 device', 1);
    singles.push(...r.results);
    singleWall += r.wallMs;
  }
  rows.push({ name: `1 device (x${RUNS} runs)`, n: 1, results: singles, wallMs: singleWall / RUNS });
  rows.push(await batch(`${PARALLEL} devices in parallel`, PARALLEL));
} finally {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

console.log(`devrec live migration over TCP, 127.0.0.1, file stores on ${tmpdir()} (${cpus()[0]?.model ?? '?'} x${cpus().length}, Node ${process.version})\n`);
console.log('| case | devices | downtime p50 ms | downtime p95 ms | downtime max ms | total p50 ms | total max ms | wall ms | bytes sent / device | precopy rounds |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const down = r.results.map((x) => x.downtimeMs);
  const total = r.results.map((x) => x.totalMs);
  const bytes = r.results.map((x) => x.bytesSent);
  console.log(`| ${r.name} | ${r.n} | ${ms(pct(down, 0.5))} | ${ms(pct(down, 0.95))} | ${ms(Math.max(...down))} | ${ms(pct(total, 0.5))} | ${ms(Math.max(...total))} | ${ms(r.wallMs)} | ` +
    `${Math.min(...bytes)}-${Math.max(...bytes)} | ${Math.max(...r.results.map((x) => x.rounds))} |`);
}
