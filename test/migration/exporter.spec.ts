// The source side: the VFIO arcs the exporter records in the device's stream, under each capability set, and
// the exports it refuses.
import { expect } from 'chai';
import type { DeviceEvent, VfioStateChanged } from '../../src/events/types.js';
import { exportDevice } from '../../src/migration/exporter.js';
import { MigrationExportError } from '../../src/migration/format.js';
import { parseMigrationStream } from '../../src/migration/importer.js';
import { VfioFsmError } from '../../src/migration/vfio-fsm.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import { collect } from '../helpers/events.js';
import { NET, comparable, ev, netStore, stateOf, storeWith } from './fixtures.js';

async function arcsAfter(store: MemoryEventStore | Awaited<ReturnType<typeof netStore>>, device: string, from: number): Promise<DeviceEvent[]> {
  return (await collect(store.read(device, { from }))).map((e) => e.event);
}
const arcText = (es: DeviceEvent[]) => es.filter((e) => e.body.kind === 'vfioState').map((e) => `${(e.body as VfioStateChanged).from}>${(e.body as VfioStateChanged).to}`);

async function refusal(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a refusal');
}

describe('migration: exporter', function () {
  it('records RUNNING -> PRE_COPY -> PRE_COPY_P2P -> STOP_COPY -> STOP in the stream (vmm, vfio-ioctl)', async function () {
    const store = await netStore(5);
    const head = await store.head(NET);
    const r = await exportDevice(store, NET, { record: true });
    expect(r.revision).to.equal(head);
    const added = await arcsAfter(store, NET, head + 1);
    expect(arcText(added)).to.deep.equal(['running>pre-copy', 'pre-copy>pre-copy-p2p', 'pre-copy-p2p>stop-copy', 'stop-copy>stop']);
    expect(added.every((e) => e.actor === 'vmm' && e.path === 'vfio-ioctl')).to.equal(true);
    expect((await stateOf(store, NET)).vfioState).to.equal('stop');
    expect(r.precopyBytes + r.stopCopyBytes).to.equal(r.bytes.length);
    const p = parseMigrationStream(r.bytes);
    expect(p.header.vfioMigrationFlags).to.equal(7);
    expect(p.stopCopySize).to.equal(r.stopCopyBytes);
  });

  it('follows the kernel table under each capability set', async function () {
    const cases: [number, string[]][] = [
      [1, ['running>stop', 'stop>stop-copy', 'stop-copy>stop']],
      [1 | 2, ['running>running-p2p', 'running-p2p>stop', 'stop>stop-copy', 'stop-copy>stop']],
      [1 | 4, ['running>pre-copy', 'pre-copy>stop-copy', 'stop-copy>stop']],
      [7, ['running>pre-copy', 'pre-copy>pre-copy-p2p', 'pre-copy-p2p>stop-copy', 'stop-copy>stop']],
    ];
    for (const [flags, want] of cases) {
      const store = await netStore(2);
      const head = await store.head(NET);
      await exportDevice(store, NET, { flags, record: true });
      expect(arcText(await arcsAfter(store, NET, head + 1)), `flags ${flags}`).to.deep.equal(want);
    }
  });

  it('starts from the recorded VFIO state: a second export from STOP resumes the device first', async function () {
    const store = await netStore(2);
    const first = await exportDevice(store, NET, { record: true });
    const head = await store.head(NET);
    const second = await exportDevice(store, NET, { at: first.revision, record: true });
    expect(arcText(await arcsAfter(store, NET, head + 1))).to.deep.equal([
      'stop>running-p2p', 'running-p2p>running', 'running>pre-copy', 'pre-copy>pre-copy-p2p', 'pre-copy-p2p>stop-copy', 'stop-copy>stop',
    ]);
    expect(comparable(parseMigrationStream(second.bytes).state)).to.deep.equal(comparable(parseMigrationStream(first.bytes).state));
  });

  it('refuses when a device reset is recorded during the save window, and records the device back in RUNNING', async function () {
    const store = await netStore(3);
    const head = await store.head(NET);
    const err = await refusal(exportDevice(store, NET, { record: true,
      onTransition: async (arc) => {
        // the guest resets the device while it is in PRE_COPY (still running)
        if (arc.to === 'pre-copy') await store.append(NET, [ev({ kind: 'statusWritten', status: 0 })]);
      },
    }));
    expect(err).to.be.instanceOf(MigrationExportError);
    expect(err.message).to.match(new RegExp(`device ${NET.replace(/[.]/g, '\\.')} was reset during the save window \\(revision ${head + 2}, in PRE_COPY\\)`));
    const added = await arcsAfter(store, NET, head + 1);
    expect(added.map((e) => e.body.kind)).to.deep.equal(['vfioState', 'statusWritten', 'vfioState']);
    expect(arcText(added)).to.deep.equal(['running>pre-copy', 'pre-copy>running']);
    expect(added[2]!.actor).to.equal('host-kernel');
    expect((await stateOf(store, NET)).vfioState).to.equal('running');
  });

  it('refuses a reset requested through resetRequested while in STOP_COPY too', async function () {
    const store = await netStore(3);
    const err = await refusal(exportDevice(store, NET, { record: true,
      flags: 1,
      onTransition: async (arc) => {
        if (arc.to === 'stop-copy') await store.append(NET, [ev({ kind: 'resetRequested', scope: 'device-reset', queue: 0 }, 'host-kernel', 'vfio-ioctl')]);
      },
    }));
    expect(err.message).to.match(/reset during the save window .* in STOP_COPY/);
  });

  it('does not refuse for resets recorded before the save window or for other traffic during it', async function () {
    const store = await netStore(3);   // the lifecycle resets the device twice before the export
    const r = await exportDevice(store, NET, { record: true,
      onTransition: async (arc) => {
        if (arc.to === 'pre-copy') await store.append(NET, [ev({ kind: 'vqIndex', index: 0, availDelta: 1, usedDelta: 1 }, 'device', 'internal')]);
      },
    });
    expect(r.bytes.length).to.be.above(0);
  });

  it('refuses devices with no state, unknown devices, bad revisions and bad formats', async function () {
    const store = await storeWith('empty', [ev({ kind: 'annotation', severity: 'info', code: 'x', message: 'nothing recorded yet' }, 'recorder', 'internal')]);
    expect((await refusal(exportDevice(store, 'empty'))).message).to.match(/device empty has no state at revision 0/);
    expect(await store.head('empty')).to.equal(0);    // nothing recorded
    expect((await refusal(exportDevice(store, 'nope'))).message).to.match(/no device "nope"/);
    const net = await netStore(1);
    expect((await refusal(exportDevice(net, NET, { at: 100000 }))).message).to.match(/--at 100000: device .* has revisions 0\.\./);
    expect((await refusal(exportDevice(net, NET, { format: 'xml' as 'devrec' }))).message).to.match(/format "xml"/);
  });

  it('refuses a device in ERROR (only a reset recovers it) and a device without STOP_COPY support', async function () {
    const store = await netStore(1);
    await store.append(NET, [ev({ kind: 'vfioState', from: 'stop-copy', to: 'error' }, 'host-kernel', 'vfio-ioctl')]);
    const err = await refusal(exportDevice(store, NET));
    expect(err).to.be.instanceOf(VfioFsmError);
    expect(err.message).to.match(/ERROR -> PRE_COPY refused .*only VFIO_DEVICE_RESET/);
    const other = await netStore(1);
    expect(await refusal(exportDevice(other, NET, { flags: 2 | 4 }))).to.be.instanceOf(VfioFsmError);
  });

  it('refuses values a device part cannot hold (a 17-bit queue size), before touching the device', async function () {
    const store = await storeWith('d', [
      ev({ kind: 'identified', aliases: [], type: 'blk', virtioId: 2, transport: 'pci-modern', numQueues: 1, configSize: 0, pciVendor: 0x1af4, pciDevice: 0x1042, pciSubsystemVendor: 0, pciSubsystem: 0, pciRevision: 1, backend: '' }, 'vmm', 'internal'),
      ev({ kind: 'statusWritten', status: 0 }),
      ev({ kind: 'queueConfigured', index: 0, size: 65536, msixVector: 0 }),
    ]);
    expect((await refusal(exportDevice(store, 'd'))).message).to.match(/queue 0 queue_size is 65536: the device part field is le16/);
    expect(await store.head('d')).to.equal(2);
  });

  it('refuses, naming the field, a value the target needs that no source recorded (before the driver reset the device)', async function () {
    const store = await storeWith('d', [
      ev({ kind: 'identified', aliases: [], type: 'blk', virtioId: 2, transport: 'pci-modern', numQueues: 1, configSize: 0, pciVendor: 0x1af4, pciDevice: 0x1042, pciSubsystemVendor: 0, pciSubsystem: 0, pciRevision: 1, backend: '' }, 'vmm', 'internal'),
    ]);
    expect((await refusal(exportDevice(store, 'd'))).message).to.match(/the driver features is unknown|the device status is unknown|unknown \(no source recorded it\)/);
  });
});
