// Migration stream -> DeviceState (the projector's type), and the target side of a migration: a new stream in the
// store that starts from the imported state. Parsing checks framing, version and integrity before it interprets
// any data; every problem is a MigrationFormatError naming the byte offset (in the file as given), the reason and
// the record tag when known. It never allocates from a length it has not checked against the bytes that follow.
import { decodeStandalone } from '../events/fast-codec.js';
import type { NewEvent, Transport, VfioState } from '../events/types.js';
import { stateToWire } from '../project/snapshot-codec.js';
import { type AcceptedVia, type DeviceState, type Negotiation, type QueueState, initialState } from '../project/state.js';
import type { EventStore } from '../store/types.js';
import { WrongExpectedRevisionError } from '../store/types.js';
import {
  type LocatedPart, PART, PART_F_OPTIONAL, decodeParts as decodePartsImpl, isUnknownPart, partName, partRank,
} from './device-parts.js';
import {
  FORMAT_MAJOR, FORMAT_MINOR, HEADER_MAGIC, HEADER_PREFIX_SIZE, INTEGRITY_SIZE, MigrationFormatError, type OffsetMap,
  RECORD_FLAG_OPTIONAL, RECORD_HEADER_SIZE, type RawRecord, TAG, checkIntegrity, hexTag, identityMap, looksLikeQemuVfio,
  tagName, walkRecords,
} from './format.js';
import { paddedPciConfig, type QemuSection, unwrapQemuVfio } from './qemu-vfio.js';
import {
  type ControlAcksMsg, type DeviceRuntimeMsg, type FeatureNegotiationMsg, MIGRATION_SPECS, type MsixStateMsg,
  type PciConfigSpaceMsg, SCHEMA_FINGERPRINT, type SchemaHeaderMsg, type TransportModeMsg, type VdpaProvisioningMsg,
  type VirtqueueStatesMsg,
} from './schema.js';
import { VFIO_MIGRATION_ALL, VfioDeviceFsm, type VfioArc } from './vfio-fsm.js';

const TRANSPORTS: ReadonlySet<string> = new Set(['unspecified', 'pci-modern', 'pci-legacy', 'mmio-modern', 'mmio-legacy', 'vdpa', 'vfio']);
const LEGACY = new Set(['pci-legacy', 'mmio-legacy']);
const ACCEPTED_VIA: ReadonlySet<string> = new Set(['', 'features-ok', 'legacy-write', 'snapshot']);
const NEGOTIATIONS: ReadonlySet<string> = new Set(['none', 'accepted', 'refused']);

export interface ParsedRecord {
  /** file offset of the record header */
  offset: number;
  tag: number;
  name: string;
  flags: number;
  size: number;
  /** an unknown optional record the importer skipped */
  skipped: boolean;
}

export interface ParsedMigration {
  format: 'devrec' | 'qemu-vfio';
  major: number;
  minor: number;
  header: SchemaHeaderMsg;
  /** the stream was written with the same events.proto + migration.proto as this build */
  schemaMatches: boolean;
  /** the device state the stream carries; `vfioState` is left unset (it belongs to the migration, not the device) */
  state: DeviceState;
  records: ParsedRecord[];
  /** device parts in stream order, offsets in the file */
  parts: LocatedPart[];
  /** device parts of unknown type flagged optional, skipped */
  skippedParts: LocatedPart[];
  stopCopySize?: number;
  qemu?: { sections: QemuSection[]; configOffset: number };
  /** file offset where the integrity record starts */
  integrityOffset: number;
}

function decodeMsg<T>(name: keyof typeof MIGRATION_SPECS, rec: RawRecord, data: Uint8Array, map: OffsetMap, skip = 0): T {
  try {
    return decodeStandalone<T>(MIGRATION_SPECS[name], data);
  } catch (e) {
    throw new MigrationFormatError(map(rec.offset + RECORD_HEADER_SIZE + skip), `malformed ${tagName(rec.tag) ?? name} record: ${(e as Error).message}`, rec.tag);
  }
}

