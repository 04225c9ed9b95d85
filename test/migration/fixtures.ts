// Recorded devices for the migration tests: the simulated virtio-net lifecycle, and synthetic recordings built
// event by event for what the simulation does not cover (legacy PFN rings, packed rings, vDPA, bit 63, 64-bit
// ring addresses). Every fixture goes through the store and the projector, as a real recording would.
import type { EventBody, NewEvent } from '../../src/events/types.js';
import { featureBit } from '../../src/model/index.js';
import { Projector } from '../../src/project/projector.js';
import { type DeviceState, stateToJson } from '../../src/project/state.js';
import { netLifecycle } from '../../src/sim/net-lifecycle.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import type { EventStore } from '../../src/store/types.js';
import { encodeRecords, integrityRecord, concat, RECORD_HEADER_SIZE, INTEGRITY_SIZE } from '../../src/migration/format.js';

let clock = 1_790_000_000_000_000_000n;
export function ev(body: EventBody, actor: NewEvent['actor'] = 'guest-driver', path: NewEvent['path'] = 'mmio'): NewEvent {
  clock += 1000n;
  return { timestampNs: clock, actor, path, source: 'api', body };
}

/** A driver's first step: reset the device and wait for it (what makes the device's registers known). */
export function driverReset(actor: NewEvent['actor'] = 'guest-driver', path: NewEvent['path'] = 'mmio'): NewEvent[] {
  return [ev({ kind: 'statusWritten', status: 0 }, actor, path), ev({ kind: 'statusRead', status: 0 }, actor, path)];
}

export async function storeWith(device: string, events: NewEvent[], store: EventStore = new MemoryEventStore()): Promise<EventStore> {
  await store.append(device, events);
  return store;
}

export const NET = 'virtio-net-pci@00:02.0';

export async function netStore(rounds = 20): Promise<EventStore> {
  return storeWith(NET, [...netLifecycle({ trafficRounds: rounds })].map((s) => s.event));
}

/** PCI config bytes as pciConfigWritten events (dword writes). */
function pciConfigEvents(bytes: number[]): NewEvent[] {
  const out: NewEvent[] = [];
  for (let i = 0; i < bytes.length; i += 4) {
    const v = (bytes[i] ?? 0) | ((bytes[i + 1] ?? 0) << 8) | ((bytes[i + 2] ?? 0) << 16) | ((bytes[i + 3] ?? 0) << 24);
    out.push(ev({ kind: 'pciConfigWritten', offset: i, width: 4, value: v >>> 0 }, 'vmm', 'pci-config'));
  }
  return out;
}

/** A conventional config space with a capability chain: MSI-X at 0x40 -> a virtio vendor capability at 0x50. */
export function configSpace(vendor: number, device: number, subsystem: number, revision: number, withVirtioCap: boolean): number[] {
  const c = new Array<number>(0x60).fill(0);
  const le = (off: number, v: number, n: number) => { for (let i = 0; i < n; i++) c[off + i] = (v >>> (8 * i)) & 0xff; };
  le(0x00, vendor, 2); le(0x02, device, 2);
  le(0x04, 0x0007, 2);               // command: IO, MEM, bus master
  le(0x06, 0x0010, 2);               // status: capabilities list
  c[0x08] = revision;
  le(0x09, 0x020000, 3);             // class: network / other
  le(0x10, 0xc041, 4);               // BAR0 (IO)
  le(0x2c, 0x1af4, 2); le(0x2e, subsystem, 2);
  c[0x34] = 0x40;
  c[0x40] = 0x11; c[0x41] = withVirtioCap ? 0x50 : 0x00; le(0x42, 0x0003, 2); // MSI-X, table size 4
  if (withVirtioCap) {
    c[0x50] = 0x09; c[0x51] = 0x00; c[0x52] = 16; c[0x53] = 1; c[0x54] = 4;  // virtio COMMON_CFG in BAR 4
    le(0x58, 0x0000, 4); le(0x5c, 0x38, 4);
  }
  return c;
}

