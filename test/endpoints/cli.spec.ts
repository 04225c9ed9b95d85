// devrec migrate listen / send as users run them: listen is bin/devrec in a child process (a real-process smoke
// test), send and the rest run in process; real sockets on 127.0.0.1.
import { expect } from 'chai';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { devrec as devrecInProcess } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { NET0, TRACE } from './helpers.js';

interface Run { code: number; stdout: string; stderr: string }
function start(args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [path.resolve('bin/devrec'), ...args], { env: { ...process.env, CI: '1' } });
}
function finish(child: ChildProcessWithoutNullStreams): Promise<Run> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
const devrec = (args: string[]) => devrecInProcess(args, '', { CI: '1' });

/** Starts `migrate listen --port 0 --json --once` and waits for its "listening" line. */
async function listen(args: string[]): Promise<{ port: number; done: Promise<Run> }> {
  const child = start(['migrate', 'listen', '--port', '0', '--json', '--once', ...args]);
  const done = finish(child);
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const line = buf.split('\n')[0]!;
      if (buf.includes('\n')) resolve(JSON.parse(line).port);
    });
    child.on('exit', () => reject(new Error(`listen exited early: ${buf}`)));
  });
  return { port, done };
}

describe('CLI: devrec migrate', function () {
  this.timeout(60000);

  it('send migrates a device to listen (JSON summary with downtime and bytes); an incompatible profile exits 2 on both sides', async function () {
    const src = `file:${tmpDir()}`;
    const dst = `file:${tmpDir()}`;
    expect((await devrec(['import', 'qemu-trace', TRACE, '--store', src])).code).to.equal(0);

    // a profile that offers nothing the guest negotiated beyond VERSION_1 (made with devrec profile when present)
    const dir = tmpDir();
    const prof = await devrec(['profile', NET0, '-o', path.join(dir, 'p.json'), '--store', src]);
    expect(prof.code, prof.stderr).to.equal(0);
    const p = JSON.parse((await import('node:fs')).readFileSync(path.join(dir, 'p.json'), 'utf8'));
    p.features.offered = '0x100000000';
    delete p.features.offeredNames;
    writeFileSync(path.join(dir, 'narrow.json'), JSON.stringify(p));

    const bad = await listen(['--store', dst, '--profile', path.join(dir, 'narrow.json')]);
    const refused = await devrec(['migrate', 'send', NET0, '--to', `127.0.0.1:${bad.port}`, '--store', src]);
    expect(refused.code, refused.stderr).to.equal(2);
    expect(refused.stderr).to.contain('incompatible').and.contain('nothing was stopped');
    const badEnd = await bad.done;
    expect(badEnd.code).to.equal(2);
    const report = JSON.parse(badEnd.stdout.trim().split('\n')[1]!);
    expect(report).to.deep.include({ event: 'session', outcome: 'aborted-by-source', code: 'incompatible' });

    const good = await listen(['--store', dst, '--profile', path.join(dir, 'p.json')]);
    const sent = await devrec(['migrate', 'send', NET0, '--to', `127.0.0.1:${good.port}`, '--json', '--store', src]);
    expect(sent.code, sent.stderr).to.equal(0);
    const summary = JSON.parse(sent.stdout);
    expect(summary).to.include.keys(['downtimeMs', 'totalMs', 'bytesSent', 'rounds', 'targetRevision', 'check', 'vfio']);
    expect(summary.downtimeMs).to.be.greaterThan(0);
    expect(summary.bytesSent).to.be.greaterThan(1000);
    expect(summary.vfio).to.deep.equal(['RUNNING', 'PRE_COPY', 'PRE_COPY_P2P', 'STOP_COPY', 'STOP']);
    expect(summary.check.verdict).to.equal('compatible');
    expect(sent.stderr).to.equal(''); // no progress off a terminal
    const goodEnd = await good.done;
    expect(goodEnd.code, goodEnd.stderr).to.equal(0);

    const a = JSON.parse((await devrec(['state', NET0, '--json', '--store', src])).stdout);
    const b = JSON.parse((await devrec(['state', NET0, '--json', '--store', dst])).stdout);
    for (const k of ['revision', 'eventCount', 'timestamp', 'timestampNs', 'vfioState']) {
      delete a[k];
      delete b[k];
    }
    expect(b).to.deep.equal(a);
  });

  it('listen refuses an address off loopback without TLS', async function () {
    const r = await devrec(['migrate', 'listen', '--port', '0', '--host', '0.0.0.0', '--store', `file:${tmpDir()}`]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('without TLS');
  });
});
