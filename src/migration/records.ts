// The records of a devrec migration stream, as one table: per record its tag, the chunk it travels in, whether a
// format 1.x reader requires it, whether it is flagged optional, the protobuf message its data holds, how the
// encoder writes it from a DeviceState (`write`), how the importer folds it back into one (`read`) and how
// `devrec inspect` shows it (`show`). encode.ts, importer.ts and inspect.ts walk this table; nothing else lists
// the records. docs/migration-format.md has the bytes.
//
// Unknown values (docs/migration-format.md, "Unknown values"): presence travels. A device part that is optional in
// the spec (DEV_FEATURES, each PCI_COMMON_CFG field, VQ_NOTIFY_CFG) is left out when its value is unknown; the
// devrec records' fields with presence are left out. A value the target needs to run the device (status, the
// driver's and the accepted features, an active queue's size, addresses and enable) has no way to be unknown in
// the spec's device parts: export refuses, naming it.
import { decodeStandalone, encodeStandalone } from '../events/fast-codec.js';
import { bytesToHex, hex64, hexKeys } from '../events/json.js';
import type { Transport } from '../events/types.js';
import { ENUMS } from '../events/event-spec.js';
import { isWallClock } from '../events/time.js';
import type { DeviceStateWire } from '../project/generated/state-types.js';
import { stateSpec, maskToWords, stateFromWire, stateToWire } from '../project/state-wire.js';
import {
  type AcceptedVia, type DeviceState, type Negotiation, type QueueState, NO_VECTOR, initialState, nsToIso, unknownMsix,
  wholeConfigKnown,
} from '../project/state.js';
import {
  deviceTypeByName, featureNames, isLegacyTransport, isPciTransport, isTransitionalPciId, statusNames,
} from '../model/index.js';
import { pciCapabilityKind, virtioPciCapType } from '../model/pci-capabilities.js';
import {
  COMMON_CFG_FIELDS, type LocatedPart, PART, type DevicePart, encodeCommonCfgPart, encodeFeaturesPart, encodeNetCvqPart,
  encodeStatusPart, encodeVqCfgPart, encodeVqNotifyPart, partName,
} from './device-parts.js';
import {
  FORMAT_MAJOR, FORMAT_MINOR, HEADER_MAGIC, HEADER_PREFIX_SIZE, MigrationExportError,
  MigrationFormatError, RECORDER_VERSION, RECORD_FLAG_OPTIONAL, RECORD_HEADER_SIZE, type RawRecord, TAG, type TagName,
  concat, encodeHeaderPrefix, type OffsetMap, sha256,
} from './format.js';
import { pciCapabilities } from './pci-caps.js';
import {
  type ControlAcksMsg, type DeviceRuntimeMsg, type FeatureNegotiationMsg, MIGRATION_SPECS, type MsixStateMsg,
  type PciConfigSpaceMsg, SCHEMA_FINGERPRINT, type SchemaHeaderMsg, type TransportModeMsg, type VdpaProvisioningMsg,
  type VirtqueueStatesMsg,
} from './schema.js';

export type Chunk = 'precopy' | 'stop-copy';
export type MessageName = keyof typeof MIGRATION_SPECS;

export interface StreamMeta {
  /** VFIO_MIGRATION_* flags the source ran with */
  vfioFlags: number;
  persona?: { id: string; version: string };
  exportedAtNs: bigint;
  /** format version to write (tests write other versions; the exporter always writes the current one) */
  major?: number;
  minor?: number;
}

/** What the encoder hands each record's `write`. */
export interface WriteContext {
  state: DeviceState;
  meta: StreamMeta;
  chunk: Chunk;
  /** bytes of the stop-copy chunk with its integrity record (known when the precopy chunk is written) */
  stopCopySize: number;
  /** every byte of the stream before the integrity record (known when it is written) */
  before: readonly Uint8Array[];
}

/** What the importer hands each record's `read`: the state being built and what the header and parts said. */
export interface ReadContext {
  state: DeviceState;
  header: SchemaHeaderMsg;
  minor: number;
  /** a 1.1 field with presence: absent is unknown; in a 1.0 stream (no presence) absent is proto3's zero */
  opt<T>(v: T | undefined, zero: T): T | null;
  /** the header's transport puts the device on PCI */
  pci: boolean;
  /** device parts of every DEVICE_DATA record, in stream order */
  parts: LocatedPart[];
  map: OffsetMap;
  /** file offset of the integrity record (where "missing" errors point) */
  endAt: number;
  /** the STOP_COPY_SIZE record's value, when present */
  stopCopySize?: number;
}

