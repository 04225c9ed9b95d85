// Live migration over real sockets on 127.0.0.1: a device recorded from a committed QEMU capture migrates and the
// target's state equals the source's; incompatible targets are refused before anything stops; cuts at every
// message boundary, corrupted and oversized frames, silent peers and wrong TLS client certificates leave the
// target with nothing and the source RUNNING, and a retry succeeds.
import { expect } from 'chai';
import net from 'node:net';
import { deriveProfile } from '../../src/compat/profile.js';
import { EndpointError, MSG } from '../../src/endpoints/frame.js';
import { MigrationRefusedError, migrateDevice } from '../../src/endpoints/source.js';
import { type TargetSessionReport, startTarget } from '../../src/endpoints/target.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import type { EventStore } from '../../src/store/types.js';
import { comparableAcrossStores } from '../migration/fixtures.js';
import {
  BLK, FAST, LOOPBACK, NET0, NET1, closeStores, eventsOf, fileStore, hasOpenssl, makeCerts, rawFrame, refreshCrc, sleep, sourceStore,
  startProxy, stateOf, vfioArcs,
} from './helpers.js';

const FULL_PATH = ['running>pre-copy', 'pre-copy>pre-copy-p2p', 'pre-copy-p2p>stop-copy', 'stop-copy>stop'];

async function target(store: EventStore, extra: Partial<Parameters<typeof startTarget>[0]> = {}) {
  const reports: TargetSessionReport[] = [];
  const t = await startTarget({ store, port: 0, host: LOOPBACK, timeouts: FAST, onSession: (r) => reports.push(r), ...extra });
  return { ...t, reports };
}

async function expectSameState(src: EventStore, dst: EventStore, device: string, as = device) {
  const a = comparableAcrossStores(await stateOf(src, device));
  const b = comparableAcrossStores(await stateOf(dst, as));
  if (as !== device) (b as Record<string, unknown>)['device'] = device;
  expect(b).to.deep.equal(a);
}

async function until(cond: () => boolean, ms = 2000) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
}

