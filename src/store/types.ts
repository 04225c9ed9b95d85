// The EventStore contract: one append-only stream per device, 0-based revisions, optimistic concurrency,
// range reads both ways, a catch-up-then-live subscription, and snapshots beside the streams.
// Every implementation runs the same contract suite (test/store/contract.ts).
import type { Observable } from 'rxjs';
import type { DeviceEvent, EventKind, NewEvent, StoredEvent } from '../events/types.js';

/** A revision number (the last event the writer saw), or a stream state. Like KurrentDB's StreamState. */
export type ExpectedRevision = number | 'any' | 'no-stream' | 'stream-exists';

export class WrongExpectedRevisionError extends Error {
  constructor(readonly stream: string, readonly expected: ExpectedRevision, readonly actual: number) {
    super(`stream "${stream}": expected revision ${String(expected)}, but the stream is at ${actual < 0 ? 'no stream' : actual}`);
    this.name = 'WrongExpectedRevisionError';
  }
}

export class StoreLockedError extends Error {
  constructor(readonly dir: string, readonly holder: string) {
    super(`store ${dir} is locked by ${holder}: another process is writing it`);
    this.name = 'StoreLockedError';
  }
}

/** The store URL or directory cannot be a devrec store (missing, a file, under /proc, unknown scheme). */
export class StorePathError extends Error {
  constructor(readonly where: string, readonly reason: string, readonly next?: string) {
    super(`${where}: ${reason}${next ? ` (${next})` : ''}`);
    this.name = 'StorePathError';
  }

  /** No directory at all: nothing was recorded there yet. */
  static missing(dir: string): StorePathError {
    const e = new StorePathError(dir, 'no devrec store here', 'record or import something first, or name a store with --store or DEVREC_STORE');
    e.message = `no devrec store at ${dir} (record or import something first, or name a store with --store or DEVREC_STORE)`;
    return e;
  }
}

/** An append could not be written and synced (disk full, I/O error): nothing of the batch was kept. */
export class StoreWriteError extends Error {
  readonly code: string | undefined;
  constructor(readonly dir: string, readonly segment: string, readonly offset: number, bytes: number, cause: NodeJS.ErrnoException) {
    const why = cause.code === 'ENOSPC' ? 'no space left on the device' : cause.code === 'EROFS' ? 'the file system is read-only' : cause.message;
    super(`store ${dir}: could not write ${bytes} bytes at ${segment} offset ${offset}: ${why}; nothing of this batch was kept${cause.code === 'ENOSPC' ? ' (free some space and retry)' : ''}`);
    this.name = 'StoreWriteError';
    this.code = cause.code;
  }
}

/** A record of the store failed its checks (CRC, framing, order). Names the segment and byte offset. */
export class StoreCorruptError extends Error {
  constructor(readonly segment: string, readonly offset: number, readonly reason: string) {
    super(`${segment} at offset ${offset}: ${reason}`);
    this.name = 'StoreCorruptError';
  }
}

export interface AppendResult {
  /** revision of the first event appended */
  firstRevision: number;
  /** revision of the last event appended: pass it as the next expected revision */
  nextExpectedRevision: number;
  /** global position of the last event appended */
  position: number;
}

export interface AppendRequest {
  stream: string;
  events: NewEvent[];
  expectedRevision?: ExpectedRevision;
}

export interface ReadOptions {
  /** first revision to read (inclusive); for backwards reads, the revision to start from going down */
  from?: number;
  /** last revision to read (inclusive); for backwards reads the lowest */
  to?: number;
  direction?: 'forwards' | 'backwards';
  maxCount?: number;
}

/** What scan visits: a forward range of revisions, and optionally only events of some kinds. */
export interface ScanOptions {
  from?: number;
  to?: number;
  /** only these kinds are visited; a store that can tell an event's kind without decoding it skips the others unread */
  kinds?: ReadonlySet<EventKind>;
}

export interface StreamInfo {
  stream: string;
  /** revision of the last event (count - 1) */
  revision: number;
}

export interface SnapshotRecord {
  stream: string;
  revision: number;
  data: Uint8Array;
}

export interface SubscribeOptions {
  /** first revision (per-stream subscription) or global position (all streams) delivered; default 0 */
  from?: number;
  /** poll interval in ms for picking up appends made by another process (read-only file stores) */
  pollMs?: number;
}

export interface EventStore {
  /** the URL this store was opened from (file:..., memory:, kurrentdb://...) */
  readonly url: string;
  append(stream: string, events: NewEvent[], expectedRevision?: ExpectedRevision): Promise<AppendResult>;
  /** Appends to several streams as one durable batch (all or nothing). */
  appendMany(requests: AppendRequest[]): Promise<AppendResult[]>;
  /** Reads a stream's events in chunks (the fast path for replay). A missing stream yields nothing. */
  readChunks(stream: string, options?: ReadOptions): AsyncIterable<StoredEvent[]>;
  read(stream: string, options?: ReadOptions): AsyncIterable<StoredEvent>;
  /**
   * Optional fast path for replay: calls `visit` for each event of a forward range, synchronously per batch,
   * without wrapping or keeping events (so nothing outlives the call). Returns the number of events visited.
   * Callers fall back to readChunks when a store does not have it (see scanStream).
   */
  scan?(stream: string, options: ScanOptions, visit: (e: DeviceEvent) => void): Promise<number>;
  /** Every event of every stream in global order, from a global position. */
  readAll(fromPosition?: number): AsyncIterable<StoredEvent>;
  /** Revision of the last event of the stream, -1 when the stream does not exist. */
  head(stream: string): Promise<number>;
  /** Every stream with its head (file and KurrentDB stores: sorted with byStreamId). */
  streams(): Promise<StreamInfo[]>;
  /** Catch-up then live: every event from `from` on, in order, with no gap or duplicate. */
  subscribe(stream: string | null, options?: SubscribeOptions): Observable<StoredEvent>;
  saveSnapshot(stream: string, revision: number, data: Uint8Array): Promise<void>;
  /** The latest snapshot at or before `atOrBefore`. */
  loadSnapshot(stream: string, atOrBefore: number): Promise<SnapshotRecord | undefined>;
  close(): Promise<void>;
}

export function checkExpected(stream: string, expected: ExpectedRevision | undefined, head: number): void {
  if (expected === undefined || expected === 'any') return;
  const ok = expected === 'no-stream' ? head < 0 : expected === 'stream-exists' ? head >= 0 : expected === head;
  if (!ok) throw new WrongExpectedRevisionError(stream, expected, head);
}

/** Replays a forward range through `visit`, with the store's fast path when it has one. */
export async function scanStream(store: EventStore, stream: string, options: ScanOptions, visit: (e: DeviceEvent) => void): Promise<number> {
  if (store.scan) return store.scan(stream, options, visit);
  const { kinds } = options;
  let n = 0;
  for await (const chunk of store.readChunks(stream, options)) {
    for (const e of chunk) {
      if (kinds && !kinds.has(e.event.body.kind)) continue;
      visit(e.event);
      n++;
    }
  }
  return n;
}

/** Default per-event read path on top of readChunks. */
export async function* flattenChunks(chunks: AsyncIterable<StoredEvent[]>): AsyncIterable<StoredEvent> {
  for await (const chunk of chunks) yield* chunk;
}

/**
 * Stream ids in code-unit order, as `sort` orders them in the C locale: the same on every machine, and without
 * the ICU collator localeCompare starts (tens of milliseconds of every command's start-up).
 */
export function byStreamId(a: StreamInfo, b: StreamInfo): number {
  return a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0;
}