/** What `inspect` hands each record's `show`. */
export interface ShowContext {
  deviceType: string;
  map: OffsetMap;
  integrity: { status: string; actual?: string };
  /** device parts of this record (DEVICE_DATA), decoded leniently */
  parts: () => LocatedPart[];
}

export interface MigrationRecord {
  name: TagName;
  tag: number;
  /** the chunks the encoder writes it in (DEVICE_DATA: both) */
  chunks: readonly Chunk[];
  /** a format 1.x stream without it is refused */
  required: boolean;
  /** flags bit 0: a reader that does not know the tag skips it */
  optional: boolean;
  /** may stand more than once (DEVICE_DATA, once per chunk) */
  repeats: boolean;
  /** the protobuf message of its data (migration.proto); absent: raw bytes */
  message?: MessageName;
  /** bytes before the message (the schema header's fixed prefix) */
  prefix?: number;
  /** the record's data in this chunk for this state; undefined: not written */
  write(ctx: WriteContext): Uint8Array | undefined;
  /** folds the record (decoded message, or raw data) into the state; absent: nothing to fold */
  read?(ctx: ReadContext, data: unknown, rec: RawRecord): void;
  /** inspect's view of the raw data (default: the decoded message, with `pfn` and `status` in hex) */
  show?(data: Uint8Array, rec: RawRecord, ctx: ShowContext): unknown;
}

// ---- helpers shared by the writers and readers ----

/** The value, or refuse the export: the target needs it and no source has told us. */
function required<T>(s: DeviceState, v: T | null, field: string): T {
  if (v === null) {
    throw new MigrationExportError(`cannot export ${s.device} at revision ${s.revision}: ${field} is unknown (no source recorded it), and the target needs it; export a revision where it is known (after the driver's reset), or record it`);
  }
  return v;
}

function u16(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new MigrationExportError(`${what} is ${v}: the device part field is le16`);
  return v;
}

function u8(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new MigrationExportError(`${what} is ${v}: the device part field is u8`);
  return v;
}

const msg = (name: MessageName, obj: object) => encodeStandalone(MIGRATION_SPECS[name], obj);

export function maskOf(words: bigint[]): bigint {
  return words.reduce((m, w, i) => m | (w << BigInt(64 * i)), 0n);
}

function safeNumber(v: bigint, what: string, offset: number): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new MigrationFormatError(offset, `${what} ${v} is over 2^53`, TAG.SCHEMA_HEADER);
  return Number(v);
}

/** JSON-safe copy: bigint as "0x..", bytes as hex. */
export function jsonable(v: unknown): unknown {
  if (typeof v === 'bigint') return hex64(v);
  if (v instanceof Uint8Array) return bytesToHex(v);
  if (Array.isArray(v)) return v.map(jsonable);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonable(x)]));
  return v;
}

const le64 = (data: Uint8Array) => new DataView(data.buffer, data.byteOffset, 8).getBigUint64(0, true);

const TRANSPORTS: ReadonlySet<string> = new Set(ENUMS.transport.numbers.keys());
// format 1.0 wrote "" for no accepted set yet
const ACCEPTED_VIA: ReadonlySet<string> = new Set(['', ...ENUMS.acceptedVia.numbers.keys()]);
const NEGOTIATIONS: ReadonlySet<string> = new Set(ENUMS.negotiation.numbers.keys());

/**
 * struct virtio_pci_common_cfg fields devrec carries as PCI_COMMON_CFG parts (one part per field, left out when
 * unknown): where each lives in the state. Offsets and widths come from the register map via COMMON_CFG_FIELDS.
 */
const COMMON_CFG_STATE: Readonly<Record<string, { get(s: DeviceState): number | null; set(s: DeviceState, v: number): void }>> = {
  device_feature_select: { get: (s) => s.features.deviceFeatureSelect, set: (s, v) => { s.features.deviceFeatureSelect = v; } },
  driver_feature_select: { get: (s) => s.features.driverFeatureSelect, set: (s, v) => { s.features.driverFeatureSelect = v; } },
  config_msix_vector: { get: (s) => s.msix?.configVector ?? null, set: (s, v) => { (s.msix ??= unknownMsix()).configVector = v; } },
  num_queues: { get: (s) => s.numQueues, set: (s, v) => { s.numQueues = v; } },
  queue_select: { get: (s) => s.queueSelect, set: (s, v) => { s.queueSelect = v; } },
};

