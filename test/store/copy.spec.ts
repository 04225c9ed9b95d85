// Copying recordings between stores through the library API: embedded -> KurrentDB (on KurrentDbClientDouble, a
// test double of the client) -> embedded, resuming an interrupted copy, refusing a target that differs.
import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Projector } from '../../src/project/projector.js';
import { stateToJson } from '../../src/project/state.js';
import { Recorder } from '../../src/record/recorder.js';
import { netLifecycle } from '../../src/sim/net-lifecycle.js';
import { CopyInterruptedError, CopyMismatchError, copyStores, streamChecksum, type CopyProgress } from '../../src/store/copy.js';
import { FileEventStore } from '../../src/store/file-store.js';
import { RECORD_PREFIX_BYTES, SEGMENT_HEADER_BYTES, forEachEvent, parseRecordHeader, parseSegmentName } from '../../src/store/file-format.js';
import { KurrentDbEventStore } from '../../src/store/kurrentdb.js';
import type { AppendRequest, AppendResult, EventStore } from '../../src/store/types.js';
import type { NewEvent } from '../../src/events/types.js';
import { KurrentDbClientDouble } from './kurrentdb-double.js';
import { expectRejected } from './contract.js';
import { collect, statusEv } from '../helpers/events.js';
import { tmpDir } from '../helpers/tmp.js';

const NET = 'virtio-net-pci@00:02.0';
const BLK = 'virtio-blk-pci@00:03.0';

/** The raw devrec.v1.Event bytes of every event in a file store, per stream, straight from the segment files. */
function rawFileEvents(dir: string): Map<string, Buffer[]> {
  const out = new Map<string, Buffer[]>();
  const segs = readdirSync(dir).filter((n) => parseSegmentName(n) !== undefined).sort();
  for (const name of segs) {
    const buf = readFileSync(path.join(dir, name));
    for (let off = SEGMENT_HEADER_BYTES; off < buf.length;) {
      const len = buf.readUInt32LE(off);
      const payload = buf.subarray(off + RECORD_PREFIX_BYTES, off + RECORD_PREFIX_BYTES + len);
      const h = parseRecordHeader(payload);
      forEachEvent(payload, h, (si, _ei, start, end) => {
        const s = h.streams[si]!.name;
        if (!out.has(s)) out.set(s, []);
        out.get(s)!.push(Buffer.from(payload.subarray(start, end)));
      });
      off += RECORD_PREFIX_BYTES + len;
    }
  }
  return out;
}

async function recordFixture(dir: string, rounds = 40): Promise<FileEventStore> {
  const store = await FileEventStore.open(dir);
  const recorder = new Recorder(store, { maxBatch: 97 }); // many small records
  for (const step of netLifecycle({ trafficRounds: rounds })) recorder.record(NET, step.event);
  for (const step of netLifecycle({ trafficRounds: 3, startNs: 1_800_000_000_000_000_000n })) recorder.record(BLK, step.event);
  await recorder.close();
  return store;
}

const onDouble = (server: KurrentDbClientDouble, prefix = `devrec-copy-${randomBytes(4).toString('hex')}`) =>
  new KurrentDbEventStore(server.newClient(), { prefix, url: 'double:kurrentdb', ownsClient: true });

async function statesAt(store: EventStore, id: string, revisions: number[]): Promise<unknown[]> {
  const projector = new Projector(store, { snapshotEvery: 64 });
  const out: unknown[] = [];
  for (const r of revisions) out.push(stateToJson(await projector.stateAt(id, r)));
  return out;
}

/** A target store that fails after `n` appends, like a process killed or a connection lost mid-copy. */
function failingAfter(inner: EventStore, n: number): EventStore {
  let appends = 0;
  const wrapper: EventStore = Object.create(inner);
  wrapper.append = async (stream: string, events: NewEvent[], expected?: AppendRequest['expectedRevision']): Promise<AppendResult> => {
    if (++appends > n) throw new Error('connection lost (simulated)');
    return inner.append(stream, events, expected);
  };
  return wrapper;
}

