// The record table (src/migration/records.ts) is the one list of migration records: every record the encoder
// writes has a row (with the flags and the chunk the row says), every row is written by some real device state,
// every tag devrec names has a row, and inspect names each record by its row.
import { expect } from 'chai';
import type { NewEvent } from '../../src/events/types.js';
import { type EncodedChunks, encodeChunks } from '../../src/migration/encode.js';
import { RECORD_FLAG_OPTIONAL, TAG, walkRecords } from '../../src/migration/format.js';
import { inspectMigrationStream } from '../../src/migration/inspect.js';
import { MIGRATION_RECORDS, migrationRecord } from '../../src/migration/records.js';
import { MIGRATION_SPECS } from '../../src/migration/schema.js';
import {
  NET, legacyBlkEvents, mmioLegacyEvents, netStore, packedNetEvents, stateOf, storeWith, vdpaEvents, wideEvents,
} from './fixtures.js';

async function chunksOf(events: NewEvent[], device: string): Promise<EncodedChunks> {
  const store = await storeWith(device, events);
  return encodeChunks(await stateOf(store, device), { vfioFlags: 7, exportedAtNs: 1n });
}

describe('migration: the record table', function () {
  it('has one row per tag, a row for every tag devrec names, and known message types', function () {
    const tags = MIGRATION_RECORDS.map((r) => r.tag);
    expect(new Set(tags).size).to.equal(tags.length);
    expect(MIGRATION_RECORDS.map((r) => r.name).sort()).to.deep.equal(Object.keys(TAG).sort());
    for (const r of MIGRATION_RECORDS) {
      expect(TAG[r.name], r.name).to.equal(r.tag);
      if (r.message) expect(MIGRATION_SPECS, r.name).to.have.property(r.message);
      // an optional record is one a reader may skip: it cannot also be required
      expect(r.required && r.optional, r.name).to.equal(false);
    }
    expect(MIGRATION_RECORDS[0]!.name).to.equal('SCHEMA_HEADER');
    expect(MIGRATION_RECORDS.at(-1)!.name).to.equal('INTEGRITY');
  });

  it('covers every record the encoder writes, in both chunks, with the row\'s flags; every row is written; inspect names each by its row', async function () {
    const net = await netStore(5);
    const states = [
      encodeChunks(await stateOf(net, NET), { vfioFlags: 7, exportedAtNs: 1n }),
      await chunksOf(legacyBlkEvents(), 'blk'), await chunksOf(packedNetEvents(), 'packed'), await chunksOf(vdpaEvents(), 'vdpa'),
      await chunksOf(wideEvents(), 'wide'), await chunksOf(mmioLegacyEvents(), 'mmio'),
    ];
    const written = new Set<string>();
    for (const c of states) {
      for (const [chunk, bytes] of [['precopy', c.precopy], ['stop-copy', c.stopCopy]] as const) {
        const framing = walkRecords(bytes);
        expect(framing.error).to.equal(undefined);
        let lastIndex = -1;
        for (const rec of framing.records) {
          const row = migrationRecord(rec.tag);
          expect(row, `tag 0x${rec.tag.toString(16)}`).to.not.equal(undefined);
          expect(row!.chunks, row!.name).to.include(chunk);
          expect((rec.flags & RECORD_FLAG_OPTIONAL) !== 0, `${row!.name} flags`).to.equal(row!.optional);
          // within a chunk, records come in table order
          const index = MIGRATION_RECORDS.indexOf(row!);
          expect(index, `${row!.name} after row ${lastIndex}`).to.be.greaterThan(lastIndex);
          lastIndex = index;
          written.add(row!.name);
        }
      }
      const stream = new Uint8Array(c.precopy.length + c.stopCopy.length);
      stream.set(c.precopy);
      stream.set(c.stopCopy, c.precopy.length);
      const report = inspectMigrationStream(stream);
      expect(report.ok).to.equal(true);
      for (const r of report.records) {
        expect(r.name).to.equal(migrationRecord(Number(r.tag))!.name);
        expect(r.error, r.name).to.equal(undefined);
      }
      // every required row is in every stream
      for (const row of MIGRATION_RECORDS.filter((x) => x.required)) expect(report.records.map((r) => r.name), row.name).to.include(row.name);
    }
    expect([...written].sort()).to.deep.equal(MIGRATION_RECORDS.map((r) => r.name).sort());
  });
});