function maskOf(words: bigint[]): bigint {
  return words.reduce((m, w, i) => m | (w << BigInt(64 * i)), 0n);
}

function safeNumber(v: bigint, what: string, offset: number): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new MigrationFormatError(offset, `${what} ${v} is over 2^53`, TAG.SCHEMA_HEADER);
  return Number(v);
}

/** Header prefix and version: the part of the stream every devrec, old or new, can read. */
function readHeaderPrefix(rec: RawRecord, map: OffsetMap): { major: number; minor: number } {
  const at = rec.offset + RECORD_HEADER_SIZE;
  if (rec.size < HEADER_PREFIX_SIZE) {
    throw new MigrationFormatError(map(at), `schema header is ${rec.size} bytes, shorter than its ${HEADER_PREFIX_SIZE}-byte prefix`, rec.tag);
  }
  const magic = Buffer.from(rec.data.subarray(0, 8)).toString('latin1');
  if (magic !== HEADER_MAGIC) throw new MigrationFormatError(map(at), `schema header magic is ${JSON.stringify(magic)}, not "${HEADER_MAGIC}"`, rec.tag);
  const dv = new DataView(rec.data.buffer, rec.data.byteOffset, rec.data.byteLength);
  const major = dv.getUint16(8, true);
  const minor = dv.getUint16(10, true);
  if (dv.getUint32(12, true) !== 0) throw new MigrationFormatError(map(at + 12), 'schema header reserved word must be zero', rec.tag);
  if (major > FORMAT_MAJOR) {
    throw new MigrationFormatError(map(at + 8), `format ${major}.${minor} is newer than this devrec reads (${FORMAT_MAJOR}.x, up to ${FORMAT_MAJOR}.${FORMAT_MINOR} fully)`, rec.tag);
  }
  if (major < FORMAT_MAJOR) throw new MigrationFormatError(map(at + 8), `format ${major}.${minor} is not a format this devrec reads (${FORMAT_MAJOR}.x)`, rec.tag);
  return { major, minor };
}

type Single = 'TRANSPORT_MODE' | 'FEATURE_NEGOTIATION' | 'DEVICE_CONFIG' | 'VDPA' | 'STOP_COPY_SIZE' | 'VQ_STATE' | 'CVQ_STATUS' | 'MSIX' | 'PCI_CONFIG' | 'RUNTIME';
const SINGLE_TAGS = new Map<number, Single>([
  [TAG.TRANSPORT_MODE, 'TRANSPORT_MODE'], [TAG.FEATURE_NEGOTIATION, 'FEATURE_NEGOTIATION'], [TAG.DEVICE_CONFIG, 'DEVICE_CONFIG'],
  [TAG.VDPA, 'VDPA'], [TAG.STOP_COPY_SIZE, 'STOP_COPY_SIZE'], [TAG.VQ_STATE, 'VQ_STATE'], [TAG.CVQ_STATUS, 'CVQ_STATUS'],
  [TAG.MSIX, 'MSIX'], [TAG.PCI_CONFIG, 'PCI_CONFIG'], [TAG.RUNTIME, 'RUNTIME'],
]);
const REQUIRED: Single[] = ['TRANSPORT_MODE', 'FEATURE_NEGOTIATION', 'DEVICE_CONFIG', 'VQ_STATE', 'MSIX', 'PCI_CONFIG', 'RUNTIME'];

