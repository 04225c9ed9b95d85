// Device state schema v2: the generated types are current, and whole DeviceStates (unknowns included) survive every
// path the state travels: state <-> wire, projector snapshots, `snapshot` events through both codecs, record ->
// snapshot -> project, and v1 snapshots read under the documented rules.
import { NET_MAX_VLAN } from '../../src/model/net-control.js';
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { STATE_TYPES_FILE, stateTypesSource } from '../../scripts/gen-state-types.js';
import { decodeEvent, encodeEvent } from '../../src/events/codec.js';
import { fastDecodeEvent, fastEncodeEvent } from '../../src/events/fast-codec.js';
import { type FieldSpec, type MessageSpec } from '../../src/events/schema.js';
import type { DeviceEvent, NewEvent, Source, WireDeviceStateV1 } from '../../src/events/types.js';
import { Projector } from '../../src/project/projector.js';
import { applyInPlace } from '../../src/project/reducer.js';
import { decodeSnapshot, encodeSnapshot } from '../../src/project/snapshot-codec.js';
import { type DeviceState, initialState } from '../../src/project/state.js';
import { stateSpec, stateFromWire, stateToWire } from '../../src/project/state-wire.js';
import { importQemuTrace } from '../../src/sources/import-trace.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import { MAX_NUM_QUEUES, MAX_QUEUE_INDEX } from '../../src/model/limits.js';
import { prng } from '../helpers/prng.js';

/** A random value of every field of `spec`, walked from the schema: unknowns (null) included. */
function randomMessage(spec: MessageSpec, rnd: () => number, own: boolean): Record<string, unknown> {
  const int = (n: number) => Math.floor(rnd() * n);
  const big = (bits: number) => {
    let v = 0n;
    for (let i = 0; i < bits; i += 16) v = (v << 16n) | BigInt(int(0x10000));
    return v & ((1n << BigInt(bits)) - 1n);
  };
  const value = (f: FieldSpec): unknown => {
    if (f.message?.fullName === '.devrec.v1.FeatureMask') return big(pick([8, 64, 128]));
    if (f.message) return randomMessage(f.message, rnd, f.message.fullName.startsWith('.devrec.v1.DeviceStateV2'));
    if (f.enumSpec) return pick([...f.enumSpec.numbers.keys()]);
    switch (f.scalar) {
      case 'u64': return big(64);
      case 'u64num': return int(2 ** 40);
      case 'i64num': return int(2 ** 40) - 1;
      case 'bool': return rnd() < 0.5;
      case 'string': return pick(['', 'net', 'virtio-net-pci@00:02.0', 'é✓']);
      case 'bytes': return Uint8Array.from({ length: int(40) }, () => int(256));
      default: return int(2 ** 32);
    }
  };
  function pick<T>(xs: T[]): T {
    return xs[int(xs.length)]!;
  }
  const out: Record<string, unknown> = {};
  for (const f of spec.fields) {
    if (f.repeated) {
      out[f.name] = Array.from({ length: int(4) }, () => value(f));
    } else if (f.optional && rnd() < 0.35) {
      if (own) out[f.name] = null; // an unknown
    } else if (f.presence && !own && rnd() < 0.35) {
      // an event-schema message's presence field left out
    } else {
      out[f.name] = value(f);
    }
  }
  return out;
}

function randomState(seed: number): DeviceState {
  const rnd = prng(seed);
  const s = randomMessage(stateSpec(), rnd, true) as unknown as DeviceState;
  // the domain keeps queues sorted by index, one per index, and each source once
  const seen = new Set<number>();
  for (const q of s.queues) q.index = q.index % (MAX_QUEUE_INDEX + 1);
  s.queues = s.queues.filter((q) => !seen.has(q.index) && seen.add(q.index)).sort((a, b) => a.index - b.index);
  s.sources = [...new Set(s.sources)];
  // and values inside devrec's entry bounds (src/model/limits.ts), which the codecs enforce
  if (s.numQueues !== null) s.numQueues = s.numQueues % (MAX_NUM_QUEUES + 1);
  if (s.queueSelect !== null) s.queueSelect = s.queueSelect % (MAX_QUEUE_INDEX + 1);
  if (s.netControl) s.netControl.vlans.ids = s.netControl.vlans.ids.map((v) => v % NET_MAX_VLAN);
  return s;
}

const ev = (body: NewEvent['body'], source: Source = 'api'): NewEvent => ({ timestampNs: 5n, actor: 'recorder', path: 'internal', source, body });

