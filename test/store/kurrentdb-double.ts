// KurrentDbClientDouble: an in-process TEST DOUBLE of the few KurrentDBClient methods the KurrentDB store uses.
// It is not a KurrentDB server and nothing here proves behaviour against one (set KURRENTDB_URL for that).
//
// Modelled (same signatures and result shapes as @kurrent/kurrentdb-client 1.3):
//  - appendToStream(stream, events, { streamState }) with ANY / NO_STREAM / STREAM_EXISTS / bigint; a mismatch
//    throws the client's own WrongExpectedVersionError with streamName, expectedState and actualState
//    (NO_STREAM or the bigint revision); revisions are 0-based bigints; an empty append creates nothing;
//  - one global log: every record gets a commit position = prepare position = a byte offset that grows with the
//    record's size (so positions are increasing and NOT contiguous), starting after a few foreign records
//    (a `$settings` system event and an `orders-1` stream of another application);
//  - the append result: success, nextExpectedRevision, and a position that, like the server's, describes the
//    write (commit = log position after it, prepare = first record), not the $all position of the last event;
//  - readStream(stream, { fromRevision, direction, maxCount }) as an async iterable of ResolvedEvent-shaped objects
//    (event.{streamId,id,type,data,metadata,isJson,revision,created,position}); iterating a missing stream throws
//    the client's StreamNotFoundError; backwards reads from past the end start at the last event;
//  - readAll({ fromPosition, direction, maxCount, filter }) with stream-name / event-type prefix or regex filters;
//    fromPosition must be START, END or a record boundary (a record's position or the end of the log):
//    anything else throws, as the server refuses positions that are not record boundaries;
//  - subscribeToStream / subscribeToAll as objectMode Readables (with unsubscribe()) that emit 'confirmation',
//    the existing events after the (exclusive) start, 'caughtUp', then live events, with no gap or duplicate;
//  - metadata: Uint8Array kept as bytes, JSON objects stored as JSON bytes and parsed back on read, like the client;
//  - the server's MaxAppendSize (1 MiB unless set): an append whose data + metadata bytes exceed it throws the
//    client's MaxAppendSizeExceededError and writes nothing;
//  - dispose(): ends this client's subscriptions; calls after it throw. Several clients can share one log
//    (`newClient()`), like several connections to one server.
//  - fault injection: `failWith(error)` makes every call fail with that error (connection problems).
//
// Not modelled: idempotent re-appends of the same event ids, deleted/tombstoned streams, stream metadata
// ($maxCount, ACLs, truncation), links and projections, checkpointReached callbacks, fellBehind, paging and
// backpressure, deadlines, leader/follower routing, multiStreamAppend/appendRecords, the exact error the server
// gives for an invalid position (the double throws UnknownError), and every timing of a real network.
import { Readable, type ReadableOptions } from 'node:stream';
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import {
  ANY, BACKWARDS, END, MaxAppendSizeExceededError, NO_STREAM, START, STREAM_EXISTS, StreamNotFoundError, UnknownError,
  WrongExpectedVersionError,
  type AllStreamResolvedEvent, type AllStreamSubscription, type AppendResult, type AppendToStreamOptions,
  type EventData, type EventType, type Filter, type Position, type ReadAllOptions, type ReadStreamOptions,
  type ResolvedEvent, type StreamSubscription, type SubscribeToAllOptions, type SubscribeToStreamOptions,
} from '@kurrent/kurrentdb-client';
import type { KurrentDbClientLike } from '../../src/store/kurrentdb.js';

interface LogRecord {
  streamId: string;
  id: string;
  type: string;
  isJson: boolean;
  revision: bigint;
  data: Uint8Array;
  metadata: Uint8Array;
  created: Date;
  position: bigint;
}

const FIRST_POSITION = 1024n;

export interface DoubleSettings {
  /** the server's MaxAppendSize in bytes of event data + metadata (default 1 MiB, as on a server) */
  maxAppendSize?: number;
}

/** The shared state of one "server": the log, the streams, and live appends. */
class DoubleLog extends EventEmitter {
  readonly records: LogRecord[] = [];
  readonly streams = new Map<string, LogRecord[]>();
  end = FIRST_POSITION;
  readonly maxAppendSize: number;

  constructor(settings: DoubleSettings) {
    super();
    this.setMaxListeners(0);
    this.maxAppendSize = settings.maxAppendSize ?? 1024 * 1024;
  }

