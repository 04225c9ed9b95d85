// The projected state of one virtio device (schema v2: devrec.v1.DeviceStateV2, types generated into
// src/project/generated/state-types.ts), its starting and reset values, and its JSON form
// (DESIGN.md: `devrec state ID --json`; the radix policy is in docs/state.md).
//
// Unknown is `null` in code and in JSON, "?" in text: a field no source has told us about. A fresh state knows
// nothing but its stream id; a device reset (and the other transitions the virtio spec defines) gives known values.
import { MSI_NO_VECTOR } from '../model/registers.js';
import type { ProvisionedAttributes } from '../events/types.js';
import { bytesToHex, hex64 } from '../events/hex.js';
import { deviceTypeByName, featureNames, isPciTransport, statusNames } from '../model/index.js';
import type { DeviceState, MsixState, PciState, QueueState } from './generated/state-types.js';
import { cloneNetControl } from './net-control.js';

export type { AcceptedVia, DeviceState, FeatureSets, MsixState, Negotiation, PciState, QueueState } from './generated/state-types.js';

/** MSI-X "no vector" (VIRTIO_MSI_NO_VECTOR, src/model/registers.ts). */
export const NO_VECTOR = MSI_NO_VECTOR;

export function initialState(device: string): DeviceState {
  return {
    device,
    type: '',
    virtioId: null,
    transport: 'unspecified',
    backend: '',
    revision: -1,
    timestampNs: 0n,
    eventCount: 0,
    status: null,
    features: {
      device: null, driver: null, accepted: null, acceptedVia: 'none', negotiation: 'none', parent: null,
      deviceFeatureSelect: null, driverFeatureSelect: null,
    },
    provisioned: null,
    numQueues: null,
    queueSelect: null,
    queues: [],
    config: new Uint8Array(0),
    configGeneration: null,
    isr: null,
    msix: null,
    resetPending: false,
    vfioState: null,
    guestPageSize: 0,
    pci: null,
    control: [],
    netControl: null,
    aliases: [],
    sources: [],
    resetSeen: false,
    configKnown: new Uint8Array(0),
  };
}

/** Marks config bytes [offset, offset + n) as known (the reducer's configKnown runs parallel to config). */
export function wholeConfigKnown(config: Uint8Array): Uint8Array {
  return new Uint8Array(config.length).fill(1);
}

/** The config bytes as hex with unknown bytes as "??" (text and JSON views). */
export function configHex(s: { config: Uint8Array; configKnown: Uint8Array }): string {
  let out = '';
  for (let i = 0; i < s.config.length; i++) out += s.configKnown[i] ? s.config[i]!.toString(16).padStart(2, '0') : '??';
  return out;
}

/** True when every config byte in [offset, offset + n) is known. */
export function configBytesKnown(s: { config: Uint8Array; configKnown: Uint8Array }, offset: number, n: number): boolean {
  if (offset + n > s.config.length) return false;
  for (let i = offset; i < offset + n; i++) if (!s.configKnown[i]) return false;
  return true;
}

/** A queue nothing has been said about yet. */
export function initialQueue(index: number): QueueState {
  return {
    index, size: null, maxSize: null, enabled: null, desc: null, driver: null, device: null, pfn: 0, align: 0,
    msixVector: null, notifyOff: null, lastAvailIdx: null, usedIdx: null, availWrap: null, usedWrap: null, availIdx: null,
    resetPending: false,
  };
}

/**
 * A queue after a device or queue reset (virtio 1.3 2.4, 4.1.4.3.2): disabled, no addresses, indices 0, wrap
 * counters 1, no vector, size back to the maximum. The maximum and the notify offset are device properties and stay.
 */
export function resetQueueValues(q: QueueState): void {
  q.size = q.maxSize;
  q.enabled = false;
  q.desc = 0n;
  q.driver = 0n;
  q.device = 0n;
  q.pfn = 0;
  q.align = 0;
  q.msixVector = NO_VECTOR;
  q.lastAvailIdx = 0;
  q.usedIdx = 0;
  q.availWrap = true;
  q.usedWrap = true;
  q.availIdx = 0;
  q.resetPending = false;
}

export function unknownMsix(): MsixState {
  return { enabled: null, functionMask: null, configVector: null, tableSize: null };
}

export function unknownPci(): PciState {
  return { vendor: null, device: null, subsystemVendor: null, subsystem: null, revision: null, config: new Uint8Array(0) };
}

/** True when the transport has a PCI identity and MSI-X (a state with an unspecified transport may still get one). */
export const hasPci = (s: DeviceState): boolean => isPciTransport(s.transport);

function cloneProvisioned(p: ProvisionedAttributes | null): ProvisionedAttributes | null {
  return p ? { ...p, mac: p.mac.slice() } : null;
}

/** Deep copy, so the reducer can work in place on its own copy. */
export function cloneState(s: DeviceState): DeviceState {
  return {
    ...s,
    features: { ...s.features },
    provisioned: cloneProvisioned(s.provisioned),
    queues: s.queues.map((q) => ({ ...q })),
    config: s.config.slice(),
    configKnown: s.configKnown.slice(),
    msix: s.msix ? { ...s.msix } : null,
    pci: s.pci ? { ...s.pci, config: s.pci.config.slice() } : null,
    control: s.control.map((c) => ({ ...c, data: c.data.slice() })),
    netControl: s.netControl ? cloneNetControl(s.netControl) : null,
    aliases: s.aliases.map((a) => ({ ...a })),
    sources: s.sources.slice(),
  };
}