describe('device state schema v2', function () {
  it('the generated TypeScript types are current (scripts/gen-state-types.ts)', function () {
    const committed = readFileSync(path.resolve(STATE_TYPES_FILE), 'utf8');
    expect(stateTypesSource(), `${STATE_TYPES_FILE} is stale: run npm run proto`).to.equal(committed);
  });

  it('the domain types have a field for every schema field, and nothing else', function () {
    const s = initialState('d');
    expect(Object.keys(s).sort()).to.deep.equal(stateSpec().fields.map((f) => f.name).sort());
    const fresh = stateFromWire(stateToWire(s));
    expect(fresh).to.deep.equal(s);
  });

  it('random states (unknowns included) survive state -> wire -> state, snapshots and snapshot events in both codecs', function () {
    for (let seed = 1; seed <= 300; seed++) {
      const s = randomState(seed);
      const what = `seed ${seed}`;
      expect(stateFromWire(stateToWire(s)), `${what}: wire`).to.deep.equal(s);
      expect(decodeSnapshot(encodeSnapshot(s)), `${what}: projector snapshot`).to.deep.equal(s);
      const e = ev({ kind: 'snapshot', stateV2: stateToWire(s) });
      const bytes = fastEncodeEvent(e, 7);
      expect(Buffer.from(bytes).equals(Buffer.from(encodeEvent(e, 7))), `${what}: codecs agree on the bytes`).to.equal(true);
      for (const decoded of [fastDecodeEvent(bytes), decodeEvent(bytes)]) {
        const b = decoded.body;
        if (b.kind !== 'snapshot' || !b.stateV2) throw new Error(`${what}: not a v2 snapshot`);
        expect(stateFromWire(b.stateV2), `${what}: snapshot event`).to.deep.equal(s);
      }
    }
  });

  it('a snapshot event replaces the state, keeping the stream bookkeeping and the device properties it did not know', function () {
    const s = randomState(99);
    const start = initialState('dev');
    applyInPlace(start, { ...ev({ kind: 'identified', aliases: [], type: 'net', virtioId: 1, transport: 'pci-modern', numQueues: 2, configSize: 0, pciVendor: 0x1af4, pciDevice: 0x1041, pciSubsystemVendor: 0x1af4, pciSubsystem: 1, pciRevision: 1, backend: 'qemu' }), revision: 0 });
    const snap = { ...s, virtioId: null, features: { ...s.features, device: null } };
    applyInPlace(start, { ...ev({ kind: 'snapshot', stateV2: stateToWire(snap) }, 'qemu-state'), revision: 1 });
    expect(start.virtioId).to.equal(1);
    expect(start.features.device).to.equal(null);
    expect(start.features.accepted).to.equal(s.features.accepted);
    expect(start.queues).to.deep.equal(s.queues.map((q) => ({ ...q })));
    expect(start.revision).to.equal(1);
    expect(start.sources).to.deep.equal(['api', 'qemu-state', ...s.sources.filter((x) => x !== 'api' && x !== 'qemu-state')]);
  });

  it('record -> snapshot -> project gives the whole DeviceState that replaying every event gives (a real QEMU trace)', async function () {
    const store = new MemoryEventStore();
    const summary = await importQemuTrace(store, path.resolve('streams/qemu/pc-modern-net-blk/trace.log.gz'));
    for (const d of summary.devices) {
      const head = await store.head(d.id);
      const plain = await new Projector(store, { snapshotEvery: 0 }).stateAt(d.id);
      const snapshotting = new Projector(store, { snapshotEvery: 64 });
      await snapshotting.stateAt(d.id); // leaves snapshots behind
      for (const at of [head, Math.floor(head / 2), 64 * 3 - 1]) {
        if (at > head) continue;
        const expected = await new Projector(store, { snapshotEvery: 0 }).stateAt(d.id, at);
        expect(await snapshotting.stateAt(d.id, at), `${d.id}@${at}`).to.deep.equal(expected);
      }
      expect(await snapshotting.stateAt(d.id)).to.deep.equal(plain);
    }
  });

  it('reads v1 snapshots: zeros no device has, the offer and a device-state stream\'s split-ring indices become unknown', function () {
    const q = { index: 0, size: 256, maxSize: 256, enabled: true, desc: 0x1000n, driver: 0x2000n, device: 0x3000n, pfn: 0, align: 0, msixVector: 1, notifyOff: 0, lastAvailIdx: 12, usedIdx: 0, availWrap: true, usedWrap: true, resetPending: false, availIdx: 0 };
    const v1: WireDeviceStateV1 = {
      device: 'virtio-net-device@feb00e00', type: 'net', virtioId: 1, transport: 'mmio-modern', revision: 0, timestampNs: 0n, status: 15,
      deviceFeatures: [], driverFeatures: [0x130af8024n], acceptedFeatures: [0x130af8024n], acceptedVia: 'snapshot', parentFeatures: [],
      hasParentFeatures: false, hasProvisioned: false, deviceFeatureSelect: 0, driverFeatureSelect: 0, queueSelect: 0, queues: [q],
      config: new Uint8Array(6), msixEnabled: false, msixFunctionMask: false, msixConfigVector: 0xffff, msixTableSize: 0, configGeneration: 0,
      resetPending: false, vfioState: 'error', hasVfioState: false, numQueues: 0, guestPageSize: 0, pciVendor: 0, pciDevice: 0,
      pciSubsystemVendor: 0, pciSubsystem: 0, pciRevision: 0, pciConfig: new Uint8Array(0), control: [], eventCount: 0, isr: 1,
      negotiation: 'accepted', backend: 'qemu',
    };
    const e: DeviceEvent = { ...ev({ kind: 'snapshot', state: v1 }, 'qemu-state'), revision: 0 };
    const s = applyInPlace(initialState(v1.device), fastDecodeEvent(fastEncodeEvent(e, 0)));
    expect(s.features.device).to.equal(null);
    expect(s.features.accepted).to.equal(0x130af8024n);
    expect(s.numQueues).to.equal(null);
    expect(s.pci).to.equal(null);
    expect(s.msix).to.equal(null);
    expect(s.queues[0]).to.deep.include({ usedIdx: null, availIdx: null, lastAvailIdx: 12, msixVector: null });
    expect(s.configGeneration).to.equal(null);
    expect(s.isr).to.equal(1);
    expect(s.sources).to.deep.equal(['qemu-state']);
  });
});
