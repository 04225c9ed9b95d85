// Finding the next intact record after a damaged one. A torn write can only leave garbage at the very end of the
// last segment (appends are serialised), so one intact record anywhere after a bad one proves the bad one is
// damage, not a torn tail: the store is then refused and the damage located, never cut.
import type { FileHandle } from 'node:fs/promises';
import { MAX_RECORD_BYTES, RECORD_PREFIX_BYTES, payloadCrc } from './file-format.js';

/** The smallest an event can be in a record: a u16 stream index and a u32 length prefix. */
const MIN_EVENT_BYTES = 6;
const WINDOW = 4 * 1024 * 1024;

/**
 * Offset of the first intact record in [from, size) of the open segment, or undefined. `damagedAt` is where the bad
 * record starts and `position` the global position it should have had: a record after it must start at a position
 * above that, by no more than the bytes between them allow. Only such candidates are CRC-checked.
 */
export async function findIntactRecord(
  handle: FileHandle, damagedAt: number, from: number, size: number, position: number,
): Promise<number | undefined> {
  const window = Buffer.allocUnsafe(Math.min(WINDOW, Math.max(0, size - from)) + 16);
  for (let base = from; base + RECORD_PREFIX_BYTES + 14 <= size; base += WINDOW) {
    const want = Math.min(window.length, size - base);
    const { bytesRead } = await handle.read(window, 0, want, base);
    const last = Math.min(window.length - 16, bytesRead - 16);
    for (let i = 0; i <= last; i++) {
      const off = base + i;
      const len = window.readUInt32LE(i);
      if (len < 14 || len > MAX_RECORD_BYTES || off + RECORD_PREFIX_BYTES + len > size) continue;
      const lo = window.readUInt32LE(i + 8);
      const hi = window.readUInt32LE(i + 12);
      const first = hi * 4294967296 + lo;
      if (first < position || first > position + Math.ceil((off - damagedAt) / MIN_EVENT_BYTES) + 1) continue;
      const payload = Buffer.allocUnsafe(len);
      await handle.read(payload, 0, len, off + RECORD_PREFIX_BYTES);
      if (payloadCrc(payload) === window.readUInt32LE(i + 4)) return off;
    }
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