function names(mask: bigint | null, type: string): string[] | null {
  return mask === null ? null : featureNames(mask, deviceTypeByName(type) ? type : undefined);
}

const hexOrNull = (v: bigint | null): string | null => (v === null ? null : hex64(v));
/** PCI ids as "0x1af4": four hex digits, the way lspci and the PCI ID database write them. */
export const pciIdHex = (v: number | null): string | null => (v === null ? null : '0x' + v.toString(16).padStart(4, '0'));
const byteHex = (v: number | null): string | null => (v === null ? null : '0x' + v.toString(16).padStart(2, '0'));

function macText(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * The JSON form. Keys are in a fixed order, so the same state always gives the same bytes. Unknown is `null`.
 * Radix (docs/state.md): 64-bit values, addresses and masks "0x..." strings; counts and indices numbers; PCI ids
 * "0x1af4" strings; times ISO 8601 plus `timestampNs`, a decimal string; the status a register value ("0x0f", two
 * digits, as `log --json` writes it) beside its bit names.
 */
export function stateToJson(s: DeviceState): Record<string, unknown> {
  return {
    device: s.device,
    type: s.type || null,
    transport: s.transport,
    revision: s.revision,
    status: byteHex(s.status),
    statusNames: s.status === null ? null : statusNames(s.status),
    features: {
      device: hexOrNull(s.features.device),
      driver: hexOrNull(s.features.driver),
      accepted: hexOrNull(s.features.accepted),
      deviceNames: names(s.features.device, s.type),
      driverNames: names(s.features.driver, s.type),
      acceptedNames: names(s.features.accepted, s.type),
      acceptedVia: s.features.acceptedVia,
      negotiation: s.features.negotiation,
      parent: hexOrNull(s.features.parent),
      parentNames: names(s.features.parent, s.type),
      deviceFeatureSelect: s.features.deviceFeatureSelect,
      driverFeatureSelect: s.features.driverFeatureSelect,
    },
    queues: s.queues.map((q) => ({
      index: q.index,
      size: q.size,
      enabled: q.enabled,
      desc: hexOrNull(q.desc),
      driver: hexOrNull(q.driver),
      device: hexOrNull(q.device),
      lastAvailIdx: q.lastAvailIdx,
      usedIdx: q.usedIdx,
      msixVector: q.msixVector,
      maxSize: q.maxSize,
      notifyOff: q.notifyOff,
      availWrap: q.availWrap,
      usedWrap: q.usedWrap,
      availIdx: q.availIdx,
      ...(q.pfn ? { pfn: `0x${q.pfn.toString(16)}`, align: q.align } : {}),
      resetPending: q.resetPending,
    })),
    config: bytesToHex(s.config),
    // per config byte: known (the hex above) or not ("??"): a source saw only some bytes
    configKnown: configHex(s),
    msix: s.msix
      ? { enabled: s.msix.enabled, configVector: s.msix.configVector, functionMask: s.msix.functionMask, tableSize: s.msix.tableSize }
      : null,
    virtioId: s.virtioId,
    backend: s.backend || null,
    timestamp: s.timestampNs > 0n ? nsToIso(s.timestampNs) : null,
    timestampNs: s.timestampNs > 0n ? s.timestampNs.toString() : null,
    eventCount: s.eventCount,
    numQueues: s.numQueues,
    queueSelect: s.queueSelect,
    configGeneration: s.configGeneration,
    isr: s.isr,
    resetPending: s.resetPending,
    vfioState: s.vfioState,
    guestPageSize: s.guestPageSize || null,
    provisioned: s.provisioned
      ? {
          mgmtdev: s.provisioned.mgmtdev,
          name: s.provisioned.name,
          deviceFeatures: s.provisioned.deviceFeaturesGiven ? hex64(s.provisioned.deviceFeatures) : null,
          mac: s.provisioned.macGiven ? macText(s.provisioned.mac) : null,
          mtu: s.provisioned.mtuGiven ? s.provisioned.mtu : null,
          maxVqp: s.provisioned.maxVqpGiven ? s.provisioned.maxVqp : null,
        }
      : null,
    pci: s.pci
      ? {
          vendor: pciIdHex(s.pci.vendor), device: pciIdHex(s.pci.device), subsystemVendor: pciIdHex(s.pci.subsystemVendor),
          subsystem: pciIdHex(s.pci.subsystem), revision: byteHex(s.pci.revision), config: bytesToHex(s.pci.config),
        }
      : null,
    control: s.control.map((c) => ({ class: c.class, command: c.command, data: bytesToHex(c.data), ...(c.ack !== undefined ? { ack: c.ack } : {}) })),
    sources: s.sources,
    aliases: s.aliases.map((a) => ({ kind: a.kind, name: a.name })),
  };
}

export function nsToIso(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

/** A value for text output: "?" when unknown. */
export function known<T>(v: T | null, show: (x: T) => string = String): string {
  return v === null ? '?' : show(v);
}