function parseDevrec(bytes: Uint8Array, map: OffsetMap): Omit<ParsedMigration, 'format' | 'qemu'> {
  const framing = walkRecords(bytes, map);
  if (framing.error) throw framing.error;
  const recs = framing.records;
  const first = recs[0]!;
  if (first.tag !== TAG.SCHEMA_HEADER) {
    throw new MigrationFormatError(map(first.offset), `the stream must start with the schema header record (tag ${hexTag(TAG.SCHEMA_HEADER)})`, first.tag);
  }
  const { major, minor } = readHeaderPrefix(first, map);

  // Integrity before any interpretation: a damaged stream is reported as damaged, wherever the damage is.
  const lastIdx = recs.length - 1;
  recs.forEach((r, i) => {
    if (r.tag === TAG.INTEGRITY && i !== lastIdx) {
      throw new MigrationFormatError(map(r.offset), `${bytes.length - r.offset - RECORD_HEADER_SIZE - r.size} bytes follow the integrity record, which must be last`, r.tag);
    }
  });
  const last = recs[lastIdx]!;
  if (last.tag !== TAG.INTEGRITY) {
    throw new MigrationFormatError(map(bytes.length), `no integrity record at the end (the last record is tag ${hexTag(last.tag)}): the stream is truncated or was never sealed`);
  }
  if (last.flags !== 0) throw new MigrationFormatError(map(last.offset + 8), 'the integrity record is mandatory: its flags must be 0', last.tag);
  if (last.size !== INTEGRITY_SIZE) throw new MigrationFormatError(map(last.offset), `integrity record is ${last.size} bytes, a SHA-256 is ${INTEGRITY_SIZE}`, last.tag);
  const integ = checkIntegrity(bytes, recs);
  if (integ.status !== 'ok') {
    throw new MigrationFormatError(map(last.offset + RECORD_HEADER_SIZE),
      `integrity check failed: SHA-256 of bytes 0..${last.offset - 1} is ${integ.actual}, the integrity record says ${integ.expected}`, last.tag);
  }

  const header = decodeMsg<SchemaHeaderMsg>('SchemaHeader', first, first.data.subarray(HEADER_PREFIX_SIZE), map, HEADER_PREFIX_SIZE);
  const headerAt = map(first.offset + RECORD_HEADER_SIZE + HEADER_PREFIX_SIZE);
  if (!TRANSPORTS.has(header.transport)) throw new MigrationFormatError(headerAt, `schema header transport "${header.transport}" is not one devrec knows`, first.tag);
  if (!header.provenance) throw new MigrationFormatError(headerAt, 'schema header has no provenance (source stream and revision)', first.tag);

  const records: ParsedRecord[] = [{ offset: map(first.offset), tag: first.tag, name: 'SCHEMA_HEADER', flags: first.flags, size: first.size, skipped: false }];
  const parts: LocatedPart[] = [];
  const skippedParts: LocatedPart[] = [];
  const single = new Map<Single, RawRecord>();
  const deviceType = header.deviceType;
  let lastRank = -1;
  let lastPart: LocatedPart | undefined;
  const seenKeys = new Set<string>();

  for (const rec of recs.slice(1, lastIdx)) {
    const name = tagName(rec.tag);
    const info: ParsedRecord = { offset: map(rec.offset), tag: rec.tag, name: name ?? `unknown ${hexTag(rec.tag)}`, flags: rec.flags, size: rec.size, skipped: false };
    records.push(info);
    if (rec.tag === TAG.SCHEMA_HEADER) throw new MigrationFormatError(map(rec.offset), 'a second schema header record', rec.tag);
    if (rec.tag === TAG.DEVICE_DATA) {
      if (rec.size === 0) throw new MigrationFormatError(map(rec.offset), 'empty DEVICE_DATA record: no device parts', rec.tag);
      for (const p of decodeParts(rec, deviceType, map)) {
        const pname = partName(p.type, deviceType);
        if (isUnknownPart(p)) {
          if (p.flags & PART_F_OPTIONAL) {
            skippedParts.push(p);
            continue;
          }
          const what = p.type === PART.PCI_COMMON_CFG
            ? `PCI_COMMON_CFG part for offset ${new DataView(p.selector.buffer, p.selector.byteOffset).getUint32(0, true)}, a field devrec does not restore`
            : `device part type 0x${p.type.toString(16)}`;
          throw new MigrationFormatError(p.offset, `unknown mandatory ${what}`, rec.tag);
        }
        const rank = partRank(p.type);
        if (rank < lastRank) {
          throw new MigrationFormatError(p.offset, `${pname} after ${partName(lastPart!.type, deviceType)}: device parts must be in the spec's mandatory order`, rec.tag);
        }
        const { key, what } = partKey(p);
        if (seenKeys.has(key)) throw new MigrationFormatError(p.offset, `a second ${pname}${what}`, rec.tag);
        seenKeys.add(key);
        if (p.type === PART.VQ_NOTIFY_CFG && !seenKeys.has(`${PART.VQ_CFG}/${p.index}`)) {
          throw new MigrationFormatError(p.offset, `VIRTIO_DEV_PART_VQ_NOTIFY_CFG for queue ${p.index}, which has no VIRTIO_DEV_PART_VQ_CFG`, rec.tag);
        }
        lastRank = rank;
        lastPart = p;
        parts.push(p);
      }
      continue;
    }
    const known = SINGLE_TAGS.get(rec.tag);
    if (known) {
      if (single.has(known)) throw new MigrationFormatError(map(rec.offset), `a second ${known} record`, rec.tag);
      single.set(known, rec);
      continue;
    }
    if (rec.flags & RECORD_FLAG_OPTIONAL) {
      info.skipped = true;
      continue;
    }
    throw new MigrationFormatError(map(rec.offset), 'unknown mandatory record tag', rec.tag);
  }
  records.push({ offset: map(last.offset), tag: last.tag, name: 'INTEGRITY', flags: last.flags, size: last.size, skipped: false });

  const endAt = map(last.offset);
  if (parts.length === 0) throw new MigrationFormatError(endAt, 'no device parts: the stream carries empty device data');
  for (const k of REQUIRED) {
    if (!single.has(k)) throw new MigrationFormatError(endAt, `no ${k} record (tag ${hexTag(TAG[k])}), which format ${FORMAT_MAJOR}.x requires`);
  }
  const need = (type: number) => {
    if (!parts.some((p) => p.type === type)) throw new MigrationFormatError(endAt, `no ${partName(type, deviceType)} device part, which is mandatory`);
  };
  need(PART.DRV_FEATURES);
  need(PART.DEVICE_STATUS);

  const dataAt = (k: Single) => single.get(k)!;
  const decodeSingle = <T>(k: Single, spec: keyof typeof MIGRATION_SPECS): T => decodeMsg<T>(spec, dataAt(k), dataAt(k).data, map);
  const mode = decodeSingle<TransportModeMsg>('TRANSPORT_MODE', 'TransportMode');
  const negotiation = decodeSingle<FeatureNegotiationMsg>('FEATURE_NEGOTIATION', 'FeatureNegotiation');
  const vqs = decodeSingle<VirtqueueStatesMsg>('VQ_STATE', 'VirtqueueStates');
  const msix = decodeSingle<MsixStateMsg>('MSIX', 'MsixState');
  const pci = decodeSingle<PciConfigSpaceMsg>('PCI_CONFIG', 'PciConfigSpace');
  const runtime = decodeSingle<DeviceRuntimeMsg>('RUNTIME', 'DeviceRuntime');
  const vdpa = single.has('VDPA') ? decodeSingle<VdpaProvisioningMsg>('VDPA', 'VdpaProvisioning') : undefined;
  const acks = single.has('CVQ_STATUS') ? decodeSingle<ControlAcksMsg>('CVQ_STATUS', 'ControlAcks') : undefined;
  const recAt = (k: Single) => map(dataAt(k).offset);
  let stopCopySize: number | undefined;
  if (single.has('STOP_COPY_SIZE')) {
    const r = dataAt('STOP_COPY_SIZE');
    if (r.size !== 8) throw new MigrationFormatError(map(r.offset), `STOP_COPY_SIZE record is ${r.size} bytes, not le64`, r.tag);
    stopCopySize = Number(new DataView(r.data.buffer, r.data.byteOffset, 8).getBigUint64(0, true) & 0x1fffffffffffffn);
  }

  if (mode.legacy !== LEGACY.has(header.transport)) {
    throw new MigrationFormatError(recAt('TRANSPORT_MODE'), `TRANSPORT_MODE says legacy=${mode.legacy}, the header's transport is ${header.transport}`, TAG.TRANSPORT_MODE);
  }
  if (!ACCEPTED_VIA.has(negotiation.acceptedVia) || !NEGOTIATIONS.has(negotiation.negotiation)) {
    throw new MigrationFormatError(recAt('FEATURE_NEGOTIATION'), `FEATURE_NEGOTIATION has unknown values acceptedVia "${negotiation.acceptedVia}", negotiation "${negotiation.negotiation}"`, TAG.FEATURE_NEGOTIATION);
  }

  // ---- the state ----
  const prov = header.provenance;
  const s = initialState(prov.sourceStream);
  s.type = header.deviceType;
  s.virtioId = header.virtioId;
  s.transport = header.transport as Transport;
  s.backend = prov.backend;
  s.revision = safeNumber(prov.sourceRevision, 'source revision', headerAt);
  s.eventCount = safeNumber(prov.sourceEventCount, 'source event count', headerAt);
  s.timestampNs = prov.sourceTimestampNs;
  s.pci = { vendor: header.pci?.vendor ?? 0, device: header.pci?.device ?? 0, subsystemVendor: header.pci?.subsystemVendor ?? 0, subsystem: header.pci?.subsystem ?? 0, revision: header.pci?.revision ?? 0, config: pci.config.slice() };
  s.guestPageSize = mode.guestPageSize;
  s.features.accepted = maskOf(negotiation.accepted);
  s.features.acceptedVia = negotiation.acceptedVia as AcceptedVia;
  s.features.negotiation = negotiation.negotiation as Negotiation;
  s.config = dataAt('DEVICE_CONFIG').data.slice();
  s.msix = { enabled: msix.enabled, functionMask: msix.functionMask, configVector: s.msix.configVector, tableSize: msix.tableSize };
  s.isr = runtime.isr;
  s.configGeneration = runtime.configGeneration;
  s.resetPending = runtime.resetPending;
  if (vdpa) {
    s.features.parent = vdpa.hasParentFeatures ? maskOf(vdpa.parentFeatures) : undefined;
    if (vdpa.hasProvisioned) {
      const p = vdpa.provisioned;
      if (!p) throw new MigrationFormatError(recAt('VDPA'), 'VDPA record says provisioned but carries no attributes', TAG.VDPA);
      s.provisioned = { ...p, mac: p.mac.slice() };
    }
  }
  const queues = new Map<number, QueueState>();
  const cvq: Extract<LocatedPart, { type: 0x200 }>[] = [];
  for (const p of parts) {
    switch (p.type) {
      case PART.DEV_FEATURES: s.features.device = maskOf((p as { words: bigint[] }).words); break;
      case PART.DRV_FEATURES: s.features.driver = maskOf((p as { words: bigint[] }).words); break;
      case PART.DEVICE_STATUS: s.status = (p as { status: number }).status; break;
      case PART.PCI_COMMON_CFG: {
        const c = p as Extract<LocatedPart, { type: 0x102 }>;
        if (c.cfgOffset === 0) s.features.deviceFeatureSelect = c.value;
        else if (c.cfgOffset === 8) s.features.driverFeatureSelect = c.value;
        else if (c.cfgOffset === 16) s.msix.configVector = c.value;
        else if (c.cfgOffset === 18) s.numQueues = c.value;
        else if (c.cfgOffset === 22) s.queueSelect = c.value;
        break;
      }
      case PART.VQ_CFG: {
        const c = p as Extract<LocatedPart, { type: 0x104 }>;
        queues.set(c.index, {
          index: c.index, size: c.queueSize, maxSize: 0, enabled: c.enabled === 1, desc: c.desc, driver: c.driver, device: c.device,
          pfn: 0, align: 0, msixVector: c.vector, notifyOff: 0, lastAvailIdx: 0, usedIdx: 0, availWrap: true, usedWrap: true,
          availIdx: 0, resetPending: false,
        });
        break;
      }
      case PART.VQ_NOTIFY_CFG: {
        const c = p as Extract<LocatedPart, { type: 0x105 }>;
        queues.get(c.index)!.notifyOff = c.notifyOff;
        break;
      }
      case PART.NET_CVQ_CFG: cvq.push(p as Extract<LocatedPart, { type: 0x200 }>); break;
    }
  }
  const progressAt = recAt('VQ_STATE');
  const withProgress = new Set<number>();
  for (const v of vqs.queues) {
    const q = queues.get(v.index);
    if (!q) throw new MigrationFormatError(progressAt, `VQ_STATE has queue ${v.index}, which has no VIRTIO_DEV_PART_VQ_CFG`, TAG.VQ_STATE);
    if (withProgress.has(v.index)) throw new MigrationFormatError(progressAt, `VQ_STATE has queue ${v.index} twice`, TAG.VQ_STATE);
    withProgress.add(v.index);
    Object.assign(q, {
      lastAvailIdx: v.lastAvailIdx, usedIdx: v.usedIdx, availWrap: v.availWrap, usedWrap: v.usedWrap, availIdx: v.availIdx,
      maxSize: v.maxSize, pfn: v.pfn, align: v.align, resetPending: v.resetPending,
    });
  }
  for (const index of queues.keys()) {
    if (!withProgress.has(index)) throw new MigrationFormatError(progressAt, `VQ_STATE has no entry for queue ${index}`, TAG.VQ_STATE);
  }
  s.queues = [...queues.values()].sort((a, b) => a.index - b.index);

  if (cvq.length > 0 && !acks) throw new MigrationFormatError(endAt, `${cvq.length} control-queue parts but no CVQ_STATUS record`);
  if (acks) {
    const at = recAt('CVQ_STATUS');
    if (acks.commands.length !== cvq.length) {
      throw new MigrationFormatError(at, `CVQ_STATUS lists ${acks.commands.length} commands, the device data has ${cvq.length} control-queue parts`, TAG.CVQ_STATUS);
    }
    s.control = cvq.map((p, i) => {
      const a = acks.commands[i]!;
      if (a.class !== p.class || a.command !== p.command) {
        throw new MigrationFormatError(at, `CVQ_STATUS entry ${i} is class ${a.class} command ${a.command}, the part at offset ${p.offset} is class ${p.class} command ${p.command}`, TAG.CVQ_STATUS);
      }
      return { class: p.class, command: p.command, data: p.data.slice(), ...(a.ack !== undefined ? { ack: a.ack } : {}) };
    });
  }

  return {
    major, minor, header, state: s, records, parts, skippedParts, stopCopySize, integrityOffset: map(last.offset),
    schemaMatches: Buffer.from(header.schemaFingerprint).equals(Buffer.from(SCHEMA_FINGERPRINT)),
  };
}

