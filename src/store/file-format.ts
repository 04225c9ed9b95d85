// On-disk format of the embedded log (file: store). See docs/store-format.md.
//
// A store directory holds segments `seg-<first global position, 20 digits>.log`. A segment is a 16-byte header
// (magic "DEVRECSG", u32 format version, u32 reserved) followed by records. A record is one durable append
// batch, framed like a Kafka record batch so that a torn write or a flipped byte is caught by one CRC:
//
//   u32 payload_length | u32 crc32(payload) | payload
//   payload = u64 first_position | u32 event_count | u16 stream_count
//             | stream_count x (u16 name_length | name utf-8 | u64 first_revision | u32 events_in_batch)
//             | event_count x u16 stream_index            (which stream each event belongs to, in append order)
//             | event_count x (u32 event_length | devrec.v1.Event protobuf bytes)
//
// All integers little-endian. Positions and revisions are 0-based.
import { crc32 } from 'node:zlib';

export const SEGMENT_MAGIC = Buffer.from('DEVRECSG', 'ascii');
export const FORMAT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 16;
export const RECORD_PREFIX_BYTES = 8;
/** Upper bound on one record's payload: anything larger is damage, not data. */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;
export const MAX_STREAMS_PER_RECORD = 0xffff;

export function segmentName(firstPosition: number): string {
  return `seg-${String(firstPosition).padStart(20, '0')}.log`;
}

export function parseSegmentName(name: string): number | undefined {
  const m = /^seg-(\d{20})\.log$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export function segmentHeader(): Buffer {
  const b = Buffer.alloc(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(b, 0);
  b.writeUInt32LE(FORMAT_VERSION, 8);
  return b;
}

/** Returns a reason when the header is not a devrec segment header of a version we read. */
export function checkSegmentHeader(b: Uint8Array): string | undefined {
  if (b.length < SEGMENT_HEADER_BYTES) return `segment header truncated (${b.length} of ${SEGMENT_HEADER_BYTES} bytes)`;
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (!buf.subarray(0, 8).equals(SEGMENT_MAGIC)) return 'not a devrec segment (bad magic)';
  const v = buf.readUInt32LE(8);
  if (v !== FORMAT_VERSION) return `segment format version ${v} is not supported (this devrec reads ${FORMAT_VERSION})`;
  return undefined;
}

export interface RecordStream {
  name: string;
  firstRevision: number;
  count: number;
}

export interface RecordHeader {
  firstPosition: number;
  count: number;
  streams: RecordStream[];
  /** payload-relative offset of the u16 stream index array */
  indexOffset: number;
  /** payload-relative offset of the first event */
  eventsOffset: number;
}

export class FrameError extends Error {
  constructor(readonly offset: number, reason: string) {
    super(reason);
    this.name = 'FrameError';
  }
}

function readU64(b: Buffer, off: number): number {
  const lo = b.readUInt32LE(off);
  const hi = b.readUInt32LE(off + 4);
  if (hi > 0x1fffff) throw new FrameError(off, '64-bit value exceeds 2^53');
  return hi * 4294967296 + lo;
}

function writeU64(b: Buffer, off: number, v: number): void {
  b.writeUInt32LE(v % 4294967296, off);
  b.writeUInt32LE(Math.floor(v / 4294967296), off + 4);
}

/** Parses the header part of a record payload; throws FrameError (payload-relative offset) when malformed. */
export function parseRecordHeader(payload: Buffer): RecordHeader {
  const need = (off: number, n: number, what: string) => {
    if (off + n > payload.length) throw new FrameError(off, `${what} runs past the end of the record`);
  };
  need(0, 14, 'record header');
  const firstPosition = readU64(payload, 0);
  const count = payload.readUInt32LE(8);
  const nStreams = payload.readUInt16LE(12);
  let off = 14;
  const streams: RecordStream[] = [];
  let total = 0;
  for (let i = 0; i < nStreams; i++) {
    need(off, 2, 'stream name length');
    const len = payload.readUInt16LE(off);
    off += 2;
    need(off, len + 12, 'stream entry');
    const name = payload.toString('utf8', off, off + len);
    off += len;
    const firstRevision = readU64(payload, off);
    const n = payload.readUInt32LE(off + 8);
    off += 12;
    streams.push({ name, firstRevision, count: n });
    total += n;
  }
  if (total !== count) throw new FrameError(14, `stream table counts ${total} events, record says ${count}`);
  need(off, count * 2, 'stream index array');
  const indexOffset = off;
  for (let i = 0; i < count; i++) {
    if (payload.readUInt16LE(off + i * 2) >= nStreams) throw new FrameError(off + i * 2, 'stream index out of range');
  }
  off += count * 2;
  return { firstPosition, count, streams, indexOffset, eventsOffset: off };
}

/**
 * Builds one record (prefix included) from the stream table, each event's stream index, and the events region
 * (`count` x (u32 length | event bytes), as EventBatchWriter writes it).
 */
export function buildRecord(firstPosition: number, streams: RecordStream[], order: Uint16Array, events: Uint8Array): Buffer {
  if (streams.length > MAX_STREAMS_PER_RECORD) throw new Error('too many streams in one batch');
  const names = streams.map((s) => Buffer.from(s.name, 'utf8'));
  let size = 14;
  for (const n of names) {
    if (n.length === 0 || n.length > 0xffff) throw new Error(`stream name length ${n.length} out of range`);
    size += 2 + n.length + 12;
  }
  size += order.length * 2 + events.length;
  if (size > MAX_RECORD_BYTES) throw new Error(`batch of ${size} bytes exceeds the ${MAX_RECORD_BYTES}-byte record limit`);
  const buf = Buffer.allocUnsafe(RECORD_PREFIX_BYTES + size);
  const p = buf.subarray(RECORD_PREFIX_BYTES);
  writeU64(p, 0, firstPosition);
  p.writeUInt32LE(order.length, 8);
  p.writeUInt16LE(streams.length, 12);
  let off = 14;
  streams.forEach((s, i) => {
    const n = names[i]!;
    p.writeUInt16LE(n.length, off);
    n.copy(p, off + 2);
    off += 2 + n.length;
    writeU64(p, off, s.firstRevision);
    p.writeUInt32LE(s.count, off + 8);
    off += 12;
  });
  for (let i = 0; i < order.length; i++, off += 2) p.writeUInt16LE(order[i]!, off);
  p.set(events, off);
  buf.writeUInt32LE(size, 0);
  buf.writeUInt32LE(crc32(p), 4);
  return buf;
}

export function payloadCrc(payload: Uint8Array): number {
  return crc32(payload);
}

/** Walks the events of a parsed record: calls fn(streamIndex, eventIndex, start, end) with payload offsets. */
export function forEachEvent(
  payload: Buffer,
  h: RecordHeader,
  fn: (streamIndex: number, eventIndex: number, start: number, end: number) => void,
): void {
  let off = h.eventsOffset;
  for (let i = 0; i < h.count; i++) {
    if (off + 4 > payload.length) throw new FrameError(off, `event ${i} length runs past the end of the record`);
    const len = payload.readUInt32LE(off);
    const start = off + 4;
    if (start + len > payload.length) throw new FrameError(off, `event ${i} of ${len} bytes runs past the end of the record`);
    fn(payload.readUInt16LE(h.indexOffset + i * 2), i, start, start + len);
    off = start + len;
  }
  if (off !== payload.length) throw new FrameError(off, `${payload.length - off} stray bytes after the last event`);
}
