// DeviceState -> migration records. The precopy chunk (sent while the device still runs, VFIO PRE_COPY) carries
// what a target needs first: the schema header, the transport mode, the feature parts, the accepted features,
// vDPA facts, the device config; the stop-copy chunk (VFIO STOP_COPY) the rest of the device parts and the
// queue, MSI-X, PCI and runtime state, then the integrity record.
import { encodeStandalone } from '../events/fast-codec.js';
import { maskToWords } from '../project/snapshot-codec.js';
import type { DeviceState } from '../project/state.js';
import {
  PART, encodeCommonCfgPart, encodeFeaturesPart, encodeNetCvqPart, encodeStatusPart, encodeVqCfgPart, encodeVqNotifyPart,
} from './device-parts.js';
import {
  type EncodedRecord, MigrationExportError, RECORDER_VERSION, RECORD_FLAG_OPTIONAL, TAG, concat, encodeHeaderPrefix,
  encodeRecords, integrityRecord, FORMAT_MAJOR, FORMAT_MINOR,
} from './format.js';
import { pciCapabilities } from './pci-caps.js';
import { MIGRATION_SPECS, SCHEMA_FINGERPRINT } from './schema.js';

const LEGACY = new Set(['pci-legacy', 'mmio-legacy']);

export interface StreamMeta {
  /** VFIO_MIGRATION_* flags the source ran with */
  vfioFlags: number;
  persona?: { id: string; version: string };
  exportedAtNs: bigint;
  /** format version to write (tests write other versions; the exporter always writes the current one) */
  major?: number;
  minor?: number;
}

const msg = (name: keyof typeof MIGRATION_SPECS, obj: object) => encodeStandalone(MIGRATION_SPECS[name], obj);

function u16(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new MigrationExportError(`${what} is ${v}: the device part field is le16`);
  return v;
}

function u8(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new MigrationExportError(`${what} is ${v}: the device part field is u8`);
  return v;
}

/** True for PCI device ids in the transitional range (virtio 1.3 4.1.2.1). */
export function isTransitionalPciId(deviceId: number): boolean {
  return deviceId >= 0x1000 && deviceId <= 0x103f;
}

export function headerRecord(s: DeviceState, meta: StreamMeta): EncodedRecord {
  const body = msg('SchemaHeader', {
    deviceType: s.type,
    virtioId: s.virtioId,
    transport: s.transport,
    pci: { vendor: s.pci.vendor, device: s.pci.device, subsystemVendor: s.pci.subsystemVendor, subsystem: s.pci.subsystem, revision: s.pci.revision },
    personaId: meta.persona?.id ?? '',
    personaVersion: meta.persona?.version ?? '',
    provenance: {
      backend: s.backend,
      recorder: 'devrec',
      recorderVersion: RECORDER_VERSION,
      sourceStream: s.device,
      sourceRevision: BigInt(s.revision),
      sourceEventCount: BigInt(s.eventCount),
      sourceTimestampNs: s.timestampNs,
      exportedAtNs: meta.exportedAtNs,
    },
    schemaFingerprint: SCHEMA_FINGERPRINT,
    vfioMigrationFlags: meta.vfioFlags,
  });
  return { tag: TAG.SCHEMA_HEADER, flags: 0, data: concat(encodeHeaderPrefix(meta.major ?? FORMAT_MAJOR, meta.minor ?? FORMAT_MINOR), body) };
}

/** Records of the precopy chunk (without STOP_COPY_SIZE, which the caller adds once it knows the stop-copy size). */
export function precopyRecords(s: DeviceState, meta: StreamMeta): EncodedRecord[] {
  const legacy = LEGACY.has(s.transport);
  const records: EncodedRecord[] = [
    headerRecord(s, meta),
    {
      tag: TAG.TRANSPORT_MODE, flags: 0, data: msg('TransportMode', {
        legacy,
        transitional: s.transport.startsWith('pci') && isTransitionalPciId(s.pci.device),
        // virtio 1.x is little-endian by definition; the state does not record a legacy guest's byte order.
        guestEndian: legacy || s.transport === 'unspecified' ? 'unspecified' : 'little',
        guestPageSize: s.guestPageSize,
      }),
    },
    {
      tag: TAG.DEVICE_DATA, flags: 0, data: concat(
        encodeFeaturesPart(PART.DEV_FEATURES, maskToWords(s.features.device)),
        encodeFeaturesPart(PART.DRV_FEATURES, maskToWords(s.features.driver)),
      ),
    },
    {
      tag: TAG.FEATURE_NEGOTIATION, flags: 0, data: msg('FeatureNegotiation', {
        accepted: maskToWords(s.features.accepted), acceptedVia: s.features.acceptedVia, negotiation: s.features.negotiation,
      }),
    },
  ];
  if (s.features.parent !== undefined || s.provisioned !== undefined) {
    records.push({
      tag: TAG.VDPA, flags: RECORD_FLAG_OPTIONAL, data: msg('VdpaProvisioning', {
        hasParentFeatures: s.features.parent !== undefined,
        parentFeatures: maskToWords(s.features.parent ?? 0n),
        hasProvisioned: s.provisioned !== undefined,
        ...(s.provisioned ? { provisioned: s.provisioned } : {}),
      }),
    });
  }
  records.push({ tag: TAG.DEVICE_CONFIG, flags: 0, data: s.config.slice() });
  return records;
}

