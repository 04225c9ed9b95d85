// More fuzz targets for `npm run fuzz` (issue 15): NDJSON events, devrec migration streams, profiles and store
// segment files, all in process. Each case must parse or fail with the parser's own error naming where (a line, an
// offset or a field): anything else (TypeError, RangeError, a hang, an error without a location) is a failure.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FieldError, eventFromJson, eventToJson } from '../src/events/json.js';
import { MigrationFormatError } from '../src/migration/format.js';
import { exportDevice } from '../src/migration/exporter.js';
import { parseMigrationStream } from '../src/migration/importer.js';
import { deriveProfile, parseProfile, profileToJson, ProfileError } from '../src/compat/profile.js';
import { Projector } from '../src/project/projector.js';
import { importQemuTrace } from '../src/sources/import-trace.js';
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
    const lines: string[] = [];
    for await (const e of mem.read(s.stream, { maxCount: 400 })) lines.push(JSON.stringify(eventToJson(e.event)));
    ndjson.push(lines.join('\n'));
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
  return [
    {
      name: 'ndjson',
      corpus: m.ndjson.map(enc),
      run(input) {
        let line = 0;
        for (const text of dec(input).split('\n')) {
          line++;
          if (text.trim() === '') continue;
          let obj: unknown;
          try {
            obj = JSON.parse(text);
          } catch {
            throw new LocatedError(`line ${line}: not JSON`);
          }
          try {
            eventFromJson(obj);
          } catch (e) {
            if (e instanceof FieldError) throw new LocatedError(`line ${line}: ${e.message}`);
            throw e;
          }
        }
      },
      located: (e) => e instanceof LocatedError,
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
      located: (e) => e instanceof ProfileError && /fuzz\.json/.test((e as Error).message),
    },
    {
      name: 'segment',
      corpus: segments,
      async run(input) {
        rmSync(work, { recursive: true, force: true });
        mkdirSync(work);
        writeFileSync(path.join(work, 'seg-00000000000000000000.log'), input);
        const report = await verifyFileStore(work);
        const s = await FileEventStore.open(work, { readOnly: true }).catch((e) => {
          if (e instanceof StoreCorruptError) throw e;
          throw e;
        });
        try {
          for await (const e of s.readAll()) void e;
        } finally {
          await s.close();
        }
        if (report.problems.some((p) => !Number.isInteger(p.offset))) throw new Error('verify problem without an offset');
      },
      located: (e) => e instanceof StoreCorruptError && Number.isInteger(e.offset),
    },
  ];
}

export class LocatedError extends Error {}

export function cleanupMore(): void {
  rmSync(path.join(tmpdir(), `devrec-fuzz-seg-${process.pid}`), { recursive: true, force: true });
  rmSync(path.join(tmpdir(), `devrec-fuzz-store-${process.pid}`), { recursive: true, force: true });
}

export { int };