  write(streamId: string, events: EventData[], firstRevision: bigint): LogRecord[] {
    const written: LogRecord[] = [];
    events.forEach((e, i) => {
      const isJson = e.contentType === 'application/json';
      const data = isJson ? Buffer.from(JSON.stringify(e.data), 'utf8') : Uint8Array.from(e.data as Uint8Array);
      const metadata = e.metadata === undefined ? new Uint8Array(0)
        : e.metadata instanceof Uint8Array ? Uint8Array.from(e.metadata)
          : Buffer.from(JSON.stringify(e.metadata), 'utf8');
      const rec: LogRecord = {
        streamId, id: e.id, type: e.type, isJson, revision: firstRevision + BigInt(i), data, metadata, created: new Date(), position: this.end,
      };
      // A record's size in the log: framing, names, payloads (roughly what a TF record costs).
      this.end += 90n + BigInt(Buffer.byteLength(streamId) + Buffer.byteLength(e.type) + data.length + metadata.length);
      this.records.push(rec);
      let list = this.streams.get(streamId);
      if (!list) this.streams.set(streamId, (list = []));
      list.push(rec);
      written.push(rec);
    });
    if (written.length) this.emit('append', written);
    return written;
  }

  /** Index of the first record at or after a boundary position; throws for a position inside a record. */
  indexAt(p: Position): number {
    if (p.commit === this.end) return this.records.length;
    const i = this.records.findIndex((r) => r.position === p.commit);
    if (i < 0 || p.prepare !== p.commit) {
      throw new UnknownError(undefined, `KurrentDbClientDouble: position {commit: ${p.commit}, prepare: ${p.prepare}} is not a record boundary (a server refuses it as an invalid position)`);
    }
    return i;
  }
}

type Sub = Readable & { id?: string; unsubscribe(): Promise<void> };

export class KurrentDbClientDouble implements KurrentDbClientLike {
  /** calls made, by method name (tests use it to check what the adapter asks for) */
  readonly calls: Record<string, number> = {};
  private disposed = false;
  private failure: Error | undefined;
  private readonly subs = new Set<Sub>();

  private readonly log: DoubleLog;

  /** A client of a new "server" with these settings. */
  constructor(settings: DoubleSettings = {}) {
    this.log = sharedLogs.get(settings) ?? seededLog(settings);
  }

  /** Another client on the same log (another connection to the same "server"). */
  newClient(): KurrentDbClientDouble {
    const handle: DoubleSettings = {};
    sharedLogs.set(handle, this.log);
    return new KurrentDbClientDouble(handle);
  }

  /** Makes every later call fail with `error` (undefined: work again). */
  failWith(error: Error | undefined): void {
    this.failure = error;
  }

  /** The stored record of an event: its raw data bytes, type, content type (for tests of what is stored). */
  stored(streamId: string): { type: string; isJson: boolean; data: Uint8Array; metadata: Uint8Array; revision: bigint; position: bigint }[] {
    return (this.log.streams.get(streamId) ?? []).map((r) => ({ ...r, data: Uint8Array.from(r.data), metadata: Uint8Array.from(r.metadata) }));
  }

  /** Every stream name in the log (foreign ones included). */
  streamNames(): string[] {
    return [...this.log.streams.keys()];
  }

  /** Counts the call; returns the error it must fail with (after dispose, or injected), if any. */
  private enter(method: string): Error | undefined {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
    if (this.disposed) return new Error(`KurrentDbClientDouble: ${method} after dispose()`);
    return this.failure;
  }

  async appendToStream<K extends EventType = EventType>(
    streamName: string, event: EventData<K> | EventData<K>[], { streamState = ANY }: AppendToStreamOptions = {},
  ): Promise<AppendResult> {
    const failure = this.enter('appendToStream');
    if (failure) throw failure;
    if (typeof streamName !== 'string' || streamName.length === 0) throw new UnknownError(undefined, 'KurrentDbClientDouble: empty stream name');
    const events = (Array.isArray(event) ? event : [event]) as EventData[];
    for (const e of events) {
      if (typeof e.type !== 'string' || e.type.length === 0) throw new UnknownError(undefined, 'KurrentDbClientDouble: an event needs a type');
      if (e.contentType !== 'application/json' && !(e.data instanceof Uint8Array)) throw new UnknownError(undefined, 'KurrentDbClientDouble: binary event data must be a Uint8Array');
    }
    const size = events.reduce((n, e) => n + sizeOf(e.data, e.contentType) + sizeOf(e.metadata), 0);
    if (size > this.log.maxAppendSize) throw MaxAppendSizeExceededError.fromMaxAppendSize(this.log.maxAppendSize);
    const list = this.log.streams.get(streamName);
    const current: bigint | typeof NO_STREAM = list?.length ? list[list.length - 1]!.revision : NO_STREAM;
    const ok = streamState === ANY ? true
      : streamState === NO_STREAM ? current === NO_STREAM
        : streamState === STREAM_EXISTS ? current !== NO_STREAM
          : current === streamState;
    if (!ok) throw new WrongExpectedVersionError(undefined, { streamName, expected: streamState, current });
    const first = current === NO_STREAM ? 0n : current + 1n;
    const before = this.log.end;
    const written = this.log.write(streamName, events, first);
    const last = written.length ? written[written.length - 1]!.revision : current === NO_STREAM ? -1n : current;
    return {
      success: true,
      nextExpectedRevision: last,
      ...(written.length ? { position: { commit: this.log.end, prepare: before } } : {}),
    };
  }

