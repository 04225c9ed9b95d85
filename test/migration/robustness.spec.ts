// The importer on damaged and hostile input: every byte flip and every truncation of a small stream (both
// formats) is rejected with an offset; random damage of a larger one (fixed seed); content damage behind a
// valid integrity record; versioning, unknown tags, oversized lengths. It only ever throws MigrationFormatError.
import { expect } from 'chai';
import { exportDevice } from '../../src/migration/exporter.js';
import { encodeFeaturesPart } from '../../src/migration/device-parts.js';
import { encodeStream } from '../../src/migration/encode.js';
import {
  FORMAT_MAJOR, FORMAT_MINOR, MAX_RECORD_SIZE, MigrationFormatError, RECORDER_VERSION, TAG, concat, encodeRecords,
  integrityRecord, sealRecords,
} from '../../src/migration/format.js';
import { parseMigrationStream } from '../../src/migration/importer.js';
import { readFileSync } from 'node:fs';
import type { NewEvent } from '../../src/events/types.js';
import { inspectMigrationStream } from '../../src/migration/inspect.js';
import { ev, insertRecords, legacyBlkEvents, packedNetEvents, mmioLegacyEvents, netStore, NET, reseal, stateOf, storeWith } from './fixtures.js';
import { prng as rng } from '../helpers/prng.js';

function rejects(bytes: Uint8Array, what: string): MigrationFormatError {
  let err: unknown;
  try {
    parseMigrationStream(bytes);
  } catch (e) {
    err = e;
  }
  expect(err, `${what}: accepted`).to.be.instanceOf(MigrationFormatError);
  const e = err as MigrationFormatError;
  expect(e.offset, what).to.be.a('number');
  expect(e.offset, what).to.be.within(0, bytes.length);
  expect(e.message, what).to.match(/^offset \d+/);
  return e;
}

/** Parses, and if it throws, it must be a MigrationFormatError with an offset inside the input. */
function parsesOrRejects(bytes: Uint8Array, what: string): boolean {
  try {
    parseMigrationStream(bytes);
    return true;
  } catch (e) {
    expect(e, what).to.be.instanceOf(MigrationFormatError);
    expect((e as MigrationFormatError).offset, what).to.be.within(0, bytes.length);
    return false;
  }
}

async function smallStreams() {
  const store = await storeWith('rng', mmioLegacyEvents());
  const devrec = (await exportDevice(store, 'rng', { at: 5, now: () => 1n })).bytes;
  const qemu = (await exportDevice(store, 'rng', { at: 5, now: () => 1n, format: 'qemu-vfio' })).bytes;
  return { devrec, qemu };
}

