// `devrec inspect`: what a migration stream holds, record by record, even when it is damaged. The walk is lenient
// (it shows every record it can frame and decodes each on its own); the verdict is the importer's, strict.
import { decodeStandalone } from '../events/fast-codec.js';
import { bytesToHex, hex64, hexKeys } from '../events/json.js';
import { deviceTypeByName, featureNames, statusNames } from '../model/index.js';
import { pciCapabilityKind, virtioPciCapType } from '../model/pci-capabilities.js';
import { nsToIso } from '../project/state.js';
import { COMMON_CFG_NAMES, type LocatedPart, decodeParts, partName } from './device-parts.js';
import {
  HEADER_MAGIC, HEADER_PREFIX_SIZE, type IntegrityStatus, MigrationFormatError, type OffsetMap, RECORD_FLAG_OPTIONAL,
  RECORD_HEADER_SIZE, type RawRecord, TAG, checkIntegrity, hexTag, identityMap, looksLikeQemuVfio, tagName, walkRecords,
} from './format.js';
import { parseMigrationStream } from './importer.js';
import { type QemuSection, unwrapQemuVfio } from './qemu-vfio.js';
import { MIGRATION_SPECS, SCHEMA_FINGERPRINT, type SchemaHeaderMsg } from './schema.js';

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

/** JSON-safe copy: bigint as "0x..", bytes as hex. */
export function jsonable(v: unknown): unknown {
  if (typeof v === 'bigint') return hex64(v);
  if (v instanceof Uint8Array) return bytesToHex(v);
  if (Array.isArray(v)) return v.map(jsonable);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonable(x)]));
  return v;
}

function maskOf(words: bigint[]): bigint {
  return words.reduce((m, w, i) => m | (w << BigInt(64 * i)), 0n);
}

function describePart(p: LocatedPart, deviceType: string): Record<string, unknown> {
  const type = deviceTypeByName(deviceType) ? deviceType : undefined;
  const base = { offset: p.offset, type: `0x${p.type.toString(16)}`, name: partName(p.type, deviceType), optional: (p.flags & 1) === 1, length: p.length };
  if ('unknown' in p) return { ...base, unknown: true, selector: bytesToHex(p.selector), value: bytesToHex(p.value) };
  switch (p.type) {
    case 0x100:
    case 0x101: {
      const mask = maskOf(p.words);
      return { ...base, featureBits: p.words.map(hex64), mask: hex64(mask), names: featureNames(mask, type) };
    }
    case 0x102: return { ...base, cfgOffset: p.cfgOffset, field: COMMON_CFG_NAMES[p.cfgOffset], value: p.value };
    case 0x103: return { ...base, status: '0x' + p.status.toString(16).padStart(2, '0'), statusNames: statusNames(p.status) };
    case 0x104: return { ...base, index: p.index, queueSize: p.queueSize, vector: p.vector, enabled: p.enabled, desc: hex64(p.desc), driver: hex64(p.driver), device: hex64(p.device) };
    case 0x105: return { ...base, index: p.index, queueNotifyOff: p.notifyOff, queueNotifConfigData: p.notifConfigData };
    case 0x200: return { ...base, class: p.class, command: p.command, data: bytesToHex(p.data) };
    default: return base;
  }
}

const SPEC_OF: Partial<Record<number, keyof typeof MIGRATION_SPECS>> = {
  [TAG.TRANSPORT_MODE]: 'TransportMode', [TAG.FEATURE_NEGOTIATION]: 'FeatureNegotiation', [TAG.VDPA]: 'VdpaProvisioning',
  [TAG.VQ_STATE]: 'VirtqueueStates', [TAG.CVQ_STATUS]: 'ControlAcks', [TAG.MSIX]: 'MsixState', [TAG.PCI_CONFIG]: 'PciConfigSpace',
  [TAG.RUNTIME]: 'DeviceRuntime',
};

function decodeRecord(r: RawRecord, deviceType: string, map: OffsetMap, integrity: ReturnType<typeof checkIntegrity>): unknown {
  switch (r.tag) {
    case TAG.SCHEMA_HEADER: {
      const dv = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength);
      if (r.size < HEADER_PREFIX_SIZE) throw new Error(`shorter than the ${HEADER_PREFIX_SIZE}-byte prefix`);
      const magic = Buffer.from(r.data.subarray(0, 8)).toString('latin1');
      const header = decodeStandalone<SchemaHeaderMsg>(MIGRATION_SPECS.SchemaHeader, r.data.subarray(HEADER_PREFIX_SIZE));
      const hex4 = (n = 0) => '0x' + n.toString(16).padStart(4, '0');
      const prov = header.provenance;
      return {
        magic, magicOk: magic === HEADER_MAGIC, major: dv.getUint16(8, true), minor: dv.getUint16(10, true), ...jsonable(header) as object,
        ...(header.pci ? { pci: { vendor: hex4(header.pci.vendor), device: hex4(header.pci.device), subsystemVendor: hex4(header.pci.subsystemVendor), subsystem: hex4(header.pci.subsystem), revision: header.pci.revision } } : {}),
        ...(prov ? {
          provenance: {
            ...jsonable(prov) as object, sourceRevision: Number(prov.sourceRevision), sourceEventCount: Number(prov.sourceEventCount),
            sourceTime: prov.sourceTimestampNs > 0n ? nsToIso(prov.sourceTimestampNs) : null, exportedAt: prov.exportedAtNs > 0n ? nsToIso(prov.exportedAtNs) : null,
          },
        } : {}),
        schemaMatches: Buffer.from(header.schemaFingerprint).equals(Buffer.from(SCHEMA_FINGERPRINT)),
      };
    }
    case TAG.DEVICE_DATA:
      return { parts: decodeParts(r.data, r.offset + RECORD_HEADER_SIZE, deviceType, map, r.tag).map((p) => describePart(p, deviceType)) };
    case TAG.DEVICE_CONFIG:
      return { config: bytesToHex(r.data) };
    case TAG.STOP_COPY_SIZE:
      if (r.size !== 8) throw new Error(`${r.size} bytes, not le64`);
      return { stopCopyBytes: Number(new DataView(r.data.buffer, r.data.byteOffset, 8).getBigUint64(0, true)) };
    case TAG.INTEGRITY:
      return { sha256: bytesToHex(r.data), status: integrity.status, ...(integrity.status === 'bad' ? { computed: integrity.actual } : {}) };
    default: {
      const spec = SPEC_OF[r.tag];
      if (!spec) return { data: bytesToHex(r.data.subarray(0, 64)) + (r.size > 64 ? '...' : '') };
      const m = decodeStandalone<Record<string, unknown>>(MIGRATION_SPECS[spec], r.data);
      if (r.tag === TAG.PCI_CONFIG) {
        const caps = (m['capabilities'] as { id: number; virtioCfgType: number }[]).map((c) => ({
          ...c, idName: pciCapabilityKind(c.id)?.name ?? '?', ...(c.virtioCfgType ? { virtioCfgTypeName: virtioPciCapType(c.virtioCfgType)?.short ?? '?' } : {}),
        }));
        return jsonable({ ...m, capabilities: caps });
      }
      return hexKeys(jsonable(m), { pfn: 0, status: 2 }) as Record<string, unknown>;
    }
  }
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
      offset: map(r.offset), tag: hexTag(r.tag), name: tagName(r.tag) ?? 'unknown', flags: '0x' + r.flags.toString(16),
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