export function stopCopySizeRecord(size: number): EncodedRecord {
  const data = new Uint8Array(8);
  new DataView(data.buffer).setBigUint64(0, BigInt(size), true);
  return { tag: TAG.STOP_COPY_SIZE, flags: RECORD_FLAG_OPTIONAL, data };
}

/** Records of the stop-copy chunk, integrity excluded. */
export function stopCopyRecords(s: DeviceState): EncodedRecord[] {
  const parts: Uint8Array[] = [
    encodeCommonCfgPart(0, s.features.deviceFeatureSelect),
    encodeCommonCfgPart(8, s.features.driverFeatureSelect),
    encodeCommonCfgPart(16, u16(s.msix.configVector, 'config_msix_vector')),
    encodeCommonCfgPart(18, u16(s.numQueues, 'num_queues')),
    encodeCommonCfgPart(22, u16(s.queueSelect, 'queue_select')),
    encodeStatusPart(u8(s.status, 'device_status')),
  ];
  for (const q of s.queues) {
    parts.push(encodeVqCfgPart({
      index: u16(q.index, 'virtqueue index'), queueSize: u16(q.size, `queue ${q.index} queue_size`),
      vector: u16(q.msixVector, `queue ${q.index} vector`), enabled: q.enabled ? 1 : 0, desc: q.desc, driver: q.driver, device: q.device,
    }));
  }
  // The state keeps no queue_notif_config_data (VIRTIO_F_NOTIF_CONFIG_DATA): written as 0.
  for (const q of s.queues) parts.push(encodeVqNotifyPart(q.index, u16(q.notifyOff, `queue ${q.index} queue_notify_off`), 0));
  if (s.control.length > 0) {
    if (s.type !== 'net') {
      throw new MigrationExportError(`device ${s.device} (type "${s.type || 'unknown'}") has control-queue commands recorded; only virtio-net has a device part (0x200) for them`);
    }
    for (const c of s.control) parts.push(encodeNetCvqPart(u8(c.class, 'control class'), u8(c.command, 'control command'), c.data));
  }
  const records: EncodedRecord[] = [
    { tag: TAG.DEVICE_DATA, flags: 0, data: concat(...parts) },
    {
      tag: TAG.VQ_STATE, flags: 0, data: msg('VirtqueueStates', {
        queues: s.queues.map((q) => ({
          index: q.index, lastAvailIdx: q.lastAvailIdx, usedIdx: q.usedIdx, availWrap: q.availWrap, usedWrap: q.usedWrap,
          availIdx: q.availIdx, maxSize: q.maxSize, pfn: q.pfn, align: q.align, resetPending: q.resetPending,
        })),
      }),
    },
  ];
  if (s.control.length > 0) {
    records.push({
      tag: TAG.CVQ_STATUS, flags: 0, data: msg('ControlAcks', {
        commands: s.control.map((c) => ({ class: c.class, command: c.command, ...(c.ack !== undefined ? { ack: c.ack } : {}) })),
      }),
    });
  }
  records.push(
    { tag: TAG.MSIX, flags: 0, data: msg('MsixState', { enabled: s.msix.enabled, functionMask: s.msix.functionMask, tableSize: s.msix.tableSize }) },
    { tag: TAG.PCI_CONFIG, flags: 0, data: msg('PciConfigSpace', { config: s.pci.config, capabilities: pciCapabilities(s.pci.config) }) },
    { tag: TAG.RUNTIME, flags: 0, data: msg('DeviceRuntime', { isr: s.isr, configGeneration: s.configGeneration, resetPending: s.resetPending }) },
  );
  return records;
}

export interface EncodedChunks {
  /** bytes of the precopy chunk (starts with the schema header) */
  precopy: Uint8Array;
  /** bytes of the stop-copy chunk (ends with the integrity record) */
  stopCopy: Uint8Array;
}

/** Both chunks of one device state; precopy + stopCopy is the devrec stream. */
export function encodeChunks(s: DeviceState, meta: StreamMeta): EncodedChunks {
  const stopBody = encodeRecords(stopCopyRecords(s));
  const stopCopySize = stopBody.length + 16 + 32;
  const precopy = encodeRecords([...precopyRecords(s, meta), stopCopySizeRecord(stopCopySize)]);
  return { precopy, stopCopy: concat(stopBody, integrityRecord(precopy, stopBody)) };
}

/** The whole devrec stream of one device state. */
export function encodeStream(s: DeviceState, meta: StreamMeta): Uint8Array {
  const c = encodeChunks(s, meta);
  return concat(c.precopy, c.stopCopy);
}
