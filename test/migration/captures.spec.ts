// Round trip of every device of every committed QEMU capture: trace -> store -> export (both formats) -> parse
// and import into another store -> the same state as the source at the exported revision.
import { expect } from 'chai';
import path from 'node:path';
import { exportDevice } from '../../src/migration/exporter.js';
import { importStream, parseMigrationStream } from '../../src/migration/importer.js';
import { Projector } from '../../src/project/projector.js';
import { importQemuTrace } from '../../src/sources/import-trace.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import { comparable, comparableAcrossStores } from './fixtures.js';

const CAPTURES = ['pc-modern-net-blk', 'pc-legacy-msix', 'pc-legacy-intx', 'pc-packed', 'microvm-mmio-legacy', 'microvm-mmio-modern'];

describe('migration: round trip of every device in the committed QEMU captures', function () {
  this.timeout(120000);
  for (const variant of CAPTURES) {
    it(`${variant}: export -> import stream gives the source state, in both formats, at two revisions`, async function () {
      const source = new MemoryEventStore();
      const summary = await importQemuTrace(source, path.resolve('streams/qemu', variant, 'trace.log.gz'));
      expect(summary.devices.length).to.be.greaterThan(0);
      for (const d of summary.devices) {
        const head = await source.head(d.id);
        for (const at of [Math.floor(head * 0.6), head]) {
          const expected = await new Projector(source).stateAt(d.id, at);
          for (const format of ['devrec', 'qemu-vfio'] as const) {
            const bytes = (await exportDevice(source, d.id, { at, format, now: () => 1n })).bytes;
            expect(comparable(parseMigrationStream(bytes).state), `${d.id}@${at} ${format}`).to.deep.equal(comparable(expected));
            const target = new MemoryEventStore();
            await importStream(target, bytes);
            const landed = await new Projector(target).stateAt(d.id);
            expect(comparableAcrossStores(landed), `${d.id}@${at} ${format} imported`).to.deep.equal(comparableAcrossStores(expected));
          }
        }
      }
    });
  }
});
