// The QMP client against in-process fake peers on real sockets: a QEMU-like peer, and peers that are not QEMU,
// close early, answer garbage, never answer or send too much.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { profileToJson } from '../../src/compat/profile.js';
import { profileFromQmp, readQmpAnswers } from '../../src/compat/qmp-profile.js';
import { devrec } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { type QmpPeerHandler, serveQmp } from '../helpers/qmp-peer.js';
import { QmpClient, QmpError, parseQmpAddress } from '../../src/qmp/client.js';
import { parseQemuJson, qmpBigInt } from '../../src/qmp/json.js';

const GREETING = '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}\r\n';

type Handler = QmpPeerHandler;
const serve = serveQmp;

/** A peer that speaks QMP like QEMU: greeting, answers by id, an event before each answer. */
const qemuLike: Handler = (sock, onMsg) => {
  sock.write(GREETING);
  onMsg((m) => {
    const id = m['id'];
    sock.write('{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}\r\n');
    if (m['execute'] === 'qmp_capabilities') sock.write(JSON.stringify({ return: {}, id }) + '\r\n');
    else if (m['execute'] === 'query-status') sock.write(JSON.stringify({ return: { status: 'inmigrate', running: false }, id }) + '\r\n');
    else if (m['execute'] === 'big') sock.write(`{"return": {"unknown-dev-features": 9223372036854775808, "small": 1099511627776}, "id": ${JSON.stringify(id)}}\r\n`);
    else sock.write(JSON.stringify({ error: { class: 'CommandNotFound', desc: `The command ${String(m['execute'])} has not been found` }, id }) + '\r\n');
  });
};

async function failure(handler: Handler, run: (address: string) => Promise<unknown>): Promise<string> {
  const { server, address } = await serve(handler);
  try {
    await run(address);
  } catch (e) {
    expect(e).to.be.instanceOf(QmpError);
    const msg = (e as Error).message;
    expect(msg.split('\n')).to.have.length(1);
    return msg;
  } finally {
    server.close();
  }
  throw new Error('expected a QmpError');
}