/** virtio-blk on a legacy (0.9.5) PCI interface: 32-bit features, QUEUE_PFN rings, INTx (MSI-X off). */
export function legacyBlkEvents(): NewEvent[] {
  const features = (1n << 1n) | (1n << 2n) | (1n << 6n) | (1n << 9n) | (1n << 24n) | (1n << 27n) | (1n << 28n);
  const cfg = new Uint8Array(24);
  new DataView(cfg.buffer).setBigUint64(0, 20971520n, true);  // capacity (sectors)
  new DataView(cfg.buffer).setUint32(12, 128, true);           // seg_max
  return [
    ev({ kind: 'identified', aliases: [], type: 'blk', virtioId: 2, transport: 'pci-legacy', numQueues: 1, configSize: 24, pciVendor: 0x1af4, pciDevice: 0x1001, pciSubsystemVendor: 0x1af4, pciSubsystem: 2, pciRevision: 0, backend: 'qemu' }, 'vmm', 'internal'),
    ...pciConfigEvents(configSpace(0x1af4, 0x1001, 2, 0, false)),
    ev({ kind: 'deviceFeatures', value: features, highWords: [] }, 'device', 'internal'),
    ev({ kind: 'configWritten', offset: 0, data: cfg }, 'device', 'internal'),
    ev({ kind: 'queueConfigured', index: 0, maxSize: 128, size: 128 }, 'device', 'internal'),
    ev({ kind: 'statusWritten', status: 0 }, 'guest-driver', 'io-bar'),
    ev({ kind: 'statusRead', status: 0 }, 'guest-driver', 'io-bar'),
    ev({ kind: 'statusWritten', status: 1 }, 'guest-driver', 'io-bar'),
    ev({ kind: 'statusWritten', status: 3 }, 'guest-driver', 'io-bar'),
    ev({ kind: 'driverFeatures', value: features & ~(1n << 24n), highWords: [] }, 'guest-driver', 'io-bar'),
    ev({ kind: 'queueSelected', index: 0 }, 'guest-driver', 'io-bar'),
    ev({ kind: 'queueConfigured', index: 0, pfn: 0x37f12 }, 'guest-driver', 'io-bar'),
    ev({ kind: 'statusWritten', status: 7 }, 'guest-driver', 'io-bar'),
    ev({ kind: 'vqIndex', index: 0, availDelta: 70000, usedDelta: 69998, availIdx: 4464 }, 'device', 'internal'),
  ];
}

/** A packed-ring virtio-net (VIRTIO_F_RING_PACKED accepted) whose indices wrap the ring. */
export function packedNetEvents(): NewEvent[] {
  const features = featureBit('VIRTIO_F_VERSION_1') | featureBit('VIRTIO_F_RING_PACKED') | featureBit('VIRTIO_NET_F_MAC');
  return [
    ev({ kind: 'identified', aliases: [], type: 'net', virtioId: 1, transport: 'pci-modern', numQueues: 2, configSize: 6, pciVendor: 0x1af4, pciDevice: 0x1041, pciSubsystemVendor: 0x1af4, pciSubsystem: 0x1100, pciRevision: 1, backend: 'qemu' }, 'vmm', 'internal'),
    ...pciConfigEvents(configSpace(0x1af4, 0x1041, 0x1100, 1, true)),
    ev({ kind: 'deviceFeatures', value: features, highWords: [] }, 'device', 'internal'),
    ev({ kind: 'configWritten', offset: 0, data: Uint8Array.of(0x52, 0x54, 0, 0xab, 0xcd, 0xef) }, 'device', 'internal'),
    ...driverReset(),
    ev({ kind: 'statusWritten', status: 3 }),
    ev({ kind: 'driverFeatures', value: features, highWords: [] }),
    ev({ kind: 'featuresNegotiated', accepted: true, features, highWords: [] }, 'device', 'internal'),
    ev({ kind: 'msix', enabled: true, tableSize: 3, configVector: 0 }, 'guest-driver', 'pci-config'),
    ev({ kind: 'queueConfigured', index: 0, maxSize: 256, size: 256, desc: 0x40000000n, driver: 0x40001000n, device: 0x40002000n, msixVector: 1, enabled: true, notifyOff: 0 }),
    ev({ kind: 'queueConfigured', index: 1, maxSize: 256, size: 256, desc: 0x40010000n, driver: 0x40011000n, device: 0x40012000n, msixVector: 2, enabled: true, notifyOff: 1 }),
    ev({ kind: 'statusWritten', status: 15 }),
    // queue 0: 300 entries: the device's avail position wraps once (counter true -> false)
    ev({ kind: 'vqIndex', index: 0, availDelta: 300, usedDelta: 290 }, 'device', 'internal'),
    // queue 1: 600 entries: wraps twice (back to true)
    ev({ kind: 'vqIndex', index: 1, availDelta: 600, usedDelta: 520 }, 'device', 'internal'),
  ];
}

