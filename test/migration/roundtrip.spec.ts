// Export -> import gives back the projected state: the simulated virtio-net at several revisions and the
// synthetic recordings (legacy PFN rings, packed rings, vDPA, bit 63 / 64-bit addresses, virtio-mmio v1), in
// both formats, through the parser and through a second store.
import { expect } from 'chai';
import type { NewEvent } from '../../src/events/types.js';
import { PART, decodeParts } from '../../src/migration/device-parts.js';
import { exportDevice } from '../../src/migration/exporter.js';
import { TAG, identityMap, walkRecords } from '../../src/migration/format.js';
import { MigrationImportError, importStream, parseMigrationStream } from '../../src/migration/importer.js';
import { Projector } from '../../src/project/projector.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import { collect } from '../helpers/events.js';
import {
  NET, comparable, comparableAcrossStores, legacyBlkEvents, mmioLegacyEvents, netStore, packedNetEvents, stateOf, storeWith,
  vdpaEvents, wideEvents,
} from './fixtures.js';

async function roundTrip(events: NewEvent[], device: string, at?: number) {
  const store = await storeWith(device, events);
  const rev = at ?? await store.head(device);
  const source = await stateOf(store, device, rev);
  const out: Record<string, ReturnType<typeof parseMigrationStream>> = {};
  for (const format of ['devrec', 'qemu-vfio'] as const) {
    const r = await exportDevice(store, device, { at: rev, format });
    const parsed = parseMigrationStream(r.bytes);
    expect(parsed.format).to.equal(format);
    expect(comparable(parsed.state), `${device} ${format}`).to.deep.equal(comparable(source));
    out[format] = parsed;
  }
  return { store, source, parsed: out['devrec']!, qemu: out['qemu-vfio']! };
}