  readStream<K extends EventType = EventType>(streamName: string, options: ReadStreamOptions = {}): AsyncIterableIterator<ResolvedEvent<K>> {
    // Like the client: the call returns an iterator; problems surface when it is iterated.
    const failure = this.enter('readStream');
    const log = this.log;
    const { fromRevision = START, direction = 'forwards', maxCount = Number.MAX_SAFE_INTEGER } = options;
    async function* gen(): AsyncGenerator<ResolvedEvent<K>> {
      if (failure) throw failure;
      const list = log.streams.get(streamName);
      if (!list?.length) throw new StreamNotFoundError(undefined, streamName);
      const snapshot = list.slice();
      const last = snapshot.length - 1;
      let n = 0;
      const max = BigInt(maxCount);
      if (direction === BACKWARDS) {
        const from = fromRevision === END ? last : fromRevision === START ? 0 : Number(fromRevision > BigInt(last) ? BigInt(last) : fromRevision);
        for (let r = from; r >= 0 && BigInt(n) < max; r--, n++) yield resolved(snapshot[r]!, false) as ResolvedEvent<K>;
      } else {
        const from = fromRevision === START ? 0 : fromRevision === END ? snapshot.length : Number(fromRevision);
        for (let r = from; r <= last && BigInt(n) < max; r++, n++) yield resolved(snapshot[r]!, false) as ResolvedEvent<K>;
      }
    }
    return gen();
  }

  readAll(options: ReadAllOptions = {}): AsyncIterableIterator<AllStreamResolvedEvent> {
    const failure = this.enter('readAll');
    const log = this.log;
    const { fromPosition = START, direction = 'forwards', maxCount = Number.MAX_SAFE_INTEGER, filter } = options;
    async function* gen(): AsyncGenerator<AllStreamResolvedEvent> {
      if (failure) throw failure;
      const snapshot = log.records.slice();
      const max = BigInt(maxCount);
      let n = 0;
      if (direction === BACKWARDS) {
        // Backwards from a position: the records before it.
        const start = fromPosition === END ? snapshot.length : fromPosition === START ? 0 : log.indexAt(fromPosition);
        for (let i = start - 1; i >= 0 && BigInt(n) < max; i--) {
          if (!passes(filter, snapshot[i]!)) continue;
          n++;
          yield resolved(snapshot[i]!, true) as AllStreamResolvedEvent;
        }
      } else {
        const start = fromPosition === START ? 0 : fromPosition === END ? snapshot.length : log.indexAt(fromPosition);
        for (let i = start; i < snapshot.length && BigInt(n) < max; i++) {
          if (!passes(filter, snapshot[i]!)) continue;
          n++;
          yield resolved(snapshot[i]!, true) as AllStreamResolvedEvent;
        }
      }
    }
    return gen();
  }

  subscribeToStream<K extends EventType = EventType>(
    streamName: string, options: SubscribeToStreamOptions = {}, readableOptions: ReadableOptions = {},
  ): StreamSubscription<K> {
    const failure = this.enter('subscribeToStream');
    if (failure) return this.failedSubscription(failure) as unknown as StreamSubscription<K>;
    const { fromRevision = START } = options;
    return this.subscription(readableOptions, () => {
      const list = this.log.streams.get(streamName) ?? [];
      const lastRev = list.length ? list[list.length - 1]!.revision : -1n;
      // Exclusive: START delivers revision 0 on, a revision r delivers r+1 on, END only what comes later.
      const after = fromRevision === START ? -1n : fromRevision === END ? lastRev : fromRevision;
      return {
        accept: (r) => r.streamId === streamName && r.revision > after,
        caughtUp: () => (list.length ? { date: new Date(), revision: list[list.length - 1]!.revision } : { date: new Date() }),
      };
    }, false) as unknown as StreamSubscription<K>;
  }