/** What makes a part unique in a stream (spec: one per type, per common cfg offset, per queue; net: per command). */
function partKey(p: LocatedPart): { key: string; what: string } {
  switch (p.type) {
    case PART.PCI_COMMON_CFG: {
      const off = (p as Extract<LocatedPart, { type: 0x102 }>).cfgOffset;
      return { key: `${p.type}/${off}`, what: ` for offset ${off}` };
    }
    case PART.VQ_CFG:
    case PART.VQ_NOTIFY_CFG: {
      const i = (p as { index: number }).index;
      return { key: `${p.type}/${i}`, what: ` for queue ${i}` };
    }
    case PART.NET_CVQ_CFG: {
      const c = p as Extract<LocatedPart, { type: 0x200 }>;
      return { key: `${p.type}/${c.class}/${c.command}`, what: ` for class ${c.class} command ${c.command}` };
    }
    default:
      return { key: `${p.type}`, what: '' };
  }
}

function decodeParts(rec: RawRecord, deviceType: string, map: OffsetMap): LocatedPart[] {
  return decodePartsImpl(rec.data, rec.offset + RECORD_HEADER_SIZE, deviceType, map, rec.tag);
}

/** Parses a devrec or qemu-vfio migration stream. Throws only MigrationFormatError. */
export function parseMigrationStream(bytes: Uint8Array): ParsedMigration {
  try {
    if (looksLikeQemuVfio(bytes)) {
      const q = unwrapQemuVfio(bytes);
      const parsed = parseDevrec(q.inner, q.map);
      const want = paddedPciConfig(parsed.state.pci.config);
      const got = q.config.bytes;
      if (want.length !== got.length) {
        throw new MigrationFormatError(q.config.offset, `DEV_CONFIG_STATE holds ${got.length} bytes of PCI config space, the devrec PCI_CONFIG record ${parsed.state.pci.config.length} (padded to ${want.length})`);
      }
      for (let i = 0; i < want.length; i++) {
        if (want[i] !== got[i]) throw new MigrationFormatError(q.config.offset + i, `DEV_CONFIG_STATE byte ${i} is 0x${got[i]!.toString(16)}, the devrec PCI_CONFIG record says 0x${want[i]!.toString(16)}`);
      }
      return { ...parsed, format: 'qemu-vfio', qemu: { sections: q.sections, configOffset: q.config.offset } };
    }
    return { ...parseDevrec(bytes, identityMap), format: 'devrec' };
  } catch (e) {
    if (e instanceof MigrationFormatError) throw e;
    throw new MigrationFormatError(0, `cannot parse: ${(e as Error)?.message ?? String(e)}`);
  }
}

