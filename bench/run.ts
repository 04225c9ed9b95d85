// npm run bench [-- --events N --big N --quick]: builds (tsc) and runs this file compiled, as a library user runs
// devrec, measuring the embedded store and the projector; writes bench/RESULTS.md. Baselines run in the same process on the same events:
//   - an append-only file (appendFileSync + fdatasync per batch) and lmdb (a well-kept embedded KV store, one durable
//     transaction per batch), both given the same encoded bytes devrec writes, and both encoding with devrec's codec;
//   - the CLI as whole processes beside `node -e 0` and a process that only reads the file (bench/cli.ts).
// Numbers are what this machine did in this run; nothing is assumed.
import { closeSync, existsSync, fdatasyncSync, mkdtempSync, openSync, rmSync, appendFileSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg, totalmem } from 'node:os';
import path from 'node:path';
import { open as openLmdb } from 'lmdb';
import { encodeEvent } from '../src/events/codec.js';
import { EventBatchWriter, decodeBatch, fastEncodeEvent } from '../src/events/fast-codec.js';
import { eventToJson } from '../src/events/json.js';
import type { NewEvent } from '../src/events/types.js';
import { Projector } from '../src/project/projector.js';
import { Recorder } from '../src/record/recorder.js';
import { netLifecycle } from '../src/sim/net-lifecycle.js';
import { FileEventStore } from '../src/store/file-store.js';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** The heading above the sections other bench commands wrote into bench/RESULTS.md (kept as they are). */
const OTHER_BENCHMARKS = '## Other benchmarks';
import { QemuTraceImporter } from '../src/sources/qemu-trace.js';
import { QemuTraceImporter as TraceImporterBeforeIssue13 } from './baseline/qemu-trace-before-issue13.js';
import { Linter } from '../src/project/rules/lint.js';
import { cliBench } from './cli.js';
import { applyInPlace } from '../src/project/reducer.js';
import { initialState } from '../src/project/state.js';
import { scanStream } from '../src/store/types.js';
import { applyInPlace as applyInPlaceBefore } from './baseline/reducer-before-issue12.js';
import { initialState as initialStateBefore } from './baseline/state-before-issue12.js';
import { EventBatchWriter as EventBatchWriterBefore, decodeBatch as decodeBatchBefore } from './baseline/fast-codec-before-issue12.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const quick = args.includes('--quick');
const N = arg('--events', quick ? 200_000 : 2_000_000);
const BIG = arg('--big', quick ? 1_000_000 : 10_000_000);
const BATCH = 8192;
const DEVICE = 'virtio-net-pci@00:02.0';

const lines: string[] = [];
const log = (s: string) => {
  console.log(s);
  lines.push(s);
};
const rate = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')} ev/s`;
const mib = (b: number) => `${(b / 1048576).toFixed(0)} MiB`;

/** The workload: a real lifecycle whose bulk is queue index traffic, the commonest event of a running device. */
function* workload(n: number): Generator<NewEvent> {
  let produced = 0;
  let base = 0n;
  while (produced < n) {
    for (const { event } of netLifecycle({ trafficRounds: 5000, startNs: 1_790_000_000_000_000_000n + base })) {
      if (produced++ >= n) return;
      yield event;
    }
    base += 100_000_000_000n;
  }
}

function batches(n: number): NewEvent[][] {
  const out: NewEvent[][] = [];
  let cur: NewEvent[] = [];
  for (const e of workload(n)) {
    cur.push(e);
    if (cur.length === BATCH) out.push(cur), (cur = []);
  }
  if (cur.length) out.push(cur);
  return out;
}