describe('qmp: client', function () {
  it('reads the greeting, negotiates, runs commands by id and skips events', async function () {
    const { server, address } = await serve(qemuLike);
    const q = await QmpClient.connect(address);
    try {
      expect(q.greeting.version).to.deep.equal({ major: 7, minor: 2, micro: 22, package: 'Debian 1:7.2+dfsg-7+deb12u18+b3' });
      expect(await q.execute('query-status')).to.deep.equal({ status: 'inmigrate', running: false });
      const big = (await q.execute('big')) as Record<string, unknown>;
      expect(qmpBigInt(big['unknown-dev-features'])).to.equal(1n << 63n);
      expect(big['small']).to.equal(1099511627776);
    } finally {
      q.close();
      server.close();
    }
  });

  it('turns an error answer into one line naming the command and QEMU\'s class and text', async function () {
    const msg = await failure(qemuLike, async (a) => {
      const q = await QmpClient.connect(a);
      try {
        await q.execute('x-nope', { path: '/x' });
      } finally {
        q.close();
      }
    });
    expect(msg).to.match(/x-nope \{"path":"\/x"\} failed: CommandNotFound: The command x-nope has not been found$/);
  });

  it('a peer that is not QEMU (an SSH banner) is named as such', async function () {
    const msg = await failure((s) => s.write('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n'), (a) => QmpClient.connect(a));
    expect(msg).to.contain('not JSON').and.contain('SSH-2.0-OpenSSH').and.contain("is this QEMU's QMP?");
  });

  it('JSON that is not a QMP greeting is refused', async function () {
    const msg = await failure((s) => s.write('{"jsonrpc": "2.0", "method": "hello"}\n'), (a) => QmpClient.connect(a));
    expect(msg).to.contain('not a QMP greeting');
  });

  it('a greeting without a QEMU version is refused', async function () {
    const msg = await failure((s) => s.write('{"QMP": {"capabilities": []}}\n'), (a) => QmpClient.connect(a));
    expect(msg).to.contain('no QEMU version');
  });

  it('a peer that closes before the greeting', async function () {
    const msg = await failure((s) => s.end(), (a) => QmpClient.connect(a));
    expect(msg).to.contain('closed the connection before greeting');
  });

  it('a peer that closes after the greeting, before answering qmp_capabilities', async function () {
    const msg = await failure((s, on) => { s.write(GREETING); on(() => s.end()); }, (a) => QmpClient.connect(a));
    expect(msg).to.contain('closed the connection before the answer to qmp_capabilities');
  });

  it('a peer that closes in the middle of an answer', async function () {
    const msg = await failure((s, on) => { s.write(GREETING); on(() => s.end('{"return": {"sta')); }, (a) => QmpClient.connect(a));
    expect(msg).to.contain('closed the connection before the answer to qmp_capabilities after a partial message').and.contain('{\\"return\\": {\\"sta');
  });

  it('garbage in place of an answer', async function () {
    const msg = await failure((s, on) => { s.write(GREETING); on(() => s.write('\x00\x01\xff}{garbage\n')); }, (a) => QmpClient.connect(a));
    expect(msg).to.match(/byte \d+: not JSON/);
  });

  it('an answer that is JSON but not an object', async function () {
    const msg = await failure((s, on) => { s.write(GREETING); on(() => s.write('[1, 2]\n')); }, (a) => QmpClient.connect(a));
    expect(msg).to.contain('expected a JSON object');
  });

  it('an answer with another id', async function () {
    const msg = await failure((s, on) => { s.write(GREETING); on(() => s.write('{"return": {}, "id": "someone-else"}\n')); }, (a) => QmpClient.connect(a));
    expect(msg).to.contain('carries id "someone-else", expected "devrec-1"');
  });

  it('an answer with neither return nor error', async function () {
    const msg = await failure((s, on) => { s.write(GREETING); on((m) => s.write(JSON.stringify({ id: m['id'], hello: 1 }) + '\n')); }, (a) => QmpClient.connect(a));
    expect(msg).to.contain('neither "return" nor "error"');
  });

  it('a message over the size cap', async function () {
    const msg = await failure((s) => s.write('{"QMP": "' + 'x'.repeat(5000)), (a) => QmpClient.connect(a, { maxMessageBytes: 1024 }));
    expect(msg).to.contain('over the 1024-byte cap');
  });

  it('a peer that never answers hits the deadline', async function () {
    const msg = await failure(() => {}, (a) => QmpClient.connect(a, { timeoutMs: 200 }));
    expect(msg).to.contain('no greeting within 0.2 s');
  });

  it('nothing listening: connection refused, with the -qmp option to use', async function () {
    const { server, address } = await serve(() => {});
    server.close();
    await new Promise((r) => setTimeout(r, 10));
    try {
      await QmpClient.connect(address);
      expect.fail('connected');
    } catch (e) {
      expect((e as Error).message).to.contain('connection refused').and.contain('-qmp tcp:127.0.0.1:');
    }
  });

  it('a missing unix socket', async function () {
    try {
      await QmpClient.connect('unix:/nonexistent/qmp.sock');
      expect.fail('connected');
    } catch (e) {
      expect((e as Error).message).to.equal('QMP unix:/nonexistent/qmp.sock: cannot connect: no such socket (is QEMU running with -qmp unix:/nonexistent/qmp.sock,server=on,wait=off?)');
    }
  });

  it('addresses: unix:PATH, HOST:PORT, [v6]:PORT; others refused', function () {
    expect(parseQmpAddress('unix:/tmp/q.sock')).to.deep.equal({ kind: 'unix', path: '/tmp/q.sock' });
    expect(parseQmpAddress('localhost:4444')).to.deep.equal({ kind: 'tcp', host: 'localhost', port: 4444 });
    expect(parseQmpAddress('[::1]:4444')).to.deep.equal({ kind: 'tcp', host: '::1', port: 4444 });
    for (const bad of ['unix:', 'localhost', 'h:0', 'h:70000', '/tmp/q.sock']) expect(() => parseQmpAddress(bad), bad).to.throw(QmpError);
  });
});

