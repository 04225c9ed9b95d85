// Reading device state schema v1 (devrec.v1.DeviceState, in `snapshot` events of logs written before schema v2).
// v1 had no presence: every field held a number, and 0 stood for "nobody said" as often as for 0. These rules turn
// the zeros that cannot be real into unknown (docs/state.md, "Reading v1"):
//  - virtioId 0, numQueues 0, PCI vendor/device ids 0: no virtio device has them (virtio 1.3 5, 4.1.2);
//  - offered features 0: every device offers at least its ring features; a device-state stream never carries them;
//  - on a non-PCI transport (virtio-mmio, vDPA): no PCI identity, no MSI-X block, no queue vectors;
//  - from a QEMU device-state import (event source qemu-state): the split-ring used index and avail index (virtio_load
//    reads them back from guest memory, the stream does not have them) and the config generation are unknown.
// Everything else is read as the value it holds.
import type { Source, WireDeviceStateV1 } from '../events/types.js';
import { PCI_TRANSPORTS, featureBit, isLegacyTransport } from '../model/index.js';
import { type DeviceState, type QueueState, initialState, wholeConfigKnown } from './state.js';
import { wordsToMask } from './state-wire.js';

const RING_PACKED = featureBit('VIRTIO_F_RING_PACKED');
const nonZero = (v: number): number | null => (v === 0 ? null : v);

export function stateFromV1(w: WireDeviceStateV1, source: Source): DeviceState {
  const s = initialState(w.device);
  const pci = PCI_TRANSPORTS.has(w.transport);
  const fromQemuState = source === 'qemu-state' || source === 'qemu-migration';
  const accepted = wordsToMask(w.acceptedFeatures);
  const packed = (accepted & RING_PACKED) !== 0n;
  const offered = wordsToMask(w.deviceFeatures);
  s.type = w.type;
  s.virtioId = nonZero(w.virtioId);
  s.transport = w.transport;
  s.backend = w.backend;
  s.revision = w.revision;
  s.timestampNs = w.timestampNs;
  s.eventCount = w.eventCount;
  s.status = w.status;
  s.features = {
    device: offered === 0n ? null : offered,
    driver: wordsToMask(w.driverFeatures),
    accepted,
    acceptedVia: w.acceptedVia === '' ? 'none' : (w.acceptedVia as DeviceState['features']['acceptedVia']),
    negotiation: (w.negotiation || (accepted !== 0n ? 'accepted' : 'none')) as DeviceState['features']['negotiation'],
    parent: w.hasParentFeatures ? wordsToMask(w.parentFeatures) : null,
    deviceFeatureSelect: w.deviceFeatureSelect,
    driverFeatureSelect: w.driverFeatureSelect,
  };
  s.provisioned = w.hasProvisioned && w.provisioned ? { ...w.provisioned, mac: w.provisioned.mac.slice() } : null;
  s.numQueues = nonZero(w.numQueues);
  s.queueSelect = w.queueSelect;
  s.queues = w.queues.map((q): QueueState => ({
    index: q.index, size: q.size, maxSize: q.maxSize, enabled: q.enabled, desc: q.desc, driver: q.driver, device: q.device,
    pfn: q.pfn, align: q.align, msixVector: pci ? q.msixVector : null, notifyOff: w.transport === 'pci-modern' ? q.notifyOff : null,
    lastAvailIdx: q.lastAvailIdx,
    usedIdx: fromQemuState && !packed ? null : q.usedIdx,
    availWrap: q.availWrap, usedWrap: q.usedWrap,
    availIdx: fromQemuState ? null : q.availIdx,
    resetPending: q.resetPending,
  })).sort((a, b) => a.index - b.index);
  s.config = w.config.slice();
  s.configKnown = wholeConfigKnown(s.config);
  s.configGeneration = fromQemuState ? null : w.configGeneration;
  s.isr = w.isr;
  s.msix = pci
    ? { enabled: w.msixEnabled, functionMask: w.msixFunctionMask, configVector: w.msixConfigVector, tableSize: w.msixTableSize }
    : null;
  s.resetPending = w.resetPending;
  s.vfioState = w.hasVfioState ? w.vfioState : null;
  s.guestPageSize = isLegacyTransport(w.transport) ? w.guestPageSize : 0;
  s.pci = pci
    ? {
        vendor: nonZero(w.pciVendor), device: nonZero(w.pciDevice), subsystemVendor: nonZero(w.pciSubsystemVendor),
        subsystem: nonZero(w.pciSubsystem), revision: w.pciVendor === 0 ? null : w.pciRevision, config: w.pciConfig.slice(),
      }
    : null;
  s.control = w.control.map((c) => ({ ...c, data: c.data.slice() }));
  s.sources = [source];
  return s;
}