function commonCfgParts(s: DeviceState): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const [offset, field] of Object.entries(COMMON_CFG_FIELDS)) {
    const v = COMMON_CFG_STATE[field.name]!.get(s);
    if (v !== null) out.push(encodeCommonCfgPart(Number(offset), field.width === 2 ? u16(v, field.name) : v));
  }
  return out;
}

/** The device parts of the stop-copy chunk: common cfg fields, status, queues, notify offsets, control commands. */
function stopCopyParts(s: DeviceState): Uint8Array {
  const parts = commonCfgParts(s);
  parts.push(encodeStatusPart(u8(required(s, s.status, 'the device status'), 'device_status')));
  const pci = isPciTransport(s.transport);
  for (const q of s.queues) {
    const field = (what: string) => `queue ${q.index} ${what}`;
    parts.push(encodeVqCfgPart({
      index: u16(q.index, 'virtqueue index'), queueSize: u16(required(s, q.size, field('size')), field('queue_size')),
      // no MSI-X (virtio-mmio, vDPA): VIRTIO_MSI_NO_VECTOR, the spec's "no vector"
      vector: u16(pci ? required(s, q.msixVector, field('MSI-X vector')) : q.msixVector ?? NO_VECTOR, field('vector')),
      enabled: required(s, q.enabled, field('enable')) ? 1 : 0, desc: required(s, q.desc, field('descriptor area')),
      driver: required(s, q.driver, field('driver area')), device: required(s, q.device, field('device area')),
    }));
  }
  // The state keeps no queue_notif_config_data (VIRTIO_F_NOTIF_CONFIG_DATA): written as 0.
  for (const q of s.queues) if (q.notifyOff !== null) parts.push(encodeVqNotifyPart(q.index, u16(q.notifyOff, `queue ${q.index} queue_notify_off`), 0));
  if (s.control.length > 0) {
    if (s.type !== 'net') {
      throw new MigrationExportError(`device ${s.device} (type "${s.type || 'unknown'}") has control-queue commands recorded; only virtio-net has a device part (0x200) for them`);
    }
    for (const c of s.control) parts.push(encodeNetCvqPart(u8(c.class, 'control class'), u8(c.command, 'control command'), c.data));
  }
  return concat(...parts);
}

/** Folds the device parts into the state (queues from VQ_CFG, their notify offsets, control commands kept aside). */
function readParts(ctx: ReadContext): void {
  const s = ctx.state;
  const queues = new Map<number, QueueState>();
  for (const p of ctx.parts) {
    switch (p.type) {
      case PART.DEV_FEATURES: s.features.device = maskOf((p as { words: bigint[] }).words); break;
      case PART.DRV_FEATURES: s.features.driver = maskOf((p as { words: bigint[] }).words); break;
      case PART.DEVICE_STATUS: s.status = (p as { status: number }).status; break;
      case PART.PCI_COMMON_CFG: {
        const c = p as Extract<LocatedPart, { type: 0x102 }>;
        COMMON_CFG_STATE[COMMON_CFG_FIELDS[c.cfgOffset]!.name]!.set(s, c.value);
        break;
      }
      case PART.VQ_CFG: {
        const c = p as Extract<LocatedPart, { type: 0x104 }>;
        queues.set(c.index, {
          index: c.index, size: c.queueSize, maxSize: null, enabled: c.enabled === 1, desc: c.desc, driver: c.driver, device: c.device,
          pfn: 0, align: 0, msixVector: ctx.pci ? c.vector : null, notifyOff: null, lastAvailIdx: null, usedIdx: null,
          availWrap: null, usedWrap: null, availIdx: null, resetPending: false,
        });
        break;
      }
      case PART.VQ_NOTIFY_CFG: {
        const c = p as Extract<LocatedPart, { type: 0x105 }>;
        queues.get(c.index)!.notifyOff = c.notifyOff;
        break;
      }
    }
  }
  s.queues = [...queues.values()].sort((a, b) => a.index - b.index);
}

type CvqPart = Extract<LocatedPart, { type: 0x200 }>;
const cvqParts = (ctx: ReadContext) => ctx.parts.filter((p): p is CvqPart => p.type === PART.NET_CVQ_CFG && !('unknown' in p));

