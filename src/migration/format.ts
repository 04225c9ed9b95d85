// The devrec migration stream: records framed `{le64 record_size, le32 flags, le32 tag, u8 data[record_size]}`
// as the Linux mlx5 and virtio-vfio variant drivers frame theirs (flags bit 0 = optional: a reader that does not
// know the tag skips it; any other unknown tag is an error). docs/migration-format.md has the byte-level table.
//
// Fixed across every major version, so any reader can at least tell what it holds: this framing, the schema
// header record being first with its 16-byte prefix (magic, le16 major, le16 minor, le32 0), and the integrity
// record (SHA-256 of every byte before it) being last.
import { createHash } from 'node:crypto';

export const FORMAT_MAJOR = 1;
export const FORMAT_MINOR = 1;
/** devrec's version, written into the provenance (a test keeps it equal to package.json's). */
export const RECORDER_VERSION = '0.1.0';

export const RECORD_HEADER_SIZE = 16;
export const RECORD_FLAG_OPTIONAL = 1;
/** Largest record accepted: far above any virtio device's state (65536 queues of device parts are ~4.5 MiB). */
export const MAX_RECORD_SIZE = 64 * 1024 * 1024;

export const HEADER_MAGIC = 'DEVRECMS';
export const HEADER_PREFIX_SIZE = 16;
export const INTEGRITY_SIZE = 32;

/** Record tags. 0 is the virtio-vfio driver's DEVICE_DATA; devrec's own records live in 0x44560000-0x4456ffff ("DV"). */
export const TAG = {
  DEVICE_DATA: 0x00000000,
  SCHEMA_HEADER: 0x44560001,
  TRANSPORT_MODE: 0x44560002,
  FEATURE_NEGOTIATION: 0x44560003,
  DEVICE_CONFIG: 0x44560004,
  VDPA: 0x44560005,
  STOP_COPY_SIZE: 0x44560006,
  VQ_STATE: 0x44560010,
  CVQ_STATUS: 0x44560011,
  MSIX: 0x44560012,
  PCI_CONFIG: 0x44560013,
  RUNTIME: 0x44560014,
  DEVICE_STATE: 0x44560015,
  INTEGRITY: 0x4456ffff,
} as const;

export type TagName = keyof typeof TAG;
const TAG_NAMES = new Map<number, TagName>(Object.entries(TAG).map(([k, v]) => [v, k as TagName]));

export function tagName(tag: number): string | undefined {
  return TAG_NAMES.get(tag);
}

export function hexTag(tag: number): string {
  return '0x' + (tag >>> 0).toString(16).padStart(8, '0');
}

/** Every problem with a migration stream: the byte offset (in the file as given), the reason, the tag when known. */
export class MigrationFormatError extends Error {
  constructor(readonly offset: number, readonly reason: string, readonly tag?: number) {
    super(`offset ${offset}${tag !== undefined ? ` (record tag ${hexTag(tag)}${tagName(tag) ? ' ' + tagName(tag) : ''})` : ''}: ${reason}`);
    this.name = 'MigrationFormatError';
  }
}

/** Maps an offset in the devrec stream to an offset in the file (identity, or through the qemu-vfio wrapping). */
export type OffsetMap = (inner: number) => number;
export const identityMap: OffsetMap = (n) => n;

export interface EncodedRecord {
  tag: number;
  flags: number;
  data: Uint8Array;
}

