// Seeded in-process fuzzing of devrec's parsers: `npm run fuzz -- [--seconds N] [--cases N] [--seed S] [--out DIR]
// [--only savevm,trace,ndjson,migration,profile,segment,trace-import:CAPTURE,state-import:CAPTURE]`. The long form (docs/hardening.md) runs 100k cases each.
//
// savevm (src/sources/qemu-savevm.ts): the committed device-state captures and a synthetic full migration stream,
//   mutated (byte flips, runs of random bytes, truncation, deleted / duplicated / inserted ranges, extreme be32
//   length values, splices of two inputs). Every case must decode or throw QemuStreamError with an offset inside
//   the input, within a time bound; and the same bytes pushed in random chunks through the streaming parser must
//   give the same outcome as in one piece (differential check of the unit-restart logic).
// trace (src/sources/qemu-trace.ts, when it exists): the committed trace logs, mutated line by line (characters
//   flipped, numbers replaced by extreme values, lines cut, dropped, duplicated, swapped). Every case must import or
//   throw the importer's TraceFormatError.
// ndjson, migration, profile, segment: see scripts/fuzz-targets.ts.
// Every case also has a time bound (a hang is a failure) and the run's peak RSS must stay under 512 MiB.
// Failing inputs are written to --out (default: the OS temp dir) with the seed and case number; exit 1 if any.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { QemuStreamParser } from '../src/sources/qemu-state/parser.js';
import { QemuStreamError, parseQemuStream, qemuInspectToJson } from '../src/sources/qemu-savevm.js';
import { prng as rng } from '../test/helpers/prng.js';
import { syntheticFullStream } from '../test/sources/qemu-savevm-fixtures.js';
import { cleanupMore, moreTargets, type Target } from './fuzz-targets.js';

interface Args { seconds: number; seed: number; out: string; only?: string; cases?: number }

function parseArgs(argv: string[]): Args {
  const args: Args = { seconds: 30, seed: 1, out: path.join(tmpdir(), 'devrec-fuzz') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (a === '--seconds' && v) (args.seconds = Number(v)), i++;
    else if (a === '--seed' && v) (args.seed = Number(v)), i++;
    else if (a === '--out' && v) (args.out = v), i++;
    else if (a === '--only' && v) (args.only = v), i++;
    else if (a === '--cases' && v) (args.cases = Number(v)), i++;
    else if (a === '--help' || a === '-h') {
      console.log('npm run fuzz -- [--seconds N] [--cases N] [--seed S] [--out DIR] [--only savevm|trace|ndjson|migration|profile|segment|trace-import:CAPTURE|state-import:CAPTURE]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isFinite(args.seconds) || args.seconds <= 0) throw new Error('--seconds must be a positive number');
  return args;
}

const ROOT = path.resolve('streams/qemu');
const VARIANTS = ['pc-modern-net-blk', 'pc-legacy-msix', 'pc-legacy-intx', 'pc-packed', 'microvm-mmio-legacy', 'microvm-mmio-modern'];
/** SIGINT / SIGTERM end a long run after the case in hand, with its numbers printed as usual. */
let stopped = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    stopped = true;
    console.log(`fuzz: ${sig}: stopping after the case in hand`);
  });
}
const SLOW_MS = 2000;
const HANG_MS = 30_000;
const cpuMs = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};

type Rand = () => number;
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const int = (r: Rand, n: number): number => Math.floor(r() * n);

