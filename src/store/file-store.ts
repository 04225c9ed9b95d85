// The embedded default store (`file:<dir>`): a segmented append-only log of CRC-framed batch records (see
// file-format.ts), an in-memory per-stream index of record runs rebuilt on open (memory grows with the number of
// batches, not of events), one writer per directory (LOCK file), fdatasync per batch, and recovery that cuts a
// torn tail and reports it.
import { fstatSync, promises as fsp, readdirSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { Observable, Subject } from 'rxjs';
import { rx } from './rx.js';
import { EventBatchWriter, eventKindAt, fastDecodeEvent } from '../events/fast-codec.js';
import { CodecError } from '../events/codec-error.js';
import type { DeviceEvent, NewEvent, StoredEvent } from '../events/types.js';
import {
  FrameError, MAX_RECORD_BYTES, RECORD_PREFIX_BYTES, SEGMENT_HEADER_BYTES, buildRecord, checkSegmentHeader,
  forEachEvent, parseRecordHeader, parseSegmentName, payloadCrc, segmentHeader, segmentName, type RecordHeader,
  type RecordStream,
} from './file-format.js';
import { FileSnapshots } from './file-snapshots.js';
import { WriterLock } from './file-lock.js';
import { findIntactRecord, lastRecordIntact, writeFully } from './file-scan.js';
import { openReadOnlySegment } from './file-readonly.js';
import { SegmentWindow } from './file-window.js';
import { catchUpThenLive } from './subscribe.js';
import {
  StoreCorruptError, StorePathError, byStreamId, StoreWriteError, checkExpected, flattenChunks, type AppendRequest, type AppendResult,
  type EventStore, type ExpectedRevision, type ReadOptions, type ScanOptions, type SnapshotRecord, type StreamInfo, type SubscribeOptions,
} from './types.js';

export interface FileStoreOptions {
  /** open without the writer lock: no appends, no recovery; sees other processes' appends via refresh() */
  readOnly?: boolean;
  /** roll to a new segment past this size (default 64 MiB) */
  segmentBytes?: number;
  /** fdatasync after every batch (default true); off only for throwaway stores */
  sync?: boolean;
}

export interface RecoveryReport {
  segment: string;
  offset: number;
  droppedBytes: number;
  reason: string;
}

/** Growable typed-array columns: the index costs a few bytes per record, never per event. */
class Column<T extends Float64Array | Uint32Array> {
  length = 0;
  constructor(private data: T, private readonly make: (n: number) => T) {}
  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = this.make(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
  get(i: number): number {
    return this.data[i]!;
  }
  truncate(n: number): void {
    this.length = n;
  }
}
const f64 = (n: number) => new Float64Array(n);
const u32 = (n: number) => new Uint32Array(n);

/** Read windows of the open path (see file-window.ts). */
const SCAN_WINDOW_LAST = 4 * 1024 * 1024;
const SCAN_WINDOW_SEALED = 64 * 1024;
/** Read window of sequential readers (readAll, forward reads, scan). */
const READ_WINDOW = 1024 * 1024;

interface Segment {
  name: string;
  file: string;
  firstPosition: number;
  size: number;
  handle: fsp.FileHandle;
}

/** Per stream: one run per record that holds events of the stream. */
class StreamIndex {
  readonly runRecord = new Column(u32(8), u32);
  readonly runFirstRevision = new Column(f64(8), f64);
  readonly runCount = new Column(u32(8), u32);
  head = -1;
  add(record: number, firstRevision: number, count: number): void {
    this.runRecord.push(record);
    this.runFirstRevision.push(firstRevision);
    this.runCount.push(count);
    this.head = firstRevision + count - 1;
  }
  /** index of the run holding `revision` (largest firstRevision <= revision) */
  findRun(revision: number): number {
    let lo = 0;
    let hi = this.runFirstRevision.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.runFirstRevision.get(mid) <= revision) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/**
 * The largest record kept after it was read. Readers of several streams in turn (`devices`, alias lookups, a
 * projector per device) read the same record once per stream; records never change once written.
 */
const RECENT_RECORD_MAX_BYTES = 1 << 20;

interface LoadedRecord {
  payload: Buffer;
  /** the same bytes as a plain Uint8Array view: the generated decoder stays monomorphic and allocates no view */
  bytes: Uint8Array;
  header: RecordHeader;
}

function loadedRecord(payload: Buffer, header: RecordHeader): LoadedRecord {
  return { payload, bytes: new Uint8Array(payload.buffer, payload.byteOffset, payload.length), header };
}

export class FileEventStore implements EventStore {
  readonly url: string;
  recovery: RecoveryReport | undefined;
  private readonly segments: Segment[] = [];
  /** the record loadRecord read last (RECENT_RECORD_MAX_BYTES); dropped when the record table is rebuilt */
  private lastRecord: { rec: number; loaded: LoadedRecord } | undefined;
  private readonly recSegment = new Column(u32(64), u32);
  private readonly recOffset = new Column(f64(64), f64);
  private readonly recFirstPosition = new Column(f64(64), f64);
  private readonly recCount = new Column(u32(64), u32);
  private readonly index = new Map<string, StreamIndex>();
  private nextPosition = 0;
  private writeChain: Promise<unknown> = Promise.resolve();
  private readonly batchWriter = new EventBatchWriter(1 << 16);
  /** live appends for subscribers; made (and rxjs loaded) by the first subscribe */
  private live$: Subject<StoredEvent> | undefined;
  private get appended(): Subject<StoredEvent> {
    return (this.live$ ??= new (rx().Subject)<StoredEvent>());
  }
  private readonly snapshots: FileSnapshots;
  private writerLock: WriterLock | undefined;
  /** set when a failed write could not be undone: no further appends (the files may not match the index) */
  private broken: Error | undefined;
  private closed = false;
  private poller: Observable<never> | undefined;

  private constructor(readonly dir: string, private readonly options: Required<FileStoreOptions>) {
    this.url = `file:${dir}`;
    this.snapshots = new FileSnapshots(path.join(dir, 'snapshots'), options.readOnly);
  }

  static async open(dir: string, options: FileStoreOptions = {}): Promise<FileEventStore> {
    const opts: Required<FileStoreOptions> = {
      readOnly: options.readOnly ?? false,
      segmentBytes: options.segmentBytes ?? 64 * 1024 * 1024,
      sync: options.sync ?? true,
    };
    await checkStoreLocation(dir);
    if (opts.readOnly) {
      let st: Stats | undefined;
      try {
        st = statSync(dir);
      } catch {
        st = undefined;
      }
      if (!st) throw StorePathError.missing(dir);
      if (!st.isDirectory()) throw new StorePathError(dir, 'not a devrec store (a file, not a directory)', 'name the store directory with --store file:<dir>');
    } else {
      const st = await fsp.stat(dir).catch(() => undefined);
      if (st && !st.isDirectory()) throw new StorePathError(dir, 'not a devrec store (a file, not a directory)', 'name the store directory with --store file:<dir>');
      await fsp.mkdir(dir, { recursive: true }).catch(async (err: NodeJS.ErrnoException) => {
        // Node's recursive mkdir answers ENOENT for causes it does not handle, a read-only file system among them:
        // one plain mkdir tells the real one (EROFS where the parent exists, ENOENT where it does not)
        if (err.code !== 'ENOENT') throw err;
        await fsp.mkdir(dir).catch((plain: NodeJS.ErrnoException) => {
          throw plain.code === 'EEXIST' ? err : plain;
        });
      });
    }
    const store = new FileEventStore(dir, opts);
    if (!opts.readOnly) await store.lock();
    try {
      await store.load();
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  // ---- locking -------------------------------------------------------------------------------------------

  private async lock(): Promise<void> {
    this.writerLock = await WriterLock.acquire(this.dir);
  }

  // ---- all-or-nothing runs (imports) ---------------------------------------------------------------------

  /**
   * Runs `fn` (which appends) as one unit: a durable ROLLBACK marker records where the log ended; if `fn` fails,
   * or the process dies before it finishes, everything appended since is cut off (here, or by the next write-mode
   * open). Nothing appended inside is acknowledged to the user until `fn` resolves and the marker is gone.
   */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.options.readOnly) throw new Error(`store ${this.dir} was opened read-only`);
    await this.writeChain.catch(() => undefined);
    const last = this.segments[this.segments.length - 1];
    const mark: RollbackMark = { segment: last?.name ?? null, size: last?.size ?? 0 };
    const marker = path.join(this.dir, ROLLBACK_MARKER);
    await fsp.writeFile(marker + '.tmp', JSON.stringify(mark));
    await syncFile(marker + '.tmp');
    await fsp.rename(marker + '.tmp', marker);
    await syncDir(this.dir);
    let result: T;
    try {
      result = await fn();
      await this.writeChain;
    } catch (err) {
      await this.writeChain.catch(() => undefined);
      for (const seg of this.segments) await seg.handle.close().catch(() => undefined);
      this.segments.length = 0;
      this.lastRecord = undefined;
      this.recSegment.truncate(0);
      this.recOffset.truncate(0);
      this.recFirstPosition.truncate(0);
      this.recCount.truncate(0);
      this.index.clear();
      this.nextPosition = 0;
      this.broken = undefined;
      await this.rollBack();
      await this.load();
      throw err;
    }
    await fsp.rm(marker);
    await syncDir(this.dir);
    return result;
  }

  /** Applies a ROLLBACK marker left by an unfinished transaction: the log goes back to where it was before. */
  private async rollBack(): Promise<void> {
    const marker = path.join(this.dir, ROLLBACK_MARKER);
    const text = await fsp.readFile(marker, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (text === undefined) return;
    let mark: RollbackMark;
    try {
      mark = JSON.parse(text) as RollbackMark;
      if ((mark.segment !== null && parseSegmentName(mark.segment) === undefined) || !Number.isSafeInteger(mark.size)) throw new Error('bad mark');
    } catch {
      throw new StoreCorruptError(ROLLBACK_MARKER, 0, 'unreadable rollback marker of an unfinished import; remove it to keep what the import wrote, or restore the store');
    }
    const names = (await fsp.readdir(this.dir)).filter((n) => parseSegmentName(n) !== undefined);
    for (const n of names) {
      if (mark.segment === null || parseSegmentName(n)! > parseSegmentName(mark.segment)!) await fsp.rm(path.join(this.dir, n));
    }
    if (mark.segment !== null) {
      const h = await fsp.open(path.join(this.dir, mark.segment), 'r+');
      try {
        if ((await h.stat()).size > mark.size) await h.truncate(mark.size);
        await h.datasync();
      } finally {
        await h.close();
      }
    }
    await syncDir(this.dir);
    await fsp.rm(marker);
    await syncDir(this.dir);
  }

  // ---- opening and recovery ------------------------------------------------------------------------------

  private async load(): Promise<void> {
    if (!this.options.readOnly) await this.rollBack();
    // the open path's metadata calls are synchronous: each is a thread-pool trip otherwise, for microseconds of work
    const names = readdirSync(this.dir)
      .filter((n) => parseSegmentName(n) !== undefined)
      .sort((a, b) => parseSegmentName(a)! - parseSegmentName(b)!);
    for (let i = 0; i < names.length; i++) {
      const last = i === names.length - 1;
      await this.openSegment(names[i]!, last);
    }
  }

  private async openSegment(name: string, last: boolean): Promise<Segment> {
    const file = path.join(this.dir, name);
    const handle = this.options.readOnly ? openReadOnlySegment(file) : await fsp.open(file, 'r+');
    const st = fstatSync(handle.fd);
    const seg: Segment = { name, file, firstPosition: parseSegmentName(name)!, size: st.size, handle };
    this.segments.push(seg);
    if (st.size < SEGMENT_HEADER_BYTES && last && !this.options.readOnly) {
      // A segment whose header never made it to disk: rewrite it.
      await handle.truncate(0);
      await handle.write(segmentHeader(), 0, SEGMENT_HEADER_BYTES, 0);
      await handle.datasync();
      seg.size = SEGMENT_HEADER_BYTES;
      return seg;
    }
    const hdr = Buffer.alloc(SEGMENT_HEADER_BYTES);
    readSync(handle.fd, hdr, 0, SEGMENT_HEADER_BYTES, 0);
    const bad = checkSegmentHeader(hdr.subarray(0, Math.min(st.size, SEGMENT_HEADER_BYTES)));
    if (bad) throw new StoreCorruptError(name, 0, bad);
    if (seg.firstPosition !== this.nextPosition) {
      throw new StoreCorruptError(name, 0, `segment starts at position ${seg.firstPosition}, expected ${this.nextPosition}`);
    }
    const end = await this.scanSegment(this.segments.length - 1, SEGMENT_HEADER_BYTES, last);
    if (end < seg.size) {
      if (!last) throw new StoreCorruptError(name, end, 'unreadable record in a sealed segment (run devrec verify)');
      // scanSegment decided this is a torn tail (damage further in would have thrown).
      if (!this.options.readOnly) {
        await handle.truncate(end);
        await handle.datasync();
        seg.size = end;
      }
    }
    return seg;
  }

  /**
   * Indexes records of segment `segIdx` from `start`. Returns the offset after the last good record.
   * In the last segment every record's CRC is checked: a bad or short record with nothing valid after it is a
   * torn tail (reported in `recovery`); a bad record followed by a valid one is damage and throws.
   */
  private async scanSegment(segIdx: number, start: number, last: boolean, quietTail = false): Promise<number> {
    const seg = this.segments[segIdx]!;
    const size = (await seg.handle.stat()).size;
    // The last segment's records are read whole (CRC): a large window. Sealed ones only need each record's header:
    // a small window, so a segment of large records is not read in full.
    const win = new SegmentWindow(seg.handle, size, last ? SCAN_WINDOW_LAST : SCAN_WINDOW_SEALED);
    let off = start;
    while (off < size) {
      const problem = await this.checkRecordAt(seg, off, win, last);
      if (problem) {
        if (!last) throw new StoreCorruptError(seg.name, off, problem.reason);
        if (quietTail) return off; // another process is still writing this record
        // A torn write leaves garbage only at the very end: any intact record after this one proves damage.
        const intact = await findIntactRecord(seg.handle, off, off + 1, size, this.nextPosition);
        if (intact === undefined && (await lastRecordIntact(seg.handle, off, size))) {
          throw new StoreCorruptError(seg.name, off, `${problem.reason}; yet the bytes to the end of the segment match the record's CRC: its length field is damaged, not torn; nothing was cut (run devrec verify)`);
        }
        if (intact !== undefined) {
          throw new StoreCorruptError(seg.name, off, `${problem.reason}; an intact record follows at offset ${intact}, so this is damage, not a torn write: nothing was cut (run devrec verify; copy the store with devrec copy to keep what is readable)`);
        }
        // Read-only opens never change files and have nothing to report: a writer may still be writing the tail.
        if (!this.options.readOnly) this.recovery = { segment: seg.name, offset: off, droppedBytes: size - off, reason: problem.reason };
        return off;
      }
      off = this.lastScannedEnd;
    }
    return off;
  }

  private lastScannedEnd = 0;

  /** Checks and indexes the record at `off`; returns a problem instead when it is short or damaged. */
  private async checkRecordAt(
    seg: Segment, off: number, win: SegmentWindow, verifyCrc: boolean,
  ): Promise<{ reason: string; len?: number } | undefined> {
    const size = win.size;
    if (off + RECORD_PREFIX_BYTES > size) return { reason: `record prefix cut short (${size - off} bytes left)` };
    const prefix = win.read(off, RECORD_PREFIX_BYTES);
    const len = prefix.readUInt32LE(0);
    const crc = prefix.readUInt32LE(4);
    if (len < 14 || len > MAX_RECORD_BYTES) return { reason: `record length ${len} is impossible` };
    if (off + RECORD_PREFIX_BYTES + len > size) {
      return { reason: `record of ${len} bytes cut short (${size - off - RECORD_PREFIX_BYTES} bytes present)` };
    }
    let payload: Buffer;
    if (verifyCrc) {
      payload = win.read(off + RECORD_PREFIX_BYTES, len);
      if (payloadCrc(payload) !== crc) return { reason: 'CRC mismatch', len };
    } else {
      // Sealed segments: read the header part only; CRCs are checked when records are read and by verify.
      payload = await this.readHeaderPart(win, off, len);
    }
    let header: RecordHeader;
    try {
      header = parseRecordHeader(payload);
    } catch (err) {
      if (err instanceof FrameError) return { reason: err.message, len };
      throw err;
    }
    this.indexRecord(this.segments.indexOf(seg), off, header, seg.name);
    // a record read whole and checked here is the one the first read asks for (the last, on a small store)
    if (verifyCrc && len <= RECENT_RECORD_MAX_BYTES) {
      this.lastRecord = { rec: this.recSegment.length - 1, loaded: loadedRecord(payload, header) };
    }
    this.lastScannedEnd = off + RECORD_PREFIX_BYTES + len;
    return undefined;
  }

  private async readHeaderPart(win: SegmentWindow, off: number, len: number): Promise<Buffer> {
    let want = Math.min(len, 4096);
    for (;;) {
      const b = win.read(off + RECORD_PREFIX_BYTES, want);
      // The header ends after the stream table and the u16 index array; grow until it fits.
      try {
        const h = parseRecordHeader(b);
        if (h.eventsOffset <= want) return b;
        want = Math.min(len, h.eventsOffset);
      } catch (err) {
        if (want >= len) return b;
        want = Math.min(len, want * 4);
        void err;
      }
    }
  }

  private indexRecord(segIdx: number, off: number, h: RecordHeader, segName: string): void {
    if (h.firstPosition !== this.nextPosition) {
      throw new StoreCorruptError(segName, off, `record starts at position ${h.firstPosition}, expected ${this.nextPosition}`);
    }
    for (const s of h.streams) {
      const idx = this.index.get(s.name);
      const head = idx?.head ?? -1;
      if (s.firstRevision !== head + 1) {
        throw new StoreCorruptError(segName, off, `stream "${s.name}" continues at revision ${s.firstRevision}, expected ${head + 1}`);
      }
    }
    const rec = this.recSegment.length;
    this.recSegment.push(segIdx);
    this.recOffset.push(off);
    this.recFirstPosition.push(h.firstPosition);
    this.recCount.push(h.count);
    for (const s of h.streams) {
      let idx = this.index.get(s.name);
      if (!idx) this.index.set(s.name, (idx = new StreamIndex()));
      idx.add(rec, s.firstRevision, s.count);
    }
    this.nextPosition = h.firstPosition + h.count;
  }

  // ---- appending -----------------------------------------------------------------------------------------

  async append(stream: string, events: NewEvent[], expectedRevision?: ExpectedRevision): Promise<AppendResult> {
    return (await this.appendMany([{ stream, events, expectedRevision }]))[0]!;
  }

  appendMany(requests: AppendRequest[]): Promise<AppendResult[]> {
    const run = this.writeChain.then(() => this.appendNow(requests));
    this.writeChain = run.catch(() => undefined);
    return run;
  }

  private async appendNow(requests: AppendRequest[]): Promise<AppendResult[]> {
    if (this.closed) throw new Error(`store ${this.dir} is closed`);
    if (this.options.readOnly) throw new Error(`store ${this.dir} was opened read-only`);
    if (this.broken) throw this.broken;
    // Plan revisions and check expectations before touching the disk: a refused batch writes nothing.
    const heads = new Map<string, number>();
    const headOf = (s: string) => heads.get(s) ?? this.index.get(s)?.head ?? -1;
    const streamSlot = new Map<string, number>();
    const streams: RecordStream[] = [];
    const results: AppendResult[] = [];
    let total = 0;
    for (const r of requests) {
      if (typeof r.stream !== 'string' || r.stream.length === 0) throw new Error('stream id must be a non-empty string');
      checkExpected(r.stream, r.expectedRevision, headOf(r.stream));
      const first = headOf(r.stream) + 1;
      heads.set(r.stream, first + r.events.length - 1);
      if (r.events.length > 0 && !streamSlot.has(r.stream)) {
        streamSlot.set(r.stream, streams.length);
        streams.push({ name: r.stream, firstRevision: first, count: 0 });
      }
      total += r.events.length;
      results.push({ firstRevision: first, nextExpectedRevision: first + r.events.length - 1, position: this.nextPosition + total - 1 });
    }
    if (total === 0) return results;
    const order = new Uint16Array(total);
    const writer = this.batchWriter;
    writer.reset();
    let i = 0;
    for (const r of requests) {
      const slot = streamSlot.get(r.stream)!;
      const s = streams[slot]!;
      for (const e of r.events) {
        writer.add(e, s.firstRevision + s.count);
        order[i++] = slot;
        s.count++;
      }
    }
    const firstPosition = this.nextPosition;
    const record = buildRecord(firstPosition, streams, order, writer.finish());
    writer.reset();
    let seg = this.segments[this.segments.length - 1];
    if (!seg || (seg.size > SEGMENT_HEADER_BYTES && seg.size + record.length > this.options.segmentBytes)) {
      seg = await this.newSegment(firstPosition);
    }
    const off = seg.size;
    try {
      await writeFully(seg.handle, record, off);
      if (this.options.sync) await seg.handle.datasync();
    } catch (err) {
      // Leave no partial record behind: the batch failed as a whole. Back to the last durable size; if even that
      // fails, the file may hold bytes the index does not know: refuse further appends until reopened.
      try {
        await seg.handle.truncate(off);
        if (this.options.sync) await seg.handle.datasync();
      } catch (undo) {
        this.broken = new Error(`store ${this.dir}: a failed write at ${seg.name} offset ${off} could not be undone (${(undo as Error).message}); reopen the store`);
      }
      throw new StoreWriteError(this.dir, seg.name, off, record.length, err as NodeJS.ErrnoException);
    }
    seg.size = off + record.length;
    this.indexRecord(this.segments.length - 1, off, parseRecordHeader(record.subarray(RECORD_PREFIX_BYTES)), seg.name);
    if (this.live$?.observed) this.publish(record.subarray(RECORD_PREFIX_BYTES));
    return results;
  }

  private async newSegment(firstPosition: number): Promise<Segment> {
    const name = segmentName(firstPosition);
    const file = path.join(this.dir, name);
    const handle = await fsp.open(file, 'wx+');
    try {
      await writeFully(handle, segmentHeader(), 0);
      if (this.options.sync) {
        await handle.datasync();
        await syncDir(this.dir);
      }
    } catch (err) {
      // a segment without its header must not stay behind the last good one
      await handle.close().catch(() => undefined);
      await fsp.rm(file, { force: true }).catch(() => undefined);
      throw new StoreWriteError(this.dir, name, 0, SEGMENT_HEADER_BYTES, err as NodeJS.ErrnoException);
    }
    const seg: Segment = { name, file, firstPosition, size: SEGMENT_HEADER_BYTES, handle };
    this.segments.push(seg);
    return seg;
  }

  private publish(payload: Buffer): void {
    const h = parseRecordHeader(payload);
    const counters = h.streams.map((s) => s.firstRevision);
    forEachEvent(payload, h, (si, ei, start, end) => {
      const stream = h.streams[si]!.name;
      const revision = counters[si]!++;
      this.appended.next({ stream, revision, position: h.firstPosition + ei, event: fastDecodeEvent(payload, start, end) });
    });
  }

  // ---- reading -------------------------------------------------------------------------------------------

  /**
   * Reads and checks record `rec`. Sequential readers pass `windows` (one per read): records are then read through
   * a window per segment, a read per window instead of two per record.
   */
  private async loadRecord(rec: number, windows?: Map<number, SegmentWindow>): Promise<LoadedRecord> {
    if (this.lastRecord?.rec === rec) return this.lastRecord.loaded;
    const segIdx = this.recSegment.get(rec);
    const seg = this.segments[segIdx]!;
    const off = this.recOffset.get(rec);
    const windowCovering = (end: number): SegmentWindow | undefined => {
      if (!windows) return undefined;
      let w = windows.get(segIdx);
      // the last segment grows while we read: a window made before a record was written does not cover it
      if (!w || w.size < end) windows.set(segIdx, (w = new SegmentWindow(seg.handle, Math.max(seg.size, end), READ_WINDOW)));
      return w;
    };
    let prefix: Buffer;
    const w0 = windowCovering(off + RECORD_PREFIX_BYTES);
    if (w0) prefix = w0.read(off, RECORD_PREFIX_BYTES);
    else {
      prefix = Buffer.alloc(RECORD_PREFIX_BYTES);
      await seg.handle.read(prefix, 0, RECORD_PREFIX_BYTES, off);
    }
    const len = prefix.readUInt32LE(0);
    const crc = prefix.readUInt32LE(4);
    if (len > MAX_RECORD_BYTES) throw new StoreCorruptError(seg.name, off, `record length ${len} is impossible`);
    let payload: Buffer;
    const w1 = windowCovering(off + RECORD_PREFIX_BYTES + len);
    if (w1) payload = w1.read(off + RECORD_PREFIX_BYTES, len);
    else {
      payload = Buffer.allocUnsafe(len);
      const { bytesRead } = await seg.handle.read(payload, 0, len, off + RECORD_PREFIX_BYTES);
      payload = payload.subarray(0, bytesRead);
    }
    if (payload.length !== len) throw new StoreCorruptError(seg.name, off, `record cut short (${payload.length} of ${len} bytes)`);
    if (payloadCrc(payload) !== crc) throw new StoreCorruptError(seg.name, off, 'CRC mismatch');
    try {
      const loaded = loadedRecord(payload, parseRecordHeader(payload));
      if (len <= RECENT_RECORD_MAX_BYTES) this.lastRecord = { rec, loaded };
      return loaded;
    } catch (err) {
      if (err instanceof FrameError) throw new StoreCorruptError(seg.name, off + RECORD_PREFIX_BYTES + err.offset, err.message);
      throw err;
    }
  }

  /** forEachEvent with framing problems reported as damage of this record (segment and file offset). */
  private eachEvent(rec: number, payload: Buffer, header: RecordHeader, fn: Parameters<typeof forEachEvent>[2]): void {
    try {
      forEachEvent(payload, header, fn);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      const seg = this.segments[this.recSegment.get(rec)]!;
      throw new StoreCorruptError(seg.name, this.recOffset.get(rec) + RECORD_PREFIX_BYTES + err.offset, err.message);
    }
  }

  private decodeAt(rec: number, payload: Uint8Array, start: number, end: number): DeviceEvent {
    try {
      return fastDecodeEvent(payload, start, end);
    } catch (err) {
      if (!(err instanceof CodecError)) throw err;
      const seg = this.segments[this.recSegment.get(rec)]!;
      throw new StoreCorruptError(seg.name, this.recOffset.get(rec) + RECORD_PREFIX_BYTES + start, (err as Error).message);
    }
  }

  async *readChunks(stream: string, options: ReadOptions = {}): AsyncIterable<StoredEvent[]> {
    const idx = this.index.get(stream);
    if (!idx || idx.head < 0) return;
    const backwards = options.direction === 'backwards';
    let remaining = options.maxCount ?? Infinity;
    const lo = backwards ? Math.max(options.to ?? 0, 0) : Math.max(options.from ?? 0, 0);
    const hi = backwards ? Math.min(options.from ?? idx.head, idx.head) : Math.min(options.to ?? idx.head, idx.head);
    if (lo > hi || remaining <= 0) return;
    const firstRun = idx.findRun(backwards ? hi : lo);
    const step = backwards ? -1 : 1;
    const windows = backwards ? undefined : new Map<number, SegmentWindow>();
    for (let run = firstRun; run >= 0 && run < idx.runRecord.length && remaining > 0; run += step) {
      const runFirst = idx.runFirstRevision.get(run);
      const runLast = runFirst + idx.runCount.get(run) - 1;
      if (backwards ? runLast < lo : runFirst > hi) break;
      const rec = idx.runRecord.get(run);
      const { payload, bytes, header } = await this.loadRecord(rec, windows);
      const slot = header.streams.findIndex((s) => s.name === stream);
      const chunk: StoredEvent[] = [];
      let revision = runFirst;
      const firstPos = this.recFirstPosition.get(rec);
      this.eachEvent(rec, payload, header, (si, ei, start, end) => {
        if (si !== slot) return;
        const r = revision++;
        if (r < lo || r > hi) return;
        chunk.push({ stream, revision: r, position: firstPos + ei, event: this.decodeAt(rec, bytes, start, end) });
      });
      if (backwards) chunk.reverse();
      if (chunk.length > remaining) chunk.length = remaining;
      remaining -= chunk.length;
      if (chunk.length > 0) yield chunk;
    }
  }

  read(stream: string, options?: ReadOptions): AsyncIterable<StoredEvent> {
    return flattenChunks(this.readChunks(stream, options));
  }

  async scan(stream: string, options: ScanOptions, visit: (e: DeviceEvent) => void): Promise<number> {
    const { kinds } = options;
    const idx = this.index.get(stream);
    if (!idx || idx.head < 0) return 0;
    const lo = Math.max(options.from ?? 0, 0);
    const hi = Math.min(options.to ?? idx.head, idx.head);
    let n = 0;
    const windows = new Map<number, SegmentWindow>();
    for (let run = lo > hi ? idx.runRecord.length : idx.findRun(lo); run < idx.runRecord.length; run++) {
      const runFirst = idx.runFirstRevision.get(run);
      if (runFirst > hi) break;
      const rec = idx.runRecord.get(run);
      const { bytes, header } = await this.loadRecord(rec, windows);
      const slot = header.streams.findIndex((s) => s.name === stream);
      const slotLo = slot & 0xff;
      const slotHi = slot >> 8;
      // Walk the events region inline: nothing is allocated per event but the decoded event itself.
      let off = header.eventsOffset;
      let revision = runFirst;
      const order = header.indexOffset;
      for (let i = 0; i < header.count; i++) {
        const len = (bytes[off]! | (bytes[off + 1]! << 8) | (bytes[off + 2]! << 16) | (bytes[off + 3]! << 24)) >>> 0;
        const start = off + 4;
        off = start + len;
        if (off > bytes.length) throw new StoreCorruptError(this.segments[this.recSegment.get(rec)]!.name, this.recOffset.get(rec) + RECORD_PREFIX_BYTES + start - 4, `event ${i} runs past the end of the record`);
        if (bytes[order + 2 * i] !== slotLo || bytes[order + 2 * i + 1] !== slotHi) continue;
        const r = revision++;
        if (r < lo || r > hi) continue;
        // an event whose kind cannot be read is decoded anyway: decoding names what is wrong with it
        if (kinds) {
          const kind = eventKindAt(bytes, start, off);
          if (kind !== undefined && !kinds.has(kind)) continue;
        }
        visit(this.decodeAt(rec, bytes, start, off));
        n++;
      }
    }
    return n;
  }

  async *readAll(fromPosition = 0): AsyncIterable<StoredEvent> {
    const windows = new Map<number, SegmentWindow>();
    for (let rec = this.findRecord(fromPosition); rec >= 0 && rec < this.recSegment.length; rec++) {
      const { payload, bytes, header } = await this.loadRecord(rec, windows);
      const counters = header.streams.map((s) => s.firstRevision);
      const out: StoredEvent[] = [];
      this.eachEvent(rec, payload, header, (si, ei, start, end) => {
        const revision = counters[si]!++;
        const position = header.firstPosition + ei;
        if (position < fromPosition) return;
        out.push({ stream: header.streams[si]!.name, revision, position, event: this.decodeAt(rec, bytes, start, end) });
      });
      yield* out;
    }
  }

  private findRecord(position: number): number {
    let lo = 0;
    let hi = this.recFirstPosition.length - 1;
    if (hi < 0) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.recFirstPosition.get(mid) <= position) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  async head(stream: string): Promise<number> {
    return this.index.get(stream)?.head ?? -1;
  }

  async streams(): Promise<StreamInfo[]> {
    return [...this.index.entries()].map(([stream, idx]) => ({ stream, revision: idx.head })).sort(byStreamId);
  }

  /** Global position the next event will get (= number of events in the store). */
  get size(): number {
    return this.nextPosition;
  }

  // ---- following another writer (read-only opens) --------------------------------------------------------

  private refreshing: Promise<number> | undefined;

  /**
   * Picks up records another process appended since the last look; returns how many events arrived. One look at
   * a time: a poll that fires while the previous look still scans (a busy machine) shares it instead of scanning
   * the same bytes twice.
   */
  refresh(): Promise<number> {
    return (this.refreshing ??= this.refreshOnce().finally(() => (this.refreshing = undefined)));
  }

  private async refreshOnce(): Promise<number> {
    const before = this.nextPosition;
    let seg = this.segments[this.segments.length - 1];
    if (seg) {
      const st = await seg.handle.stat();
      if (st.size > seg.size) seg.size = await this.scanSegment(this.segments.length - 1, seg.size, true, true);
    }
    const known = new Set(this.segments.map((s) => s.name));
    const fresh = (await fsp.readdir(this.dir))
      .filter((n) => parseSegmentName(n) !== undefined && !known.has(n))
      .sort((a, b) => parseSegmentName(a)! - parseSegmentName(b)!);
    for (const name of fresh) {
      if (seg) seg.size = await this.scanSegment(this.segments.length - 1, seg.size, false);
      const handle = this.options.readOnly ? openReadOnlySegment(path.join(this.dir, name)) : await fsp.open(path.join(this.dir, name), 'r');
      const st: Stats = await handle.stat();
      seg = { name, file: path.join(this.dir, name), firstPosition: parseSegmentName(name)!, size: SEGMENT_HEADER_BYTES, handle };
      this.segments.push(seg);
      if (st.size > SEGMENT_HEADER_BYTES) seg.size = await this.scanSegment(this.segments.length - 1, SEGMENT_HEADER_BYTES, true, true);
    }
    if (this.nextPosition > before && this.live$?.observed) {
      for await (const e of this.readAll(before)) this.appended.next(e);
    }
    return this.nextPosition - before;
  }

  subscribe(stream: string | null, options: SubscribeOptions = {}): Observable<StoredEvent> {
    const from = options.from ?? 0;
    const { interval, tap, ignoreElements, finalize, share, merge, defer, filter } = rx();
    let live: Observable<StoredEvent> = this.appended;
    if (this.options.readOnly) {
      // Another process writes: poll the files while someone listens.
      this.poller ??= interval(options.pollMs ?? 100).pipe(
        tap({ next: () => void this.refresh().catch((err) => this.appended.error(err)) }),
        ignoreElements(),
        finalize(() => (this.poller = undefined)),
        share(),
      );
      const poll = this.poller;
      live = merge(this.appended, defer(() => poll));
    }
    if (stream === null) return catchUpThenLive(live, (f) => this.readAll(f), from, (e) => e.position);
    return catchUpThenLive(live.pipe(filter((e) => e.stream === stream)), (f) => this.read(stream, { from: f }), from, (e) => e.revision);
  }

  // ---- snapshots -----------------------------------------------------------------------------------------

  saveSnapshot(stream: string, revision: number, data: Uint8Array): Promise<void> {
    return this.snapshots.save(stream, revision, data);
  }

  loadSnapshot(stream: string, atOrBefore: number): Promise<SnapshotRecord | undefined> {
    return this.snapshots.load(stream, atOrBefore);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writeChain.catch(() => undefined);
    for (const seg of this.segments) await seg.handle.close().catch(() => undefined);
    await this.writerLock?.release();
    this.live$?.complete();
  }
}

/** Written while an all-or-nothing run (an import) is under way: where the log ended before it. */
const ROLLBACK_MARKER = 'ROLLBACK';
interface RollbackMark {
  segment: string | null;
  size: number;
}

async function syncFile(file: string): Promise<void> {
  const h = await fsp.open(file, 'r+');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Kernel pseudo file systems hold no store: reading them can block for ever or never end. */
const PSEUDO_FS = ['/proc', '/sys', '/dev'];

async function checkStoreLocation(dir: string): Promise<void> {
  // the nearest existing ancestor, resolved: symlinks into /proc count too
  let probe = path.resolve(dir);
  for (;;) {
    let real: string | undefined;
    try {
      real = realpathSync.native(probe);
    } catch {
      real = undefined;
    }
    if (real !== undefined) {
      probe = real;
      break;
    }
    const up = path.dirname(probe);
    if (up === probe) break;
    probe = up;
  }
  const pseudo = PSEUDO_FS.find((p) => probe === p || probe.startsWith(p + '/'));
  if (pseudo && !(probe.startsWith('/dev/shm/') || probe === '/dev/shm')) {
    throw new StorePathError(dir, `is under ${pseudo}, a kernel pseudo file system, not a place for a devrec store`, 'name a directory on a disk');
  }
}

async function syncDir(dir: string): Promise<void> {
  const h = await fsp.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}