describe('migration: damaged and hostile streams', function () {
  this.timeout(120000);

  it('rejects every single-byte flip of a small stream, in both formats, naming an offset (exhaustive)', async function () {
    const { devrec, qemu } = await smallStreams();
    expect(devrec.length).to.be.below(1000);
    for (const [name, bytes] of [['devrec', devrec], ['qemu-vfio', qemu]] as const) {
      parseMigrationStream(bytes);
      let n = 0;
      for (let i = 0; i < bytes.length; i++) {
        for (const mask of [0x01, 0x10, 0x80, 0xff]) {
          const b = bytes.slice();
          b[i]! ^= mask;
          rejects(b, `${name} byte ${i} ^ 0x${mask.toString(16)}`);
          n++;
        }
      }
      expect(n).to.equal(bytes.length * 4);
    }
  });

  it('rejects every truncation of a small stream, in both formats (exhaustive)', async function () {
    const { devrec, qemu } = await smallStreams();
    for (const [name, bytes] of [['devrec', devrec], ['qemu-vfio', qemu]] as const) {
      for (let len = 0; len < bytes.length; len++) rejects(bytes.subarray(0, len), `${name} cut to ${len}`);
    }
  });

  it('rejects random damage to a larger stream (fixed seed): flips, runs, inserted and deleted bytes', async function () {
    const events: NewEvent[] = [
      ev({ kind: 'identified', aliases: [], type: 'net', virtioId: 1, transport: 'pci-modern', numQueues: 64, configSize: 256, pciVendor: 0x1af4, pciDevice: 0x1041, pciSubsystemVendor: 0x1af4, pciSubsystem: 0x1100, pciRevision: 1, backend: 'qemu' }, 'vmm', 'internal'),
      ev({ kind: 'deviceFeatures', value: 0x1_0000_0000n, highWords: [] }, 'device', 'internal'),
      ev({ kind: 'statusWritten', status: 0 }),
      ...Array.from({ length: 64 }, (_, q) => ev({ kind: 'queueConfigured', index: q, size: 1024, desc: BigInt(q) << 20n, driver: (BigInt(q) << 20n) + 0x4000n, device: (BigInt(q) << 20n) + 0x8000n, enabled: true, msixVector: q })),
      ...Array.from({ length: 64 }, (_, q) => ev({ kind: 'vqIndex', index: q, availDelta: q * 7, usedDelta: q * 5 }, 'device', 'internal')),
    ];
    const store = await storeWith('big', events);
    for (const format of ['devrec', 'qemu-vfio'] as const) {
      const bytes = (await exportDevice(store, 'big', { at: events.length - 1, format })).bytes;
      expect(bytes.length).to.be.above(4000);
      const r = rng(0x5eed + bytes.length);
      for (let k = 0; k < 3000; k++) {
        const b = bytes.slice();
        const i = Math.floor(r() * b.length);
        const kind = k % 4;
        let damaged: Uint8Array = b;
        if (kind === 0) b[i] = (b[i]! ^ (1 + Math.floor(r() * 255))) & 0xff;
        else if (kind === 1) for (let j = i; j < Math.min(b.length, i + 1 + Math.floor(r() * 16)); j++) b[j] = Math.floor(r() * 256);
        else if (kind === 2) damaged = concat(b.subarray(0, i), Uint8Array.of(Math.floor(r() * 256)), b.subarray(i));
        else damaged = concat(b.subarray(0, i), b.subarray(i + 1));
        if (kind === 1 && Buffer.from(damaged).equals(Buffer.from(bytes))) continue; // the random run rewrote the same bytes
        rejects(damaged, `${format} damage #${k} (${kind}) at ${i}`);
      }
    }
  });

  it('content damage behind a valid integrity record is rejected or read, never anything else (fixed seed)', async function () {
    const store = await netStore(10);
    const bytes = (await exportDevice(store, NET, { at: 70, now: () => 1n })).bytes;
    const r = rng(42);
    let accepted = 0;
    for (let k = 0; k < 4000; k++) {
      const b = bytes.slice();
      const i = Math.floor(r() * (b.length - 48));
      b[i] = Math.floor(r() * 256);
      if (parsesOrRejects(reseal(b), `resealed flip at ${i}`)) accepted++;
    }
    // some flips land in values any state may hold (an index, a config byte): those parse, to a different state
    expect(accepted).to.be.above(0);
  });

  it('random garbage, and garbage behind a qemu-vfio setup tag, is rejected without hanging (fixed seed)', function () {
    const r = rng(7);
    const setup = Buffer.from('ffffffffef100003ffffffffef100001', 'hex');
    for (let k = 0; k < 3000; k++) {
      const len = Math.floor(r() * 600);
      const b = new Uint8Array(len);
      for (let i = 0; i < len; i++) b[i] = Math.floor(r() * 256);
      rejects(b, `garbage #${k}`);
      rejects(concat(setup, b), `qemu garbage #${k}`);
    }
  });

  it('refuses an empty stream, an empty DEVICE_DATA record and a stream with no device parts', async function () {
    expect(rejects(new Uint8Array(0), 'empty').reason).to.match(/empty stream/);
    const state = await stateOf(await storeWith('rng', mmioLegacyEvents()), 'rng');
    const good = encodeStream(state, { vfioFlags: 7, exportedAtNs: 1n });
    const strip = (tagToDrop: number, replace?: Uint8Array) => {
      const recs = [];
      let pos = 0;
      const dv = new DataView(good.buffer, good.byteOffset);
      while (pos < good.length - 48) {
        const size = Number(dv.getBigUint64(pos, true));
        const flags = dv.getUint32(pos + 8, true);
        const tag = dv.getUint32(pos + 12, true);
        const data = good.subarray(pos + 16, pos + 16 + size);
        if (tag !== tagToDrop) recs.push({ tag, flags, data });
        else if (replace) recs.push({ tag, flags, data: replace });
        pos += 16 + size;
      }
      return sealRecords(recs);
    };
    expect(rejects(strip(TAG.DEVICE_DATA), 'no device data').reason).to.match(/no device parts: the stream carries empty device data/);
    expect(rejects(strip(TAG.DEVICE_DATA, new Uint8Array(0)), 'empty device data').reason).to.match(/empty DEVICE_DATA record/);
    expect(rejects(strip(TAG.VQ_STATE), 'no VQ_STATE').reason).to.match(/no VQ_STATE record/);
  });

  it('skips an unknown optional record, rejects an unknown mandatory one with its tag', async function () {
    const { devrec } = await smallStreams();
    const withOptional = insertRecords(devrec, [{ tag: 0x12345678, flags: 1, data: Uint8Array.of(1, 2, 3) }]);
    const parsed = parseMigrationStream(withOptional);
    const skipped = parsed.records.filter((r) => r.skipped);
    expect(skipped.map((r) => [r.tag, r.size])).to.deep.equal([[0x12345678, 3]]);
    expect(parsed.state).to.deep.equal(parseMigrationStream(devrec).state);
    const withMandatory = insertRecords(devrec, [{ tag: 0x12345678, flags: 0, data: Uint8Array.of(1, 2, 3) }]);
    const e = rejects(withMandatory, 'unknown mandatory');
    expect(e.tag).to.equal(0x12345678);
    expect(e.reason).to.equal('unknown mandatory record tag');
    expect(e.offset).to.equal(devrec.length - 48);
    expect(e.message).to.equal(`offset ${devrec.length - 48} (record tag 0x12345678): unknown mandatory record tag`);
    // the same rule inside the device data: an unknown optional device part is skipped, a mandatory one refused
    const optPart = concat(Uint8Array.of(0xff, 0x01, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0), Uint8Array.of(9, 9));
    const p = parseMigrationStream(insertRecords(devrec, [{ tag: TAG.DEVICE_DATA, flags: 0, data: optPart }]));
    expect(p.skippedParts.map((x) => x.type)).to.deep.equal([0x1ff]);
    const manPart = optPart.slice();
    manPart[2] = 0;
    expect(rejects(insertRecords(devrec, [{ tag: TAG.DEVICE_DATA, flags: 0, data: manPart }]), 'mandatory part').reason).to.match(/unknown mandatory device part type 0x1ff/);
    // device parts out of the spec's order
    expect(rejects(insertRecords(devrec, [{ tag: TAG.DEVICE_DATA, flags: 0, data: encodeFeaturesPart(0x100, [1n]) }]), 'order').reason)
      .to.match(/VIRTIO_DEV_PART_DEV_FEATURES after VIRTIO_DEV_PART_VQ_CFG: device parts must be in the spec's mandatory order/);
    // a known record twice
    expect(rejects(insertRecords(devrec, [{ tag: TAG.MSIX, flags: 0, data: new Uint8Array(0) }]), 'twice').reason).to.match(/a second MSIX record/);
  });

  it('accepts a newer minor version, rejects a newer major one (and an older, unknown one)', async function () {
    const state = await stateOf(await storeWith('rng', mmioLegacyEvents()), 'rng');
    const meta = { vfioFlags: 7, exportedAtNs: 1n };
    const minor = parseMigrationStream(encodeStream(state, { ...meta, minor: FORMAT_MINOR + 1 }));
    expect([minor.major, minor.minor]).to.deep.equal([FORMAT_MAJOR, FORMAT_MINOR + 1]);
    expect(minor.state).to.deep.equal(parseMigrationStream(encodeStream(state, meta)).state);
    const major = rejects(encodeStream(state, { ...meta, major: FORMAT_MAJOR + 1 }), 'newer major');
    expect(major.reason).to.match(/format 2\.\d+ is newer than this devrec reads \(1\.x/);
    expect(major.offset).to.equal(24);
    expect(major.tag).to.equal(TAG.SCHEMA_HEADER);
    expect(rejects(encodeStream(state, { ...meta, major: 0 }), 'major 0').reason).to.match(/format 0\.\d+ is not a format this devrec reads/);
  });

  it('rejects oversized lengths without allocating them', async function () {
    const { devrec, qemu } = await smallStreams();
    const headerLen = 16 + Number(Buffer.from(devrec).readBigUInt64LE(0));
    const huge = (size: bigint) => {
      const rec = new Uint8Array(16);
      const dv = new DataView(rec.buffer);
      dv.setBigUint64(0, size, true);
      dv.setUint32(12, TAG.DEVICE_DATA, true);
      return concat(devrec.subarray(0, headerLen), rec, new Uint8Array(8));
    };
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    for (const size of [0xffffffffffffffffn, 1n << 62n, BigInt(MAX_RECORD_SIZE) + 1n]) {
      expect(rejects(huge(size), `size ${size}`).reason).to.match(new RegExp(`record_size ${size} is over the ${MAX_RECORD_SIZE}-byte cap`));
    }
    expect(rejects(huge(BigInt(MAX_RECORD_SIZE)), 'at the cap').reason).to.match(/runs past the end: 8 bytes follow the record header/);
    // a device part whose length runs past its record
    const part = Uint8Array.of(0x04, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff);
    expect(rejects(insertRecords(devrec, [{ tag: TAG.DEVICE_DATA, flags: 0, data: part }]), 'part length').reason)
      .to.match(/VIRTIO_DEV_PART_VQ_CFG length 4294967295 runs past the record: 0 bytes follow its header/);
    // a protobuf length inside a devrec record
    const pb = Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f);
    expect(rejects(insertRecords(devrec.slice(), [{ tag: TAG.VQ_STATE, flags: 0, data: pb }]), 'protobuf length').message).to.match(/VQ_STATE/);
    // a QEMU DEV_DATA_STATE size
    const q = qemu.slice();
    Buffer.from(q.buffer).writeBigUInt64BE(0xfffffffffffff000n, 24);
    expect(rejects(q, 'qemu size').reason).to.match(/DEV_DATA_STATE size 18446744073709547520 runs past the end/);
    expect(performance.now() - t0).to.be.below(500);
    expect(process.memoryUsage().arrayBuffers - before).to.be.below(16 * 1024 * 1024);
  });

  it('names the offset of the first problem: a bad integrity hash, a record after the integrity record, bad magic', async function () {
    const { devrec } = await smallStreams();
    const b = devrec.slice();
    b[40] ^= 1;
    const e = rejects(b, 'flip');
    expect(e.reason).to.match(/^integrity check failed: SHA-256 of bytes 0\.\.\d+ is [0-9a-f]{64}, the integrity record says [0-9a-f]{64}$/);
    expect(e.offset).to.equal(devrec.length - 32);
    const after = concat(devrec, encodeRecords([{ tag: 0x1, flags: 1, data: new Uint8Array(0) }]));
    expect(rejects(after, 'after').reason).to.match(/16 bytes follow the integrity record, which must be last/);
    const magic = devrec.slice();
    magic[16] = 0x58;
    expect(rejects(reseal(magic), 'magic').reason).to.match(/schema header magic is "XEVRECMS", not "DEVRECMS"/);
    const flags = devrec.slice();
    flags[8] = 0x02;
    expect(rejects(flags, 'flags').reason).to.match(/reserved flag bits 0x2 are set/);
    const notHeader = sealRecords([{ tag: TAG.MSIX, flags: 0, data: new Uint8Array(0) }]);
    expect(rejects(notHeader, 'no header').reason).to.match(/must start with the schema header record/);
    const unsealed = devrec.subarray(0, devrec.length - 48);
    expect(rejects(unsealed, 'unsealed').reason).to.match(/no integrity record at the end/);
    const noIntegrityButHash = concat(unsealed, integrityRecord(unsealed).subarray(0, 40));
    rejects(noIntegrityButHash, 'short integrity');
  });

  it('keeps RECORDER_VERSION equal to package.json', function () {
    expect(RECORDER_VERSION).to.equal(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });

  it('writes the guest endianness as little for virtio 1.x and unspecified for legacy (the state does not record it)', async function () {
    const mode = async (events: NewEvent[]) => {
      const store = await storeWith('d', events);
      const report = inspectMigrationStream((await exportDevice(store, 'd')).bytes);
      return report.records.find((r) => r.name === 'TRANSPORT_MODE')!.decoded;
    };
    expect(await mode(legacyBlkEvents())).to.deep.include({ legacy: true, transitional: true, guestEndian: 'unspecified' });
    expect(await mode(packedNetEvents())).to.deep.include({ legacy: false, transitional: false, guestEndian: 'little' });
  });
});