function mutateBytes(r: Rand, input: Uint8Array, corpus: Uint8Array[]): Uint8Array {
  let b: Uint8Array = Uint8Array.from(input);
  const rounds = 1 + int(r, 3);
  for (let k = 0; k < rounds; k++) {
    if (b.length === 0) break;
    const at = int(r, b.length);
    switch (int(r, 8)) {
      case 0: // single flip
        b[at]! ^= 1 + int(r, 255);
        break;
      case 1: { // run of random bytes
        const n = Math.min(b.length - at, 1 + int(r, 16));
        for (let i = 0; i < n; i++) b[at + i] = int(r, 256);
        break;
      }
      case 2: // truncate
        b = b.slice(0, at);
        break;
      case 3: { // delete a range
        const n = 1 + int(r, 64);
        b = cat(b.subarray(0, at), b.subarray(at + n));
        break;
      }
      case 4: { // duplicate a range
        const n = 1 + int(r, 64);
        b = cat(b.subarray(0, at + n), b.subarray(at, at + n), b.subarray(at + n));
        break;
      }
      case 5: { // insert random bytes
        const ins = Array.from({ length: 1 + int(r, 8) }, () => int(r, 256));
        b = cat(b.subarray(0, at), Uint8Array.from(ins), b.subarray(at));
        break;
      }
      case 6: { // an extreme be32 (lengths, counts, ids)
        if (at + 4 <= b.length) new DataView(b.buffer).setUint32(at, [0xffffffff, 0x7fffffff, 0x80000000, 0x01000000, 0, 1, 1024, 1025][int(r, 8)]!);
        break;
      }
      default: { // splice with another input
        const other = corpus[int(r, corpus.length)]!;
        const from = int(r, other.length);
        b = cat(b.subarray(0, at), other.subarray(from, from + int(r, 4096)));
      }
    }
  }
  return b;
}

type Outcome = { ok: true; json: string } | { ok: false; error: QemuStreamError };

function whole(bytes: Uint8Array): Outcome {
  try {
    return { ok: true, json: JSON.stringify(qemuInspectToJson(parseQemuStream(bytes, { useVmdesc: false }))) };
  } catch (e) {
    if (e instanceof QemuStreamError) return { ok: false, error: e };
    throw e;
  }
}

function streamed(bytes: Uint8Array, r: Rand): Outcome {
  const p = new QemuStreamParser({});
  try {
    let off = 0;
    while (off < bytes.length) {
      const n = 1 + int(r, r() < 0.5 ? 64 : 16384);
      p.push(bytes.slice(off, off + n));
      off += n;
    }
    const res = p.finish();
    return { ok: true, json: JSON.stringify(qemuInspectToJson({ ...res, vmdescUsed: 'none' })) };
  } catch (e) {
    if (e instanceof QemuStreamError) return { ok: false, error: e };
    throw e;
  }
}

interface Stats { cases: number; ok: number; errors: number; failures: number; slowest: number }

