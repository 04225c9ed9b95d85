// A decoded QEMU virtio device -> devrec's WireDeviceState and the events that carry it.
//
// What the stream does not have, and how it shows in the state:
//  - the offered (host) features: not saved by QEMU. `features.device` stays 0; the decoded device keeps the hints
//    the stream does give (VERSION_1, a bit >= 32, RING_PACKED offered).
//  - split rings: used_idx, shadow avail idx and inuse are not saved (virtio_load re-reads them from guest memory).
//    `usedIdx` is 0 in the state and null in the decoded device; comparisons (tests, diff) must skip usedIdx for
//    split rings of a qemu-state snapshot. Packed rings carry last_avail_idx / used_idx and both wrap counters.
//  - the config generation counter (0).
import type { NewEvent, WireDeviceState, WireQueueState } from '../../events/types.js';
import { maskToWords } from '../../project/snapshot-codec.js';
import type { QemuVirtioDevice } from './virtio.js';

const NO_VECTOR = 0xffff;
const le16 = (b: Uint8Array, i: number): number => (b[i] ?? 0) | ((b[i + 1] ?? 0) << 8);

function pciIdentity(dev: QemuVirtioDevice): { vendor: number; device: number; subsystemVendor: number; subsystem: number; revision: number } {
  const cfg = dev.pci?.config;
  if (!cfg) return { vendor: 0, device: 0, subsystemVendor: 0, subsystem: 0, revision: 0 };
  return { vendor: le16(cfg, 0), device: le16(cfg, 2), subsystemVendor: le16(cfg, 0x2c), subsystem: le16(cfg, 0x2e), revision: cfg[8] ?? 0 };
}

export function deviceToWire(dev: QemuVirtioDevice, timestampNs = 0n): WireDeviceState {
  const legacy = dev.transport === 'pci-legacy' || dev.transport === 'mmio-legacy';
  const modernPci = dev.transport === 'pci-modern';
  const featuresOk = (dev.status & 0x08) !== 0;
  // vdev->guest_features is what the device runs with: accepted at FEATURES_OK (modern), as written (legacy)
  const accepted = legacy || featuresOk ? dev.guestFeatures : 0n;
  const id = pciIdentity(dev);
  const pageShift = dev.mmio?.guestPageShift ?? 0;
  const queues: WireQueueState[] = dev.queues.map((q) => {
    const pfnShift = dev.transport === 'pci-legacy' ? 12 : dev.transport === 'mmio-legacy' ? pageShift : -1;
    const pfn = pfnShift >= 0 && q.desc !== 0n ? Number((q.desc >> BigInt(pfnShift)) & 0xffffffffn) : 0;
    return {
      index: q.index, size: q.size, maxSize: q.sizeDefault, enabled: q.enabled, desc: q.desc, driver: q.avail, device: q.used,
      pfn, align: pfn ? q.align ?? 4096 : 0, msixVector: q.vector ?? NO_VECTOR, notifyOff: modernPci ? q.index : 0,
      lastAvailIdx: q.lastAvailIdx, usedIdx: q.usedIdx ?? 0, availWrap: q.lastAvailWrap ?? true, usedWrap: q.usedWrap ?? true,
      resetPending: false, availIdx: 0,
    };
  });
  return {
    device: dev.id, type: dev.type, virtioId: dev.virtioId, transport: dev.transport, revision: 0, timestampNs,
    status: dev.status, deviceFeatures: [], driverFeatures: maskToWords(dev.driverFeatures), acceptedFeatures: maskToWords(accepted),
    acceptedVia: 'snapshot', parentFeatures: [], hasParentFeatures: false, hasProvisioned: false,
    deviceFeatureSelect: dev.deviceFeatureSelect, driverFeatureSelect: dev.driverFeatureSelect, queueSelect: dev.queueSel,
    queues, config: dev.config.slice(), msixEnabled: dev.pci?.msix?.enabled ?? false, msixFunctionMask: dev.pci?.msix?.functionMask ?? false,
    msixConfigVector: dev.pci?.configVector ?? NO_VECTOR, msixTableSize: dev.pci?.msix?.tableSize ?? 0, configGeneration: 0,
    resetPending: false, vfioState: 'error', hasVfioState: false, numQueues: dev.numQueues,
    guestPageSize: dev.transport === 'mmio-legacy' && pageShift ? 2 ** pageShift : 0,
    pciVendor: id.vendor, pciDevice: id.device, pciSubsystemVendor: id.subsystemVendor, pciSubsystem: id.subsystem, pciRevision: id.revision,
    pciConfig: dev.pci?.config.slice() ?? new Uint8Array(0), control: [], eventCount: 0, isr: dev.isr,
    negotiation: accepted !== 0n ? 'accepted' : 'none', backend: 'qemu',
  };
}

export interface DeviceEvents {
  device: string;
  type: string;
  transport: string;
  events: NewEvent[];
}

/** The `identified` + `snapshot` events of one device, ready to append to its stream. */
export function deviceEvents(dev: QemuVirtioDevice, timestampNs: bigint): DeviceEvents {
  const wire = deviceToWire(dev, timestampNs);
  const base = { timestampNs, actor: 'vmm' as const, path: 'internal' as const, source: 'qemu-state' as const };
  return {
    device: dev.id,
    type: dev.type,
    transport: dev.transport,
    events: [
      {
        ...base,
        body: {
          kind: 'identified', type: dev.type, virtioId: dev.virtioId, transport: dev.transport, numQueues: dev.numQueues,
          configSize: dev.config.length, pciVendor: wire.pciVendor, pciDevice: wire.pciDevice,
          pciSubsystemVendor: wire.pciSubsystemVendor, pciSubsystem: wire.pciSubsystem, pciRevision: wire.pciRevision, backend: 'qemu',
        },
      },
      { ...base, body: { kind: 'snapshot', state: wire } },
    ],
  };
}