describe('qmp: JSON with 64-bit integers', function () {
  it('keeps integers past 2^53 exact (as decimal strings), leaves strings and small numbers alone', function () {
    const v = parseQemuJson('{"a": 18446744073709551615, "b": "x: 18446744073709551615", "c": -9007199254740993, "d": 1.5e300, "e": [12, "\\"9999999999999999999"]}') as Record<string, unknown>;
    expect(v['a']).to.equal('18446744073709551615');
    expect(qmpBigInt(v['a'])).to.equal((1n << 64n) - 1n);
    expect(v['b']).to.equal('x: 18446744073709551615');
    expect(v['c']).to.equal('-9007199254740993');
    expect(v['d']).to.equal(1.5e300);
    expect(v['e']).to.deep.equal([12, '"9999999999999999999']);
  });
});

describe('CLI: devrec profile --qmp against a QMP peer on a real socket', function () {
  this.timeout(120000);
  // A peer that answers as the real QEMU 7.2 target of the "net-event-idx-off" case did (its saved answers).
  const saved = 'test/fixtures/real-peer/net-event-idx-off.answers.json';

  it('asks what a profile needs and derives the same profile as from the saved answers', async function () {
    const a = readQmpAnswers(saved) as unknown as Record<string, Record<string, Record<string, unknown>>>;
    const asked: string[] = [];
    const { server, address } = await serve((sock, on) => {
      sock.write(GREETING);
      on((m) => {
        const args = (m['arguments'] ?? {}) as Record<string, unknown>;
        asked.push(String(m['execute']));
        let ret: unknown;
        switch (m['execute']) {
          case 'qmp_capabilities': ret = {}; break;
          case 'query-target': ret = a['query-target']; break;
          case 'query-pci': ret = a['query-pci']; break;
          case 'x-query-virtio': ret = a['x-query-virtio']; break;
          case 'x-query-virtio-status': ret = a['x-query-virtio-status']![String(args['path'])]; break;
          case 'x-query-virtio-queue-status': ret = (a['x-query-virtio-queue-status']![String(args['path'])] as unknown as unknown[])[Number(args['queue'])]; break;
          case 'qom-get': ret = args['path'] === '/machine' ? a['machineType'] : a['qom-get']![String(args['path'])]![String(args['property'])]; break;
        }
        sock.write(JSON.stringify(ret === undefined ? { error: { class: 'GenericError', desc: 'no' }, id: m['id'] } : { return: ret, id: m['id'] }) + '\r\n');
      });
    });
    try {
      const dir = tmpDir();
      const out = `${dir}/p.json`;
      const r = await devrec(['profile', '--qmp', address, '--device', 'net0', '-o', out, '--save-qmp', `${dir}/a.json`]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('net0 of QMP 127.0.0.1:').and.contain('QEMU 7.2.22, pc-i440fx-7.2');
      expect(asked).to.include.members(['qmp_capabilities', 'query-target', 'qom-get', 'query-pci', 'x-query-virtio', 'x-query-virtio-status', 'x-query-virtio-queue-status']);
      const want = profileToJson(profileFromQmp(readQmpAnswers(saved), 'net0', 'saved').profile);
      expect(JSON.parse(readFileSync(out, 'utf8'))).to.deep.equal(JSON.parse(JSON.stringify(want)));
      expect((JSON.parse(readFileSync(out, 'utf8')) as { features: { offered: string } }).features.offered).to.equal('0x10159bf8064');
      // the saved answers replay to the same profile
      const again = await devrec(['profile', '--qmp-answers', `${dir}/a.json`, '--device', 'net0']);
      expect(JSON.parse(again.stdout)).to.deep.equal(JSON.parse(readFileSync(out, 'utf8')));
    } finally {
      server.close();
    }
  });

  it('a peer that is not QEMU: exit 1 with one line', async function () {
    const { server, address } = await serve((s) => s.write('HTTP/1.1 400 Bad Request\r\n\r\n'));
    try {
      const r = await devrec(['profile', '--qmp', address, '-o', '/dev/null']);
      expect(r.code).to.equal(1);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.contain('not JSON').and.contain('HTTP/1.1 400');
    } finally {
      server.close();
    }
  });
});
