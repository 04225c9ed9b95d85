// Whole-process figures for the CLI, each beside a baseline measured in the same run, interleaved (baseline, devrec,
// baseline, devrec, ...) so a busy machine slows both alike; the table shows medians:
//   - start-up: `devrec --version` and `devrec devices` on a small store vs `node -e 0` (bin/devrec as users run it:
//     the CLI bundle with its code cache, both made by `npm run build`);
//   - inspect and import qemu-state of a full QEMU migration stream (RAM included) vs a Node process that only
//     fs.readFileSync's the same file; peak RSS of both (read by the child itself at exit: process.resourceUsage().maxRSS).
// The stream is made by `CAPTURE_MIGRATION=1 bash scripts/qemu/capture.sh pc-modern-net-blk DIR` (never
// committed); give it with DEVREC_BENCH_MIGRATION=DIR/migration.bin, or leave it at bench/out/migration.bin.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { importQemuTrace } from '../src/sources/import-trace.js';
import { FileEventStore } from '../src/store/file-store.js';

export interface ProcessRun { ms: number; maxRssKb: number; code: number | null; stderr: string }

/** One process, timed from spawn to exit; its peak RSS comes from a preload that reports it at exit. */
export function runProcess(args: string[], rssProbe: string): ProcessRun {
  const t = performance.now();
  const r = spawnSync(process.execPath, ['--import', rssProbe, ...args], { encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, CI: '1' } });
  const ms = performance.now() - t;
  const m = /DEVREC_MAXRSS_KB=(\d+)/.exec(r.stderr ?? '');
  return { ms, maxRssKb: m ? Number(m[1]) : NaN, code: r.status, stderr: (r.stderr ?? '').replace(/DEVREC_MAXRSS_KB=\d+\n?/, '') };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export interface Compared { what: string; baseline: string; baseMs: number; ms: number; baseRssKb: number; rssKb: number; ratio: number }

/** Runs baseline and subject `reps` times each, interleaved; medians of time, maxima of RSS. */
export function compare(what: string, baseline: string, baseArgs: string[], subjectArgs: string[], rssProbe: string, reps: number): Compared {
  const b: ProcessRun[] = [];
  const s: ProcessRun[] = [];
  for (let i = 0; i < reps; i++) {
    b.push(runProcess(baseArgs, rssProbe));
    const r = runProcess(subjectArgs, rssProbe);
    if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stderr.slice(0, 500)}`);
    s.push(r);
  }
  const baseMs = median(b.map((r) => r.ms));
  const ms = median(s.map((r) => r.ms));
  return { what, baseline, baseMs, ms, baseRssKb: Math.max(...b.map((r) => r.maxRssKb)), rssKb: Math.max(...s.map((r) => r.maxRssKb)), ratio: ms / baseMs };
}

export async function cliBench(log: (s: string) => void, quick: boolean): Promise<void> {
  const root = mkdtempSync(path.join(process.env['DEVREC_BENCH_DIR'] ?? tmpdir(), 'devrec-bench-cli-'));
  const probe = path.join(root, 'maxrss.mjs');
  writeFileSync(probe, "process.on('exit', () => process.stderr.write(`DEVREC_MAXRSS_KB=${process.resourceUsage().maxRSS}\\n`));\n");
  const bin = path.resolve('bin/devrec');
  const reps = quick ? 3 : 7;
  try {
    // a small store: the pc-modern-net-blk capture's three devices
    const storeDir = path.join(root, 'store');
    const store = await FileEventStore.open(storeDir);
    const imported = await importQemuTrace(store, path.resolve('streams/qemu/pc-modern-net-blk/trace.log.gz'));
    await store.close();
    const events = imported.devices.reduce((n, d) => n + d.events, 0);
    const rows: Compared[] = [
      compare('`devrec --version`', '`node -e 0`', ['-e', '0'], [bin, '--version'], probe, reps),
      compare(`\`devrec devices\` (${imported.devices.length} devices, ${events.toLocaleString('en-US')} events)`, '`node -e 0`', ['-e', '0'], [bin, 'devices', '--store', `file:${storeDir}`], probe, reps),
    ];
    const stream = process.env['DEVREC_BENCH_MIGRATION'] ?? path.resolve('bench/out/migration.bin');
    let note = '';
    if (existsSync(stream)) {
      const size = statSync(stream).size;
      rows.push(compare(`\`devrec inspect\` of a full QEMU migration stream (${(size / 1048576).toFixed(0)} MiB, RAM included)`,
        '`node -e "fs.readFileSync(FILE)"`', ['-e', `require('node:fs').readFileSync(${JSON.stringify(stream)})`], [bin, 'inspect', stream], probe, reps));
      // the same stream imported into a store (each run adds its snapshot events to the same three devices)
      rows.push(compare(`\`devrec import qemu-state\` of that stream into an embedded store`,
        '`node -e "fs.readFileSync(FILE)"`', ['-e', `require('node:fs').readFileSync(${JSON.stringify(stream)})`],
        [bin, 'import', 'qemu-state', stream, '--store', `file:${path.join(root, 'import-store')}`], probe, reps));
    } else {
      note = `No full migration stream at ${stream}: the inspect figure is skipped. Make one with ` +
        '`CAPTURE_MIGRATION=1 bash scripts/qemu/capture.sh pc-modern-net-blk DIR` (about a minute; never commit it) and run ' +
        '`DEVREC_BENCH_MIGRATION=DIR/migration.bin npm run bench`.';
    }
    log(`## CLI as whole processes (median of ${reps}, interleaved with the baseline in the same run)`);
    log('');
    log('| command | baseline command | devrec time | baseline time | ratio (target <= 1.5x) | peak RSS devrec | peak RSS baseline |');
    log('|---|---|---|---|---|---|---|');
    for (const r of rows) {
      log(`| ${r.what} | ${r.baseline} | ${r.ms.toFixed(0)} ms | ${r.baseMs.toFixed(0)} ms | ${r.ratio.toFixed(2)}x | ${(r.rssKb / 1024).toFixed(0)} MiB | ${(r.baseRssKb / 1024).toFixed(0)} MiB |`);
    }
    if (note) {
      log('');
      log(note);
    }
    log('');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
