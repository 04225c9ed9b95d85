import { expect } from 'chai';
import type { DeviceEvent } from '../../src/events/types.js';
import { FileEventStore } from '../../src/store/file-store.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import { scanStream, type EventStore } from '../../src/store/types.js';
import { collect, statusEv, vqEv } from '../helpers/events.js';
import { tmpDir } from '../helpers/tmp.js';

for (const [name, make] of [
  ['file (fast path)', async () => FileEventStore.open(tmpDir(), { segmentBytes: 2048 })],
  ['memory (readChunks fallback)', async () => new MemoryEventStore()],
] as [string, () => Promise<EventStore>][]) {
  describe(`scanStream: ${name}`, function () {
    it('visits exactly the events read() returns for every range, interleaved streams included', async function () {
      const store = await make();
      for (let i = 0; i < 60; i++) {
        await store.appendMany([{ stream: 'a', events: [vqEv(0, i + 1), statusEv(i)] }, { stream: 'b', events: [statusEv(i)] }]);
      }
      for (const [from, to] of [[0, 119], [5, 5], [7, 64], [100, 500], [119, 119], [30, 20]] as [number, number][]) {
        const seen: DeviceEvent[] = [];
        const n = await scanStream(store, 'a', { from, to }, (e) => seen.push(e));
        const expected = (await collect(store.read('a', { from, to }))).map((e) => e.event);
        expect(n, `${from}..${to}`).to.equal(expected.length);
        expect(seen, `${from}..${to}`).to.deep.equal(expected);
      }
      expect(await scanStream(store, 'missing', {}, () => undefined)).to.equal(0);
      await store.close();
    });
  });
}
