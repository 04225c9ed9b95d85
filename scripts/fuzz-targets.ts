// More fuzz targets for `npm run fuzz` (issue 15): NDJSON events, devrec migration streams, profiles and store
// segment files, all in process. Each case must parse or fail with the parser's own error naming where (a line, an
// offset or a field): anything else (TypeError, RangeError, a hang, an error without a location) is a failure.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { eventToJson } from '../src/events/json.js';
import { recordNdjson } from '../src/cli/commands/record.js';
import { CliError } from '../src/cli/common.js';
import { Recorder } from '../src/record/recorder.js';
import { readLines } from '../src/sources/bounded-input.js';
import { MigrationExportError, MigrationFormatError } from '../src/migration/format.js';
import { exportDevice } from '../src/migration/exporter.js';
import { parseMigrationStream } from '../src/migration/importer.js';
import { deriveProfile, parseProfile, profileToJson, ProfileError } from '../src/compat/profile.js';
import { Projector } from '../src/project/projector.js';
import { importQemuTrace } from '../src/sources/import-trace.js';
import { TraceEvidenceError, TraceFormatError } from '../src/sources/qemu-trace.js';
import { readQmpAnswers } from '../src/compat/qmp-profile.js';
import { QemuStreamError, importQemuState } from '../src/sources/qemu-savevm.js';
import { gunzipSync } from 'node:zlib';
import { FileEventStore } from '../src/store/file-store.js';
import { verifyFileStore } from '../src/store/file-verify.js';
import { MemoryEventStore } from '../src/store/memory.js';
import { StoreCorruptError } from '../src/store/types.js';

export type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);

export interface Target {
  name: string;
  corpus: Uint8Array[];
  /** runs one input; throws when the parser refused it */
  run(input: Uint8Array): Promise<void> | void;
  /** the parser's own refusal, with a location */
  located(err: unknown): boolean;
}

const TRACES = ['pc-modern-net-blk', 'pc-legacy-msix', 'microvm-mmio-modern'].map((v) => path.resolve('streams/qemu', v, 'trace.log.gz'));

/** Real material: the committed QEMU captures imported into a store, as NDJSON, migration streams and profiles. */
async function material(): Promise<{ ndjson: string[]; streams: Uint8Array[]; profiles: string[]; segmentDir: string }> {
  const mem = new MemoryEventStore();
  for (const [i, t] of TRACES.entries()) await importQemuTrace(mem, t, { prefix: `v${i}/` });
  const ndjson: string[] = [];
  const streams: Uint8Array[] = [];
  const profiles: string[] = [];
  const projector = new Projector(mem);
  for (const s of await mem.streams()) {
    // windows of 40 events from the start (identity, negotiation) to the end (queue traffic) of every stream
    const lines: string[] = [];
    for await (const e of mem.read(s.stream)) lines.push(JSON.stringify(eventToJson(e.event)));
    for (let at = 0; at < lines.length; at += 200) ndjson.push(lines.slice(at, at + 40).join('\n'));
    try {
      streams.push((await exportDevice(mem, s.stream)).bytes);
    } catch {
      // a device with no state to export
    }
    profiles.push(JSON.stringify(profileToJson(deriveProfile(await projector.stateAt(s.stream))), null, 2));
  }
  const segmentDir = path.join(tmpdir(), `devrec-fuzz-seg-${process.pid}`);
  rmSync(segmentDir, { recursive: true, force: true });
  const fs = await FileEventStore.open(segmentDir, { segmentBytes: 64 * 1024, sync: false });
  for await (const e of mem.readAll()) await fs.append(e.stream, [e.event]);
  await fs.close();
  return { ndjson, streams, profiles, segmentDir };
}

