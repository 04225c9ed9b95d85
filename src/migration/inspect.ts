// `devrec inspect`: what a migration stream holds, record by record, even when it is damaged. The walk is lenient
// (it shows every record it can frame and decodes each on its own); the verdict is the importer's, strict.
import { bytesToHex } from '../events/json.js';
import { decodeParts } from './device-parts.js';
import {
  type IntegrityStatus, MigrationFormatError, type OffsetMap, RECORD_FLAG_OPTIONAL, RECORD_HEADER_SIZE, type RawRecord,
  TAG, checkIntegrity, hexTag, identityMap, looksLikeQemuVfio, walkRecords,
} from './format.js';
import { parseMigrationStream } from './importer.js';
import { type QemuSection, unwrapQemuVfio } from './qemu-vfio.js';
import { decodeRecordData, defaultShow, migrationRecord } from './records.js';

export interface InspectedRecord {
  offset: number;
  tag: string;
  name: string;
  /** record flags, "0x..." (bit 0: optional) */
  flags: string;
  optional: boolean;
  size: number;
  decoded?: unknown;
  error?: string;
}

export interface InspectReport {
  format: 'devrec' | 'qemu-vfio';
  size: number;
  /** the importer accepts the stream */
  ok: boolean;
  error?: { offset: number; tag?: string; reason: string; message: string };
  version?: { major: number; minor: number };
  schemaMatches?: boolean;
  qemu?: { sections: QemuSection[]; config?: { offset: number; size: number } };
  records: InspectedRecord[];
  integrity: IntegrityStatus;
}


/** One record's view, by its table row; a tag the table does not have shows its first bytes. */
function decodeRecord(r: RawRecord, deviceType: string, map: OffsetMap, integrity: ReturnType<typeof checkIntegrity>): unknown {
  const row = migrationRecord(r.tag);
  if (!row) return { data: bytesToHex(r.data.subarray(0, 64)) + (r.size > 64 ? '...' : '') };
  if (row.show) {
    return row.show(r.data, r, {
      deviceType, map, integrity, parts: () => decodeParts(r.data, r.offset + RECORD_HEADER_SIZE, deviceType, map, r.tag),
    });
  }
  return defaultShow(decodeRecordData(row, r.data));
}

export function inspectMigrationStream(bytes: Uint8Array): InspectReport {
  const report: InspectReport = { format: looksLikeQemuVfio(bytes) ? 'qemu-vfio' : 'devrec', size: bytes.length, ok: false, records: [], integrity: 'missing' };
  // The verdict: the importer's.
  try {
    const parsed = parseMigrationStream(bytes);
    report.ok = true;
    report.version = { major: parsed.major, minor: parsed.minor };
    report.schemaMatches = parsed.schemaMatches;
  } catch (e) {
    const err = e as MigrationFormatError;
    report.error = { offset: err.offset, ...(err.tag !== undefined ? { tag: hexTag(err.tag) } : {}), reason: err.reason, message: err.message };
  }
  // The walk: lenient.
  let inner = bytes;
  let map: OffsetMap = identityMap;
  if (report.format === 'qemu-vfio') {
    try {
      const q = unwrapQemuVfio(bytes);
      inner = q.inner;
      map = q.map;
      report.qemu = { sections: q.sections, config: { offset: q.config.offset, size: q.config.bytes.length } };
    } catch {
      return report;
    }
  }
  const framing = walkRecords(inner, map);
  const integrity = checkIntegrity(inner, framing.records);
  report.integrity = integrity.status;
  let deviceType = '';
  for (const r of framing.records) {
    const rec: InspectedRecord = {
      offset: map(r.offset), tag: hexTag(r.tag), name: migrationRecord(r.tag)?.name ?? 'unknown', flags: '0x' + r.flags.toString(16),
      optional: (r.flags & RECORD_FLAG_OPTIONAL) !== 0, size: r.size,
    };
    try {
      rec.decoded = decodeRecord(r, deviceType, map, integrity);
      if (r.tag === TAG.SCHEMA_HEADER) deviceType = String((rec.decoded as { deviceType?: string }).deviceType ?? '');
    } catch (e) {
      rec.error = e instanceof MigrationFormatError ? e.message : `cannot decode: ${(e as Error).message}`;
    }
    report.records.push(rec);
  }
  return report;
}
