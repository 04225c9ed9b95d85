// A decoded QEMU virtio device -> devrec's DeviceState (schema v2) and the events that carry it.
//
// Only what the stream holds is known; the rest is unknown (null), never 0:
//  - the offered (host) features: not saved by QEMU. `features.device` is unknown; the decoded device keeps the hints
//    the stream does give (VERSION_1, a bit >= 32, RING_PACKED offered).
//  - split rings: used_idx, the shadow avail idx and inuse are not saved (virtio_load re-reads them from guest
//    memory): `usedIdx` and `availIdx` are unknown (a full migration stream gives them from guest RAM, guest-ram.ts),
//    and so are the wrap counters (a packed-ring notion). Packed rings
//    carry last_avail_idx / used_idx and both wrap counters.
//  - a queue's maximum size: on virtio-pci known only from the virtio/ringsize subsection (num_default); QEMU's
//    virtio-mmio always answers QueueNumMax with 1024.
//  - the config generation counter; the feature select registers of a legacy PCI device (it has none).
//  - virtio-mmio devices have no PCI identity, config space or MSI-X; a PCI device without an MSI-X capability has
//    table size 0, MSI-X disabled, and no vectors.
import type { DeviceAlias, NewEvent, Source } from '../../events/types.js';
import { isLegacyTransport } from '../../model/index.js';
import { LEGACY_QUEUE_ADDR_SHIFT, LEGACY_VRING_ALIGN } from '../../model/registers.js';
import type { DeviceStateWire } from '../../project/generated/state-types.js';
import { type DeviceState, type QueueState, initialState, wholeConfigKnown } from '../../project/state.js';
import { stateToWire } from '../../project/state-wire.js';
import { netControlFromQemu } from './net-control.js';
import type { QemuVirtioDevice } from './virtio.js';

const le16 = (b: Uint8Array, i: number): number => (b[i] ?? 0) | ((b[i + 1] ?? 0) << 8);
const FEATURES_OK = 0x08;
/** QEMU's virtio-mmio answers QueueNumMax with VIRTQUEUE_MAX_SIZE for every queue that exists (virtio_mmio_read). */
const MMIO_QUEUE_NUM_MAX = 1024;

function pciOf(dev: QemuVirtioDevice): DeviceState['pci'] {
  const cfg = dev.pci?.config;
  if (!cfg) return null;
  return {
    vendor: le16(cfg, 0), device: le16(cfg, 2), subsystemVendor: le16(cfg, 0x2c), subsystem: le16(cfg, 0x2e), revision: cfg[8] ?? 0,
    config: cfg.slice(),
  };
}

function msixOf(dev: QemuVirtioDevice): DeviceState['msix'] {
  if (!dev.pci) return null;
  const m = dev.pci.msix;
  if (!m) return { enabled: false, functionMask: false, configVector: null, tableSize: 0 };
  return { enabled: m.enabled, functionMask: m.functionMask, configVector: dev.pci.configVector, tableSize: m.tableSize };
}

function featureSelects(dev: QemuVirtioDevice): [number | null, number | null] {
  if (dev.subsections.includes('virtio_pci/modern_state')) return [dev.deviceFeatureSelect, dev.driverFeatureSelect];
  if (dev.mmio && dev.subsections.includes('virtio_mmio/state')) return [dev.mmio.hostFeaturesSel, dev.mmio.guestFeaturesSel];
  return [null, null];
}

