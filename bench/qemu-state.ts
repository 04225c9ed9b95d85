// tsx bench/qemu-state.ts [--file MIGRATION.bin] [--runs N]: decode rate of a QEMU savevm stream next to a plain
// sequential read of the same file, in the same run (raw and gzip), plus the memory the decode needed.
//
// The stream: --file, else a full migration stream made on the spot with
// `KEEP_WORK=1 scripts/qemu/capture.sh pc-modern-net-blk OUT` (about 77 MB: 128 MiB guest, RAM included) when QEMU
// is installed; otherwise the bench says so and stops. Prints numbers only (does not write bench/RESULTS.md).
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { createGunzip, gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { readQemuStreamFile } from '../src/sources/qemu-savevm.js';

const args = process.argv.slice(2);
const argOf = (n: string): string | undefined => {
  const i = args.indexOf(n);
  return i >= 0 ? args[i + 1] : undefined;
};
const RUNS = Number(argOf('--runs') ?? 3);
const CHUNK = 1024 * 1024;

function haveQemu(): boolean {
  return spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Makes a full migration stream with the capture script; returns its path and the temp dirs to remove. */
function makeStream(): { file: string; cleanup: string[] } | undefined {
  if (!haveQemu()) {
    console.log('qemu-system-x86_64 is not installed: no full migration stream to measure (pass --file to use one). Skipped.');
    return undefined;
  }
  const base = mkdtempSync(path.join(tmpdir(), 'devrec-bench-qemu-'));
  console.log(`making a full migration stream: KEEP_WORK=1 scripts/qemu/capture.sh pc-modern-net-blk ${base}/out (~40 s)`);
  const r = spawnSync('scripts/qemu/capture.sh', ['pc-modern-net-blk', path.join(base, 'out')], {
    env: { ...process.env, KEEP_WORK: '1', TMPDIR: base }, encoding: 'utf8', timeout: 600_000,
  });
  const work = readdirSync(base).filter((d) => d.startsWith('devrec-capture-')).map((d) => path.join(base, d));
  const file = work.map((d) => path.join(d, 'migration.bin')).find((f) => existsSync(f));
  if (r.status !== 0 || !file) {
    console.log(`capture failed (exit ${r.status}); skipped.\n${(r.stderr ?? '').split('\n').slice(-8).join('\n')}`);
    rmSync(base, { recursive: true, force: true });
    return undefined;
  }
  return { file, cleanup: [base] };
}

async function plainRead(file: string): Promise<number> {
  const fh = await open(file, 'r');
  const size = (await fh.stat()).size;
  let sum = 0;
  const chunk = new Uint8Array(CHUNK); // reused, as readQemuStreamFile does
  for (let pos = 0; pos < size; ) {
    const { bytesRead } = await fh.read(chunk, 0, Math.min(CHUNK, size - pos), pos);
    if (!bytesRead) break;
    sum += chunk[0]!;
    pos += bytesRead;
  }
  await fh.close();
  return sum;
}

async function plainGunzip(file: string): Promise<number> {
  let n = 0;
  for await (const c of createReadStream(file).pipe(createGunzip()) as AsyncIterable<Buffer>) n += c.length;
  return n;
}

interface Peak { rss: number; heap: number; arrayBuffers: number }
async function measure<T>(fn: () => Promise<T>): Promise<{ ms: number; peak: Peak; value: T }> {
  if (global.gc) global.gc();
  const before = process.memoryUsage();
  const peak: Peak = { rss: 0, heap: 0, arrayBuffers: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss - before.rss);
    peak.heap = Math.max(peak.heap, m.heapUsed - before.heapUsed);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers - before.arrayBuffers);
  };
  const timer = setInterval(sample, 2);
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  clearInterval(timer);
  sample();
  return { ms, peak, value };
}

const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mbps = (bytes: number, ms: number): string => `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;

async function main(): Promise<void> {
  let file = argOf('--file');
  let cleanup: string[] = [];
  if (!file) {
    const made = makeStream();
    if (!made) return;
    ({ file, cleanup } = made);
  }
  try {
    const size = statSync(file).size;
    const gzFile = existsSync(`${file}.gz`) ? `${file}.gz` : path.join(mkdtempSync(path.join(tmpdir(), 'devrec-bench-gz-')), 'stream.bin.gz');
    if (!existsSync(gzFile)) {
      writeFileSync(gzFile, gzipSync(readFileSync(file), { level: 6 }));
      cleanup.push(path.dirname(gzFile));
    }
    const gzSize = statSync(gzFile).size;
    console.log(`stream: ${file}, ${size.toLocaleString('en-US')} bytes (gzip ${gzSize.toLocaleString('en-US')}); node ${process.version}, ${cpus()[0]?.model ?? '?'}; ${RUNS} runs, medians`);

    const first = await readQemuStreamFile(file);
    const ram = first.sections.filter((s) => s.idstr === 'ram');
    const walks: Record<string, number> = {};
    for (const s of first.sections) walks[s.walk] = (walks[s.walk] ?? 0) + 1;
    console.log(`  ${first.sections.length} sections (${Object.entries(walks).map(([k, v]) => `${v} ${k}`).join(', ')}), ${ram.length} of them RAM, ` +
      `${first.devices.length} virtio devices, vmdesc ${first.vmdesc ? `${first.vmdesc.length} bytes (${first.vmdescUsed === 'tail' ? 'used to walk' : 'not used'})` : 'none'}`);

    const rows: [string, number, number, Peak][] = [];
    const run = async (name: string, bytes: number, fn: () => Promise<unknown>): Promise<void> => {
      const times: number[] = [];
      let peak: Peak = { rss: 0, heap: 0, arrayBuffers: 0 };
      for (let i = 0; i < RUNS; i++) {
        const m = await measure(fn);
        times.push(m.ms);
        peak = { rss: Math.max(peak.rss, m.peak.rss), heap: Math.max(peak.heap, m.peak.heap), arrayBuffers: Math.max(peak.arrayBuffers, m.peak.arrayBuffers) };
      }
      rows.push([name, bytes, median(times), peak]);
    };
    await run('plain sequential read (1 MiB chunks)', size, () => plainRead(file!));
    await run('decode: readQemuStreamFile(raw)', size, () => readQemuStreamFile(file!));
    await run('plain gunzip stream', size, () => plainGunzip(gzFile));
    await run('decode: readQemuStreamFile(.gz)', size, () => readQemuStreamFile(gzFile));
    console.log('');
    console.log('| what | time | rate (of the raw size) | peak extra RSS | peak extra heap | peak extra ArrayBuffers |');
    console.log('|---|---|---|---|---|---|');
    for (const [name, bytes, ms, p] of rows) console.log(`| ${name} | ${ms.toFixed(0)} ms | ${mbps(bytes, ms)} | ${mib(p.rss)} | ${mib(p.heap)} | ${mib(p.arrayBuffers)} |`);
    const [read, dec, gz, decGz] = rows.map((r) => r[2]);
    console.log(`\ndecode / plain read: ${(dec! / read!).toFixed(2)}x the time (raw), ${(decGz! / gz!).toFixed(2)}x (gzip)`);
  } finally {
    for (const d of cleanup) rmSync(d, { recursive: true, force: true });
  }
}

await main();