function describePart(p: LocatedPart, deviceType: string): Record<string, unknown> {
  const type = deviceTypeByName(deviceType) ? deviceType : undefined;
  const base = { offset: p.offset, type: `0x${p.type.toString(16)}`, name: partName(p.type, deviceType), optional: (p.flags & 1) === 1, length: p.length };
  if ('unknown' in p) return { ...base, unknown: true, selector: bytesToHex(p.selector), value: bytesToHex(p.value) };
  const d = p as DevicePart;
  switch (d.type) {
    case PART.DEV_FEATURES:
    case PART.DRV_FEATURES: {
      const { words } = d as { words: bigint[] };
      const mask = maskOf(words);
      return { ...base, featureBits: words.map(hex64), mask: hex64(mask), names: featureNames(mask, type) };
    }
    case PART.PCI_COMMON_CFG: {
      const c = d as Extract<DevicePart, { type: 0x102 }>;
      return { ...base, cfgOffset: c.cfgOffset, field: COMMON_CFG_FIELDS[c.cfgOffset]?.name, value: c.value };
    }
    case PART.DEVICE_STATUS: {
      const { status } = d as { status: number };
      return { ...base, status: '0x' + status.toString(16).padStart(2, '0'), statusNames: statusNames(status) };
    }
    case PART.VQ_CFG: {
      const q = d as Extract<DevicePart, { type: 0x104 }>;
      return { ...base, index: q.index, queueSize: q.queueSize, vector: q.vector, enabled: q.enabled, desc: hex64(q.desc), driver: hex64(q.driver), device: hex64(q.device) };
    }
    case PART.VQ_NOTIFY_CFG: {
      const n = d as Extract<DevicePart, { type: 0x105 }>;
      return { ...base, index: n.index, queueNotifyOff: n.notifyOff, queueNotifConfigData: n.notifConfigData };
    }
    case PART.NET_CVQ_CFG: {
      const c = d as Extract<DevicePart, { type: 0x200 }>;
      return { ...base, class: c.class, command: c.command, data: bytesToHex(c.data) };
    }
    default: return base;
  }
}

/**
 * The DEVICE_STATE record (format 1.1): the whole state, unknowns included. It must agree with what the device
 * parts and records say (they are what any other reader restores), else the stream is refused.
 */
function wholeState(fromParts: DeviceState, w: DeviceStateWire, at: number): DeviceState {
  const s = stateFromWire(w);
  const agree: [string, unknown, unknown][] = [
    ['device', s.device, fromParts.device], ['transport', s.transport, fromParts.transport], ['status', s.status, fromParts.status],
    ['driver features', s.features.driver, fromParts.features.driver], ['accepted features', s.features.accepted, fromParts.features.accepted],
    ['offered features', s.features.device, fromParts.features.device], ['queue count', s.queues.length, fromParts.queues.length],
    ...fromParts.queues.flatMap((q, i): [string, unknown, unknown][] => [
      [`queue ${q.index} size`, s.queues[i]?.size, q.size], [`queue ${q.index} descriptor area`, s.queues[i]?.desc, q.desc],
      [`queue ${q.index} used index`, s.queues[i]?.usedIdx, q.usedIdx], [`queue ${q.index} last avail index`, s.queues[i]?.lastAvailIdx, q.lastAvailIdx],
    ]),
  ];
  for (const [what, a, b] of agree) {
    if (a !== b) throw new MigrationFormatError(at, `DEVICE_STATE record says ${what} ${String(a)}, the device parts and records say ${String(b)}`, TAG.DEVICE_STATE);
  }
  if (Buffer.compare(Buffer.from(s.config), Buffer.from(fromParts.config)) !== 0) {
    throw new MigrationFormatError(at, 'DEVICE_STATE record and DEVICE_CONFIG disagree on the device config bytes', TAG.DEVICE_STATE);
  }
  return { ...s, vfioState: null };
}

const hex4 = (n = 0) => '0x' + n.toString(16).padStart(4, '0');
const hexOrNull = (n: number | undefined) => (n === undefined ? null : hex4(n));
const recAt = (ctx: ReadContext, rec: RawRecord) => ctx.map(rec.offset);

// ---- the table, in stream order (within each chunk the encoder writes the rows of that chunk in this order) ----