describe('copy between stores (library API; KurrentDB side on KurrentDbClientDouble, a test double)', function () {
  this.timeout(60000);

  it('double: a committed QEMU recording round-trips embedded -> KurrentDB -> embedded with identical events and state', async () => {
    const { importQemuTrace } = await import('../../src/sources/import-trace.js');
    const a = await FileEventStore.open(tmpDir());
    const summary = await importQemuTrace(a, path.resolve('streams/qemu/pc-modern-net-blk/trace.log.gz'));
    const k = onDouble(new KurrentDbClientDouble());
    const there = await copyStores(a, k);
    const b = await FileEventStore.open(tmpDir());
    const back = await copyStores(k, b);
    expect(there.verified && back.verified).to.equal(true);
    for (const d of summary.devices) {
      const head = await a.head(d.id);
      expect(await b.head(d.id)).to.equal(head);
      expect((await streamChecksum(b, d.id)).sha256).to.equal((await streamChecksum(a, d.id)).sha256);
      const revisions = [0, Math.floor(head / 2), head];
      expect(await statesAt(b, d.id, revisions), d.id).to.deep.equal(await statesAt(a, d.id, revisions));
      expect(await statesAt(k, d.id, revisions), `${d.id} on KurrentDB`).to.deep.equal(await statesAt(a, d.id, revisions));
    }
    await a.close();
    await b.close();
    await k.close();
  });

  it('double: embedded -> KurrentDB -> embedded keeps every event byte and every state', async () => {
    const dirA = tmpDir();
    const a = await recordFixture(dirA);
    const server = new KurrentDbClientDouble();
    const k = onDouble(server);
    const progress: CopyProgress[] = [];
    const r1 = await copyStores(a, k, { batchSize: 500, onProgress: (p) => progress.push(p) });
    const heads = { [NET]: await a.head(NET), [BLK]: await a.head(BLK) };
    expect(r1.streams.map((s) => [s.stream, s.copied, s.status, s.targetRevisionBefore])).to.deep.equal([
      [BLK, heads[BLK] + 1, 'copied', -1], [NET, heads[NET] + 1, 'copied', -1],
    ]);
    expect(r1.copied).to.equal(heads[NET] + heads[BLK] + 2);
    expect(r1.verified).to.equal(true);
    expect(progress.some((p) => p.phase === 'copy') && progress.some((p) => p.phase === 'verify')).to.equal(true);

    // On KurrentDB: the very bytes of the embedded log, one binary event per devrec event
    const rawA = rawFileEvents(dirA);
    for (const id of [NET, BLK]) {
      const stored = server.stored(k.names.device(id));
      expect(stored.length).to.equal(rawA.get(id)!.length);
      stored.forEach((s, i) => {
        expect(Buffer.from(s.data).equals(rawA.get(id)![i]!), `${id} event ${i}`).to.equal(true);
      });
    }

    // ... and back to a fresh embedded store
    const dirB = tmpDir();
    const b = await FileEventStore.open(dirB);
    const r2 = await copyStores(k, b);
    expect(r2.streams.map((s) => s.sha256)).to.deep.equal(r1.streams.map((s) => s.sha256));
    await b.close();
    await a.close();
    const rawB = rawFileEvents(dirB);
    for (const id of [NET, BLK]) {
      expect(rawB.get(id)!.length).to.equal(rawA.get(id)!.length);
      rawB.get(id)!.forEach((bytes, i) => expect(bytes.equals(rawA.get(id)![i]!), `${id} event ${i}`).to.equal(true));
    }

    // identical state at every labelled point and at the end, on all three stores
    const a2 = await FileEventStore.open(dirA, { readOnly: true });
    const b2 = await FileEventStore.open(dirB, { readOnly: true });
    const points = [0, 28, 60, 100, heads[NET]];
    const want = await statesAt(a2, NET, points);
    expect(await statesAt(k, NET, points)).to.deep.equal(want);
    expect(await statesAt(b2, NET, points)).to.deep.equal(want);
    expect(await statesAt(b2, BLK, [heads[BLK]])).to.deep.equal(await statesAt(a2, BLK, [heads[BLK]]));
    await a2.close();
    await b2.close();
    await k.close();
  });

  it('double: resumes an interrupted copy: a second run compares what is there and copies only the missing tail', async () => {
    const a = await recordFixture(tmpDir());
    const head = await a.head(NET);
    const server = new KurrentDbClientDouble();
    const k = onDouble(server);
    expect(head).to.be.greaterThan(250);
    // killed after 2 appends of 100 events
    const lost = await expectRejected(copyStores(a, failingAfter(k, 2), { streams: [NET], batchSize: 100 }), Error);
    expect(lost.message).to.contain('connection lost (simulated)');
    expect(await k.head(NET)).to.equal(199);
    const again = await copyStores(a, k, { streams: [NET], batchSize: 100 });
    expect(again.streams[0]).to.deep.include({ targetRevisionBefore: 199, copied: head - 199, events: head + 1, status: 'copied' });
    expect((await streamChecksum(k, NET)).sha256).to.equal((await streamChecksum(a, NET)).sha256);
    // stopped on purpose (Ctrl-C in the CLI): the same
    const k2 = onDouble(server);
    const abort = new AbortController();
    const err = await expectRejected(copyStores(a, k2, {
      streams: [NET], batchSize: 50, signal: abort.signal,
      onProgress: (p) => { if (p.phase === 'copy' && p.done >= 100) abort.abort(); },
    }), CopyInterruptedError);
    expect(err.message).to.contain('run the same copy again to resume');
    expect(await k2.head(NET)).to.equal(99);
    const resumed = await copyStores(a, k2, { streams: [NET] });
    expect(resumed.streams[0]).to.deep.include({ targetRevisionBefore: 99, copied: head - 99 });
    // and a third run has nothing to do
    const noop = await copyStores(a, k2, { streams: [NET] });
    expect(noop.streams[0]).to.deep.include({ copied: 0, status: 'up-to-date', events: head + 1 });
    await k.close();
    await k2.close();
    await a.close();
  });

  it('double: refuses a target whose events differ from the source\'s (bytes), or that has more of them, and writes nothing', async () => {
    const a = await recordFixture(tmpDir(), 5);
    const server = new KurrentDbClientDouble();
    const k = onDouble(server);
    // the first 10 events are the source's, the 11th is not
    const first = (await collect(a.read(NET, { to: 9 }))).map((e) => e.event);
    await k.append(NET, first);
    await k.append(NET, [statusEv(0x42)]);
    const err = await expectRejected(copyStores(a, k, { streams: [NET] }), CopyMismatchError) as CopyMismatchError;
    expect(err.revision).to.equal(10);
    expect(err.message).to.contain(`device "${NET}" at revision 10: the event bytes differ`);
    expect(await k.head(NET)).to.equal(10);
    // a difference in a single field: the timestamp
    const k2 = onDouble(server);
    await k2.append(NET, first.map((e, i) => (i === 3 ? { ...e, timestampNs: e.timestampNs + 1n } : e)));
    expect((await expectRejected(copyStores(a, k2, { streams: [NET] }), CopyMismatchError) as CopyMismatchError).revision).to.equal(3);
    expect(await k2.head(NET)).to.equal(9);
    // a target that is ahead of the source
    const small = await FileEventStore.open(tmpDir());
    await small.append(NET, first.slice(0, 5));
    const ahead = await expectRejected(copyStores(small, k2, { streams: [NET] }), CopyMismatchError);
    expect(ahead.message).to.contain('the target has 10 event(s), the source only 5');
    await small.close();
    await k.close();
    await k2.close();
    await a.close();
  });
});
