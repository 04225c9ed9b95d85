// Projector snapshots: DeviceState <-> devrec.v1.DeviceState bytes, prefixed with the projector version (u32 LE)
// so a snapshot made by a different reducer is never trusted.
import { decodeStandalone, encodeStandalone } from '../events/fast-codec.js';
import { lookupMessage } from '../events/schema.js';
import type { WireDeviceState } from '../events/types.js';
import type { DeviceState } from './state.js';

/** Bump whenever the reducer's output for the same events changes. */
export const PROJECTOR_VERSION = 1;
const SPEC = lookupMessage('DeviceState');

export function maskToWords(mask: bigint): bigint[] {
  const words: bigint[] = [];
  for (let m = mask; m > 0n; m >>= 64n) words.push(m & 0xffffffffffffffffn);
  return words;
}

export function stateToWire(s: DeviceState): WireDeviceState {
  return {
    device: s.device, type: s.type, virtioId: s.virtioId, transport: s.transport, revision: s.revision,
    timestampNs: s.timestampNs, status: s.status,
    deviceFeatures: maskToWords(s.features.device), driverFeatures: maskToWords(s.features.driver),
    acceptedFeatures: maskToWords(s.features.accepted), acceptedVia: s.features.acceptedVia,
    parentFeatures: maskToWords(s.features.parent ?? 0n), hasParentFeatures: s.features.parent !== undefined,
    ...(s.provisioned ? { provisioned: s.provisioned } : {}), hasProvisioned: s.provisioned !== undefined,
    deviceFeatureSelect: s.features.deviceFeatureSelect, driverFeatureSelect: s.features.driverFeatureSelect,
    queueSelect: s.queueSelect, queues: s.queues, config: s.config,
    msixEnabled: s.msix.enabled, msixFunctionMask: s.msix.functionMask, msixConfigVector: s.msix.configVector,
    msixTableSize: s.msix.tableSize, configGeneration: s.configGeneration, resetPending: s.resetPending,
    vfioState: s.vfioState ?? 'error', hasVfioState: s.vfioState !== undefined, numQueues: s.numQueues,
    guestPageSize: s.guestPageSize, pciVendor: s.pci.vendor, pciDevice: s.pci.device,
    pciSubsystemVendor: s.pci.subsystemVendor, pciSubsystem: s.pci.subsystem, pciRevision: s.pci.revision,
    pciConfig: s.pci.config, control: s.control, eventCount: s.eventCount, isr: s.isr,
    negotiation: s.features.negotiation, backend: s.backend,
  };
}

export function encodeSnapshot(s: DeviceState): Uint8Array {
  const body = encodeStandalone(SPEC, stateToWire(s));
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, PROJECTOR_VERSION, true);
  out.set(body, 4);
  return out;
}

/** Returns undefined for snapshots of another projector version. */
export function decodeSnapshot(data: Uint8Array): WireDeviceState | undefined {
  if (data.length < 4) return undefined;
  if (new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0, true) !== PROJECTOR_VERSION) return undefined;
  return decodeStandalone<WireDeviceState>(SPEC, data.subarray(4));
}