export const MIGRATION_RECORDS: readonly MigrationRecord[] = [
  {
    name: 'SCHEMA_HEADER', tag: TAG.SCHEMA_HEADER, chunks: ['precopy'], required: true, optional: false, repeats: false, message: 'SchemaHeader', prefix: HEADER_PREFIX_SIZE,
    write: ({ state: s, meta }) => concat(encodeHeaderPrefix(meta.major ?? FORMAT_MAJOR, meta.minor ?? FORMAT_MINOR), msg('SchemaHeader', {
      deviceType: s.type,
      virtioId: s.virtioId,
      transport: s.transport,
      ...(s.pci ? { pci: { vendor: s.pci.vendor, device: s.pci.device, subsystemVendor: s.pci.subsystemVendor, subsystem: s.pci.subsystem, revision: s.pci.revision } } : {}),
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
    })),
    // the importer reads the prefix and checks the header before anything else (readHeader there); this folds
    // the identity and provenance into the new state
    read: (ctx, _data, rec) => {
      const { header, state: s, opt } = ctx;
      const at = ctx.map(rec.offset + RECORD_HEADER_SIZE + HEADER_PREFIX_SIZE);
      const prov = header.provenance!;
      s.type = header.deviceType;
      s.virtioId = opt(header.virtioId, 0) || null;
      s.transport = header.transport as Transport;
      s.backend = prov.backend;
      s.revision = safeNumber(prov.sourceRevision, 'source revision', at);
      s.eventCount = safeNumber(prov.sourceEventCount, 'source event count', at);
      s.timestampNs = prov.sourceTimestampNs;
      const hp = header.pci;
      s.pci = ctx.pci
        ? {
            vendor: opt(hp?.vendor, 0), device: opt(hp?.device, 0), subsystemVendor: opt(hp?.subsystemVendor, 0),
            subsystem: opt(hp?.subsystem, 0), revision: opt(hp?.revision, 0), config: new Uint8Array(0),
          }
        : null;
    },
    show: (_data, r) => {
      const dv = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength);
      if (r.size < HEADER_PREFIX_SIZE) throw new Error(`shorter than the ${HEADER_PREFIX_SIZE}-byte prefix`);
      const magic = Buffer.from(r.data.subarray(0, 8)).toString('latin1');
      const header = decodeStandalone<SchemaHeaderMsg>(MIGRATION_SPECS.SchemaHeader, r.data.subarray(HEADER_PREFIX_SIZE));
      const prov = header.provenance;
      return {
        magic, magicOk: magic === HEADER_MAGIC, major: dv.getUint16(8, true), minor: dv.getUint16(10, true), ...jsonable(header) as object,
        // an id the stream leaves out is unknown (format 1.1 has presence; 1.0 wrote 0s, shown as written)
        ...(header.pci ? { pci: { vendor: hexOrNull(header.pci.vendor), device: hexOrNull(header.pci.device), subsystemVendor: hexOrNull(header.pci.subsystemVendor), subsystem: hexOrNull(header.pci.subsystem), revision: header.pci.revision ?? null } } : {}),
        ...(prov ? {
          provenance: {
            ...jsonable(prov) as object, sourceRevision: Number(prov.sourceRevision), sourceEventCount: Number(prov.sourceEventCount),
            // a source without times (a trace without pid@sec.usec prefixes) stamps its events by line: no time
            sourceTime: isWallClock(prov.sourceTimestampNs) ? nsToIso(prov.sourceTimestampNs) : null, exportedAt: prov.exportedAtNs > 0n ? nsToIso(prov.exportedAtNs) : null,
          },
        } : {}),
        schemaMatches: Buffer.from(header.schemaFingerprint).equals(Buffer.from(SCHEMA_FINGERPRINT)),
      };
    },
  },
  {
    name: 'TRANSPORT_MODE', tag: TAG.TRANSPORT_MODE, chunks: ['precopy'], required: true, optional: false, repeats: false, message: 'TransportMode',
    write: ({ state: s }) => {
      const legacy = isLegacyTransport(s.transport);
      const pciDevice = s.pci?.device ?? null;
      return msg('TransportMode', {
        legacy,
        transitional: s.transport.startsWith('pci') && pciDevice !== null && isTransitionalPciId(pciDevice),
        // virtio 1.x is little-endian by definition; the state does not record a legacy guest's byte order.
        guestEndian: legacy || s.transport === 'unspecified' ? 'unspecified' : 'little',
        guestPageSize: s.guestPageSize,
      });
    },
    read: (ctx, data, rec) => {
      const mode = data as TransportModeMsg;
      if (mode.legacy !== isLegacyTransport(ctx.header.transport)) {
        throw new MigrationFormatError(recAt(ctx, rec), `TRANSPORT_MODE says legacy=${mode.legacy}, the header's transport is ${ctx.header.transport}`, TAG.TRANSPORT_MODE);
      }
      ctx.state.guestPageSize = mode.guestPageSize;
    },
  },
  {
    // precopy: the feature parts (the offer is an optional part: left out when unknown, as a device-state stream
    // does not carry it); stop-copy: common cfg fields, status, queues, control commands
    name: 'DEVICE_DATA', tag: TAG.DEVICE_DATA, chunks: ['precopy', 'stop-copy'], required: true, optional: false, repeats: true,
    write: ({ state: s, chunk }) => chunk === 'precopy'
      ? concat(
          ...(s.features.device !== null ? [encodeFeaturesPart(PART.DEV_FEATURES, maskToWords(s.features.device))] : []),
          encodeFeaturesPart(PART.DRV_FEATURES, maskToWords(required(s, s.features.driver, 'the driver features'))),
        )
      : stopCopyParts(s),
    read: (ctx) => readParts(ctx),
    show: (_data, _r, ctx) => ({ parts: ctx.parts().map((p) => describePart(p, ctx.deviceType)) }),
  },
  {
    name: 'FEATURE_NEGOTIATION', tag: TAG.FEATURE_NEGOTIATION, chunks: ['precopy'], required: true, optional: false, repeats: false, message: 'FeatureNegotiation',
    write: ({ state: s }) => msg('FeatureNegotiation', {
      accepted: maskToWords(required(s, s.features.accepted, 'the accepted features')),
      // format 1.0 wrote "" for no accepted set yet
      acceptedVia: s.features.acceptedVia === 'none' ? '' : s.features.acceptedVia, negotiation: s.features.negotiation,
    }),
    read: (ctx, data, rec) => {
      const n = data as FeatureNegotiationMsg;
      if (!ACCEPTED_VIA.has(n.acceptedVia) || !NEGOTIATIONS.has(n.negotiation)) {
        throw new MigrationFormatError(recAt(ctx, rec), `FEATURE_NEGOTIATION has unknown values acceptedVia "${n.acceptedVia}", negotiation "${n.negotiation}"`, TAG.FEATURE_NEGOTIATION);
      }
      const f = ctx.state.features;
      f.accepted = maskOf(n.accepted);
      f.acceptedVia = (n.acceptedVia || 'none') as AcceptedVia;
      f.negotiation = n.negotiation as Negotiation;
    },
  },
  {
    name: 'VDPA', tag: TAG.VDPA, chunks: ['precopy'], required: false, optional: true, repeats: false, message: 'VdpaProvisioning',
    write: ({ state: s }) => (s.features.parent !== null || s.provisioned !== null ? msg('VdpaProvisioning', {
      hasParentFeatures: s.features.parent !== null,
      parentFeatures: maskToWords(s.features.parent ?? 0n),
      hasProvisioned: s.provisioned !== null,
      ...(s.provisioned ? { provisioned: s.provisioned } : {}),
    }) : undefined),
    read: (ctx, data, rec) => {
      const v = data as VdpaProvisioningMsg;
      ctx.state.features.parent = v.hasParentFeatures ? maskOf(v.parentFeatures) : null;
      if (v.hasProvisioned) {
        const p = v.provisioned;
        if (!p) throw new MigrationFormatError(recAt(ctx, rec), 'VDPA record says provisioned but carries no attributes', TAG.VDPA);
        ctx.state.provisioned = { ...p, mac: p.mac.slice() };
      }
    },
  },
  {
    name: 'DEVICE_CONFIG', tag: TAG.DEVICE_CONFIG, chunks: ['precopy'], required: true, optional: false, repeats: false,
    write: ({ state: s }) => s.config.slice(),
    read: (ctx, data) => {
      ctx.state.config = (data as Uint8Array).slice();
      ctx.state.configKnown = wholeConfigKnown(ctx.state.config);
    },
    show: (data) => ({ config: bytesToHex(data as Uint8Array) }),
  },
  {
    name: 'STOP_COPY_SIZE', tag: TAG.STOP_COPY_SIZE, chunks: ['precopy'], required: false, optional: true, repeats: false,
    write: ({ stopCopySize }) => {
      const data = new Uint8Array(8);
      new DataView(data.buffer).setBigUint64(0, BigInt(stopCopySize), true);
      return data;
    },
    read: (ctx, data, rec) => {
      if (rec.size !== 8) throw new MigrationFormatError(ctx.map(rec.offset), `STOP_COPY_SIZE record is ${rec.size} bytes, not le64`, rec.tag);
      ctx.stopCopySize = Number(le64(data as Uint8Array) & 0x1fffffffffffffn);
    },
    show: (data, r) => {
      if (r.size !== 8) throw new Error(`${r.size} bytes, not le64`);
      return { stopCopyBytes: Number(le64(data as Uint8Array)) };
    },
  },
  {
    name: 'VQ_STATE', tag: TAG.VQ_STATE, chunks: ['stop-copy'], required: true, optional: false, repeats: false, message: 'VirtqueueStates',
    write: ({ state: s }) => msg('VirtqueueStates', {
      queues: s.queues.map((q) => ({
        index: q.index, lastAvailIdx: q.lastAvailIdx, usedIdx: q.usedIdx, availWrap: q.availWrap, usedWrap: q.usedWrap,
        availIdx: q.availIdx, maxSize: q.maxSize, pfn: q.pfn, align: q.align, resetPending: q.resetPending,
      })),
    }),
    read: (ctx, data, rec) => {
      const at = recAt(ctx, rec);
      const { opt } = ctx;
      const queues = new Map(ctx.state.queues.map((q) => [q.index, q]));
      const withProgress = new Set<number>();
      for (const v of (data as VirtqueueStatesMsg).queues) {
        const q = queues.get(v.index);
        if (!q) throw new MigrationFormatError(at, `VQ_STATE has queue ${v.index}, which has no VIRTIO_DEV_PART_VQ_CFG`, TAG.VQ_STATE);
        if (withProgress.has(v.index)) throw new MigrationFormatError(at, `VQ_STATE has queue ${v.index} twice`, TAG.VQ_STATE);
        withProgress.add(v.index);
        Object.assign(q, {
          lastAvailIdx: opt(v.lastAvailIdx, 0), usedIdx: opt(v.usedIdx, 0), availWrap: opt(v.availWrap, false),
          usedWrap: opt(v.usedWrap, false), availIdx: opt(v.availIdx, 0), maxSize: opt(v.maxSize, 0), pfn: v.pfn, align: v.align,
          resetPending: v.resetPending,
        });
      }
      for (const index of queues.keys()) {
        if (!withProgress.has(index)) throw new MigrationFormatError(at, `VQ_STATE has no entry for queue ${index}`, TAG.VQ_STATE);
      }
    },
  },
  {
    // mandatory when there are control-queue parts (0x200): the importer checks that it is there then
    name: 'CVQ_STATUS', tag: TAG.CVQ_STATUS, chunks: ['stop-copy'], required: false, optional: false, repeats: false, message: 'ControlAcks',
    write: ({ state: s }) => (s.control.length > 0 ? msg('ControlAcks', {
      commands: s.control.map((c) => ({ class: c.class, command: c.command, ...(c.ack !== undefined ? { ack: c.ack } : {}) })),
    }) : undefined),
    read: (ctx, data, rec) => {
      const acks = data as ControlAcksMsg;
      const cvq = cvqParts(ctx);
      const at = recAt(ctx, rec);
      if (acks.commands.length !== cvq.length) {
        throw new MigrationFormatError(at, `CVQ_STATUS lists ${acks.commands.length} commands, the device data has ${cvq.length} control-queue parts`, TAG.CVQ_STATUS);
      }
      ctx.state.control = cvq.map((p, i) => {
        const a = acks.commands[i]!;
        if (a.class !== p.class || a.command !== p.command) {
          throw new MigrationFormatError(at, `CVQ_STATUS entry ${i} is class ${a.class} command ${a.command}, the part at offset ${p.offset} is class ${p.class} command ${p.command}`, TAG.CVQ_STATUS);
        }
        return { class: p.class, command: p.command, data: p.data.slice(), ...(a.ack !== undefined ? { ack: a.ack } : {}) };
      });
    },
  },
  {
    // a device without MSI-X / PCI (virtio-mmio, vDPA): the record is empty
    name: 'MSIX', tag: TAG.MSIX, chunks: ['stop-copy'], required: true, optional: false, repeats: false, message: 'MsixState',
    write: ({ state: s }) => msg('MsixState', s.msix ? { enabled: s.msix.enabled, functionMask: s.msix.functionMask, tableSize: s.msix.tableSize } : {}),
    read: (ctx, data) => {
      if (!ctx.pci) return;
      const m = data as MsixStateMsg;
      // the config vector travels as the common cfg part at config_msix_vector
      ctx.state.msix = {
        enabled: ctx.opt(m.enabled, false), functionMask: ctx.opt(m.functionMask, false),
        configVector: ctx.state.msix?.configVector ?? null, tableSize: ctx.opt(m.tableSize, 0),
      };
    },
  },
  {
    name: 'PCI_CONFIG', tag: TAG.PCI_CONFIG, chunks: ['stop-copy'], required: true, optional: false, repeats: false, message: 'PciConfigSpace',
    write: ({ state: s }) => msg('PciConfigSpace', s.pci ? { config: s.pci.config, capabilities: pciCapabilities(s.pci.config) } : {}),
    // the capability list is informational (found in the bytes at export): not read back
    read: (ctx, data) => {
      if (ctx.state.pci) ctx.state.pci.config = (data as PciConfigSpaceMsg).config.slice();
    },
    show: (data) => {
      const m = decodeStandalone<PciConfigSpaceMsg>(MIGRATION_SPECS.PciConfigSpace, data as Uint8Array);
      const caps = m.capabilities.map((c) => ({
        ...c, idName: pciCapabilityKind(c.id)?.name ?? '?', ...(c.virtioCfgType ? { virtioCfgTypeName: virtioPciCapType(c.virtioCfgType)?.short ?? '?' } : {}),
      }));
      return jsonable({ ...m, capabilities: caps });
    },
  },
  {
    name: 'RUNTIME', tag: TAG.RUNTIME, chunks: ['stop-copy'], required: true, optional: false, repeats: false, message: 'DeviceRuntime',
    write: ({ state: s }) => msg('DeviceRuntime', { isr: s.isr, configGeneration: s.configGeneration, resetPending: s.resetPending }),
    read: (ctx, data) => {
      const r = data as DeviceRuntimeMsg;
      ctx.state.isr = ctx.opt(r.isr, 0);
      ctx.state.configGeneration = ctx.opt(r.configGeneration, 0);
      ctx.state.resetPending = r.resetPending;
    },
  },
  {
    // the whole state (schema v2, presence included): a devrec target restores exactly what the source knew
    name: 'DEVICE_STATE', tag: TAG.DEVICE_STATE, chunks: ['stop-copy'], required: false, optional: true, repeats: false, message: 'DeviceStateV2',
    write: ({ state: s }) => encodeStandalone(stateSpec(), stateToWire({ ...s, vfioState: null })),
    read: (ctx, data, rec) => {
      ctx.state = wholeState(ctx.state, data as DeviceStateWire, recAt(ctx, rec));
    },
    show: (_data, r) => ({ data: bytesToHex(r.data.subarray(0, 64)) + (r.size > 64 ? '...' : '') }),
  },
  {
    name: 'INTEGRITY', tag: TAG.INTEGRITY, chunks: ['stop-copy'], required: true, optional: false, repeats: false,
    write: ({ before }) => sha256(...before),
    show: (data, _r, ctx) => ({
      sha256: bytesToHex(data as Uint8Array), status: ctx.integrity.status, ...(ctx.integrity.status === 'bad' ? { computed: ctx.integrity.actual } : {}),
    }),
  },
];