export async function moreTargets(): Promise<Target[]> {
  const m = await material();
  const enc = (s: string) => new TextEncoder().encode(s);
  const dec = (b: Uint8Array) => Buffer.from(b).toString('utf8');
  const segNames = readdirSync(m.segmentDir).filter((n) => n.startsWith('seg-'));
  const segments = segNames.slice(0, 4).map((n) => new Uint8Array(readFileSync(path.join(m.segmentDir, n))));
  const work = path.join(tmpdir(), `devrec-fuzz-store-${process.pid}`);
  let segmentCases = 0;
  /** a committed capture's file, decompressed */
  const capture = (v: string, name: string) => new Uint8Array(gunzipSync(readFileSync(path.join('streams/qemu', v, name))));
  /** the case's input as a file, for importers that read files */
  const inputFile = (input: Uint8Array, name: string): string => {
    mkdirSync(work, { recursive: true });
    const file = path.join(work, name);
    writeFileSync(file, input);
    return file;
  };
  const answers = new Map(WHOLE_IMPORT.map((v) => [v, readQmpAnswers(path.join('streams/qemu', v, 'qmp.json'))]));
  return [
    {
      // through `record`'s own reader into a store, then what later commands do with what was accepted: nothing
      // `record` takes may break `state`, `profile` or `export` (issue 15 items 6-9)
      name: 'ndjson',
      corpus: m.ndjson.map(enc),
      async run(input) {
        const store = new MemoryEventStore();
        const recorder = new Recorder(store, { source: 'ndjson' });
        try {
          await recordNdjson(readLines(Readable.from([Buffer.from(input)]), 'fuzz.ndjson'), 'fuzz.ndjson', 'dev', recorder, -1);
        } finally {
          await recorder.close();
        }
        if ((await store.head('dev')) < 0) return;
        const state = await new Projector(store).stateAt('dev');
        deriveProfile(state);
        try {
          await exportDevice(store, 'dev');
        } catch (e) {
          if (!(e instanceof MigrationExportError)) throw e;
        }
      },
      located: (e) => e instanceof CliError && /^fuzz\.ndjson: line \d+: /.test(e.message),
    },
    {
      name: 'migration',
      corpus: m.streams,
      run(input) {
        parseMigrationStream(input);
      },
      located: (e) => e instanceof MigrationFormatError && Number.isInteger(e.offset) && e.offset >= 0,
    },
    {
      name: 'profile',
      corpus: m.profiles.map(enc),
      run(input) {
        parseProfile(dec(input), 'fuzz.json');
      },
      located: (e) => e instanceof ProfileError && /^fuzz\.json: (line \d+, column \d+|field "(?:[^"\\]|\\.)*"): /.test((e as Error).message),
    },
    {
      name: 'segment',
      corpus: segments,
      async run(input) {
        // one directory for every case: the segment is rewritten, the rest stays empty (read-only opens write nothing)
        mkdirSync(work, { recursive: true });
        writeFileSync(path.join(work, 'seg-00000000000000000000.log'), input);
        const report = await verifyFileStore(work);
        const s = await FileEventStore.open(work, { readOnly: true });
        try {
          for await (const e of s.readAll()) void e;
        } finally {
          await s.close();
        }
        if (report.problems.some((p) => !Number.isInteger(p.offset))) throw new Error('verify problem without an offset');
        // every 4th case: the write-mode open too, which cuts a torn tail (and only that): verify is clean after it
        if (segmentCases++ % 4 === 0) {
          const w = await FileEventStore.open(work, { sync: false });
          await w.close();
          const after = await verifyFileStore(work);
          if (after.problems.length) throw new Error(`verify after a write-mode open: ${JSON.stringify(after.problems[0])}`);
        }
      },
      located: (e) => e instanceof StoreCorruptError && Number.isInteger(e.offset),
    },
    // the whole import of a trace with its VM's QMP answers, into a store: the importer, the aliases, the store's
    // codec, and on virtio_mmio_*-only traces the ring-address tie to QEMU's devices (src/sources/mmio-ring-tie.ts),
    // on whatever the damaged lines leave
    ...WHOLE_IMPORT.map((v): Target => ({
      name: `trace-import:${v}`,
      corpus: [capture(v, 'trace.log.gz')],
      async run(input) {
        await importQemuTrace(new MemoryEventStore(), inputFile(input, 'fuzz.log'), { qmpAnswers: answers.get(v)! });
      },
      located: (e) => (e instanceof TraceFormatError && Number.isInteger(e.line) && e.line >= 1) || e instanceof TraceEvidenceError,
    })),
    // the whole import of a device-state stream into a store: the savevm parser, the device parts, the events they
    // make and the store's codec (the savevm target runs the parser alone)
    ...STATE_IMPORT.map((v): Target => ({
      name: `state-import:${v}`,
      corpus: [capture(v, 'devstate.bin.gz')],
      async run(input) {
        await importQemuState(new MemoryEventStore(), inputFile(input, 'fuzz.bin'));
      },
      located: (e) => e instanceof QemuStreamError && Number.isInteger(e.offset) && e.offset >= 0,
    })),
  ];
}

/** Device-state streams the whole import is fuzzed on: QEMU 7.2 and 10.0, PCI behind root ports, mmio, mq. */
const STATE_IMPORT = ['pc-modern-net-blk', 'qemu10-q35-root-port', 'microvm-mmio-modern', 'pc-net-mq'];

/**
 * The traces the whole import is fuzzed on: the two without memory_region_ops lines (devices only their rings can
 * name) and two with time prefixes (-msg timestamp=on), one per QEMU version.
 */
const WHOLE_IMPORT = ['microvm-mmio-modern-noops', 'qemu10-microvm-mmio-legacy-noops', 'q35-root-port-usual-ts', 'qemu10-q35-root-port'];

export function cleanupMore(): void {
  rmSync(path.join(tmpdir(), `devrec-fuzz-seg-${process.pid}`), { recursive: true, force: true });
  rmSync(path.join(tmpdir(), `devrec-fuzz-store-${process.pid}`), { recursive: true, force: true });
}

export { int };
