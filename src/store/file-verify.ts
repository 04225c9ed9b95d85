// `devrec verify` for the file store: reads every byte of every segment independently of the store's own
// open path (so it works on a store that no longer opens), checks framing, CRCs, global positions, per-stream
// revisions and that every event decodes with the revision its record says. Reports segment and offset.
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { findIntactRecord, lastRecordIntact } from './file-scan.js';
import { SegmentWindow } from './file-window.js';
import { StorePathError } from './types.js';
import path from 'node:path';
import { fastDecodeEvent } from '../events/fast-codec.js';
import {
  FrameError, MAX_RECORD_BYTES, RECORD_PREFIX_BYTES, SEGMENT_HEADER_BYTES, checkSegmentHeader, forEachEvent,
  parseRecordHeader, parseSegmentName, payloadCrc,
} from './file-format.js';

const READ_WINDOW = 4 * 1024 * 1024;

export interface VerifyProblem {
  segment: string;
  offset: number;
  reason: string;
}

export interface VerifyReport {
  dir: string;
  segments: number;
  records: number;
  events: number;
  streams: number;
  bytes: number;
  problems: VerifyProblem[];
}

export async function verifyFileStore(dir: string, onProgress?: (bytesDone: number) => void): Promise<VerifyReport> {
  const st = await fsp.stat(dir).catch(() => undefined);
  if (!st) throw StorePathError.missing(dir);
  if (!st.isDirectory()) throw new StorePathError(dir, 'not a devrec store (a file, not a directory)', 'name the store directory with --store file:<dir>');
  const names = (await fsp.readdir(dir)).filter((n) => parseSegmentName(n) !== undefined)
    .sort((a, b) => parseSegmentName(a)! - parseSegmentName(b)!);
  const report: VerifyReport = { dir, segments: names.length, records: 0, events: 0, streams: 0, bytes: 0, problems: [] };
  const heads = new Map<string, number>();
  let nextPosition = 0;
  let done = 0;
  // after a damaged record, gaps in positions and revisions are its consequence, not news
  let afterDamage = false;
  for (const name of names) {
    const problem = (offset: number, reason: string): void => void report.problems.push({ segment: name, offset, reason });
    // One record in memory at a time: a segment can be far larger than the memory verify may use.
    const handle = await fsp.open(path.join(dir, name), 'r');
    try {
      await verifySegment(handle, name, problem);
    } finally {
      await handle.close();
    }
  }
  report.streams = heads.size;
  return report;

  async function verifySegment(handle: FileHandle, name: string, problem: (offset: number, reason: string) => void): Promise<void> {
    const size = (await handle.stat()).size;
    report.bytes += size;
    const head = Buffer.alloc(SEGMENT_HEADER_BYTES);
    const { bytesRead: headBytes } = await handle.read(head, 0, SEGMENT_HEADER_BYTES, 0);
    const bad = checkSegmentHeader(head.subarray(0, headBytes));
    if (bad) {
      problem(0, bad);
      return;
    }
    if (parseSegmentName(name) !== nextPosition && !afterDamage) problem(0, `segment starts at position ${parseSegmentName(name)}, expected ${nextPosition}`);
    let off = SEGMENT_HEADER_BYTES;
    // Reads go through a window of a few MiB: memory stays bounded by the window or the largest record.
    const win = new SegmentWindow(handle, size, READ_WINDOW);
    const readAt = async (at: number, len: number): Promise<Buffer> => win.read(at, len);
    // A bad length leaves no way to the next record but a search: an intact record after it means damage.
    const resync = async (reason: string, tornTail: string): Promise<number | undefined> => {
      const intact = await findIntactRecord(handle, off, off + 1, size, nextPosition);
      afterDamage = true;
      if (intact === undefined) {
        if (await lastRecordIntact(handle, off, size)) problem(off, `${reason}: the record's length field is damaged (the bytes to the end match its CRC), not a torn tail`);
        else problem(off, `${reason}: ${tornTail}`);
        return undefined;
      }
      problem(off, `${reason}: damage, not a torn tail (an intact record follows at offset ${intact}; ${intact - off} bytes unreadable)`);
      return intact;
    };
    while (off < size) {
      if (off + RECORD_PREFIX_BYTES > size) {
        problem(off, `record prefix cut short (${size - off} bytes left): torn tail`);
        break;
      }
      const prefix = await readAt(off, RECORD_PREFIX_BYTES);
      const len = prefix.readUInt32LE(0);
      const crc = prefix.readUInt32LE(4);
      const end = off + RECORD_PREFIX_BYTES + len;
      if (len < 14 || len > MAX_RECORD_BYTES || end > size) {
        const reason = len < 14 || len > MAX_RECORD_BYTES ? `record length ${len} is impossible` : `record of ${len} bytes cut short (${size - off - RECORD_PREFIX_BYTES} bytes present)`;
        const next = await resync(reason, `torn tail (${size - off} bytes)`);
        if (next === undefined) break;
        off = next;
        continue;
      }
      const payload = await readAt(off + RECORD_PREFIX_BYTES, len);
      report.records++;
      if (payloadCrc(payload) !== crc) {
        // Nothing in a damaged record can be trusted, its length included: search for the next intact record.
        const next = await resync('CRC mismatch', 'the last record was cut by a torn write, or changed after it was written');
        if (next === undefined) break;
        off = next;
        continue;
      }
      try {
        const h = parseRecordHeader(payload);
        if (h.firstPosition !== nextPosition && !afterDamage) problem(off, `record starts at position ${h.firstPosition}, expected ${nextPosition}`);
        nextPosition = h.firstPosition + h.count;
        const counters = h.streams.map((s) => {
          const head = heads.get(s.name) ?? -1;
          if (s.firstRevision !== head + 1 && !afterDamage) problem(off, `stream "${s.name}" continues at revision ${s.firstRevision}, expected ${head + 1}`);
          heads.set(s.name, s.firstRevision + s.count - 1);
          return s.firstRevision;
        });
        forEachEvent(payload, h, (si, ei, start, stop) => {
          const expected = counters[si]!++;
          try {
            const e = fastDecodeEvent(payload, start, stop);
            if (e.revision !== expected) problem(off + RECORD_PREFIX_BYTES + start, `event ${ei} says revision ${e.revision}, its record says ${expected}`);
          } catch (err) {
            problem(off + RECORD_PREFIX_BYTES + start, `event ${ei}: ${(err as Error).message}`);
          }
          report.events++;
        });
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
        problem(off + RECORD_PREFIX_BYTES + err.offset, err.message);
      }
      off = end;
      done += len + RECORD_PREFIX_BYTES;
      onProgress?.(done);
    }
  }
}