function time<T>(fn: () => T): [T, number] {
  const t = performance.now();
  const r = fn();
  return [r, performance.now() - t];
}
async function timeAsync<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, performance.now() - t];
}

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(process.env['DEVREC_BENCH_DIR'] ?? tmpdir(), 'devrec-bench-'));
  log(`# devrec benchmarks`);
  log('');
  log(`Command: \`npm run bench${args.length ? ' -- ' + args.join(' ') : ''}\` (npm run build: tsc and the CLI bundle bin/devrec runs; then node --expose-gc dist/bench/run.js)  `);
  log(`Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${mib(totalmem())} RAM, Node ${process.version}, ${new Date().toISOString()}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the start  `);
  log(`Workload: a simulated virtio-net lifecycle (sim/net-lifecycle.ts), mostly queue index events; batches of ${BATCH}, fdatasync per batch.`);
  log('');
  // first, while the machine is as it was when the run started: whole processes, each beside its baseline
  await cliBench(log, quick);
  if (args.includes('--cli-only')) return;
  let work = batches(N);

  // --- durable record ---------------------------------------------------------------------------------------
  // Fair baselines: every writer gets the same bytes. Each event is encoded once, up front, with devrec's fast codec
  // (the bytes the file store writes); the storage-only rows write those bytes, the encoding-included rows encode
  // inside their timed loop with that same codec. lmdb gets a compact key (the revision as a uint32).
  log(`## Durable record, ${N.toLocaleString('en-US')} events, batches of ${BATCH}, fdatasync (or a durable transaction) per batch`);
  log('');
  let perEvent: Uint8Array[][] = [];
  {
    let rev = 0;
    for (const b of work) perEvent.push(b.map((e) => fastEncodeEvent(e, rev++)));
  }
  // timed on a second pass, with the codec already compiled (as it is for every writer below)
  const [, encodeMs] = time(() => {
    let rev = 0;
    for (const b of work) for (const e of b) fastEncodeEvent(e, rev++);
  });
  const [, refEncodeMs] = time(() => {
    let rev = 0;
    for (const b of work) for (const e of b) encodeEvent(e, rev++);
  });
  let framed = perEvent.map((b) => {
    const total = b.reduce((n, x) => n + 4 + x.length, 0);
    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    let at = 0;
    for (const x of b) {
      dv.setUint32(at, x.length, true);
      out.set(x, at + 4);
      at += 4 + x.length;
    }
    return out;
  });
  const bytes = framed.reduce((n, b) => n + b.length, 0);
  const fileWriter = (name: string, encode: boolean, Writer: typeof EventBatchWriter = EventBatchWriter) => {
    const file = path.join(root, name);
    writeFileSync(file, '');
    return time(() => {
      const fd = openSync(file, 'a');
      const w = new Writer(1 << 16); // one writer for every batch, as the file store keeps one
      let rev = 0;
      for (let i = 0; i < work.length; i++) {
        if (encode) {
          for (const e of work[i]!) w.add(e, rev++);
          appendFileSync(fd, w.finish());
          w.reset();
        } else appendFileSync(fd, framed[i]!);
        fdatasyncSync(fd);
      }
      closeSync(fd);
    })[1];
  };
  const lmdbWriter = async (name: string, encode: boolean) => {
    const db = openLmdb({ path: path.join(root, name), encoding: 'binary', keyEncoding: 'uint32' });
    const [, ms] = await timeAsync(async () => {
      let rev = 0;
      for (let i = 0; i < work.length; i++) {
        const b = work[i]!;
        const pre = perEvent[i]!;
        await db.transaction(() => {
          for (let j = 0; j < b.length; j++) {
            const r = rev++;
            db.put(r, encode ? fastEncodeEvent(b[j]!, r) : pre[j]!);
          }
        });
      }
    });
    await db.close();
    return ms;
  };
  // every writer runs twice (fresh files), the better run counts: a busy machine only ever slows a run
  const fileRawMs = Math.min(fileWriter('raw-pre.bin', false), fileWriter('raw-pre2.bin', false));
  const lmdbRawMs = Math.min(await lmdbWriter('lmdb-pre', false), await lmdbWriter('lmdb-pre2', false));
  const fileEncMs = Math.min(fileWriter('raw-enc.bin', true), fileWriter('raw-enc2.bin', true));
  // issue 12 (state v2): the record path's encoding before (the codec compiled at load time, bench/baseline) and
  // now (generated at build time), same events, same writer loop, alternating, best of 4 each. The two write the
  // same bytes (checked here on the first batch), so only the time differs.
  {
    const a = new EventBatchWriterBefore(1 << 16);
    const b = new EventBatchWriter(1 << 16);
    work[0]!.forEach((e, i) => (a.add(e, i), b.add(e, i)));
    if (Buffer.compare(Buffer.from(a.finish()), Buffer.from(b.finish())) !== 0) throw new Error('the codec before issue 12 writes other bytes than today\'s: the record comparison would not be fair');
  }
  const recordBefore: number[] = [];
  const recordAfter: number[] = [];
  // which one goes first changes every round (the second of a pair runs on a warmer JIT and page cache)
  for (let i = 0; i < 4; i++) {
    const before = () => recordBefore.push(fileWriter(`rec-before-${i}.bin`, true, EventBatchWriterBefore as unknown as typeof EventBatchWriter));
    const after = () => recordAfter.push(fileWriter(`rec-after-${i}.bin`, true));
    if (i % 2 === 0) (before(), after());
    else (after(), before());
  }
  const lmdbEncMs = Math.min(await lmdbWriter('lmdb-enc', true), await lmdbWriter('lmdb-enc2', true));
  const ndjsonFile = path.join(root, 'baseline.ndjson');
  writeFileSync(ndjsonFile, '');
  const [, ndjsonMs] = time(() => {
    const fd = openSync(ndjsonFile, 'a');
    let rev = 0;
    for (const b of work) {
      let text = '';
      for (const e of b) text += JSON.stringify(eventToJson({ ...e, revision: rev++ })) + '\n';
      appendFileSync(fd, text);
      fdatasyncSync(fd);
    }
    closeSync(fd);
  });
  // devrec's writers run twice as well (fresh stores), the better run counts, as for the baselines; the first
  // store is kept for the replays below
  const storeDir = path.join(root, 'devrec');
  const storeRun = async (dir: string) => {
    const store = await FileEventStore.open(dir);
    const [, ms] = await timeAsync(async () => {
      for (const b of work) await store.append(DEVICE, b);
    });
    await store.close();
    return ms;
  };
  const devrecMs = Math.min(await storeRun(storeDir), await storeRun(path.join(root, 'devrec-2')));
  rmSync(path.join(root, 'devrec-2'), { recursive: true, force: true });
  const recorderRun = async (dir: string) => {
    const recStore = await FileEventStore.open(dir);
    const [, ms] = await timeAsync(async () => {
      const rec = new Recorder(recStore, { maxBatch: BATCH });
      for (const b of work) for (const e of b) rec.record(DEVICE, e);
      await rec.close();
    });
    await recStore.close();
    rmSync(dir, { recursive: true, force: true });
    return ms;
  };
  const recorderMs = Math.min(await recorderRun(path.join(root, 'devrec-recorder')), await recorderRun(path.join(root, 'devrec-recorder-2')));
  const row = (what: string, ms: number, vsMs: number) => `| ${what} | ${ms.toFixed(0)} ms | ${rate(N, ms)} | ${(vsMs / ms).toFixed(2)}x |`;
  log(`Encoding alone: devrec fast codec ${encodeMs.toFixed(0)} ms (${rate(N, encodeMs)}); the protobufjs reference codec ${refEncodeMs.toFixed(0)} ms (${rate(N, refEncodeMs)}). ${mib(bytes)} of encoded events.`);
  log('');
  log('Storage alone: each writer is given the pre-encoded bytes.');
  log('');
  log('| writer | time | throughput | vs append-only file |');
  log('|---|---|---|---|');
  log(row('append-only file: appendFileSync + fdatasync per batch (baseline)', fileRawMs, fileRawMs));
  log(row('lmdb 3.5: one durable transaction per batch, uint32 keys', lmdbRawMs, fileRawMs));
  log('');
  log("Encoding included: each writer encodes every event with devrec's fast codec inside its timed loop (devrec's append API takes events, so the file store only has this row).");
  log('');
  log('| writer | time | throughput | vs append-only file |');
  log('|---|---|---|---|');
  log(row('append-only file (baseline)', fileEncMs, fileEncMs));
  log(row('lmdb 3.5, uint32 keys', lmdbEncMs, fileEncMs));
  log(row('devrec file store, store.append per batch', devrecMs, fileEncMs));
  log(row('devrec Recorder.record() per event + close() (batches of 8192)', recorderMs, fileEncMs));
  log(`| (the Recorder path vs store.append: ${(recorderMs / devrecMs).toFixed(2)}x the time) | | | |`);
  log(row('NDJSON: JSON text instead of the codec (what a quick recorder would write)', ndjsonMs, fileEncMs));
  log('');
  log('Record before and after issue 12 (state v2), same run, alternating (each goes first in two of four rounds), best of 4 each: encode every event + append + fdatasync per batch.');
  log('');
  log('| record path | time | throughput | vs before |');
  log('|---|---|---|---|');
  log(row('before issue 12: codec compiled at load time (bench/baseline/fast-codec-before-issue12.ts)', Math.min(...recordBefore), Math.min(...recordBefore)));
  log(row('now: codec generated at build time (src/events/generated) and the range check of every event (src/events/ranges.ts, issue 15), which the codec before did not have', Math.min(...recordAfter), Math.min(...recordBefore)));
  log('');
  // The replays below run as a reader process would: without the writers' 2M events still alive on the heap.
  work = [];
  perEvent = [];
  framed = [];
  (globalThis as { gc?: () => void }).gc?.();

  // --- replay ------------------------------------------------------------------------------------------------
  const ro = await FileEventStore.open(storeDir, { readOnly: true });
  // three full replays: the first also pays for compiling the replay path; the table shows the median
  const replays: number[] = [];
  for (let i = 0; i < 3; i++) replays.push((await timeAsync(() => new Projector(ro, { snapshotEvery: 0 }).replay(DEVICE)))[1]);
  const replayMs = [...replays].sort((a, b) => a - b)[1]!;
  // issue 12 (device state v2, unknowns): the reducer before and after on the same stream, alternating, median of 3
  const reduceBefore: number[] = [];
  const reduceAfter: number[] = [];
  for (let i = 0; i < 3; i++) {
    reduceBefore.push((await timeAsync(async () => {
      const s = initialStateBefore(DEVICE);
      await scanStream(ro, DEVICE, {}, (e) => applyInPlaceBefore(s, e));
    }))[1]);
    reduceAfter.push((await timeAsync(async () => {
      const s = initialState(DEVICE);
      await scanStream(ro, DEVICE, {}, (e) => applyInPlace(s, e));
    }))[1]);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
  // issue 12, decode included: the batches the record rows wrote, in memory, decoded with the codec before issue 12
  // and reduced with the reducer before it, against today's codec and reducer; alternating, median of 3
  const recorded = readFileSync(path.join(root, 'rec-after-0.bin'));
  const decodeBefore: number[] = [];
  const decodeAfter: number[] = [];
  for (let i = 0; i < 3; i++) {
    decodeBefore.push(time(() => {
      const s = initialStateBefore(DEVICE);
      decodeBatchBefore(recorded, 0, recorded.length, (e) => applyInPlaceBefore(s, e));
    })[1]);
    decodeAfter.push(time(() => {
      const s = initialState(DEVICE);
      decodeBatch(recorded, 0, recorded.length, (e) => applyInPlace(s, e));
    })[1]);
  }
  let readCount = 0;
  const [, readMs] = await timeAsync(async () => {
    for await (const c of ro.readChunks(DEVICE)) readCount += c.length;
  });
  await ro.close();
  log(`## Replay, ${N.toLocaleString('en-US')} events`);
  log('');
  log(`| what | time | throughput |`);
  log('|---|---|---|');
  log(`| read + decode (store.readChunks) | ${readMs.toFixed(0)} ms | ${rate(readCount, readMs)} |`);
  log(`| full replay: read + decode + reduce (Projector.replay), median of 3 (${replays.map((m) => rate(N, m)).join(', ')}) | ${replayMs.toFixed(0)} ms | ${rate(N, replayMs)} |`);
  log(`| read + decode + reduce, reducer before issue 12 (state v1, bench/baseline), median of 3 | ${med(reduceBefore).toFixed(0)} ms | ${rate(N, med(reduceBefore))} |`);
  log(`| read + decode + reduce, reducer now (state v2 with unknowns), median of 3, same run, alternating | ${med(reduceAfter).toFixed(0)} ms | ${rate(N, med(reduceAfter))} |`);
  log(`| decode + reduce from memory, before issue 12 (codec and reducer of bench/baseline), median of 3 | ${med(decodeBefore).toFixed(0)} ms | ${rate(N, med(decodeBefore))} |`);
  log(`| decode + reduce from memory, now (generated codec, state v2 reducer), median of 3, same run, alternating | ${med(decodeAfter).toFixed(0)} ms | ${rate(N, med(decodeAfter))} |`);
  log('');
  rmSync(root, { recursive: true, force: true });

  // --- state at a random revision of a big stream -----------------------------------------------------------
  const bigRoot = mkdtempSync(path.join(process.env['DEVREC_BENCH_DIR'] ?? tmpdir(), 'devrec-bench-big-'));
  const big = await FileEventStore.open(path.join(bigRoot, 'store'));
  const [, bigRecordMs] = await timeAsync(async () => {
    let cur: NewEvent[] = [];
    for (const e of workload(BIG)) {
      cur.push(e);
      if (cur.length === BATCH) await big.append(DEVICE, cur), (cur = []);
    }
    if (cur.length) await big.append(DEVICE, cur);
  });
  const projector = new Projector(big);
  const rssBefore = process.memoryUsage().rss;
  const [, firstMs] = await timeAsync(() => projector.stateAt(DEVICE));
  const rssAfter = process.memoryUsage().rss;
  const lat: number[] = [];
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < 200; i++) {
    const r = Math.floor(rnd() * BIG);
    const [, ms] = await timeAsync(() => projector.stateAt(DEVICE, r));
    lat.push(ms);
  }
  await big.close();
  lat.sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!.toFixed(2);
  log(`## State at a random revision, ${BIG.toLocaleString('en-US')}-event stream`);
  log('');
  log(`Recorded in ${(bigRecordMs / 1000).toFixed(1)} s (${rate(BIG, bigRecordMs)}). The first stateAt(head) replays everything once and leaves a snapshot every ${projector.snapshotEvery} revisions: ${(firstMs / 1000).toFixed(1)} s (${rate(BIG, firstMs)}); RSS ${mib(rssBefore)} before, ${mib(rssAfter)} after (the replay streams; memory does not grow with the log).`);
  log('');
  log(`| 200 random revisions | p50 | p95 | max |`);
  log('|---|---|---|---|');
  log(`| stateAt(revision) | ${pct(0.5)} ms | ${pct(0.95)} ms | ${lat[lat.length - 1]!.toFixed(2)} ms |`);
  log('');
  rmSync(bigRoot, { recursive: true, force: true });

  // --- QEMU trace import and lint -----------------------------------------------------------------------
  const traceLines = gunzipSync(readFileSync(path.resolve('streams/qemu/pc-modern-net-blk/trace.log.gz'))).toString('utf8').split('\n');
  const reps = quick ? 60 : 600;
  let imported = 0;
  const importer = new QemuTraceImporter('bench', async (_d, evs) => void (imported += evs.length));
  let traceReadMs = 0;
  {
    // baseline: splitting and matching the same lines with the line regex only
    const t = performance.now();
    let matched = 0;
    for (let r = 0; r < reps; r++) for (const l of traceLines) if (/^([a-z0-9_]+) /.test(l)) matched++;
    traceReadMs = performance.now() - t;
    void matched;
  }
  // the importer before issue 13 (notify-write attribution only, no per-event counts), same lines, same run
  let importedBefore = 0;
  const before = new TraceImporterBeforeIssue13('bench', async (_d, evs) => void (importedBefore += evs.length));
  const [, traceBeforeMs] = await timeAsync(async () => {
    for (let r = 0; r < reps; r++) for (const l of traceLines) {
      const p = before.line(l);
      if (p) await p;
    }
    await before.finish();
  });
  const [, traceMs] = await timeAsync(async () => {
    for (let r = 0; r < reps; r++) for (const l of traceLines) {
      const p = importer.line(l);
      if (p) await p;
    }
    await importer.finish();
  });
  const nLines = reps * traceLines.length;
  log(`## QEMU trace import, ${nLines.toLocaleString('en-US')} lines (the pc-modern-net-blk capture, ${reps} times)`);
  log('');
  log('| what | time | throughput |');
  log('|---|---|---|');
  log(`| baseline: test each line against one regex | ${traceReadMs.toFixed(0)} ms | ${Math.round(nLines / (traceReadMs / 1000)).toLocaleString('en-US')} lines/s |`);
  log(`| before issue 13: parse + map to devices + decode (${importedBefore.toLocaleString('en-US')} events out) | ${traceBeforeMs.toFixed(0)} ms | ${Math.round(nLines / (traceBeforeMs / 1000)).toLocaleString('en-US')} lines/s |`);
  log(`| now: + vdev ties, unused lines counted per event, tolerant lines, unseen ring indices, virtio_mmio_* path watched (${imported.toLocaleString('en-US')} events out) | ${traceMs.toFixed(0)} ms | ${Math.round(nLines / (traceMs / 1000)).toLocaleString('en-US')} lines/s |`);
  {
    // the new attribution itself: virtio-mmio tied from virtio_mmio_* lines and vdev pointers (no memory_region_ops)
    const mmioLines = gunzipSync(readFileSync(path.resolve('streams/qemu/microvm-mmio-modern-noops/trace.log.gz'))).toString('utf8').split('\n');
    const mmioReps = Math.max(1, Math.round(nLines / mmioLines.length));
    let mmioEvents = 0;
    const mmio = new QemuTraceImporter('bench-mmio', async (_d, evs) => void (mmioEvents += evs.length));
    const [, mmioMs] = await timeAsync(async () => {
      for (let r = 0; r < mmioReps; r++) for (const l of mmioLines) {
        const p = mmio.line(l);
        if (p) await p;
      }
      await mmio.finish();
    });
    const n = mmioReps * mmioLines.length;
    log(`| now, virtio-mmio from virtio_mmio_* lines alone (microvm-mmio-modern-noops ${mmioReps} times, ${n.toLocaleString('en-US')} lines, ${mmioEvents.toLocaleString('en-US')} events out) | ${mmioMs.toFixed(0)} ms | ${Math.round(n / (mmioMs / 1000)).toLocaleString('en-US')} lines/s |`);
  }
  const lintEvents: NewEvent[] = [];
  for (const { event } of netLifecycle({ trafficRounds: quick ? 50_000 : 250_000 })) lintEvents.push(event);
  const linter = new Linter('bench');
  const [, lintMs] = time(() => lintEvents.forEach((e, i) => linter.step({ ...e, revision: i })));
  log(`| lint (every rule on every event), ${lintEvents.length.toLocaleString('en-US')} events | ${lintMs.toFixed(0)} ms | ${rate(lintEvents.length, lintMs)} |`);
  log('');

  // --- migration stream size next to QEMU's own device state for the same device ---------------------------
  {
    const { MemoryEventStore } = await import('../src/store/memory.js');
    const { importQemuTrace } = await import('../src/sources/import-trace.js');
    const { exportDevice } = await import('../src/migration/exporter.js');
    const { inspectQemuStream } = await import('../src/sources/qemu-savevm.js');
    const cap = path.resolve('streams/qemu/pc-modern-net-blk');
    const mem = new MemoryEventStore();
    await importQemuTrace(mem, path.join(cap, 'trace.log.gz'));
    const qemu = inspectQemuStream(readFileSync(path.join(cap, 'devstate.bin.gz')));
    log('## Migration data size: devrec export vs QEMU\'s device-state section (pc-modern-net-blk capture)');
    log('');
    log('| device | devrec stream | qemu-vfio wrapped | QEMU device-state section |');
    log('|---|---|---|---|');
    for (const [id, idstr] of [['virtio-net-pci@00:02.0', '0000:00:02.0/virtio-net'], ['virtio-blk-pci@00:04.0', '0000:00:04.0/virtio-blk']] as const) {
      const [ex, exMs] = await timeAsync(() => exportDevice(mem, id, { format: 'devrec' }));
      const wrapped = await exportDevice(mem, id, { format: 'qemu-vfio' });
      const section = qemu.sections.find((x) => x.idstr === idstr);
      log(`| ${id} | ${ex.bytes.length} bytes (export ${exMs.toFixed(1)} ms) | ${wrapped.bytes.length} bytes | ${section ? section.length + ' bytes' : 'n/a'} |`);
    }
    log('');
    log('QEMU\'s section carries the PCI config space, the MSI-X table and PBA, the device vmstate (MAC table, VLAN');
    log('bitmap, in-flight requests) and its per-queue subsection arrays, sized for every queue QEMU could have;');
    log('devrec carries the virtio device parts, ring state and what it recorded of PCI config and MSI-X.');
    log('');
  }

  if (!args.includes('--no-write')) {
    // npm runs this from the repository root, compiled (dist/bench/run.js) or not
    // the sections below OTHER_BENCHMARKS come from the other bench/*.ts commands (each heading names its own):
    // this run replaces only its own part of the file
    const file = path.resolve('bench/RESULTS.md');
    const previous = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const kept = previous.indexOf(OTHER_BENCHMARKS);
    writeFileSync(file, lines.join('\n') + '\n' + (kept >= 0 ? previous.slice(kept) : ''));
    console.log('\nwrote bench/RESULTS.md');
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
