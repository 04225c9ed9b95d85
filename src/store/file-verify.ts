// `devrec verify` for the file store: reads every byte of every segment independently of the store's own
// open path (so it works on a store that no longer opens), checks framing, CRCs, global positions, per-stream
// revisions and that every event decodes with the revision its record says. Reports segment and offset.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fastDecodeEvent } from '../events/fast-codec.js';
import {
  FrameError, MAX_RECORD_BYTES, RECORD_PREFIX_BYTES, SEGMENT_HEADER_BYTES, checkSegmentHeader, forEachEvent,
  parseRecordHeader, parseSegmentName, payloadCrc,
} from './file-format.js';

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
  if (!st?.isDirectory()) throw new Error(`no devrec store at ${dir}`);
  const names = (await fsp.readdir(dir)).filter((n) => parseSegmentName(n) !== undefined)
    .sort((a, b) => parseSegmentName(a)! - parseSegmentName(b)!);
  const report: VerifyReport = { dir, segments: names.length, records: 0, events: 0, streams: 0, bytes: 0, problems: [] };
  const heads = new Map<string, number>();
  let nextPosition = 0;
  let done = 0;
  // after a damaged record, gaps in positions and revisions are its consequence, not news
  let afterDamage = false;
  for (const name of names) {
    const problem = (offset: number, reason: string) => report.problems.push({ segment: name, offset, reason });
    const buf = await fsp.readFile(path.join(dir, name));
    report.bytes += buf.length;
    const bad = checkSegmentHeader(buf.subarray(0, SEGMENT_HEADER_BYTES));
    if (bad) {
      problem(0, bad);
      continue;
    }
    if (parseSegmentName(name) !== nextPosition && !afterDamage) problem(0, `segment starts at position ${parseSegmentName(name)}, expected ${nextPosition}`);
    let off = SEGMENT_HEADER_BYTES;
    while (off < buf.length) {
      if (off + RECORD_PREFIX_BYTES > buf.length) {
        problem(off, `record prefix cut short (${buf.length - off} bytes left): torn tail`);
        break;
      }
      const len = buf.readUInt32LE(off);
      const crc = buf.readUInt32LE(off + 4);
      if (len < 14 || len > MAX_RECORD_BYTES) {
        problem(off, `record length ${len} is impossible; the rest of the segment (${buf.length - off} bytes) is unreadable`);
        break;
      }
      const end = off + RECORD_PREFIX_BYTES + len;
      if (end > buf.length) {
        problem(off, `record of ${len} bytes cut short (${buf.length - off - RECORD_PREFIX_BYTES} bytes present): torn tail`);
        break;
      }
      const payload = buf.subarray(off + RECORD_PREFIX_BYTES, end);
      report.records++;
      if (payloadCrc(payload) !== crc) {
        problem(off, 'CRC mismatch: the record was changed after it was written');
        // Nothing in a damaged record can be trusted, its header included: later records re-synchronise counters.
        afterDamage = true;
        off = end;
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
  report.streams = heads.size;
  return report;
}