describe('endpoints: live migration over TCP (127.0.0.1)', function () {
  this.timeout(30000);
  afterEach(closeStores);

  it('migrates a device recorded from a QEMU capture; the target state equals the source state', async function () {
    const src = await sourceStore();
    const dst = await fileStore();
    const before = await stateOf(src, NET0);
    const t = await target(dst, { profile: deriveProfile(before) });
    try {
      const r = await migrateDevice({ store: src, device: NET0, to: `${LOOPBACK}:${t.port}`, timeouts: FAST });
      expect(r.check?.verdict).to.equal('compatible');
      expect(r.rounds).to.equal(1);
      expect(r.downtimeMs).to.be.greaterThan(0).and.lessThan(r.totalMs);
      expect(r.bytesSent).to.be.greaterThan(r.precopyBytes + r.stopCopyBytes);
      expect(r.sourceRevision).to.equal(before.revision);
      await expectSameState(src, dst, NET0);
      // source: every arc is an event, then the completion annotation; it stays in STOP
      const after = await eventsOf(src, NET0, before.revision + 1);
      expect(after.map((e) => e.event.body.kind)).to.deep.equal(['vfioState', 'vfioState', 'vfioState', 'vfioState', 'annotation']);
      expect(await vfioArcs(src, NET0)).to.deep.equal(FULL_PATH);
      const note = after[4]!.event.body;
      expect(note).to.deep.include({ kind: 'annotation', severity: 'info', code: 'migration-completed' });
      expect((await stateOf(src, NET0)).vfioState).to.equal('stop');
      // target: STOP -> RESUMING, the snapshot, RESUMING -> STOP -> RUNNING_P2P -> RUNNING, in one append
      expect(await vfioArcs(dst, NET0)).to.deep.equal(['stop>resuming', 'resuming>stop', 'stop>running-p2p', 'running-p2p>running']);
      expect((await stateOf(dst, NET0)).vfioState).to.equal('running');
      await until(() => t.reports.length > 0);
      expect(t.reports[0]).to.deep.include({ outcome: 'committed', device: NET0, as: NET0, rounds: 1 });
    } finally {
      await t.close();
    }
  });

  it('migrates several devices concurrently, one connection each, and under another id with `as`', async function () {
    const src = await sourceStore();
    const dst = await fileStore();
    const t = await target(dst);
    try {
      const rs = await Promise.all([NET0, NET1, BLK].map((d) => migrateDevice({ store: src, device: d, as: `moved/${d}`, to: { host: LOOPBACK, port: t.port }, timeouts: FAST })));
      expect(new Set(rs.map((r) => r.session)).size).to.equal(3);
      for (const d of [NET0, NET1, BLK]) {
        await expectSameState(src, dst, d, `moved/${d}`);
        expect(await vfioArcs(src, d)).to.deep.equal(FULL_PATH);
      }
      expect(rs.every((r) => r.check === null)).to.equal(true); // the target sent no profile: it takes any device
    } finally {
      await t.close();
    }
  });

  it('runs another precopy round when the device changes during precopy, and carries the final state', async function () {
    const src = await sourceStore();
    const dst = await fileStore();
    const t = await target(dst);
    try {
      const q0 = (await stateOf(src, NET0)).queues[0]!;
      const r = await migrateDevice({
        store: src, device: NET0, to: { host: LOOPBACK, port: t.port }, timeouts: FAST,
        onRound: async (round) => {
          if (round === 1) {
            await src.append(NET0, [{ timestampNs: 1n, actor: 'device', path: 'internal', source: 'api', body: { kind: 'vqIndex', index: 0, usedIdx: (q0.usedIdx + 7) & 0xffff, lastAvailIdx: (q0.lastAvailIdx + 7) & 0xffff } }]);
          }
        },
      });
      expect(r.rounds).to.equal(2);
      expect((await stateOf(dst, NET0)).queues[0]!.usedIdx).to.equal((q0.usedIdx + 7) & 0xffff);
      await expectSameState(src, dst, NET0);
    } finally {
      await t.close();
    }
  });

  it('refuses an incompatible target before the source stops anything; both sides say why', async function () {
    const src = await sourceStore();
    const dst = await fileStore();
    const s = await stateOf(src, NET0);
    const profile = deriveProfile(s);
    const guestCsum = 1n << 5n; // VIRTIO_NET_F_MAC: negotiated by the Linux guest
    expect(s.features.accepted & guestCsum).to.not.equal(0n);
    profile.features.offered &= ~guestCsum;
    const t = await target(dst, { profile });
    try {
      let err: unknown;
      try {
        await migrateDevice({ store: src, device: NET0, to: { host: LOOPBACK, port: t.port }, timeouts: FAST });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(MigrationRefusedError);
      expect((err as MigrationRefusedError).code).to.equal('incompatible');
      expect((err as MigrationRefusedError).side).to.equal('source');
      expect((err as Error).message).to.contain('VIRTIO_NET_F_MAC').and.contain('nothing was stopped');
      // the source never left RUNNING: no VFIO arc at all (so never STOP_COPY), one annotation saying why
      expect(await vfioArcs(src, NET0)).to.deep.equal([]);
      const tail = await eventsOf(src, NET0, s.revision + 1);
      expect(tail.map((e) => e.event.body.kind)).to.deep.equal(['annotation']);
      expect(tail[0]!.event.body).to.deep.include({ code: 'migration-refused' });
      expect((await stateOf(src, NET0)).vfioState ?? 'running').to.equal('running');
      await until(() => t.reports.length > 0);
      expect(t.reports[0]).to.deep.include({ outcome: 'aborted-by-source', code: 'incompatible' });
      expect(t.reports[0]!.reason).to.contain('VIRTIO_NET_F_MAC');
      expect(t.reports[0]!.findings!.length).to.be.greaterThan(0);
      expect(await dst.head(NET0)).to.equal(-1);
    } finally {
      await t.close();
    }
  });

  it('a target that already has the stream refuses in HELLO, before the source stops', async function () {
    const src = await sourceStore();
    const dst = await fileStore();
    await dst.append(NET0, [{ timestampNs: 1n, actor: 'vmm', path: 'internal', source: 'api', body: { kind: 'statusWritten', status: 1 } }]);
    const t = await target(dst);
    try {
      const err = await migrateDevice({ store: src, device: NET0, to: { host: LOOPBACK, port: t.port }, timeouts: FAST }).catch((e) => e);
      expect(err).to.be.instanceOf(MigrationRefusedError);
      expect(err.side).to.equal('target');
      expect(err.message).to.contain('already exists');
      expect(await vfioArcs(src, NET0)).to.deep.equal([]);
    } finally {
      await t.close();
    }
  });

  describe('a connection cut at every message boundary', function () {
    for (const partialBytes of [0, 5]) {
      it(`leaves the target with nothing and the source RUNNING (or, past the final state, both agree), and a retry succeeds${partialBytes ? ' (cut inside the next frame)' : ''}`, async function () {
        // A clean run through the proxy counts the messages.
        const probeSrc = await sourceStore();
        const probeDst = new MemoryEventStore();
        const pt = await target(probeDst);
        const probe = await startProxy({ target: { host: LOOPBACK, port: pt.port }, cutAfter: Infinity });
        await migrateDevice({ store: probeSrc, device: NET0, to: { host: LOOPBACK, port: probe.port }, timeouts: FAST });
        await probe.close();
        await pt.close();
        const total = probe.frames.length;
        expect(probe.frames.map((f) => f.type)).to.deep.equal([MSG.HELLO, MSG.PROFILE, MSG.PRECOPY, MSG.STOP_COPY, MSG.ACK]);

        for (let n = 0; n < total; n++) {
          const src = await sourceStore();
          const dst = await fileStore();
          const t = await target(dst);
          const proxy = await startProxy({ target: { host: LOOPBACK, port: t.port }, cutAfter: n, partialBytes });
          try {
            let result;
            let err: unknown;
            try {
              result = await migrateDevice({ store: src, device: NET0, to: { host: LOOPBACK, port: proxy.port }, timeouts: FAST });
            } catch (e) {
              err = e;
            }
            const finalDelivered = n > 3; // STOP_COPY (message 3) reached the target
            if (!finalDelivered) {
              expect(err, `cut after ${n}`).to.be.instanceOf(Error);
              expect(await dst.head(NET0), `cut after ${n}: target`).to.equal(-1);
              expect((await stateOf(src, NET0)).vfioState ?? 'running', `cut after ${n}: source`).to.equal('running');
              const arcs = await vfioArcs(src, NET0);
              if (arcs.length) expect(arcs.at(-1)!.endsWith('>running')).to.equal(true);
              if (n >= 2) {
                const note = (await eventsOf(src, NET0)).at(-1)!.event.body;
                expect(note).to.deep.include({ kind: 'annotation', code: 'migration-failed' });
              }
              // retry, straight to the target
              const retry = await migrateDevice({ store: src, device: NET0, to: { host: LOOPBACK, port: t.port }, timeouts: FAST });
              expect(retry.targetRevision).to.be.greaterThan(0);
              await expectSameState(src, dst, NET0);
            } else {
              // The ACK was lost: the source asked (QUERY) and learned the target applied it. No split brain.
              expect(err, `cut after ${n}`).to.equal(undefined);
              expect(result!.resolvedByQuery).to.equal(true);
              expect((await stateOf(src, NET0)).vfioState).to.equal('stop');
              await expectSameState(src, dst, NET0);
            }
          } finally {
            await proxy.close();
            await t.close();
          }
        }
      });
    }

    it('a target that goes silent with the final state in flight: the source times out, asks, and resumes; nothing is applied', async function () {
      const src = await sourceStore();
      const dst = await fileStore();
      const t = await target(dst, { timeouts: { ...FAST, idleMs: 3000 } }); // the source's ACK timeout fires first
      const proxy = await startProxy({ target: { host: LOOPBACK, port: t.port }, cutAfter: 3, mode: 'stall' });
      try {
        const started = Date.now();
        const err = await migrateDevice({ store: src, device: NET0, to: { host: LOOPBACK, port: proxy.port }, timeouts: FAST }).catch((e) => e);
        expect(err).to.be.instanceOf(EndpointError);
        expect(err.message).to.contain('no ACK').and.contain('applied nothing');
        expect(Date.now() - started).to.be.lessThan(5000);
        expect((await stateOf(src, NET0)).vfioState).to.equal('running');
        expect(await vfioArcs(src, NET0)).to.deep.equal([...FULL_PATH, 'stop>running-p2p', 'running-p2p>running']);
        expect(await dst.head(NET0)).to.equal(-1);
        await migrateDevice({ store: src, device: NET0, to: { host: LOOPBACK, port: t.port }, timeouts: FAST });
        await expectSameState(src, dst, NET0);
      } finally {
        await proxy.close();
        await t.close();
      }
    });
  });

  describe('damaged and hostile input', function () {
    it('rejects a frame whose CRC does not match (flipped byte in STOP_COPY); the source goes back to RUNNING', async function () {
      const src = await sourceStore();
      const dst = await fileStore();
      const t = await target(dst);
      const proxy = await startProxy({
        target: { host: LOOPBACK, port: t.port }, cutAfter: Infinity,
        tamper: (i, f) => { if (i === 3) f[f.length - 40]! ^= 0x01; return f; },
      });
      try {
        const err = await migrateDevice({ store: src, device: NET0, to: { host: LOOPBACK, port: proxy.port }, timeouts: FAST }).catch((e) => e);
        expect(err).to.be.instanceOf(MigrationRefusedError);
        expect(err.code).to.equal('bad-crc');
        expect(err.message).to.contain('CRC-32');
        expect((await stateOf(src, NET0)).vfioState).to.equal('running');
        expect(await dst.head(NET0)).to.equal(-1);
        await until(() => t.reports.length > 0);
        expect(t.reports[0]).to.deep.include({ outcome: 'failed', code: 'bad-crc' });
      } finally {
        await proxy.close();
        await t.close();
      }
    });

    it('rejects a well-framed STOP_COPY whose migration stream fails its integrity check', async function () {
      const src = await sourceStore();
      const dst = await fileStore();
      const t = await target(dst);
      const proxy = await startProxy({
        target: { host: LOOPBACK, port: t.port }, cutAfter: Infinity,
        tamper: (i, f) => { if (i === 3) { f[f.length - 10]! ^= 0x01; refreshCrc(f); } return f; }, // inside the SHA-256
      });
      try {
        const err = await migrateDevice({ store: src, device: NET0, to: { host: LOOPBACK, port: proxy.port }, timeouts: FAST }).catch((e) => e);
        expect(err).to.be.instanceOf(MigrationRefusedError);
        expect(err.code).to.equal('bad-stream');
        expect(err.message).to.contain('integrity check failed');
        expect((await stateOf(src, NET0)).vfioState).to.equal('running');
        expect(await dst.head(NET0)).to.equal(-1);
      } finally {
        await proxy.close();
        await t.close();
      }
    });

    it('cuts off a peer that claims a 4 GiB frame without allocating it', async function () {
      const dst = await fileStore();
      const t = await target(dst);
      try {
        global.gc?.();
        const before = process.memoryUsage();
        const sock = net.connect(t.port, LOOPBACK);
        await new Promise((r) => sock.once('connect', r));
        const head = Buffer.alloc(9);
        head.writeUInt32LE(0xffffffff, 0);
        head.writeUInt8(MSG.HELLO, 4);
        const got: Buffer[] = [];
        sock.on('data', (d) => got.push(d));
        sock.on('error', () => {});
        const closed = new Promise((r) => sock.once('close', r));
        sock.write(head);
        sock.write(Buffer.alloc(64 * 1024, 0x41)); // more bytes follow: the target must not wait for or keep 4 GiB
        await closed;
        const after = process.memoryUsage();
        expect(after.arrayBuffers - before.arrayBuffers).to.be.lessThan(32 * 1024 * 1024);
        expect(after.rss - before.rss).to.be.lessThan(256 * 1024 * 1024);
        await until(() => t.reports.length > 0);
        expect(t.reports[0]).to.deep.include({ outcome: 'failed', code: 'frame-too-large' });
        expect(t.reports[0]!.reason).to.contain('4294967295');
        const answer = Buffer.concat(got);
        if (answer.length >= 9) expect(answer[4]).to.equal(MSG.ABORT);
      } finally {
        await t.close();
      }
    });

    it('a source refuses a target that claims a 4 GiB PROFILE, before stopping anything', async function () {
      const src = await sourceStore();
      const fake = net.createServer((s) => {
        s.on('error', () => {});
        s.once('data', () => {
          const head = Buffer.alloc(9);
          head.writeUInt32LE(0xffffffff, 0);
          head.writeUInt8(MSG.PROFILE, 4);
          s.write(head);
        });
      });
      await new Promise<void>((r) => fake.listen(0, LOOPBACK, r));
      try {
        const err = await migrateDevice({ store: src, device: NET0, to: { host: LOOPBACK, port: (fake.address() as net.AddressInfo).port }, timeouts: FAST }).catch((e) => e);
        expect(err).to.be.instanceOf(EndpointError);
        expect(err.code).to.equal('frame-too-large');
        expect(await vfioArcs(src, NET0)).to.deep.equal([]);
      } finally {
        await new Promise((r) => fake.close(r));
      }
    });

    it('answers a HELLO with a bad CRC with ABORT, and a silent peer with a timeout', async function () {
      const dst = await fileStore();
      const t = await target(dst, { timeouts: { ...FAST, idleMs: 200 } });
      try {
        const sock = net.connect(t.port, LOOPBACK);
        const got: Buffer[] = [];
        sock.on('data', (d) => got.push(d));
        sock.on('error', () => {});
        const closed = new Promise((r) => sock.once('close', r));
        sock.write(rawFrame(MSG.HELLO, Buffer.from('{"magic":"devrec-migrate"}'), true));
        await closed;
        const answer = Buffer.concat(got);
        expect(answer[4]).to.equal(MSG.ABORT);
        expect(JSON.parse(answer.subarray(9).toString()).code).to.equal('bad-crc');

        const silent = net.connect(t.port, LOOPBACK);
        silent.on('error', () => {});
        const heard: Buffer[] = [];
        silent.on('data', (d) => heard.push(d));
        await new Promise((r) => silent.once('close', r));
        await until(() => t.reports.length > 1);
        expect(t.reports[1]).to.deep.include({ outcome: 'failed', code: 'timeout' });
        // the silent peer is told why before the close (docs/endpoints.md: ABORT timeout)
        const last = Buffer.concat(heard);
        expect(last[4]).to.equal(MSG.ABORT);
        expect(JSON.parse(last.subarray(9).toString()).code).to.equal('timeout');
      } finally {
        await t.close();
      }
    });

    it('a silent target times the source out before it stops anything', async function () {
      const src = await sourceStore();
      const silent = net.createServer((s) => s.on('error', () => {}));
      await new Promise<void>((r) => silent.listen(0, LOOPBACK, r));
      try {
        const started = Date.now();
        const err = await migrateDevice({ store: src, device: NET0, to: { host: LOOPBACK, port: (silent.address() as net.AddressInfo).port }, timeouts: { ...FAST, idleMs: 200 } }).catch((e) => e);
        expect(err.code).to.equal('timeout');
        expect(Date.now() - started).to.be.lessThan(2000);
        expect(await vfioArcs(src, NET0)).to.deep.equal([]);
      } finally {
        silent.close();
      }
    });

    it('a device reset during precopy voids the migration: the source goes back to RUNNING, the target applies nothing', async function () {
      const src = await sourceStore();
      const dst = await fileStore();
      const t = await target(dst);
      try {
        const err = await migrateDevice({
          store: src, device: NET0, to: { host: LOOPBACK, port: t.port }, timeouts: FAST,
          onRound: async () => { await src.append(NET0, [{ timestampNs: 1n, actor: 'guest-driver', path: 'mmio', source: 'api', body: { kind: 'statusWritten', status: 0 } }]); },
        }).catch((e) => e);
        expect(err.code).to.equal('reset');
        expect((await stateOf(src, NET0)).vfioState).to.equal('running');
        await until(() => t.reports.length > 0);
        expect(t.reports[0]).to.deep.include({ outcome: 'aborted-by-source', code: 'reset' });
        expect(await dst.head(NET0)).to.equal(-1);
      } finally {
        await t.close();
      }
    });

    it('refuses to listen off loopback without TLS (and binds nothing)', async function () {
      const err = await startTarget({ store: new MemoryEventStore(), port: 0, host: '0.0.0.0' }).catch((e) => e);
      expect(err).to.be.instanceOf(EndpointError);
      expect(err.code).to.equal('insecure-bind');
    });
  });

  describe('TLS', function () {
    let certs: ReturnType<typeof makeCerts> | undefined;
    before(function () {
      if (!hasOpenssl()) return this.skip(); // pending: openssl is not on this machine
      this.timeout(30000);
      certs = makeCerts();
    });

    it('migrates with verified client certificates, and refuses a client certificate from another CA', async function () {
      const c = certs!;
      const src = await sourceStore();
      const dst = await fileStore();
      const t = await target(dst, { tls: { cert: c.serverCert, key: c.serverKey, ca: c.ca } });
      try {
        const rogue = await migrateDevice({
          store: src, device: NET0, to: { host: LOOPBACK, port: t.port }, timeouts: FAST,
          tls: { cert: c.rogueCert, key: c.rogueKey, ca: c.ca },
        }).catch((e) => e);
        expect(rogue).to.be.instanceOf(EndpointError);
        expect(await vfioArcs(src, NET0)).to.deep.equal([]);
        expect(await dst.head(NET0)).to.equal(-1);
        await until(() => t.reports.some((r) => r.code === 'tls'));
        const refusal = t.reports.find((r) => r.code === 'tls')!;
        expect(refusal.outcome).to.equal('refused');
        expect(refusal.reason).to.contain('TLS handshake refused');
        expect(rogue.message).to.contain('client certificate');

        const ok = await migrateDevice({
          store: src, device: NET0, to: { host: LOOPBACK, port: t.port }, timeouts: FAST,
          tls: { cert: c.clientCert, key: c.clientKey, ca: c.ca },
        });
        expect(ok.targetRevision).to.be.greaterThan(0);
        await expectSameState(src, dst, NET0);
      } finally {
        await t.close();
      }
    });
  });
});
