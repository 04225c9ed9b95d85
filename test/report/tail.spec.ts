// `devrec tail`: another process records while bin/devrec tail follows the file: store (read-only, polling).
import { expect } from 'chai';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { FileEventStore } from '../../src/store/file-store.js';
import { ev, statusEv } from '../helpers/events.js';
import { devrec } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

interface Tail { child: ChildProcessWithoutNullStreams; stdout: () => string; stderr: () => string; started: Promise<void>; exited: Promise<number | null> }

function tail(args: string[]): Tail {
  const child = spawn(process.execPath, [path.resolve('bin/devrec'), 'tail', ...args], { env: { ...process.env, CI: 'true' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  let ready: () => void;
  const started = new Promise<void>((r) => (ready = r));
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.includes('tailing')) ready();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.stdin.end();
  return { child, stdout: () => stdout, stderr: () => stderr, started, exited };
}

const ID = 'virtio-net-pci@00:02.0';

describe('devrec tail', function () {
  this.timeout(60000);

  it('shows events another process appends while it runs (--json --count)', async function () {
    const dir = tmpDir();
    const writer = await FileEventStore.open(dir);
    try {
      await writer.append(ID, [statusEv(1)]);
      const t = tail([ID, '--json', '--count', '3', '--store', `file:${dir}`]);
      await t.started;
      const t0 = Date.now();
      await writer.append(ID, [statusEv(3)]);
      await writer.append(ID, [statusEv(7), ev({ kind: 'vqIndex', index: 0, availDelta: 1, usedDelta: 1 })]);
      const code = await t.exited;
      const elapsed = Date.now() - t0;
      expect(code, t.stderr()).to.equal(0);
      const lines = t.stdout().trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.map((l) => [l.stream, l.revision, l.kind])).to.deep.equal([[ID, 1, 'statusWritten'], [ID, 2, 'statusWritten'], [ID, 3, 'vqIndex']]);
      expect(lines[1].status).to.equal('0x07'); // a register value: hex (docs/state.md, numbers in JSON)
      expect(elapsed, 'arrived while the tail ran').to.be.below(30000);
    } finally {
      await writer.close();
    }
  });

  it('--all --from 0 replays then follows in words; SIGTERM ends it cleanly', async function () {
    const dir = tmpDir();
    const writer = await FileEventStore.open(dir);
    try {
      await writer.append('a', [statusEv(1)]);
      const t = tail(['--all', '--from', '0', '--store', `file:${dir}`, '--poll-ms', '50']);
      await t.started;
      await writer.append('b', [statusEv(0)]);
      const deadline = Date.now() + 20000;
      while (!t.stdout().includes('b #0') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      t.child.kill('SIGTERM');
      expect(await t.exited).to.equal(0);
      const lines = t.stdout().trim().split('\n');
      expect(lines[0]).to.match(/^a #0 .*statusWritten: status <- 0x1 \(ACKNOWLEDGE\)/);
      expect(lines[1]).to.match(/^b #0 .*status <- 0 \(reset\)/);
    } finally {
      await writer.close();
    }
  });

  it('needs an id or --all', async function () {
    const r = await devrec(['tail', '--store', `file:${tmpDir()}`]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('give a device id or --all');
  });
});