// ---- target side ----

/** The target store refused the import (the stream itself was fine). */
export class MigrationImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationImportError';
  }
}

export interface ImportOptions {
  /** stream id in the target store (default: the source stream id from the header) */
  as?: string;
  /** VFIO_MIGRATION_* flags of the target device (default: all) */
  flags?: number;
  /** clock for the events written (ns since the epoch) */
  now?: () => bigint;
}

export interface ImportResult {
  device: string;
  parsed: ParsedMigration;
  /** target-side VFIO arcs, in order */
  arcs: VfioArc[];
  /** revision of the snapshot event in the new stream */
  snapshotRevision: number;
  /** revision of the last event written */
  revision: number;
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

/**
 * The target side: parse and validate the stream (the check the kernel makes on RESUMING -> STOP), then create
 * the device's stream with the VFIO arcs STOP -> RESUMING, the imported state as a `snapshot` event, RESUMING ->
 * STOP -> (RUNNING_P2P ->) RUNNING. Nothing is written when the stream is invalid or the stream id exists.
 */
export async function importStream(store: EventStore, bytes: Uint8Array, options: ImportOptions = {}): Promise<ImportResult> {
  const parsed = parseMigrationStream(bytes);
  const device = options.as ?? parsed.header.provenance!.sourceStream;
  if (!device) throw new MigrationImportError('the stream names no source stream id: give one with --as ID');
  if ((await store.head(device)) >= 0) {
    throw new MigrationImportError(`stream "${device}" already exists in the target store: import it under another id with --as ID`);
  }
  const now = options.now ?? nowNs;
  const events: NewEvent[] = [];
  let snapshotRevision = -1;
  const fsm = new VfioDeviceFsm('stop', options.flags ?? VFIO_MIGRATION_ALL, (arc) => {
    events.push({ timestampNs: now(), actor: 'vmm', path: 'vfio-ioctl', source: 'migration-stream', body: { kind: 'vfioState', from: arc.from, to: arc.to } });
  });
  await fsm.set('resuming');
  const state = { ...parsed.state, device, vfioState: 'resuming' as VfioState };
  snapshotRevision = events.length;
  events.push({ timestampNs: now(), actor: 'recorder', path: 'internal', source: 'migration-stream', body: { kind: 'snapshot', state: stateToWire(state) } });
  await fsm.set('stop');
  await fsm.set('running');
  try {
    const r = await store.append(device, events, 'no-stream');
    return { device, parsed, arcs: fsm.arcs, snapshotRevision, revision: r.nextExpectedRevision };
  } catch (e) {
    if (e instanceof WrongExpectedRevisionError) {
      throw new MigrationImportError(`stream "${device}" already exists in the target store: import it under another id with --as ID`);
    }
    throw e;
  }
}
