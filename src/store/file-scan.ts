// Finding the next intact record after a damaged one. A torn write can only leave garbage at the very end of the
// last segment (appends are serialised), so one intact record anywhere after a bad one proves the bad one is
// damage, not a torn tail: the store is then refused and the damage located, never cut.
import type { FileHandle } from 'node:fs/promises';
import { MAX_RECORD_BYTES, RECORD_PREFIX_BYTES, parseRecordHeader, payloadCrc } from './file-format.js';

/** The smallest an event can be in a record: a u16 stream index and a u32 length prefix. */
const MIN_EVENT_BYTES = 6;
/** The smallest stream table entry: u16 name length, a name of at least one byte, u64 revision, u32 count. */
const MIN_STREAM_BYTES = 15;
const WINDOW = 4 * 1024 * 1024;

/**
 * Offset of the first intact record in [from, size) of the open segment, or undefined. `damagedAt` is where the bad
 * record starts and `position` the global position it should have had: a record after it must start at a position
 * above that, by no more than the bytes between them allow. Every offset is a candidate, so the cheap tests come
 * first: the header fields every record the store writes satisfies (at least one event and one stream, counts the
 * length can hold), then the parsed header, and only then the CRC, computed from the bytes already read when the
 * record lies inside the window (a read per candidate made this search slow).
 */
export async function findIntactRecord(
  handle: FileHandle, damagedAt: number, from: number, size: number, position: number,
): Promise<number | undefined> {
  // windows overlap by one largest header probe so a record starting near a window's end is still seen whole
  const window = Buffer.allocUnsafe(Math.min(WINDOW, Math.max(0, size - from)) + 32);
  for (let base = from; base + RECORD_PREFIX_BYTES + 14 <= size; base += window.length - 32) {
    const want = Math.min(window.length, size - base);
    const { bytesRead } = await handle.read(window, 0, want, base);
    if (bytesRead < RECORD_PREFIX_BYTES + 14) break;
    const last = bytesRead - RECORD_PREFIX_BYTES - 14;
    const stop = Math.min(last, window.length - 33);
    for (let i = 0; i <= stop; i++) {
      const off = base + i;
      const len = window.readUInt32LE(i);
      if (len < 14 || len > MAX_RECORD_BYTES || off + RECORD_PREFIX_BYTES + len > size) continue;
      const hi = window.readUInt32LE(i + 12);
      if (hi > 0x1fffff) continue;
      const first = hi * 4294967296 + window.readUInt32LE(i + 8);
      if (first < position || first > position + Math.ceil((off - damagedAt) / MIN_EVENT_BYTES) + 1) continue;
      const count = window.readUInt32LE(i + 16);
      const nStreams = window.readUInt16LE(i + 20);
      if (count === 0 || nStreams === 0 || nStreams > count) continue;
      if (14 + nStreams * MIN_STREAM_BYTES + count * MIN_EVENT_BYTES > len) continue;
      const inWindow = i + RECORD_PREFIX_BYTES + len <= bytesRead;
      let payload: Buffer;
      if (inWindow) payload = window.subarray(i + RECORD_PREFIX_BYTES, i + RECORD_PREFIX_BYTES + len);
      else {
        payload = Buffer.allocUnsafe(len);
        await handle.read(payload, 0, len, off + RECORD_PREFIX_BYTES);
      }
      if (payloadCrc(payload) !== window.readUInt32LE(i + 4)) continue;
      try {
        parseRecordHeader(payload);
      } catch {
        continue; // a CRC that matches by chance over bytes that are no record
      }
      return off;
    }
    if (base + bytesRead >= size) break;
  }
  return undefined;
}

/** Writes all of `buf` at `position`: a short write is continued, never taken for success. */
export async function writeFully(handle: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await handle.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw Object.assign(new Error(`write of ${buf.length - done} bytes wrote nothing`), { code: 'EIO' });
    done += bytesWritten;
  }
}

/**
 * The last record of a segment whose length field was damaged still has its CRC: when the bytes from its payload to
 * the end of the segment match that CRC, the record is whole and only its length is wrong (damage, not a torn write).
 */
export async function lastRecordIntact(handle: FileHandle, off: number, size: number): Promise<boolean> {
  const len = size - off - RECORD_PREFIX_BYTES;
  if (len < 14 || len > MAX_RECORD_BYTES) return false;
  const b = Buffer.allocUnsafe(RECORD_PREFIX_BYTES + len);
  await handle.read(b, 0, b.length, off);
  return payloadCrc(b.subarray(RECORD_PREFIX_BYTES)) === b.readUInt32LE(4) && b.readUInt32LE(0) !== len;
}
