// The kill -9 loop and the disk-full run, shared by the spec (a few trials) and `npm run soak` (the long form).
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FileEventStore } from '../../src/store/file-store.js';
import { verifyFileStore } from '../../src/store/file-verify.js';
import { StoreWriteError } from '../../src/store/types.js';
import { hostname } from 'node:os';
import { tmpDir } from './tmp.js';

const WRITER = path.resolve('test/helpers/store-writer.ts');

export interface CrashTrial { acked: number; found: number; recovered: boolean }

/** One trial: a writer appends until killed with SIGKILL after `killAfterAcks` acknowledgements (+ a random delay). */
export async function crashTrial(dir: string, killAfterAcks: number, rand: () => number): Promise<CrashTrial> {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, 'dev', '100000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let acked = -1;
  let acks = 0;
  let buf = '';
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^ack (\d+)$/.exec(line);
        if (m) {
          acked = Number(m[1]);
          if (++acks === killAfterAcks) setTimeout(() => child.kill('SIGKILL'), Math.floor(rand() * 5));
        }
      }
    });
    child.on('exit', () => resolve());
  });
  const store = await FileEventStore.open(dir);
  const found = await store.head('dev');
  const recovered = store.recovery !== undefined;
  await store.close();
  const report = await verifyFileStore(dir);
  if (report.problems.length) throw new Error(`after recovery verify found: ${JSON.stringify(report.problems)}`);
  return { acked, found, recovered };
}

/** Mounts a tmpfs of `bytes` at a fresh directory; undefined when this machine does not allow it. */
export function smallTmpfs(bytes: number): { dir: string; unmount: () => void } | undefined {
  const dir = tmpDir('devrec-tmpfs-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return { dir, unmount: () => execFileSync('umount', [dir], { stdio: 'ignore' }) };
}

export interface DiskFullRun { acked: number; found: number; enospc: boolean; appendedAfterFree: boolean }

/** Appends until the file system is full, then reopens: every acknowledged event must be there. */
export async function diskFullRun(root: string, batch: number): Promise<DiskFullRun> {
  const dir = path.join(root, 'store');
  mkdirSync(dir);
  // filler deleted after the disk is full, to show the store appends again once space is freed
  writeFileSync(path.join(root, 'filler'), Buffer.alloc(64 * 1024, 1));
  const store = await FileEventStore.open(dir, { segmentBytes: 1 << 20 });
  let acked = -1;
  let enospc = false;
  for (let i = 0; i < 1_000_000; i++) {
    const events = Array.from({ length: batch }, (_, k) => ({
      timestampNs: BigInt(i), actor: 'guest-driver' as const, path: 'mmio' as const, source: 'api' as const,
      body: { kind: 'configWritten' as const, offset: k, data: new Uint8Array(64).fill(i & 0xff) },
    }));
    try {
      acked = (await store.append('dev', events)).nextExpectedRevision;
    } catch (err) {
      if (!(err instanceof StoreWriteError) || err.code !== 'ENOSPC') throw err;
      enospc = true;
      break;
    }
  }
  await store.close();
  const again = await FileEventStore.open(dir, { segmentBytes: 1 << 20 });
  const found = await again.head('dev');
  // the failed batch left nothing behind: the store appends again once space is freed
  rmSync(path.join(root, 'filler'));
  let appendedAfterFree = false;
  try {
    await again.append('dev', [{ timestampNs: 0n, actor: 'guest-driver', path: 'mmio', source: 'api', body: { kind: 'statusWritten', status: 1 } }]);
    appendedAfterFree = true;
  } catch {
    appendedAfterFree = false;
  }
  await again.close();
  const report = await verifyFileStore(dir);
  if (report.problems.length) throw new Error(`verify after disk full: ${JSON.stringify(report.problems)}`);
  return { acked, found, enospc, appendedAfterFree };
}

/** `rounds` rounds of `writers` processes started together against a store whose LOCK names a dead process. */
export async function lockRounds(rounds: number, writers: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const dir = tmpDir();
    writeFileSync(path.join(dir, 'LOCK'), `999999999@${hostname()}`);
    const runs = await Promise.all(Array.from({ length: writers }, (_, w) => new Promise<{ code: number; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('test/helpers/store-writer.ts'), dir, `w${w}`, '40', '300'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('exit', (code) => resolve({ code: code ?? -1, out }));
    })));
    const winners = runs.filter((r) => r.out.includes('closed'));
    if (winners.length < 1) throw new Error(`round ${round}: no writer got the store: ${JSON.stringify(runs)}`);
    for (const r of runs) if (!(r.code === 0 || (r.code === 3 && r.out.trim() === 'locked'))) throw new Error(`round ${round}: ${JSON.stringify(r)}`);
    const report = await verifyFileStore(dir);
    if (report.problems.length) throw new Error(`round ${round}: verify: ${JSON.stringify(report.problems)}`);
    const s = await FileEventStore.open(dir);
    for (let w = 0; w < writers; w++) {
      const acked = runs[w]!.out.match(/ack (\d+)/g);
      const last = acked ? Number(acked[acked.length - 1]!.slice(4)) : -1;
      const head = await s.head(`w${w}`);
      if (head !== last) throw new Error(`round ${round}: writer ${w} acknowledged revision ${last}, the store has ${head}`);
    }
    await s.close();
  }
}