/** A line every 10,000 cases, so a long run shows its rate while it runs. */
const progressStart = new Map<string, number>();
function progress(name: string, st: Stats): void {
  if (!progressStart.has(name)) progressStart.set(name, Date.now());
  if (st.cases % 10000 !== 0 || st.cases === 0) return;
  const s = (Date.now() - progressStart.get(name)!) / 1000;
  console.log(`  ${name}: ${st.cases} cases in ${s.toFixed(0)} s (${(st.cases / s).toFixed(0)}/s), ${st.failures} failures, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
}

function save(out: string, name: string, data: Uint8Array | string, why: string): void {
  mkdirSync(out, { recursive: true });
  const file = path.join(out, name);
  writeFileSync(file, data);
  console.error(`FAIL ${why}\n  input saved to ${file}`);
}

function fuzzSavevm(args: Args, deadline: number): Stats {
  const NAME = 'savevm';
  const corpus = [...VARIANTS.map((v) => gunzipSync(readFileSync(path.join(ROOT, v, 'devstate.bin.gz')))), syntheticFullStream(8)];
  const r = rng(args.seed);
  const st: Stats = { cases: 0, ok: 0, errors: 0, failures: 0, slowest: 0 };
  while (Date.now() < deadline && st.cases < (args.cases ?? Infinity) && !stopped) {
    const input = mutateBytes(r, corpus[int(r, corpus.length)]!, corpus);
    const t0 = performance.now();
    let a: Outcome;
    try {
      a = whole(input);
    } catch (e) {
      st.failures++;
      save(args.out, `savevm-seed${args.seed}-case${st.cases}.bin`, input, `savevm case ${st.cases}: not a QemuStreamError: ${(e as Error)?.stack ?? e}`);
      st.cases++;
      continue;
    }
    let ms = performance.now() - t0;
    if (ms > 50) {
      // re-time once: a GC pause is not the parser's doing
      const t1 = performance.now();
      whole(input);
      ms = Math.min(ms, performance.now() - t1);
    }
    st.slowest = Math.max(st.slowest, ms);
    if (ms > SLOW_MS) {
      st.failures++;
      save(args.out, `savevm-seed${args.seed}-case${st.cases}-slow.bin`, input, `savevm case ${st.cases}: took ${ms.toFixed(0)} ms`);
    }
    if (!a.ok && (a.error.offset < 0 || a.error.offset > input.length)) {
      st.failures++;
      save(args.out, `savevm-seed${args.seed}-case${st.cases}-offset.bin`, input, `savevm case ${st.cases}: error offset ${a.error.offset} outside 0..${input.length}`);
    }
    if (a.ok) st.ok++;
    else st.errors++;
    // differential: streaming in random chunks gives the same outcome (every 4th case, it costs more)
    if (st.cases % 4 === 0) {
      let b: Outcome;
      try {
        b = streamed(input, r);
      } catch (e) {
        b = { ok: false, error: new QemuStreamError(-1, `not a QemuStreamError: ${(e as Error)?.stack ?? e}`) };
      }
      if (a.ok !== b.ok || (a.ok && b.ok && a.json !== b.json)) {
        st.failures++;
        save(args.out, `savevm-seed${args.seed}-case${st.cases}-chunked.bin`, input,
          `savevm case ${st.cases}: whole ${a.ok ? 'ok' : a.error.message} / chunked ${b.ok ? 'ok' : b.error.message}`);
      }
    }
    st.cases++;
    progress(NAME, st);
  }
  return st;
}

function mutateLines(r: Rand, lines: string[]): string[] {
  const out = lines.slice();
  const rounds = 1 + int(r, 6);
  for (let k = 0; k < rounds && out.length; k++) {
    const i = int(r, out.length);
    const line = out[i]!;
    switch (int(r, 7)) {
      case 0: { // flip a character
        const at = int(r, line.length + 1);
        out[i] = line.slice(0, at) + String.fromCharCode(32 + int(r, 95)) + line.slice(at + 1);
        break;
      }
      case 1: // replace a number by an extreme one
        out[i] = line.replace(/0x[0-9a-f]+|\b\d+\b/, ['0xffffffffffffffff', '18446744073709551616', '-1', '0', '4294967296', '1e400'][int(r, 6)]!);
        break;
      case 2:
        out[i] = line.slice(0, int(r, line.length));
        break;
      case 3:
        out.splice(i, 1);
        break;
      case 4:
        out.splice(i, 0, line);
        break;
      case 5: {
        const j = int(r, out.length);
        [out[i], out[j]] = [out[j]!, line];
        break;
      }
      default:
        out[i] = Array.from({ length: int(r, 200) }, () => String.fromCharCode(int(r, 256))).join('');
    }
  }
  return out;
}

async function fuzzTrace(args: Args, deadline: number): Promise<Stats | undefined> {
  let mod: Record<string, unknown>;
  try {
    mod = await import('../src/sources/qemu-trace.js');
  } catch (e) {
    console.log(`trace: src/sources/qemu-trace.ts not importable (${(e as Error).message}); skipped`);
    return undefined;
  }
  const Importer = mod.QemuTraceImporter as (new (input: string, sink: (d: string, ev: unknown[]) => Promise<void>) => { line(t: string): Promise<void>; finish(): Promise<unknown> }) | undefined;
  const FormatError = mod.TraceFormatError as (new (...a: never[]) => Error) | undefined;
  if (typeof Importer !== 'function' || typeof FormatError !== 'function') {
    console.log('trace: qemu-trace.ts has no QemuTraceImporter / TraceFormatError with the expected shape; skipped');
    return undefined;
  }
  const corpus = VARIANTS.map((v) => gunzipSync(readFileSync(path.join(ROOT, v, 'trace.log.gz'))).toString('utf8').split('\n'));
  const r = rng(args.seed ^ 0x7ace);
  const NAME = 'trace';
  const st: Stats = { cases: 0, ok: 0, errors: 0, failures: 0, slowest: 0 };
  while (Date.now() < deadline && st.cases < (args.cases ?? Infinity) && !stopped) {
    const lines = mutateLines(r, corpus[int(r, corpus.length)]!);
    const t0 = performance.now();
    try {
      const imp = new Importer('fuzz.log', async () => {});
      for (const l of lines) await imp.line(l);
      await imp.finish();
      st.ok++;
    } catch (e) {
      if (e instanceof FormatError && Number.isInteger((e as Error & { line?: number }).line) && (e as Error & { line: number }).line >= 1) st.errors++;
      else {
        st.failures++;
        save(args.out, `trace-seed${args.seed}-case${st.cases}.log`, lines.join('\n'), `trace case ${st.cases}: not a TraceFormatError with a line: ${(e as Error)?.stack ?? e}`);
      }
    }
    const ms = performance.now() - t0;
    st.slowest = Math.max(st.slowest, ms);
    if (ms > SLOW_MS * 5) {
      st.failures++;
      save(args.out, `trace-seed${args.seed}-case${st.cases}-slow.log`, lines.join('\n'), `trace case ${st.cases}: took ${ms.toFixed(0)} ms`);
    }
    st.cases++;
    progress(NAME, st);
  }
  return st;
}

async function fuzzMore(target: Target, args: Args, deadline: number): Promise<Stats> {
  const NAME = target.name;
  const r = rng(args.seed ^ target.name.length * 0x9e37);
  const st: Stats = { cases: 0, ok: 0, errors: 0, failures: 0, slowest: 0 };
  while (Date.now() < deadline && st.cases < (args.cases ?? Infinity) && !stopped) {
    const input = mutateBytes(r, target.corpus[int(r, target.corpus.length)]!, target.corpus);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    try {
      await target.run(input);
      st.ok++;
    } catch (e) {
      if (target.located(e)) st.errors++;
      else {
        st.failures++;
        save(args.out, `${target.name}-seed${args.seed}-case${st.cases}.bin`, input, `${target.name} case ${st.cases}: ${(e as Error)?.stack ?? e}`);
      }
    }
    // A case is slow when it spends more than SLOW_MS of CPU (an endless loop burns CPU), or waits HANG_MS in all
    // (a promise that never settles burns none): wall time alone counts a starved, niced process on a shared machine.
    let cpu = cpuMs(c0);
    const wall = performance.now() - t0;
    if (cpu > SLOW_MS) {
      const c1 = process.cpuUsage(); // re-time once: a GC pause is not the parser's doing; a hang is slow twice
      await Promise.resolve(target.run(input)).catch(() => undefined);
      cpu = Math.min(cpu, cpuMs(c1));
    }
    st.slowest = Math.max(st.slowest, cpu);
    if (cpu > SLOW_MS || wall > HANG_MS) {
      st.failures++;
      save(args.out, `${target.name}-seed${args.seed}-case${st.cases}-slow.bin`, input, `${target.name} case ${st.cases}: took ${cpu.toFixed(0)} ms of CPU, ${wall.toFixed(0)} ms in all`);
    }
    st.cases++;
    progress(NAME, st);
  }
  return st;
}

const args = parseArgs(process.argv.slice(2));
const more = await moreTargets();
const ALL = ['savevm', 'trace', ...more.map((t) => t.name)];
const targets = args.only ? args.only.split(',') : ALL;
for (const t of targets) if (!ALL.includes(t)) throw new Error(`unknown target ${t} (one of ${ALL.join(', ')})`);
const share = (args.seconds * 1000) / targets.length;
console.log(`fuzz: seed ${args.seed}, ${args.seconds} s${args.cases ? `, at most ${args.cases} cases per target` : ''}, targets ${targets.join(', ')}`);
let failed = false;
let start = Date.now();
let peakRss = process.memoryUsage().rss;
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
for (const t of targets) {
  if (stopped) break;
  const deadline = start + share;
  const extra = more.find((m) => m.name === t);
  const st = t === 'savevm' ? fuzzSavevm(args, deadline) : t === 'trace' ? await fuzzTrace(args, deadline) : await fuzzMore(extra!, args, deadline);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  if (st) {
    console.log(`${t}: ${st.cases} cases, ${st.ok} decoded, ${st.errors} refused with a located error, ${st.failures} failures, slowest ${st.slowest.toFixed(1)} ms${t === 'savevm' || t === 'trace' ? '' : ' of CPU'}, peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
    if (st.failures) failed = true;
  }
  start = Date.now();
}
clearInterval(rssTimer);
cleanupMore();
if (peakRss > 512 * 2 ** 20) {
  console.log(`FAIL peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB is over 512 MiB`);
  failed = true;
}
process.exit(failed ? 1 : 0);