/** A vDPA net device: parent features, provisioned attributes (some given, some not), bit 63 offered. */
export function vdpaEvents(): NewEvent[] {
  const features = featureBit('VIRTIO_F_VERSION_1') | featureBit('VIRTIO_F_ACCESS_PLATFORM') | featureBit('VIRTIO_NET_F_MAC') | featureBit('VIRTIO_NET_F_MTU');
  return [
    ev({ kind: 'parentFeatures', mgmtdev: 'pci/0000:65:00.2', value: features | (1n << 63n) | featureBit('VIRTIO_NET_F_MQ'), maxVqp: 8 }, 'management-tool', 'netlink'),
    ev({ kind: 'provisioned', mgmtdev: 'pci/0000:65:00.2', name: 'vdpa0', deviceFeatures: features, deviceFeaturesGiven: true, mac: Uint8Array.of(0x02, 0, 0, 0, 0, 0x11), macGiven: true, mtu: 0, mtuGiven: false, maxVqp: 1, maxVqpGiven: true }, 'management-tool', 'netlink'),
    ev({ kind: 'identified', aliases: [], type: 'net', virtioId: 1, transport: 'vdpa', numQueues: 2, configSize: 12, pciVendor: 0, pciDevice: 0, pciSubsystemVendor: 0, pciSubsystem: 0, pciRevision: 0, backend: 'mlx5_vdpa' }, 'host-kernel', 'vhost-ioctl'),
    ev({ kind: 'deviceFeatures', value: features, highWords: [] }, 'device', 'vhost-ioctl'),
    ev({ kind: 'configWritten', offset: 0, data: Uint8Array.of(2, 0, 0, 0, 0, 0x11, 1, 0, 1, 0, 0xdc, 5) }, 'device', 'vhost-ioctl'),
    ...driverReset('vmm', 'vhost-ioctl'),
    ev({ kind: 'statusWritten', status: 11 }, 'vmm', 'vhost-ioctl'),
    ev({ kind: 'driverFeatures', value: features, highWords: [] }, 'vmm', 'vhost-ioctl'),
    ev({ kind: 'featuresNegotiated', accepted: true, features, highWords: [] }, 'device', 'vhost-ioctl'),
    ev({ kind: 'queueConfigured', index: 0, size: 256, desc: 0x1000000n, driver: 0x1001000n, device: 0x1002000n, enabled: true }, 'vmm', 'vhost-ioctl'),
    ev({ kind: 'queueConfigured', index: 1, size: 256, desc: 0x1010000n, driver: 0x1011000n, device: 0x1012000n, enabled: true }, 'vmm', 'vhost-ioctl'),
    ev({ kind: 'statusWritten', status: 15 }, 'vmm', 'vhost-ioctl'),
    ev({ kind: 'vqIndex', index: 0, lastAvailIdx: 65535, usedIdx: 65534, availIdx: 65535 }, 'device', 'vhost-ioctl'),
    ev({ kind: 'controlCommand', class: 1, command: 1, data: Uint8Array.of(2, 0, 0, 0, 0, 0x11), ack: 0 }),   // MAC ADDR_SET
    ev({ kind: 'controlCommand', class: 4, command: 0, data: Uint8Array.of(1, 0), ack: 1 }),                   // MQ VQ_PAIRS_SET, NAKed
    ev({ kind: 'controlCommand', class: 0, command: 0, data: Uint8Array.of(1) }),                              // RX PROMISC, no ack seen
  ];
}