describe('migration: round trip', function () {
  it('the simulated virtio-net at several revisions (before, during and after negotiation, mid traffic, after re-init)', async function () {
    const store = await netStore(40);
    const head = await store.head(NET);
    const projector = new Projector(store);
    const revisions = [0, 2, 30, 60, 75, 100, 133, head];
    for (const at of revisions) {
      const source = await projector.stateAt(NET, at);
      if (source.status === null) {
        // before the driver's first reset nothing has told us the status: export refuses, naming it
        const e = await exportDevice(store, NET, { at }).then(() => undefined, (err: Error) => err);
        expect(e?.message, `revision ${at}`).to.match(/the (device status|driver features) is unknown/);
        continue;
      }
      for (const format of ['devrec', 'qemu-vfio'] as const) {
        const r = await exportDevice(store, NET, { at, format });
        expect(r.revision).to.equal(at);
        const parsed = parseMigrationStream(r.bytes);
        expect(comparable(parsed.state), `revision ${at} ${format}`).to.deep.equal(comparable(source));
        // revision, event count and timestamp come back from the header's provenance
        expect(parsed.state.revision).to.equal(at);
        expect(parsed.header.provenance!.sourceStream).to.equal(NET);
        expect(parsed.schemaMatches).to.equal(true);
      }
    }
  });

  it('imports into another store as a new stream that projects to the same state, and recording continues', async function () {
    const store = await netStore(30);
    const at = 90;
    const source = await stateOf(store, NET, at);
    const r = await exportDevice(store, NET, { at });
    const target = new MemoryEventStore();
    const imp = await importStream(target, r.bytes);
    expect(imp.device).to.equal(NET);
    const events = (await collect(target.read(NET))).map((e) => e.event);
    expect(events.map((e) => e.body.kind)).to.deep.equal(['vfioState', 'snapshot', 'vfioState', 'vfioState', 'vfioState']);
    expect(events.filter((e) => e.body.kind === 'vfioState').map((e) => e.body.kind === 'vfioState' && `${e.body.from}>${e.body.to}`))
      .to.deep.equal(['stop>resuming', 'resuming>stop', 'stop>running-p2p', 'running-p2p>running']);
    expect(events.every((e) => e.source === 'migration-stream')).to.equal(true);
    expect(events.filter((e) => e.body.kind === 'vfioState').every((e) => e.actor === 'vmm' && e.path === 'vfio-ioctl')).to.equal(true);
    const imported = await stateOf(target, NET);
    expect(imported.vfioState).to.equal('running');
    expect(imported.revision).to.equal(4);
    expect(comparableAcrossStores(imported)).to.deep.equal(comparableAcrossStores(source));
    // recording continues from the imported state: traffic moves the indices on
    await target.append(NET, [{ timestampNs: 1n, actor: 'device', path: 'internal', source: 'api', body: { kind: 'vqIndex', index: 0, availDelta: 5, usedDelta: 5 } }]);
    const after = await stateOf(target, NET);
    expect(after.queues[0]!.lastAvailIdx).to.equal(source.queues[0]!.lastAvailIdx! + 5);
  });

  it('--as names the new stream; an existing stream is refused and nothing is written', async function () {
    const store = await netStore(5);
    const r = await exportDevice(store, NET);
    let err: unknown;
    try {
      await importStream(store, r.bytes);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(MigrationImportError);
    expect((err as Error).message).to.match(/already exists.*--as/);
    const headBefore = await store.head(NET);
    const imp = await importStream(store, r.bytes, { as: 'copy-of-net' });
    expect(imp.device).to.equal('copy-of-net');
    expect(await store.head(NET)).to.equal(headBefore);
    const copy = await stateOf(store, 'copy-of-net');
    expect(copy.device).to.equal('copy-of-net');
    const { device: _a, ...x } = comparableAcrossStores(copy);
    const { device: _b, ...y } = comparableAcrossStores(await stateOf(store, NET, r.revision));
    expect(x).to.deep.equal(y);
  });

  it('a legacy virtio-blk (pci-legacy, QUEUE_PFN ring, INTx, legacy-write features, config space with MSI-X capability)', async function () {
    const { source, parsed } = await roundTrip(legacyBlkEvents(), 'virtio-blk-pci@00:04.0');
    expect(source.queues[0]!.pfn).to.equal(0x37f12);
    expect(source.features.acceptedVia).to.equal('legacy-write');
    expect(source.queues[0]!.lastAvailIdx).to.equal(70000 & 0xffff);
    const mode = parsed.records.find((r) => r.tag === TAG.TRANSPORT_MODE);
    expect(mode).to.not.equal(undefined);
    expect(parsed.state.queues[0]).to.deep.include({ pfn: 0x37f12, desc: 0x37f12000n, enabled: true });
    expect(parsed.state.pci!.config.length).to.equal(0x60);
  });

  it('a packed-ring device with wrap counters false and true', async function () {
    const { source, parsed } = await roundTrip(packedNetEvents(), 'virtio-net-pci@00:05.0');
    expect(source.queues.map((q) => [q.lastAvailIdx, q.availWrap, q.usedIdx, q.usedWrap])).to.deep.equal([
      [44, false, 34, false],
      [88, true, 8, true],
    ]);
    expect(parsed.state.queues.map((q) => [q.availWrap, q.usedWrap])).to.deep.equal([[false, false], [true, true]]);
    // and at a revision before any traffic, both counters at their initial true
    const early = await roundTrip(packedNetEvents(), 'virtio-net-pci@00:05.0', packedNetEvents().length - 3);
    expect(early.parsed.state.queues.map((q) => [q.availWrap, q.usedWrap])).to.deep.equal([[true, true], [true, true]]);
  });

  it('a vDPA device with provisioned attributes, parent features and control-queue state (acks kept, including none)', async function () {
    const { source, parsed } = await roundTrip(vdpaEvents(), 'vdpa0');
    expect(source.provisioned?.macGiven).to.equal(true);
    expect(source.features.parent! >> 63n).to.equal(1n);
    expect(parsed.records.find((r) => r.tag === TAG.VDPA)?.flags).to.equal(1);
    expect(parsed.state.control.map((c) => [c.class, c.command, c.ack])).to.deep.equal([[1, 1, 0], [4, 0, 1], [0, 0, undefined]]);
    expect(parsed.parts.filter((p) => p.type === PART.NET_CVQ_CFG)).to.have.length(3);
  });

  it('bit 63 and bits past 64, 64-bit ring addresses, byte-exact VQ_CFG and feature parts', async function () {
    const { parsed, source } = await roundTrip(wideEvents(), 'virtio-blk-pci@00:06.0');
    expect(source.features.device).to.equal((5n << 64n) | (1n << 63n) | (1n << 32n) | 1n);
    expect(parsed.state.features.accepted).to.equal((1n << 64n) | (1n << 63n) | (1n << 32n) | 1n);
    // the bytes of the device parts, against the layouts of virtio_dev_part_hdr / virtio_dev_part_vq_cfg
    const store = await storeWith('w', wideEvents());
    const { bytes } = await exportDevice(store, 'w');
    const data = walkRecords(bytes).records.filter((r) => r.tag === TAG.DEVICE_DATA);
    const dev = Buffer.from(data[0]!.data.subarray(0, 16 + 16)).toString('hex');
    expect(dev).to.equal(
      '0001' + '01' + '00' + '0000000000000000' + '10000000' +     // part_type 0x100, flags OPTIONAL, selector 0, length 16
      '0100000001000080' + '0500000000000000');                     // le64 words: bit 0|32|63, then bits 64 and 66
    const vq = decodeParts(data[1]!.data, 0, 'blk', identityMap, 0).find((p) => p.type === PART.VQ_CFG)!;
    const at = vq.offset;
    expect(Buffer.from(data[1]!.data.subarray(at, at + 48)).toString('hex')).to.equal(
      '0401' + '00' + '00' + '0000' + '000000000000' + '20000000' +  // part_type 0x104, selector vq_index 0, length 32
      '0004' + 'feff' + '0100' + '0000' +                           // queue_size 1024, vector 0xfffe, enabled 1, reserved
      '00000000f0ffffff' + '004000' + '00f0ffffff' + '00e0ffffffffffff');  // desc, driver, device (le64)
    expect(parsed.state.queues[1]).to.deep.include({ size: 32768, enabled: false, desc: 0xfffffff000010000n });
    expect(parsed.state.queues[0]!.notifyOff).to.equal(0xffff);
  });

  it('a virtio-mmio v1 device (guest page size, queue align, PFN)', async function () {
    const { parsed } = await roundTrip(mmioLegacyEvents(), 'virtio-mmio@feb00000');
    expect(parsed.state.guestPageSize).to.equal(4096);
    expect(parsed.state.queues[0]).to.deep.include({ pfn: 0x4321, align: 4096 });
  });

  it('the qemu-vfio wrapping carries the same devrec stream and the PCI config in DEV_CONFIG_STATE', async function () {
    const store = await storeWith('b', legacyBlkEvents());
    const d = await exportDevice(store, 'b', { format: 'devrec' });
    const q = await exportDevice(store, 'b', { format: 'qemu-vfio', at: d.revision });
    const be64 = (off: number) => Buffer.from(q.bytes).readBigUInt64BE(off);
    expect(be64(0)).to.equal(0xffffffffef100003n);
    expect(be64(8)).to.equal(0xffffffffef100001n);
    expect(be64(16)).to.equal(0xffffffffef100004n);
    expect(Number(be64(24))).to.equal(d.precopyBytes);
    const parsed = parseMigrationStream(q.bytes);
    expect(parsed.qemu!.sections.map((s) => s.kind)).to.deep.equal(['setup', 'data', 'data', 'config']);
    const cfgAt = parsed.qemu!.configOffset;
    expect(be64(cfgAt - 8)).to.equal(0xffffffffef100002n);
    expect(Buffer.from(q.bytes.subarray(cfgAt, cfgAt + 0x60)).equals(Buffer.from(parsed.state.pci!.config))).to.equal(true);
    expect(be64(q.bytes.length - 8)).to.equal(0xffffffffef100001n);
    // the devrec payload inside is what the devrec format writes (same state, same revision; only exported_at differs)
    expect(comparable(parsed.state)).to.deep.equal(comparable(parseMigrationStream(d.bytes).state));
    // both import the same way
    const t = new MemoryEventStore();
    await importStream(t, q.bytes, { as: 'from-qemu' });
    await importStream(t, d.bytes, { as: 'from-devrec' });
    const a = comparableAcrossStores(await stateOf(t, 'from-qemu'));
    const b = comparableAcrossStores(await stateOf(t, 'from-devrec'));
    expect({ ...a, device: '' }).to.deep.equal({ ...b, device: '' });
  });

  it('without PRE_COPY, the qemu-vfio stream has one data section, as QEMU sends all data in STOP_COPY', async function () {
    const store = await storeWith('b', legacyBlkEvents());
    const q = await exportDevice(store, 'b', { format: 'qemu-vfio', flags: 1 });
    const parsed = parseMigrationStream(q.bytes);
    expect(parsed.qemu!.sections.map((s) => s.kind)).to.deep.equal(['setup', 'data', 'config']);
    expect(comparable(parsed.state)).to.deep.equal(comparable(await stateOf(store, 'b', q.revision)));
  });

  it('exports are deterministic for a fixed clock', async function () {
    const store = await netStore(5);
    const now = () => 1_800_000_000_000_000_000n;
    const a = await exportDevice(store, NET, { at: 40, now });
    const b = await exportDevice(store, NET, { at: 40, now });
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).to.equal(true);
  });
});
