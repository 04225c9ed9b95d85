// Issue 15 item 14: a connection that never says HELLO costs little memory and cannot end `listen --once`; a
// silent peer gets ABORT timeout before the target closes (docs/endpoints.md).
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { FRAME_HEADER_SIZE, MSG, PRE_HELLO_FRAME_CAP } from '../../src/endpoints/frame.js';
import { startTarget, type TargetSessionReport } from '../../src/endpoints/target.js';
import { tmpDir } from '../helpers/tmp.js';
import { FAST, NET0, TRACE, closeStores, fileStore } from './helpers.js';

/** Connects, writes `bytes`, and collects everything the target sends until it closes. */
function rawExchange(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    const got: Buffer[] = [];
    s.on('data', (d) => got.push(d));
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
    s.on('close', () => resolve(Buffer.concat(got)));
  });
}

function abortOf(reply: Buffer): { code: string; reason: string } {
  expect(reply.length, 'an ABORT frame came back').to.be.greaterThan(FRAME_HEADER_SIZE);
  expect(reply.readUInt8(4)).to.equal(MSG.ABORT);
  return JSON.parse(reply.subarray(FRAME_HEADER_SIZE, FRAME_HEADER_SIZE + reply.readUInt32LE(0)).toString('utf8'));
}

function header(type: number, length: number): Buffer {
  const h = Buffer.alloc(FRAME_HEADER_SIZE);
  h.writeUInt32LE(length, 0);
  h.writeUInt8(type, 4);
  return h;
}

describe('endpoint hardening (issue 15 item 14)', function () {
  this.timeout(60000);
  after(closeStores);

  it('before HELLO a peer may send only a small HELLO or QUERY: a 16 MiB PRECOPY or a 1 MiB HELLO is refused at the header', async () => {
    const reports: TargetSessionReport[] = [];
    const t = await startTarget({ store: await fileStore(), port: 0, timeouts: FAST, onSession: (r) => reports.push(r) });
    try {
      const big = abortOf(await rawExchange(t.port, header(MSG.PRECOPY, 16 * 1024 * 1024)));
      expect(big.code).to.equal('bad-message');
      const hello = abortOf(await rawExchange(t.port, header(MSG.HELLO, PRE_HELLO_FRAME_CAP + 1)));
      expect(hello.code).to.equal('frame-too-large');
      expect(reports.every((r) => r.bytesIn <= FRAME_HEADER_SIZE)).to.equal(true);
    } finally {
      await t.close();
    }
  });

  it('a silent peer gets ABORT timeout before the target closes', async () => {
    const t = await startTarget({ store: await fileStore(), port: 0, timeouts: FAST });
    try {
      const a = abortOf(await rawExchange(t.port, Buffer.alloc(0)));
      expect(a.code).to.equal('timeout');
      expect(a.reason).to.match(/no HELLO from the peer within 600 ms/);
    } finally {
      await t.close();
    }
  });

  it('a stray connection does not end `migrate listen --once`: the migration after it still commits', async () => {
    const src = `file:${tmpDir()}`;
    const dst = `file:${tmpDir()}`;
    const run = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [path.resolve('bin/devrec'), ...args]);
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d) => (stdout += d));
      c.stderr.on('data', (d) => (stderr += d));
      c.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
    expect((await run(['import', 'qemu-trace', TRACE, '--store', src])).code).to.equal(0);
    const listener = spawn(process.execPath, [path.resolve('bin/devrec'), 'migrate', 'listen', '--port', '0', '--json', '--once', '--store', dst, '--idle-timeout', '500']);
    let out = '';
    const exited = new Promise<number>((resolve) => listener.on('exit', (code) => resolve(code ?? -1)));
    const port = await new Promise<number>((resolve) => listener.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!).port);
    }));
    // a port scanner: connects, sends garbage, goes away; another that says nothing until the idle timeout
    await rawExchange(port, Buffer.from('GET / HTTP/1.0\r\n\r\n'));
    await rawExchange(port, Buffer.alloc(0));
    const sent = await run(['migrate', 'send', NET0, '--to', `127.0.0.1:${port}`, '--store', src]);
    expect(sent.code, sent.stderr).to.equal(0);
    expect(await exited).to.equal(0);
    expect(out).to.contain('"outcome":"committed"');
  });
});