export function encodeRecords(records: EncodedRecord[]): Uint8Array {
  const total = records.reduce((n, r) => n + RECORD_HEADER_SIZE + r.data.length, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  let pos = 0;
  for (const r of records) {
    dv.setBigUint64(pos, BigInt(r.data.length), true);
    dv.setUint32(pos + 8, r.flags >>> 0, true);
    dv.setUint32(pos + 12, r.tag >>> 0, true);
    out.set(r.data, pos + RECORD_HEADER_SIZE);
    pos += RECORD_HEADER_SIZE + r.data.length;
  }
  return out;
}

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** Appends the integrity record (SHA-256 of every byte of `chunks`, in order) as the last record. */
export function integrityRecord(...chunks: Uint8Array[]): Uint8Array {
  return encodeRecords([{ tag: TAG.INTEGRITY, flags: 0, data: sha256(...chunks) }]);
}

/** The stream of these records, sealed with its integrity record. */
export function sealRecords(records: EncodedRecord[]): Uint8Array {
  const body = encodeRecords(records);
  return concat(body, integrityRecord(body));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

export function encodeHeaderPrefix(major = FORMAT_MAJOR, minor = FORMAT_MINOR): Uint8Array {
  const out = new Uint8Array(HEADER_PREFIX_SIZE);
  out.set(Buffer.from(HEADER_MAGIC, 'latin1'), 0);
  const dv = new DataView(out.buffer);
  dv.setUint16(8, major, true);
  dv.setUint16(10, minor, true);
  dv.setUint32(12, 0, true);
  return out;
}

/** One framed record as found in a stream; offsets are in the devrec stream (map them for errors). */
export interface RawRecord {
  /** offset of the record header */
  offset: number;
  size: number;
  flags: number;
  tag: number;
  /** view into the input (no copy) */
  data: Uint8Array;
}

export interface FramingResult {
  records: RawRecord[];
  /** the first framing problem, when the walk stopped early (the records before it are in `records`) */
  error?: MigrationFormatError;
}

/**
 * Walks the record framing without interpreting any data. Never allocates from a length read from the input:
 * a record_size past the end of the input or over MAX_RECORD_SIZE stops the walk with an error.
 */
export function walkRecords(bytes: Uint8Array, map: OffsetMap = identityMap): FramingResult {
  const records: RawRecord[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  if (bytes.length === 0) return { records, error: new MigrationFormatError(map(0), 'empty stream: no records') };
  while (pos < bytes.length) {
    const left = bytes.length - pos;
    if (left < RECORD_HEADER_SIZE) {
      return { records, error: new MigrationFormatError(map(pos), `truncated record header: ${left} of ${RECORD_HEADER_SIZE} bytes`) };
    }
    const size = dv.getBigUint64(pos, true);
    const flags = dv.getUint32(pos + 8, true);
    const tag = dv.getUint32(pos + 12, true);
    const avail = left - RECORD_HEADER_SIZE;
    if (size > BigInt(MAX_RECORD_SIZE)) {
      return { records, error: new MigrationFormatError(map(pos), `record_size ${size} is over the ${MAX_RECORD_SIZE}-byte cap`, tag) };
    }
    if (size > BigInt(avail)) {
      return { records, error: new MigrationFormatError(map(pos), `record_size ${size} runs past the end: ${avail} bytes follow the record header`, tag) };
    }
    if ((flags & ~RECORD_FLAG_OPTIONAL) !== 0) {
      return { records, error: new MigrationFormatError(map(pos + 8), `reserved flag bits 0x${((flags & ~RECORD_FLAG_OPTIONAL) >>> 0).toString(16)} are set`, tag) };
    }
    const n = Number(size);
    records.push({ offset: pos, size: n, flags, tag, data: bytes.subarray(pos + RECORD_HEADER_SIZE, pos + RECORD_HEADER_SIZE + n) });
    pos += RECORD_HEADER_SIZE + n;
  }
  return { records };
}

export type IntegrityStatus = 'ok' | 'bad' | 'missing';

/** Checks the last record is a well-formed integrity record whose hash covers every byte before it. */
export function checkIntegrity(bytes: Uint8Array, records: RawRecord[]): { status: IntegrityStatus; expected?: string; actual?: string } {
  const last = records.at(-1);
  if (!last || last.tag !== TAG.INTEGRITY || last.size !== INTEGRITY_SIZE) return { status: 'missing' };
  const actual = Buffer.from(sha256(bytes.subarray(0, last.offset))).toString('hex');
  const expected = Buffer.from(last.data).toString('hex');
  return { status: actual === expected ? 'ok' : 'bad', expected, actual };
}

// ---- QEMU VFIO section framing (hw/vfio/migration.c) ----

export const QEMU_VFIO = {
  END_OF_STATE: 0xffffffffef100001n,
  DEV_CONFIG_STATE: 0xffffffffef100002n,
  DEV_SETUP_STATE: 0xffffffffef100003n,
  DEV_DATA_STATE: 0xffffffffef100004n,
  DEV_INIT_DATA_SENT: 0xffffffffef100005n,
  DEV_CONFIG_LOAD_READY: 0xffffffffef100006n,
} as const;
const QEMU_TAG_NAMES = new Map<bigint, string>(Object.entries(QEMU_VFIO).map(([k, v]) => [v, `VFIO_MIG_FLAG_${k}`]));

export function qemuTagName(tag: bigint): string | undefined {
  return QEMU_TAG_NAMES.get(tag);
}

/** QEMU's VFIO_MIG_DEFAULT_DATA_BUFFER_SIZE: one DEV_DATA_STATE block carries at most this much. */
export const QEMU_DATA_BLOCK = 1024 * 1024;

/** True when the bytes start like a QEMU VFIO device section (be64 DEV_SETUP_STATE). */
export function looksLikeQemuVfio(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, false) === QEMU_VFIO.DEV_SETUP_STATE;
}

/** The exporter refused: the device cannot be exported as asked (the message says why). */
export class MigrationExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationExportError';
  }
}