  subscribeToAll(options: SubscribeToAllOptions = {}, readableOptions: ReadableOptions = {}): AllStreamSubscription {
    const failure = this.enter('subscribeToAll');
    if (failure) return this.failedSubscription(failure) as unknown as AllStreamSubscription;
    const { fromPosition = START, filter } = options;
    if (fromPosition !== START && fromPosition !== END) {
      try {
        this.log.indexAt(fromPosition);
      } catch (err) {
        return this.failedSubscription(err as Error) as unknown as AllStreamSubscription;
      }
    }
    return this.subscription(readableOptions, () => {
      const records = this.log.records;
      const lastPos = records.length ? records[records.length - 1]!.position : -1n;
      const after = fromPosition === START ? -1n : fromPosition === END ? lastPos : fromPosition.commit;
      return {
        accept: (r) => r.position > after && passes(filter, r),
        caughtUp: () => (records.length ? { date: new Date(), position: { commit: records[records.length - 1]!.position, prepare: records[records.length - 1]!.position } } : { date: new Date() }),
      };
    }, true) as unknown as AllStreamSubscription;
  }

  dispose = async (): Promise<void> => {
    this.disposed = true;
    for (const s of [...this.subs]) await s.unsubscribe();
  };

  /** Like the client's: a subscription that cannot start reports it as an 'error' event. */
  private failedSubscription(error: Error): Sub {
    const sub = new Readable({ objectMode: true, read() {} }) as Sub;
    sub.unsubscribe = async () => undefined;
    setImmediate(() => sub.destroy(error));
    return sub;
  }

  /**
   * Catch-up then live: the existing records are taken and the live listener registered in the same
   * synchronous step, so nothing falls between them; delivery starts on the next turn of the event loop.
   */
  private subscription(
    readableOptions: ReadableOptions,
    start: () => { accept: (r: LogRecord) => boolean; caughtUp: () => object },
    all: boolean,
  ): Sub {
    const sub = new Readable({ ...readableOptions, objectMode: true, read() {} }) as Sub;
    sub.id = randomUUID();
    const { accept, caughtUp } = start();
    const queue: (LogRecord | 'caughtUp')[] = [...this.log.records.filter(accept), 'caughtUp'];
    let pumping = false;
    let ended = false;
    const pump = () => {
      if (pumping) return;
      pumping = true;
      setImmediate(() => {
        pumping = false;
        while (!ended && queue.length) {
          const item = queue.shift()!;
          if (item === 'caughtUp') sub.emit('caughtUp', caughtUp());
          else sub.push(resolved(item, all));
        }
      });
    };
    const onAppend = (records: LogRecord[]) => {
      const wanted = records.filter(accept);
      if (!wanted.length) return;
      queue.push(...wanted);
      pump();
    };
    this.log.on('append', onAppend);
    this.subs.add(sub);
    sub.unsubscribe = async () => {
      if (ended) return;
      ended = true;
      this.log.off('append', onAppend);
      this.subs.delete(sub);
      sub.push(null);
    };
    setImmediate(() => {
      if (!ended) sub.emit('confirmation');
      pump();
    });
    return sub;
  }
}

function passes(filter: Filter | undefined, r: LogRecord): boolean {
  if (!filter) return true;
  const subject = filter.filterOn === 'streamName' ? r.streamId : r.type;
  if ('prefixes' in filter) return filter.prefixes.some((p) => subject.startsWith(p));
  return new RegExp(filter.regex).test(subject);
}

function resolved(r: LogRecord, all: boolean): ResolvedEvent | AllStreamResolvedEvent {
  const position = { commit: r.position, prepare: r.position };
  const event = {
    streamId: r.streamId,
    id: r.id,
    type: r.type,
    isJson: r.isJson,
    revision: r.revision,
    created: r.created,
    data: r.isJson ? JSON.parse(Buffer.from(r.data).toString('utf8')) : Uint8Array.from(r.data),
    metadata: parseMetadata(r.metadata),
    position,
  };
  return (all ? { event, commitPosition: r.position } : { event }) as ResolvedEvent | AllStreamResolvedEvent;
}

function parseMetadata(bytes: Uint8Array): unknown {
  if (!bytes.length) return undefined;
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return Uint8Array.from(bytes);
  }
}

/** newClient() hands the log over through a settings object only it knows. */
const sharedLogs = new WeakMap<DoubleSettings, DoubleLog>();

function sizeOf(value: unknown, contentType?: string): number {
  if (value === undefined) return 0;
  if (value instanceof Uint8Array && contentType !== 'application/json') return value.length;
  return Buffer.byteLength(JSON.stringify(value));
}

/** A log that already holds what a real server's $all has before devrec writes: a system event and another app's stream. */
function seededLog(settings: DoubleSettings): DoubleLog {
  const log = new DoubleLog(settings);
  log.write('$settings', [{ id: randomUUID(), contentType: 'application/json', type: '$settings', data: { $userStreamAcl: {} }, metadata: undefined }], 0n);
  log.write('orders-1', [{ id: randomUUID(), contentType: 'application/json', type: 'OrderPlaced', data: { id: 1 }, metadata: undefined }], 0n);
  return log;
}
