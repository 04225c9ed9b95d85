// BENCH BASELINE: src/project/state.ts as it was before issue 12 (for bench/run.ts only).
import type { ControlCommandFields, ProvisionedAttributes, Transport, VfioState } from '../../src/events/types.js';
import { bytesToHex, hex64 } from '../../src/events/json.js';
import { deviceTypeByName, featureNames, statusNames } from '../../src/model/index.js';

/** MSI-X "no vector" (VIRTIO_MSI_NO_VECTOR). */
export const NO_VECTOR = 0xffff;

export interface QueueState {
  index: number;
  size: number;
  maxSize: number;
  enabled: boolean;
  desc: bigint;
  driver: bigint;
  device: bigint;
  pfn: number;
  align: number;
  msixVector: number;
  notifyOff: number;
  lastAvailIdx: number;
  usedIdx: number;
  availWrap: boolean;
  usedWrap: boolean;
  /** the driver's avail index as last seen by the device */
  availIdx: number;
  resetPending: boolean;
}

export type AcceptedVia = '' | 'features-ok' | 'legacy-write' | 'snapshot';
export type Negotiation = 'none' | 'accepted' | 'refused';

export interface FeatureSets {
  /** offered by the device */
  device: bigint;
  /** written by the driver */
  driver: bigint;
  /** in effect: kept at FEATURES_OK (modern) or at the guest-features write (legacy) */
  accepted: bigint;
  acceptedVia: AcceptedVia;
  negotiation: Negotiation;
  /** supported by the parent management device (vDPA) / PF, when recorded */
  parent: bigint | undefined;
  deviceFeatureSelect: number;
  driverFeatureSelect: number;
}

export interface DeviceState {
  device: string;
  type: string;
  virtioId: number;
  transport: Transport;
  backend: string;
  /** revision of the last event applied; -1 before the first */
  revision: number;
  timestampNs: bigint;
  eventCount: number;
  status: number;
  features: FeatureSets;
  provisioned: ProvisionedAttributes | undefined;
  numQueues: number;
  queueSelect: number;
  /** sorted by index */
  queues: QueueState[];
  config: Uint8Array;
  configGeneration: number;
  isr: number;
  msix: { enabled: boolean; functionMask: boolean; configVector: number; tableSize: number };
  resetPending: boolean;
  vfioState: VfioState | undefined;
  guestPageSize: number;
  pci: { vendor: number; device: number; subsystemVendor: number; subsystem: number; revision: number; config: Uint8Array };
  /** latest control-queue command per (class, command), in first-seen order */
  control: ControlCommandFields[];
}

export function initialState(device: string): DeviceState {
  return {
    device,
    type: '',
    virtioId: 0,
    transport: 'unspecified',
    backend: '',
    revision: -1,
    timestampNs: 0n,
    eventCount: 0,
    status: 0,
    features: {
      device: 0n, driver: 0n, accepted: 0n, acceptedVia: '', negotiation: 'none', parent: undefined,
      deviceFeatureSelect: 0, driverFeatureSelect: 0,
    },
    provisioned: undefined,
    numQueues: 0,
    queueSelect: 0,
    queues: [],
    config: new Uint8Array(0),
    configGeneration: 0,
    isr: 0,
    msix: { enabled: false, functionMask: false, configVector: NO_VECTOR, tableSize: 0 },
    resetPending: false,
    vfioState: undefined,
    guestPageSize: 0,
    pci: { vendor: 0, device: 0, subsystemVendor: 0, subsystem: 0, revision: 0, config: new Uint8Array(0) },
    control: [],
  };
}

export function initialQueue(index: number): QueueState {
  return {
    index, size: 0, maxSize: 0, enabled: false, desc: 0n, driver: 0n, device: 0n, pfn: 0, align: 0,
    msixVector: NO_VECTOR, notifyOff: 0, lastAvailIdx: 0, usedIdx: 0, availWrap: true, usedWrap: true, availIdx: 0,
    resetPending: false,
  };
}

/** Deep copy, so the reducer can work in place on its own copy. */
export function cloneState(s: DeviceState): DeviceState {
  return {
    ...s,
    features: { ...s.features },
    provisioned: s.provisioned ? { ...s.provisioned, mac: s.provisioned.mac.slice() } : undefined,
    queues: s.queues.map((q) => ({ ...q })),
    config: s.config.slice(),
    msix: { ...s.msix },
    pci: { ...s.pci, config: s.pci.config.slice() },
    control: s.control.map((c) => ({ ...c, data: c.data.slice() })),
  };
}

function names(mask: bigint, type: string): string[] {
  return featureNames(mask, deviceTypeByName(type) ? type : undefined);
}

function macText(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The JSON form. Keys are in a fixed order, so the same state always gives the same bytes. */
export function stateToJson(s: DeviceState): Record<string, unknown> {
  return {
    device: s.device,
    type: s.type,
    transport: s.transport,
    revision: s.revision,
    status: s.status,
    statusNames: statusNames(s.status),
    features: {
      device: hex64(s.features.device),
      driver: hex64(s.features.driver),
      accepted: hex64(s.features.accepted),
      deviceNames: names(s.features.device, s.type),
      driverNames: names(s.features.driver, s.type),
      acceptedNames: names(s.features.accepted, s.type),
      acceptedVia: s.features.acceptedVia,
      negotiation: s.features.negotiation,
      ...(s.features.parent !== undefined ? { parent: hex64(s.features.parent), parentNames: names(s.features.parent, s.type) } : {}),
    },
    queues: s.queues.map((q) => ({
      index: q.index,
      size: q.size,
      enabled: q.enabled,
      desc: hex64(q.desc),
      driver: hex64(q.driver),
      device: hex64(q.device),
      lastAvailIdx: q.lastAvailIdx,
      usedIdx: q.usedIdx,
      msixVector: q.msixVector,
      maxSize: q.maxSize,
      notifyOff: q.notifyOff,
      availWrap: q.availWrap,
      usedWrap: q.usedWrap,
      availIdx: q.availIdx,
      ...(q.pfn ? { pfn: q.pfn, align: q.align } : {}),
      resetPending: q.resetPending,
    })),
    config: bytesToHex(s.config),
    msix: { enabled: s.msix.enabled, configVector: s.msix.configVector, functionMask: s.msix.functionMask, tableSize: s.msix.tableSize },
    virtioId: s.virtioId,
    backend: s.backend,
    timestamp: s.timestampNs > 0n ? nsToIso(s.timestampNs) : null,
    timestampNs: hex64(s.timestampNs),
    eventCount: s.eventCount,
    numQueues: s.numQueues,
    queueSelect: s.queueSelect,
    configGeneration: s.configGeneration,
    isr: s.isr,
    resetPending: s.resetPending,
    vfioState: s.vfioState ?? null,
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
    pci: {
      vendor: s.pci.vendor, device: s.pci.device, subsystemVendor: s.pci.subsystemVendor, subsystem: s.pci.subsystem,
      revision: s.pci.revision, config: bytesToHex(s.pci.config),
    },
    control: s.control.map((c) => ({ class: c.class, command: c.command, data: bytesToHex(c.data), ...(c.ack !== undefined ? { ack: c.ack } : {}) })),
  };
}

export function nsToIso(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}
