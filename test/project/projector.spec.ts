import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DeviceEvent, NewEvent } from '../../src/events/types.js';
import { Projector, UnknownDeviceError } from '../../src/project/projector.js';
import { applyInPlace, reduce } from '../../src/project/reducer.js';
import { decodeSnapshot, encodeSnapshot } from '../../src/project/snapshot-codec.js';
import { cloneState, initialState, stateToJson, type DeviceState } from '../../src/project/state.js';
import { netLifecycle } from '../../src/sim/net-lifecycle.js';
import { exportDevice } from '../../src/migration/exporter.js';
import { importStream } from '../../src/migration/importer.js';
import { importQemuTrace } from '../../src/sources/import-trace.js';
import { importQemuState } from '../../src/sources/qemu-savevm.js';
import { FileEventStore } from '../../src/store/file-store.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import { ev } from '../helpers/events.js';
import { tmpDir } from '../helpers/tmp.js';

const json = (s: DeviceState) => JSON.stringify(stateToJson(s));
const lifecycle = (rounds = 50): NewEvent[] => [...netLifecycle({ trafficRounds: rounds })].map((s) => s.event);
const asStored = (events: NewEvent[]): DeviceEvent[] => events.map((e, i) => ({ ...e, revision: i }));

function project(events: DeviceEvent[], upto: number, from = initialState('d')): DeviceState {
  let s = from;
  for (const e of events) if (e.revision <= upto && e.revision > from.revision) s = reduce(s, e);
  return s;
}