/** The state a device-state (or migration) stream gives for one device. */
export function deviceToState(dev: QemuVirtioDevice, timestampNs = 0n, source: Source = 'qemu-state'): DeviceState {
  const legacy = isLegacyTransport(dev.transport);
  const modernPci = dev.transport === 'pci-modern';
  const featuresOk = (dev.status & FEATURES_OK) !== 0;
  // vdev->guest_features is what the device runs with: accepted at FEATURES_OK (modern), as written (legacy)
  const accepted = legacy || featuresOk ? dev.guestFeatures : 0n;
  const packed = dev.hostFeatureHints.ringPacked;
  const ringSizes = dev.subsections.includes('virtio/ringsize');
  const pageShift = dev.mmio?.guestPageShift ?? 0;
  const [dfs, gfs] = featureSelects(dev);
  const queues = dev.queues.map((q): QueueState => {
    const pfnShift = dev.transport === 'pci-legacy' ? LEGACY_QUEUE_ADDR_SHIFT : dev.transport === 'mmio-legacy' ? pageShift : -1;
    const pfn = pfnShift >= 0 && q.desc !== 0n ? Number((q.desc >> BigInt(pfnShift)) & 0xffffffffn) : 0;
    const addressesKnown = q.addresses !== 'none' || q.desc === 0n;
    return {
      index: q.index, size: q.size, maxSize: dev.bus === 'mmio' ? MMIO_QUEUE_NUM_MAX : ringSizes ? q.sizeDefault : null, enabled: q.enabled, desc: q.desc,
      driver: addressesKnown ? q.avail : null, device: addressesKnown ? q.used : null,
      pfn, align: pfn ? q.align ?? LEGACY_VRING_ALIGN : 0, msixVector: q.vector ?? null,
      // QEMU's virtio-pci gives queue i notify offset i (virtio_pci_common_read, VIRTIO_PCI_COMMON_Q_NOFF)
      notifyOff: modernPci ? q.index : null,
      lastAvailIdx: q.lastAvailIdx, usedIdx: q.usedIdx, availWrap: packed ? q.lastAvailWrap ?? null : null,
      usedWrap: packed ? q.usedWrap ?? null : null, availIdx: q.availIdx ?? null, resetPending: false,
    };
  });
  const s = initialState(dev.id);
  Object.assign(s, {
    type: dev.type, virtioId: dev.virtioId, transport: dev.transport, backend: 'qemu', revision: 0, timestampNs,
    status: dev.status,
    features: {
      device: null, driver: dev.driverFeatures, accepted, acceptedVia: 'snapshot',
      negotiation: accepted !== 0n ? 'accepted' : 'none', parent: null, deviceFeatureSelect: dfs, driverFeatureSelect: gfs,
    },
    numQueues: dev.numQueues, queueSelect: dev.queueSel, queues, config: dev.config.slice(), configKnown: wholeConfigKnown(dev.config),
    configGeneration: null,
    isr: dev.isr, msix: msixOf(dev), guestPageSize: dev.transport === 'mmio-legacy' && pageShift ? 2 ** pageShift : 0,
    pci: pciOf(dev), sources: [source],
    // virtio-net: QEMU's copy of what the control commands set (a device part walked, not decoded, gives nothing)
    netControl: dev.device.kind === 'net' ? netControlFromQemu(dev.device) : null,
    aliases: savevmAliases(dev),
  } satisfies Partial<DeviceState>);
  return s;
}

/**
 * QEMU's own names of the device in the stream: the savevm section idstr ("0000:00:03.0/virtio-net") and the
 * topological path in it ("0000:00:02.0:00.0" behind a bridge, "virtio-mmio@00000000feb02e00" on virtio-mmio).
 */
export function savevmAliases(dev: QemuVirtioDevice): DeviceAlias[] {
  const idstr = dev.section.idstr;
  const path = dev.qemuPath ?? idstr.slice(0, idstr.lastIndexOf('/'));
  return [{ kind: 'savevm-idstr', name: idstr }, ...(path ? [{ kind: 'qemu-path' as const, name: path }] : [])];
}

export function deviceToWire(dev: QemuVirtioDevice, timestampNs = 0n, source: Source = 'qemu-state'): DeviceStateWire {
  return stateToWire(deviceToState(dev, timestampNs, source));
}

export interface DeviceEvents {
  device: string;
  type: string;
  transport: string;
  events: NewEvent[];
}

/**
 * The `identified` + `snapshot` events of one device, ready to append to its stream. `source`: qemu-state for a
 * device-state stream, qemu-migration for a whole migration stream.
 */
export function deviceEvents(dev: QemuVirtioDevice, timestampNs: bigint, source: Source = 'qemu-state', id = dev.id): DeviceEvents {
  const state = deviceToState(dev, timestampNs, source);
  state.device = id;
  const pci = state.pci;
  const base = { timestampNs, actor: 'vmm' as const, path: 'internal' as const, source };
  return {
    device: id,
    type: dev.type,
    transport: dev.transport,
    events: [
      {
        ...base,
        body: {
          kind: 'identified', type: dev.type, virtioId: dev.virtioId, transport: dev.transport, numQueues: dev.numQueues,
          configSize: dev.config.length, pciVendor: pci?.vendor ?? 0, pciDevice: pci?.device ?? 0,
          pciSubsystemVendor: pci?.subsystemVendor ?? 0, pciSubsystem: pci?.subsystem ?? 0, pciRevision: pci?.revision ?? 0,
          backend: 'qemu', aliases: savevmAliases(dev),
        },
      },
      { ...base, body: { kind: 'snapshot', stateV2: stateToWire(state) } },
    ],
  };
}