const BY_TAG = new Map<number, MigrationRecord>(MIGRATION_RECORDS.map((r) => [r.tag, r]));

/** The table row of a tag, or undefined for a tag devrec does not know. */
export function migrationRecord(tag: number): MigrationRecord | undefined {
  return BY_TAG.get(tag);
}

/** The flags a record is written with. */
export const recordFlags = (r: MigrationRecord): number => (r.optional ? RECORD_FLAG_OPTIONAL : 0);

/** Decodes a record's data by its row: the protobuf message (after any prefix), or the raw bytes. Throws what the codec throws. */
export function decodeRecordData(r: MigrationRecord, data: Uint8Array): unknown {
  return r.message ? decodeStandalone<unknown>(MIGRATION_SPECS[r.message], data.subarray(r.prefix ?? 0)) : data;
}

/** inspect's default view of a decoded message. */
export const defaultShow = (m: unknown): unknown => hexKeys(jsonable(m), { pfn: 0, status: 2 });

/** A new state for an import, from the header's provenance. */
export function importedState(header: SchemaHeaderMsg): DeviceState {
  return initialState(header.provenance!.sourceStream);
}

/** The stream knows this transport name (the schema's enum). */
export const isKnownTransport = (t: string): boolean => TRANSPORTS.has(t);