describe('projector', function () {
  it('is deterministic: project to N then apply N+1..M equals project to M, byte for byte', function () {
    const events = asStored(lifecycle());
    const M = events.length - 1;
    for (const N of [0, 10, 37, 60, Math.floor(M / 2), M - 1]) {
      const viaN = project(events, M, project(events, N));
      expect(json(viaN), `N=${N}`).to.equal(json(project(events, M)));
    }
    expect(json(project(events, M))).to.equal(json(project(events, M)));
  });

  it('reduce never changes its input', function () {
    const events = asStored(lifecycle(3));
    let s = initialState('d');
    for (const e of events) {
      const before = json(s);
      const next = reduce(s, e);
      expect(json(s)).to.equal(before);
      s = next;
    }
  });

  it('stateAt with snapshots equals a full replay at every revision, on the file store', async function () {
    const dir = tmpDir();
    const store = await FileEventStore.open(dir);
    const events = lifecycle(100);
    for (let i = 0; i < events.length; i += 37) await store.append('net0', events.slice(i, i + 37));
    const projector = new Projector(store, { snapshotEvery: 16 });
    const full = asStored(events);
    let replay = initialState('net0');
    const expected: string[] = [];
    for (const e of full) expected.push(json((replay = applyInPlace(replay, e))));
    for (let r = full.length - 1; r >= 0; r -= 7) expect(json(await projector.stateAt('net0', r)), `revision ${r}`).to.equal(expected[r]);
    expect((await store.loadSnapshot('net0', full.length))?.revision).to.be.greaterThan(0);
    // a second projector reading the snapshots left behind gives the same answers
    const again = new Projector(store, { snapshotEvery: 0 });
    for (const r of [0, 15, 16, 17, 100, full.length - 1]) expect(json(await again.stateAt('net0', r))).to.equal(expected[r]);
    await store.close();
  });

  it('bit 63 survives record -> store -> project -> JSON', async function () {
    const store = new MemoryEventStore();
    await store.append('d', [
      ev({ kind: 'identified', aliases: [], type: 'net', virtioId: 1, transport: 'pci-modern', numQueues: 1, configSize: 0, pciVendor: 0, pciDevice: 0, pciSubsystemVendor: 0, pciSubsystem: 0, pciRevision: 0, backend: '' }),
      ev({ kind: 'deviceFeatures', value: (1n << 63n) | (1n << 32n), highWords: [] }),
      ev({ kind: 'driverFeatures', select: 1, value: 0x80000001n, highWords: [] }),
      ev({ kind: 'featuresNegotiated', accepted: true, features: (1n << 63n) | (1n << 32n), highWords: [] }),
      ev({ kind: 'queueConfigured', index: 0, desc: 0xfedcba9876543210n }),
    ]);
    const s = await new Projector(store).stateAt('d');
    const j = stateToJson(s) as { features: Record<string, unknown>; queues: { desc: string }[] };
    expect(j.features['device']).to.equal('0x8000000100000000');
    expect(j.features['driver']).to.equal('0x8000000100000000');
    expect(j.features['accepted']).to.equal('0x8000000100000000');
    expect(j.features['deviceNames']).to.deep.equal(['VIRTIO_F_VERSION_1', 'VIRTIO_NET_F_SPEED_DUPLEX']);
    expect(j.queues[0]!.desc).to.equal('0xfedcba9876543210');
    const back = decodeSnapshot(encodeSnapshot(s))!;
    expect(back.features.accepted).to.equal((1n << 63n) | (1n << 32n));
  });

  it('follows the virtio rules it models: reset, legacy features and PFN, refused FEATURES_OK, packed wrap, queue reset', function () {
    const apply = (s: DeviceState, ...events: NewEvent[]) => events.reduce((acc, e, i) => reduce(acc, { ...e, revision: acc.revision + 1 + i * 0 }), s);
    let s = apply(initialState('blk'),
      ev({ kind: 'identified', aliases: [], type: 'blk', virtioId: 2, transport: 'pci-legacy', numQueues: 1, configSize: 8, pciVendor: 0x1af4, pciDevice: 0x1001, pciSubsystemVendor: 0, pciSubsystem: 2, pciRevision: 0, backend: '' }),
      ev({ kind: 'driverFeatures', value: 0x10000044n, highWords: [] }),
      ev({ kind: 'queueConfigured', index: 0, size: 128 }),
      ev({ kind: 'queueConfigured', index: 0, pfn: 0x12345 }));
    expect(s.features.accepted).to.equal(0x10000044n);
    expect(s.features.acceptedVia).to.equal('legacy-write');
    const q = s.queues[0]!;
    expect(q.desc).to.equal(0x12345000n);
    expect(q.driver).to.equal(0x12345000n + 16n * 128n);
    expect(q.device).to.equal(0x12346000n); // avail ring ends at +0x906, used ring aligned to the next 4096
    expect(q.enabled).to.equal(true);
    s = apply(s, ev({ kind: 'statusWritten', status: 0 }));
    expect(s.features.accepted).to.equal(0n);
    expect(s.queues[0]!.desc).to.equal(0n);
    expect(s.resetPending).to.equal(true);
    s = apply(s, ev({ kind: 'statusRead', status: 0 }));
    expect(s.resetPending).to.equal(false);

    let m = apply(initialState('net'),
      ev({ kind: 'identified', aliases: [], type: 'net', virtioId: 1, transport: 'pci-modern', numQueues: 2, configSize: 0, pciVendor: 0, pciDevice: 0, pciSubsystemVendor: 0, pciSubsystem: 0, pciRevision: 0, backend: '' }),
      ev({ kind: 'statusWritten', status: 0 }), // the reset makes the ring indices known (0)
      ev({ kind: 'statusWritten', status: 11 }),
      ev({ kind: 'featuresNegotiated', accepted: false, features: 0n, highWords: [] }));
    expect(m.status! & 8).to.equal(0);
    expect(m.features.negotiation).to.equal('refused');
    m = apply(m,
      ev({ kind: 'featuresNegotiated', accepted: true, features: (1n << 32n) | (1n << 34n), highWords: [] }),
      ev({ kind: 'queueConfigured', index: 1, size: 4 }),
      ev({ kind: 'vqIndex', index: 1, availDelta: 3, usedDelta: 5 }));
    expect(m.queues[1]).to.deep.include({ lastAvailIdx: 3, availWrap: true, usedIdx: 1, usedWrap: false });
    m = apply(m, ev({ kind: 'resetRequested', scope: 'queue-reset', queue: 1 }));
    expect(m.queues[1]).to.deep.include({ lastAvailIdx: 0, usedIdx: 0, enabled: false, resetPending: true });
    m = apply(m, ev({ kind: 'resetCompleted', scope: 'queue-reset', queue: 1 }));
    expect(m.queues[1]!.resetPending).to.equal(false);
    // split ring indices wrap at 2^16
    m = apply(m, ev({ kind: 'featuresNegotiated', accepted: true, features: 1n << 32n, highWords: [] }), ev({ kind: 'vqIndex', index: 0, lastAvailIdx: 65535 }), ev({ kind: 'vqIndex', index: 0, availDelta: 2 }));
    expect(m.queues[0]!.lastAvailIdx).to.equal(1);
  });

  it('finds the revision at a time and refuses unknown devices and revisions', async function () {
    const store = new MemoryEventStore();
    await store.append('d', [ev({ kind: 'statusWritten', status: 1 }, 100n), ev({ kind: 'statusWritten', status: 3 }, 200n), ev({ kind: 'statusWritten', status: 7 }, 300n)]);
    const p = new Projector(store);
    expect(await p.revisionAtTime('d', 50n)).to.equal(-1);
    expect(await p.revisionAtTime('d', 200n)).to.equal(1);
    expect(await p.revisionAtTime('d', 1000n)).to.equal(2);
    let err: unknown;
    try { await p.stateAt('nope'); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(UnknownDeviceError);
    err = undefined;
    try { await p.stateAt('d', 3); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(RangeError);
    expect(cloneState((await p.stateAt('d', 1))).status).to.equal(3);
  });
});

describe('reducer bounds', function () {
  it('never allocates without limit or throws on hostile offsets and selects', function () {
    let s = initialState('d');
    const bodies = [
      { kind: 'configWritten', offset: 0x7fffffff, data: Uint8Array.from([1]) },
      { kind: 'configRead', offset: 65530, data: new Uint8Array(100) },
      { kind: 'driverFeatures', select: 0xffffffff, value: 1n, highWords: [] },
      { kind: 'deviceFeatures', value: 1n, highWords: Array.from({ length: 1000 }, () => 0xffffffffffffffffn) },
      { kind: 'pciConfigWritten', offset: 0xffffff, width: 4, value: 1 },
      { kind: 'identified', aliases: [], type: 'net', virtioId: 1, transport: 'pci-modern', numQueues: 0, configSize: 0xffffffff, pciVendor: 0, pciDevice: 0, pciSubsystemVendor: 0, pciSubsystem: 0, pciRevision: 0, backend: '' },
    ] as const;
    bodies.forEach((body, i) => (s = reduce(s, { revision: i, timestampNs: 1n, actor: 'guest-driver', path: 'mmio', source: 'api', body: body as never })));
    expect(s.config.length).to.equal(65536);
    expect(s.features.driver).to.equal(null); // the only write was ignored (select past the modelled words)
    expect(s.features.device! < 1n << 1024n).to.equal(true);
    expect(s.pci!.config.length).to.equal(0);
  });
});

describe('projector identityOf (what `devices` and alias lookups read)', function () {
  this.timeout(120_000);
  const captures = readdirSync('streams/qemu').filter((d) => existsSync(path.join('streams/qemu', d, 'devstate.bin.gz'))).sort();

  it('equals the identity of a full replay on every committed QEMU capture (trace then device state, one store), file and memory stores', async function () {
    expect(captures.length).to.be.greaterThan(10);
    let devices = 0;
    let migratedTyped = 0;
    for (const stores of [['file'], ['memory']] as const) {
      for (const c of captures) {
        const store = stores[0] === 'file' ? await FileEventStore.open(tmpDir()) : new MemoryEventStore();
        const dir = path.join('streams/qemu', c);
        const qmp = path.join(dir, 'qmp.json');
        await importQemuTrace(store, path.join(dir, 'trace.log.gz'), existsSync(qmp) ? { qmpAnswers: JSON.parse(readFileSync(qmp, 'utf8')) } : {}).catch(() => undefined);
        await importQemuState(store, path.join(dir, 'devstate.bin.gz'));
        // and each device again as a migration stream imported under another id: its identity is in a snapshot alone
        const migrated = new MemoryEventStore();
        for (const s of await store.streams()) {
          const exported = await exportDevice(store, s.stream).catch(() => undefined);
          if (exported) await importStream(migrated, exported.bytes, { as: `migrated-${s.stream}` });
        }
        for (const st of [store, migrated]) {
          const projector = new Projector(st);
          for (const s of await st.streams()) {
            const full = await projector.stateAt(s.stream);
            const identity = await projector.identityOf(s.stream);
            const want = { device: s.stream, type: full.type, transport: full.transport, backend: full.backend, aliases: full.aliases };
            expect(identity, `${c} ${s.stream}`).to.deep.equal(want);
            if (st === migrated && identity.type !== '') migratedTyped++;
            devices++;
          }
        }
        await store.close();
      }
    }
    expect(devices).to.be.greaterThan(80);
    expect(migratedTyped, 'migrated devices whose type only a snapshot gives').to.be.greaterThan(30);
  });

  it('refuses a device the store does not have', async function () {
    const err = await new Projector(new MemoryEventStore()).identityOf('nope').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(UnknownDeviceError);
  });
});