/** Feature bit 63 and a bit past 64 offered, 64-bit ring addresses, a device at the top of the address space. */
export function wideEvents(): NewEvent[] {
  const offered = featureBit('VIRTIO_F_VERSION_1') | (1n << 63n) | (1n << 0n);
  const ring = (q: number) => 0xfffffff000000000n + BigInt(q) * 0x10000n;
  return [
    ev({ kind: 'identified', aliases: [], type: 'blk', virtioId: 2, transport: 'pci-modern', numQueues: 2, configSize: 8, pciVendor: 0x1af4, pciDevice: 0x1042, pciSubsystemVendor: 0x1af4, pciSubsystem: 0x1100, pciRevision: 1, backend: 'vfio-pci' }, 'vmm', 'internal'),
    ev({ kind: 'deviceFeatures', value: offered, highWords: [0x5n] }, 'device', 'internal'),
    ...driverReset(),
    ev({ kind: 'statusWritten', status: 3 }),
    ev({ kind: 'driverFeatures', value: offered, highWords: [0x1n] }),
    ev({ kind: 'featuresNegotiated', accepted: true, features: offered, highWords: [0x1n] }, 'device', 'internal'),
    ev({ kind: 'queueConfigured', index: 0, maxSize: 1024, size: 1024, desc: ring(0), driver: ring(0) + 0x4000n, device: 0xffffffffffffe000n, enabled: true, msixVector: 0xfffe, notifyOff: 0xffff }),
    ev({ kind: 'queueConfigured', index: 1, maxSize: 32768, size: 32768, desc: ring(1), driver: ring(1) + 0x80000n, device: ring(1) + 0x90000n, enabled: false }),
    ev({ kind: 'statusWritten', status: 15 }),
    ev({ kind: 'vqIndex', index: 0, lastAvailIdx: 0xffff, usedIdx: 0xfffe }, 'device', 'internal'),
    ev({ kind: 'configWritten', offset: 0, data: Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) }, 'device', 'internal'),
  ];
}

/** virtio-mmio v1 (legacy) with GuestPageSize and QueueAlign. */
export function mmioLegacyEvents(): NewEvent[] {
  return [
    ev({ kind: 'identified', aliases: [], type: 'rng', virtioId: 4, transport: 'mmio-legacy', numQueues: 1, configSize: 0, pciVendor: 0, pciDevice: 0, pciSubsystemVendor: 0, pciSubsystem: 0, pciRevision: 0, backend: 'qemu' }, 'vmm', 'internal'),
    ev({ kind: 'statusWritten', status: 3 }),
    ev({ kind: 'driverFeatures', select: 0, value: 0n, highWords: [] }),
    ev({ kind: 'queueConfigured', index: 0, guestPageSize: 4096, maxSize: 64, size: 64, align: 4096, pfn: 0x4321 }),
    ev({ kind: 'statusWritten', status: 7 }),
    ev({ kind: 'vqIndex', index: 0, availDelta: 3, usedDelta: 3 }, 'device', 'internal'),
  ];
}

/** stateToJson without the fields a migration does not carry over (see docs/migration-format.md "Round trip"). */
export function comparable(s: DeviceState): Record<string, unknown> {
  const { vfioState: _v, ...rest } = stateToJson(s);
  return rest;
}

/** comparable() without the target stream's own bookkeeping too. */
export function comparableAcrossStores(s: DeviceState): Record<string, unknown> {
  const { revision: _r, eventCount: _e, timestamp: _t, timestampNs: _tn, sources: _s, ...rest } = comparable(s);
  return rest;
}

export async function stateOf(store: EventStore, device: string, at?: number): Promise<DeviceState> {
  return new Projector(store).stateAt(device, at);
}

/** Replaces the integrity record of a devrec stream whose framing is intact (so content checks are reached). */
export function reseal(bytes: Uint8Array): Uint8Array {
  const body = bytes.subarray(0, bytes.length - RECORD_HEADER_SIZE - INTEGRITY_SIZE);
  return concat(body, integrityRecord(body));
}

/** Inserts records before the integrity record and reseals. */
export function insertRecords(bytes: Uint8Array, records: { tag: number; flags: number; data: Uint8Array }[]): Uint8Array {
  const body = bytes.subarray(0, bytes.length - RECORD_HEADER_SIZE - INTEGRITY_SIZE);
  const all = concat(body, encodeRecords(records));
  return concat(all, integrityRecord(all));
}
