import { expect } from 'chai';
import { Recorder } from '../../src/record/recorder.js';
import { FileEventStore } from '../../src/store/file-store.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import type { AppendRequest } from '../../src/store/types.js';
import { collect } from '../helpers/events.js';
import { tmpDir } from '../helpers/tmp.js';

describe('Recorder', function () {
  it('batches, keeps per-device order, and flush() means durable', async function () {
    const dir = tmpDir();
    const store = await FileEventStore.open(dir);
    const batches: number[] = [];
    const orig = store.appendMany.bind(store);
    store.appendMany = (reqs: AppendRequest[]) => {
      batches.push(reqs.reduce((n, r) => n + r.events.length, 0));
      return orig(reqs);
    };
    const rec = new Recorder(store, { bufferMs: 5, maxBatch: 500 });
    for (let i = 0; i < 1234; i++) rec.record(i % 2 ? 'a' : 'b', { body: { kind: 'vqIndex', index: 0, lastAvailIdx: i } });
    expect(rec.pending).to.equal(1234);
    await rec.flush();
    expect(rec.pending).to.equal(0);
    expect(batches.reduce((a, b) => a + b, 0)).to.equal(1234);
    expect(Math.max(...batches)).to.be.at.most(500);
    await rec.close();
    await store.close();
    // durable: a new opener sees everything, in order
    const again = await FileEventStore.open(dir);
    const a = await collect(again.read('a'));
    expect(a.map((e) => (e.event.body as { lastAvailIdx: number }).lastAvailIdx)).to.deep.equal([...Array(617).keys()].map((k) => 2 * k + 1));
    await again.close();
  });

  it('stamps time that never goes backwards within a device', async function () {
    const store = new MemoryEventStore();
    let t = 1000n;
    const rec = new Recorder(store, { clock: () => (t -= 10n) });
    rec.record('d', { body: { kind: 'statusWritten', status: 1 } });
    rec.record('d', { body: { kind: 'statusWritten', status: 3 } });
    rec.record('d', { timestampNs: 5000n, body: { kind: 'statusWritten', status: 7 } });
    await rec.close();
    const ts = (await collect(store.read('d'))).map((e) => e.event.timestampNs);
    expect(ts).to.deep.equal([990n, 990n, 5000n]);
  });

  it('reports a failed batch from flush() instead of losing it silently', async function () {
    const store = new MemoryEventStore();
    const rec = new Recorder(store, { bufferMs: 1 });
    await store.close();
    rec.record('d', { body: { kind: 'statusWritten', status: 1 } });
    let err: unknown;
    try {
      await rec.flush();
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/recording failed for 1 batch/);
    expect(rec.pending).to.equal(0);
    await rec.close();
  });
});
