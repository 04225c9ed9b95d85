// Migration stream -> DeviceState (the projector's type), and the target side of a migration: a new stream in the
// store that starts from the imported state. Parsing checks framing, version and integrity before it interprets
// any data; every problem is a MigrationFormatError naming the byte offset (in the file as given), the reason and
// the record tag when known. It never allocates from a length it has not checked against the bytes that follow.
import { decodeStandalone } from '../events/fast-codec.js';
import type { NewEvent, VfioState } from '../events/types.js';
import { stateToWire } from '../project/state-wire.js';
import type { DeviceState } from '../project/state.js';
import { isPciTransport } from '../model/index.js';
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
  MIGRATION_RECORDS, type MessageName, type MigrationRecord, type ReadContext, importedState, isKnownTransport,
  migrationRecord,
} from './records.js';
import { MIGRATION_SPECS, SCHEMA_FINGERPRINT, type SchemaHeaderMsg } from './schema.js';
import { VFIO_MIGRATION_ALL, VfioDeviceFsm, type VfioArc } from './vfio-fsm.js';

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

function decodeMsg<T>(name: MessageName, rec: RawRecord, data: Uint8Array, map: OffsetMap, skip = 0): T {
  try {
    return decodeStandalone<T>(MIGRATION_SPECS[name], data);
  } catch (e) {
    throw new MigrationFormatError(map(rec.offset + RECORD_HEADER_SIZE + skip), `malformed ${tagName(rec.tag) ?? name} record: ${(e as Error).message}`, rec.tag);
  }
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

const HEADER_ROW = migrationRecord(TAG.SCHEMA_HEADER)!;
const DEVICE_DATA_ROW = migrationRecord(TAG.DEVICE_DATA)!;

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
  if (!isKnownTransport(header.transport)) throw new MigrationFormatError(headerAt, `schema header transport "${header.transport}" is not one devrec knows`, first.tag);
  if (!header.provenance) throw new MigrationFormatError(headerAt, 'schema header has no provenance (source stream and revision)', first.tag);

  const records: ParsedRecord[] = [{ offset: map(first.offset), tag: first.tag, name: HEADER_ROW.name, flags: first.flags, size: first.size, skipped: false }];
  const parts: LocatedPart[] = [];
  const skippedParts: LocatedPart[] = [];
  /** each known record (DEVICE_DATA aside) once, by its table row */
  const found = new Map<MigrationRecord, RawRecord>();
  const deviceType = header.deviceType;
  let lastRank = -1;
  let lastPart: LocatedPart | undefined;
  const seenKeys = new Set<string>();

  for (const rec of recs.slice(1, lastIdx)) {
    const row = migrationRecord(rec.tag);
    const info: ParsedRecord = { offset: map(rec.offset), tag: rec.tag, name: row?.name ?? `unknown ${hexTag(rec.tag)}`, flags: rec.flags, size: rec.size, skipped: false };
    records.push(info);
    if (row === HEADER_ROW) throw new MigrationFormatError(map(rec.offset), 'a second schema header record', rec.tag);
    if (row === DEVICE_DATA_ROW) {
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
    if (row) {
      if (found.has(row)) throw new MigrationFormatError(map(rec.offset), `a second ${row.name} record`, rec.tag);
      found.set(row, rec);
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
  // the rows read between the header and the integrity record
  const body = MIGRATION_RECORDS.filter((r) => r !== HEADER_ROW && r !== DEVICE_DATA_ROW && r.name !== 'INTEGRITY');
  for (const r of body) {
    if (r.required && !found.has(r)) throw new MigrationFormatError(endAt, `no ${r.name} record (tag ${hexTag(r.tag)}), which format ${FORMAT_MAJOR}.x requires`);
  }
  const need = (type: number) => {
    if (!parts.some((p) => p.type === type)) throw new MigrationFormatError(endAt, `no ${partName(type, deviceType)} device part, which is mandatory`);
  };
  need(PART.DRV_FEATURES);
  need(PART.DEVICE_STATUS);
  const cvq = parts.filter((p) => p.type === PART.NET_CVQ_CFG).length;
  if (cvq > 0 && !found.has(migrationRecord(TAG.CVQ_STATUS)!)) throw new MigrationFormatError(endAt, `${cvq} control-queue parts but no CVQ_STATUS record`);

  // Every record decoded before any is read: a malformed one is reported as such, whatever else the stream says.
  const decoded = new Map<MigrationRecord, unknown>();
  for (const r of body) {
    const rec = found.get(r);
    if (rec) decoded.set(r, r.message ? decodeMsg(r.message, rec, rec.data, map) : rec.data);
  }

  // ---- the state, row by row in table order ----
  // Format 1.1 fields have presence (absent: unknown). A 1.0 stream has none: its absent fields are proto3's 0.
  const v10 = minor < 1;
  const ctx: ReadContext = {
    state: importedState(header), header, minor, parts, map, endAt, pci: isPciTransport(header.transport),
    opt: <T>(v: T | undefined, zero: T): T | null => (v !== undefined ? v : v10 ? zero : null),
  };
  for (const r of MIGRATION_RECORDS) {
    if (!r.read) continue;
    if (r === HEADER_ROW) r.read(ctx, header, first);
    else if (r === DEVICE_DATA_ROW) r.read(ctx, parts, first);
    else if (found.has(r)) r.read(ctx, decoded.get(r), found.get(r)!);
  }
  return {
    major, minor, header, state: ctx.state, records, parts, skippedParts, stopCopySize: ctx.stopCopySize, integrityOffset: endAt,
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
      const recorded = parsed.state.pci?.config ?? new Uint8Array(0);
      const want = paddedPciConfig(recorded);
      const got = q.config.bytes;
      if (want.length !== got.length) {
        throw new MigrationFormatError(q.config.offset, `DEV_CONFIG_STATE holds ${got.length} bytes of PCI config space, the devrec PCI_CONFIG record ${recorded.length} (padded to ${want.length})`);
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
  events.push({ timestampNs: now(), actor: 'recorder', path: 'internal', source: 'migration-stream', body: { kind: 'snapshot', stateV2: stateToWire(state) } });
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
