// The EventStore contract on KurrentDB (EventStoreDB) through @kurrent/kurrentdb-client.
//
// One stream per device (`<prefix>-device-<uri-encoded id>`), one binary event per devrec event carrying exactly
// the protobuf bytes the embedded log stores (fastEncodeEvent, revision included), event type = the event kind.
// Snapshots live in `<prefix>-snapshots-<id>`. See docs/stores.md for the guarantees; in short:
//  - every append is sent with the exact stream revision it expects (so the revision inside the bytes is the
//    stream revision); 'any' and 'stream-exists' are resolved here and retried on a race;
//  - appendMany checks every expectation first, then writes one atomic append per request, in order: atomic
//    per request, not across streams; transaction() (imports) holds its appends and writes them at the end as one
//    append per stream, or one multi-stream append where the server has it: nothing is written if the import fails;
//  - `position` is the event's commit position in $all (a log byte offset): increasing, not contiguous.
//
// The adapter takes the client through its constructor: `connect()` builds a real KurrentDBClient, tests give it
// test/store/kurrentdb-double.ts.
import {
  BACKWARDS, END, FORWARDS, KurrentDBClient, NO_STREAM, START, binaryEvent, streamNameFilter,
  type AllStreamResolvedEvent, type AppendStreamState, type Position, type ResolvedEvent,
} from '@kurrent/kurrentdb-client';
import { Observable, type Subscriber } from 'rxjs';
import { fastDecodeEvent, fastEncodeEvent } from '../events/fast-codec.js';
import type { NewEvent, StoredEvent } from '../events/types.js';
import {
  StoreConnectionError, StreamNames, connectionProblemOf, parseKurrentDbUrl, redactUrl,
} from './kurrentdb-common.js';
import {
  WrongExpectedRevisionError, byStreamId, checkExpected, flattenChunks, type AppendRequest, type AppendResult, type EventStore,
  type ExpectedRevision, type ReadOptions, type SnapshotRecord, type StreamInfo, type SubscribeOptions,
} from './types.js';

export { StoreConnectionError } from './kurrentdb-common.js';

/** The part of KurrentDBClient the adapter uses: a real client, or the test double. */
export type KurrentDbClientLike = Pick<
  KurrentDBClient, 'appendToStream' | 'readStream' | 'readAll' | 'subscribeToStream' | 'subscribeToAll' | 'dispose'
> & Partial<Pick<KurrentDBClient, 'multiStreamAppend'>>;

export interface KurrentDbStoreOptions {
  /** URL shown in messages and as `store.url` (password hidden); default `kurrentdb:` */
  url?: string;
  /** stream-name prefix of this devrec namespace (default `devrec`) */
  prefix?: string;
  /** refuse appends (snapshots are still saved when the server lets us: they are a cache) */
  readOnly?: boolean;
  /** dispose the client on close (true for connect(); false when the caller owns the client) */
  ownsClient?: boolean;
  /** events per chunk of readChunks (default 512) */
  chunkSize?: number;
  /**
   * Largest append sent, in bytes of event data plus an allowance per event (default 1,000,000, under the
   * server's MaxAppendSize of 1 MiB). A request larger than this is written as several appends, in order.
   */
  maxAppendBytes?: number;
}

/** Bytes counted per event on top of its data when sizing appends (id, type, metadata, framing). */
const EVENT_ALLOWANCE = 96;

/** Event type of snapshot events in the snapshot streams. */
export const SNAPSHOT_EVENT_TYPE = 'devrec-snapshot';

/**
 * An append wrote part of what it was asked to and then failed: `written` are the requests written whole,
 * `failedStream` the request that failed, of which the first `failedWrittenEvents` events were written (a request
 * larger than maxAppendBytes goes out as several appends).
 */
export class PartialAppendError extends Error {
  constructor(
    readonly written: AppendResult[], readonly writtenStreams: string[], readonly failedStream: string,
    readonly failedWrittenEvents: number, cause: Error,
  ) {
    super(`append: ${written.length} request(s) were written${writtenStreams.length ? ` (${writtenStreams.join(', ')})` : ''}${failedWrittenEvents ? ` and ${failedWrittenEvents} event(s) of the next` : ''}, then stream "${failedStream}" failed: ${cause.message}`, { cause });
    this.name = 'PartialAppendError';
  }
}

/** A request failed after `written` of its events were durable. */
class RequestFailure extends Error {
  constructor(readonly written: number, readonly failure: Error) {
    super(failure.message);
  }
}

const MAX_ANY_RETRIES = 8;

/** One stream's appends inside a transaction: written after `base` at commit. */
interface StagedStream {
  base: number;
  events: NewEvent[];
  bytes: Uint8Array[];
  /** the results handed out; their positions are filled in at commit */
  results: AppendResult[];
}

interface Planned {
  request: AppendRequest;
  /** head the request is written after (-1: no stream) */
  base: number;
}

export class KurrentDbEventStore implements EventStore {
  readonly url: string;
  readonly names: StreamNames;
  private readonly readOnly: boolean;
  private readonly ownsClient: boolean;
  private readonly chunkSize: number;
  private readonly maxAppendBytes: number;
  /** last revision we know of per stream (our appends, head reads, conflicts); a hint, never trusted blindly */
  private readonly knownHeads = new Map<string, number>();
  private readonly live = new Set<Subscriber<StoredEvent>>();
  private writeChain: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** appends of a running transaction(): held here, written by its commit */
  private staged: Map<string, StagedStream> | undefined;

  constructor(private readonly client: KurrentDbClientLike, options: KurrentDbStoreOptions = {}) {
    this.url = redactUrl(options.url ?? 'kurrentdb:');
    this.names = new StreamNames(options.prefix);
    this.readOnly = options.readOnly ?? false;
    this.ownsClient = options.ownsClient ?? false;
    this.chunkSize = options.chunkSize ?? 512;
    this.maxAppendBytes = options.maxAppendBytes ?? 1_000_000;
  }

  /**
   * Opens `kurrentdb://host:2113?tls=false` (also kurrent://, kdb://, esdb:// and their +discover variants) and
   * checks the server answers; a refused connection, a timeout or refused credentials throw StoreConnectionError.
   */
  static async connect(url: string, options: Omit<KurrentDbStoreOptions, 'url' | 'ownsClient'> = {}): Promise<KurrentDbEventStore> {
    let parsed: ReturnType<typeof parseKurrentDbUrl>;
    try {
      parsed = parseKurrentDbUrl(url);
    } catch (err) {
      throw new StoreConnectionError(url, 'bad-url', (err as Error).message, { cause: err });
    }
    const { clientUrl, prefix, maxAppendBytes } = parsed;
    let client: KurrentDBClient;
    try {
      client = KurrentDBClient.connectionString(clientUrl);
    } catch (err) {
      // A ParseError's message repeats the URL, password included: say where it failed instead.
      const e = err as Error & { expected?: string; location?: [number, number] };
      const parse = e.expected !== undefined && e.location !== undefined;
      const detail = parse ? `expected ${e.expected} at character ${e.location![0]}` : e.message;
      throw new StoreConnectionError(url, parse ? 'bad-url' : connectionProblemOf(err) ?? 'bad-url', detail, { cause: err });
    }
    const store = new KurrentDbEventStore(client, {
      ...options, prefix: options.prefix ?? prefix, maxAppendBytes: options.maxAppendBytes ?? maxAppendBytes, url, ownsClient: true,
    });
    try {
      await store.ping();
    } catch (err) {
      await client.dispose().catch(() => undefined);
      throw err;
    }
    return store;
  }

  /** One cheap read: resolves when the server answers (a missing stream is an answer). */
  async ping(): Promise<void> {
    this.checkOpen();
    try {
      for await (const _ of this.client.readStream(`${this.names.prefix}-ping`, { maxCount: 1 })) break;
    } catch (err) {
      if (!isStreamNotFound(err)) throw this.fail(err);
    }
  }

  // ---- appending -----------------------------------------------------------------------------------------

  append(stream: string, events: NewEvent[], expectedRevision?: ExpectedRevision): Promise<AppendResult> {
    return this.appendMany([{ stream, events, expectedRevision }]).then((r) => r[0]!);
  }

  appendMany(requests: AppendRequest[]): Promise<AppendResult[]> {
    const run = this.writeChain.then(() => this.appendNow(requests));
    this.writeChain = run.catch(() => undefined);
    return run;
  }

  private async appendNow(requests: AppendRequest[]): Promise<AppendResult[]> {
    this.checkOpen();
    if (this.readOnly) throw new Error(`store ${this.url} was opened read-only`);
    if (requests.length === 0) return [];
    for (const r of requests) this.names.device(r.stream); // validates ids
    const plan = await this.plan(requests);
    // Encode everything before the first write: an event the codec refuses appends nothing.
    const encoded = plan.map((p) => encodeAll(p.request.events, p.base + 1));
    if (this.staged) return this.stage(plan, encoded);
    const results: AppendResult[] = [];
    const lastRevisions: number[] = [];
    for (let i = 0; i < plan.length; i++) {
      const { request } = plan[i]!;
      try {
        const first = await this.writeRequest(request, plan[i]!.base, encoded[i]!);
        results.push({ firstRevision: first, nextExpectedRevision: first + request.events.length - 1, position: -1 });
        lastRevisions.push(first + request.events.length - 1);
      } catch (err) {
        const partial = err instanceof RequestFailure ? err.written : 0;
        const cause = err instanceof RequestFailure ? err.failure : (err as Error);
        if (results.length === 0 && partial === 0) throw cause;
        throw new PartialAppendError(results, plan.slice(0, results.length).map((p) => p.request.stream), request.stream, partial, cause);
      }
    }
    // The server's append response carries a transaction/log position, not the $all position of the last event:
    // read that back (one read per request, in parallel).
    await Promise.all(results.map(async (res, i) => {
      if (requests[i]!.events.length === 0) return;
      res.position = await this.positionOf(requests[i]!.stream, lastRevisions[i]!);
    }));
    return results;
  }

  // ---- all-or-nothing runs (imports) ---------------------------------------------------------------------

  /**
   * Runs `fn` (which appends) as one unit. Its appends are checked and encoded as they come but held here; when
   * `fn` resolves they are written as one append per stream, with the exact revision each stream had (no-stream for
   * a new one), which KurrentDB applies whole or not at all; several streams go as one multi-stream append (atomic
   * across streams, KurrentDB 25.1 and later). If `fn` fails nothing was sent, so a retry starts from the same
   * store. A stream's events must fit one append (maxAppendBytes): a larger import is refused before anything is
   * written.
   */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    this.checkOpen();
    if (this.readOnly) throw new Error(`store ${this.url} was opened read-only`);
    if (this.staged) throw new Error('transaction(): one is already running on this store');
    await this.writeChain.catch(() => undefined);
    this.staged = new Map();
    let result: T;
    let staged: Map<string, StagedStream>;
    try {
      result = await fn();
      await this.writeChain;
    } finally {
      staged = this.staged;
      this.staged = undefined;
    }
    const run = this.commit(staged);
    this.writeChain = run.catch(() => undefined);
    await run;
    return result;
  }

  private stage(plan: Planned[], encoded: Uint8Array[][]): AppendResult[] {
    const staged = this.staged!;
    return plan.map(({ request, base }, i) => {
      let st = staged.get(request.stream);
      if (!st) staged.set(request.stream, (st = { base, events: [], bytes: [], results: [] }));
      const result: AppendResult = { firstRevision: base + 1, nextExpectedRevision: base + request.events.length, position: -1 };
      st.events.push(...request.events);
      st.bytes.push(...encoded[i]!);
      st.results.push(result);
      return result;
    });
  }

  private async commit(staged: Map<string, StagedStream>): Promise<void> {
    const streams = [...staged].filter(([, st]) => st.events.length > 0);
    if (streams.length === 0) return;
    for (const [stream, st] of streams) {
      const size = st.bytes.reduce((n, b) => n + b.length + EVENT_ALLOWANCE, 0);
      if (size > this.maxAppendBytes) {
        throw new Error(`${this.url}: the import's ${st.events.length} event(s) for device ${stream} take about ${size} bytes, more than one KurrentDB append may carry (${this.maxAppendBytes}); nothing was written. Raise the server's MaxAppendSize and give ?devrecMaxAppendBytes=<bytes> in the store URL, or import into a file: store and devrec copy it`);
      }
    }
    const events = (st: StagedStream) => st.events.map((e, i) => binaryEvent({ type: e.body.kind, data: st.bytes[i]! }));
    const state = (st: StagedStream): AppendStreamState => (st.base < 0 ? NO_STREAM : BigInt(st.base));
    let atomic = streams.length === 1;
    if (!atomic && typeof this.client.multiStreamAppend === 'function') {
      try {
        await this.client.multiStreamAppend(streams.map(([stream, st]) => ({ streamName: this.names.device(stream), events: events(st), expectedState: state(st) })));
        atomic = true;
        for (const [stream, st] of streams) this.knownHeads.set(stream, st.base + st.events.length);
      } catch (err) {
        // A server before 25.1 has no multi-stream append: then one append per stream, below.
        if (!isUnimplemented(err)) throw this.commitFailure(err, streams[0]![0], streams[0]![1]);
      }
      if (atomic) return this.fillPositions(streams);
    }
    const written: string[] = [];
    for (const [stream, st] of streams) {
      let res: { success?: boolean; nextExpectedRevision?: bigint } | undefined;
      try {
        res = await this.client.appendToStream(this.names.device(stream), events(st), { streamState: state(st) });
      } catch (err) {
        const e = this.commitFailure(err, stream, st);
        if (written.length === 0) throw e;
        throw new Error(`${e.message}; the devices before it were written (${written.join(', ')}): this server has no multi-stream append (KurrentDB 25.1) to make them one unit`, { cause: err });
      }
      if (res.success === false) {
        const e = new WrongExpectedRevisionError(stream, st.base < 0 ? 'no-stream' : st.base, toNumber(res.nextExpectedRevision!));
        if (written.length === 0) throw e;
        throw new Error(`${e.message}; the devices before it were written (${written.join(', ')})`, { cause: e });
      }
      this.knownHeads.set(stream, st.base + st.events.length);
      written.push(stream);
    }
    await this.fillPositions(streams);
  }

  private commitFailure(err: unknown, stream: string, st: StagedStream): Error {
    if (isWrongExpectedVersion(err)) {
      const actual = (err as { actualState?: unknown }).actualState;
      return new WrongExpectedRevisionError(stream, st.base < 0 ? 'no-stream' : st.base, typeof actual === 'bigint' ? toNumber(actual) : -1);
    }
    return this.fail(err);
  }

  private async fillPositions(streams: [string, StagedStream][]): Promise<void> {
    await Promise.all(streams.flatMap(([stream, st]) => st.results.map(async (r) => {
      if (r.nextExpectedRevision >= r.firstRevision) r.position = await this.positionOf(stream, r.nextExpectedRevision);
    })));
  }

  /**
   * Checks every expectation before anything is written and decides which head each request is written after.
   * A single request with an exact expectation needs no read (the server checks it atomically); otherwise the
   * heads of streams with an expectation are read from the server, and 'any' uses what we know (a stale guess
   * is caught by the server and retried).
   */
  private async plan(requests: AppendRequest[]): Promise<Planned[]> {
    const single = requests.length === 1 && !this.staged ? requests[0]! : undefined;
    if (single && single.events.length > 0 && (typeof single.expectedRevision === 'number' || single.expectedRevision === 'no-stream')) {
      const base = single.expectedRevision === 'no-stream' ? -1 : single.expectedRevision;
      if (!Number.isInteger(base) || base < -1) throw new WrongExpectedRevisionError(single.stream, single.expectedRevision, await this.head(single.stream));
      return [{ request: single, base }];
    }
    const mustRead = new Set<string>();
    for (const r of requests) {
      if ((r.expectedRevision !== undefined && r.expectedRevision !== 'any') || !this.knownHeads.has(r.stream)) mustRead.add(r.stream);
    }
    const heads = new Map<string, number>();
    await Promise.all([...mustRead].map(async (s) => heads.set(s, await this.head(s))));
    for (const [stream, st] of this.staged ?? []) heads.set(stream, st.base + st.events.length);
    const planned = new Map<string, number>();
    const out: Planned[] = [];
    for (const r of requests) {
      const head = planned.get(r.stream) ?? heads.get(r.stream) ?? this.knownHeads.get(r.stream)!;
      checkExpected(r.stream, r.expectedRevision, head);
      out.push({ request: r, base: head });
      planned.set(r.stream, head + r.events.length);
    }
    return out;
  }

  /**
   * Writes one request after `base`; returns its first revision. One atomic append when it fits maxAppendBytes,
   * else consecutive appends, each with its exact expected revision. A conflict on the first append of an 'any'
   * or 'stream-exists' request is a racing writer: re-encode after its events and retry. A failure after part of
   * the request is durable throws RequestFailure with the count written.
   */
  private async writeRequest(r: AppendRequest, base: number, bytes: Uint8Array[]): Promise<number> {
    const name = this.names.device(r.stream);
    const flexible = r.expectedRevision === undefined || r.expectedRevision === 'any' || r.expectedRevision === 'stream-exists';
    if (r.events.length === 0) return base + 1;
    for (let attempt = 0; ; attempt++) {
      const parts = this.splitBySize(bytes);
      let written = 0;
      for (const [start, end] of parts) {
        const events = r.events.slice(start, end).map((e, i) => binaryEvent({ type: e.body.kind, data: bytes[start + i]! }));
        const after = base + start;
        let actual: number | undefined;
        try {
          const res = await this.client.appendToStream(name, events, { streamState: after < 0 ? NO_STREAM : BigInt(after) });
          // throwOnAppendFailure=false in the URL: a conflict comes back as success: false.
          if (res.success === false) actual = toNumber(res.nextExpectedRevision);
        } catch (err) {
          if (!isWrongExpectedVersion(err)) {
            if (written > 0) throw new RequestFailure(written, this.fail(err));
            throw this.fail(err);
          }
          const state = (err as { actualState?: unknown }).actualState;
          actual = typeof state === 'bigint' ? toNumber(state) : -1;
        }
        if (actual === undefined) {
          written = end;
          this.knownHeads.set(r.stream, base + end);
          continue;
        }
        this.knownHeads.set(r.stream, actual);
        const conflict = new WrongExpectedRevisionError(r.stream, written > 0 ? after : r.expectedRevision ?? 'any', actual);
        if (written > 0) throw new RequestFailure(written, conflict);
        const retry = flexible && (r.expectedRevision !== 'stream-exists' || actual >= 0) && attempt < MAX_ANY_RETRIES;
        if (!retry) throw conflict;
        break;
      }
      if (written === r.events.length) return base + 1;
      // Another writer got in first: write after its events, with our revisions re-encoded.
      base = this.knownHeads.get(r.stream)!;
      bytes = encodeAll(r.events, base + 1);
    }
  }

  /** [start, end) ranges of events whose appends stay within maxAppendBytes (at least one event each). */
  private splitBySize(bytes: Uint8Array[]): [number, number][] {
    const parts: [number, number][] = [];
    let start = 0;
    let size = 0;
    bytes.forEach((b, i) => {
      const cost = b.length + EVENT_ALLOWANCE;
      if (i > start && size + cost > this.maxAppendBytes) {
        parts.push([start, i]);
        start = i;
        size = 0;
      }
      size += cost;
    });
    parts.push([start, bytes.length]);
    return parts;
  }

  private async positionOf(stream: string, revision: number): Promise<number> {
    try {
      for await (const r of this.client.readStream(this.names.device(stream), { fromRevision: BigInt(revision), maxCount: 1 })) {
        return positionOf(r);
      }
    } catch (err) {
      throw this.fail(err);
    }
    return -1;
  }

  // ---- reading -------------------------------------------------------------------------------------------

  async *readChunks(stream: string, options: ReadOptions = {}): AsyncIterable<StoredEvent[]> {
    this.checkOpen();
    const name = this.names.device(stream);
    const backwards = options.direction === 'backwards';
    let max = options.maxCount ?? Infinity;
    if (!(max > 0)) return;
    let fromRevision: bigint | typeof END;
    let lowest = 0;
    if (backwards) {
      lowest = Math.max(options.to ?? 0, 0);
      if (options.from === undefined) {
        fromRevision = END;
      } else {
        // Clamp to the head ourselves rather than rely on how a server reads backwards past the end.
        const from = Math.min(options.from, await this.head(stream));
        if (from < lowest) return;
        max = Math.min(max, from - lowest + 1);
        fromRevision = BigInt(from);
      }
    } else {
      const from = Math.max(options.from ?? 0, 0);
      const to = options.to ?? Infinity;
      if (to < from) return;
      max = Math.min(max, to - from + 1);
      fromRevision = BigInt(from);
    }
    let chunk: StoredEvent[] = [];
    let count = 0;
    try {
      const it = this.client.readStream(name, {
        fromRevision, direction: backwards ? BACKWARDS : FORWARDS, ...(Number.isFinite(max) ? { maxCount: BigInt(max) } : {}),
      });
      for await (const resolved of it) {
        const e = this.toStored(resolved);
        if (!e) continue;
        if (backwards && e.revision < lowest) break;
        chunk.push(e);
        if (++count >= max) break;
        if (chunk.length >= this.chunkSize) {
          const full = chunk;
          chunk = [];
          yield full;
        }
      }
    } catch (err) {
      if (isStreamNotFound(err)) return;
      throw this.fail(err);
    }
    if (chunk.length) yield chunk;
  }

  read(stream: string, options?: ReadOptions): AsyncIterable<StoredEvent> {
    return flattenChunks(this.readChunks(stream, options));
  }

  /**
   * Events of every devrec device stream in commit-position order, from `fromPosition` (inclusive): 0, or a
   * position this store reported (other numbers are not log record boundaries and the server refuses them).
   */
  async *readAll(fromPosition = 0): AsyncIterable<StoredEvent> {
    this.checkOpen();
    try {
      const it = this.client.readAll({ fromPosition: fromPosition > 0 ? logPosition(fromPosition) : START, filter: this.deviceFilter() });
      for await (const resolved of it) {
        const e = this.toStored(resolved);
        if (e && e.position >= fromPosition) yield e;
      }
    } catch (err) {
      throw this.fail(err);
    }
  }

  async head(stream: string): Promise<number> {
    this.checkOpen();
    const staged = this.staged?.get(stream);
    if (staged) return staged.base + staged.events.length;
    let head = -1;
    try {
      for await (const r of this.client.readStream(this.names.device(stream), { direction: BACKWARDS, fromRevision: END, maxCount: 1 })) {
        if (r.event) head = toNumber(r.event.revision);
      }
    } catch (err) {
      if (!isStreamNotFound(err)) throw this.fail(err);
    }
    this.knownHeads.set(stream, head);
    return head;
  }

  /** Every devrec device stream: one pass over $all, filtered by the server on `<prefix>-device-`. */
  async streams(): Promise<StreamInfo[]> {
    this.checkOpen();
    const heads = new Map<string, number>();
    try {
      for await (const r of this.client.readAll({ fromPosition: START, filter: this.deviceFilter() })) {
        const ev = r.event;
        if (!ev || ev.type.startsWith('$')) continue;
        const id = this.names.deviceOf(ev.streamId);
        if (id !== undefined) heads.set(id, toNumber(ev.revision));
      }
    } catch (err) {
      throw this.fail(err);
    }
    return [...heads.entries()].map(([stream, revision]) => ({ stream, revision })).sort(byStreamId);
  }

  // ---- subscriptions -------------------------------------------------------------------------------------

  /**
   * A KurrentDB catch-up subscription (history, then live) as an Observable. Start positions are exclusive on
   * the server, so a per-stream subscription from revision N starts after N-1; one on $all from position P > 0
   * first reads the first devrec event at or after P, delivers it and subscribes after it.
   */
  subscribe(stream: string | null, options: SubscribeOptions = {}): Observable<StoredEvent> {
    const from = Math.max(0, options.from ?? 0);
    return new Observable<StoredEvent>((subscriber) => {
      this.checkOpen();
      let next = from;
      let done = false;
      let sub: { unsubscribe(): Promise<void>; on(event: string, fn: (...args: never[]) => void): unknown } | undefined;
      const keyOf = stream === null ? (e: StoredEvent) => e.position : (e: StoredEvent) => e.revision;
      const emit = (e: StoredEvent | undefined) => {
        if (!e || keyOf(e) < next) return;
        next = keyOf(e) + 1;
        subscriber.next(e);
      };
      const stop = () => {
        done = true;
        this.live.delete(subscriber);
        const s = sub;
        sub = undefined;
        if (s) void s.unsubscribe().catch(() => undefined);
      };
      const failWith = (err: unknown) => {
        if (done) return;
        stop();
        subscriber.error(err);
      };
      const attach = (s: NonNullable<typeof sub>) => {
        sub = s;
        s.on('data', (resolved: ResolvedEvent | AllStreamResolvedEvent) => {
          if (done) return;
          try {
            emit(this.toStored(resolved));
          } catch (err) {
            failWith(err);
          }
        });
        s.on('error', (err: Error) => failWith(this.fail(err)));
        s.on('end', () => failWith(new Error(`store ${this.url}: the server ended the subscription to ${stream ?? 'all devrec streams'}`)));
      };
      this.live.add(subscriber);
      if (stream !== null) {
        const name = this.names.device(stream);
        try {
          attach(this.client.subscribeToStream(name, { fromRevision: from === 0 ? START : BigInt(from - 1) }));
        } catch (err) {
          failWith(this.fail(err));
        }
      } else if (from === 0) {
        try {
          attach(this.client.subscribeToAll({ fromPosition: START, filter: this.deviceFilter() }));
        } catch (err) {
          failWith(this.fail(err));
        }
      } else {
        (async () => {
          // The anchor: the first devrec event at or after `from` (inclusive read), then everything after it.
          let after: Position = logPosition(from);
          for await (const r of this.client.readAll({ fromPosition: logPosition(from), filter: this.deviceFilter(), maxCount: 1 })) {
            const e = this.toStored(r);
            if (e) {
              emit(e);
              after = logPosition(e.position);
            }
          }
          if (!done) attach(this.client.subscribeToAll({ fromPosition: after, filter: this.deviceFilter() }));
        })().catch((err) => failWith(this.fail(err)));
      }
      return stop;
    });
  }

  // ---- snapshots -----------------------------------------------------------------------------------------

  async saveSnapshot(stream: string, revision: number, data: Uint8Array): Promise<void> {
    this.checkOpen();
    if (!Number.isInteger(revision) || revision < 0) throw new RangeError(`snapshot revision ${revision} is not a revision`);
    const event = binaryEvent({ type: SNAPSHOT_EVENT_TYPE, data, metadata: { revision, device: stream } });
    try {
      await this.client.appendToStream(this.names.snapshots(stream), event);
    } catch (err) {
      // A read-only opener caches snapshots when the server lets it; failing to is not an error for it.
      if (this.readOnly) return;
      throw this.fail(err);
    }
  }

  /** Reads the snapshot stream backwards; stops early at a snapshot of exactly `atOrBefore`. */
  async loadSnapshot(stream: string, atOrBefore: number): Promise<SnapshotRecord | undefined> {
    this.checkOpen();
    let best: SnapshotRecord | undefined;
    try {
      for await (const r of this.client.readStream(this.names.snapshots(stream), { direction: BACKWARDS, fromRevision: END })) {
        const ev = r.event;
        if (!ev || ev.type !== SNAPSHOT_EVENT_TYPE || !(ev.data instanceof Uint8Array)) continue;
        const revision = snapshotRevision(ev.metadata);
        if (revision === undefined || revision > atOrBefore) continue;
        // Later-written snapshots come first; keep the first one seen for a revision.
        if (!best || revision > best.revision) best = { stream, revision, data: new Uint8Array(ev.data) };
        if (revision === atOrBefore) break;
      }
    } catch (err) {
      if (isStreamNotFound(err)) return undefined;
      throw this.fail(err);
    }
    return best;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writeChain.catch(() => undefined);
    for (const s of [...this.live]) s.complete();
    this.live.clear();
    if (this.ownsClient) await this.client.dispose().catch(() => undefined);
  }

  // ---- helpers -------------------------------------------------------------------------------------------

  private deviceFilter() {
    return streamNameFilter({ prefixes: [this.names.devicePrefix] });
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`store ${this.url} is closed`);
  }

  /** A client error as devrec reports it: connection problems become StoreConnectionError. */
  private fail(err: unknown): Error {
    if (err instanceof StoreConnectionError) return err;
    const problem = connectionProblemOf(err);
    if (problem) return new StoreConnectionError(this.url, problem, (err as Error).message, { cause: err });
    const e = err as { type?: unknown; maxAppendSize?: unknown };
    if (e?.type === 'maximum-append-size-exceeded') {
      return new Error(`store ${this.url}: an append exceeds the server's MaxAppendSize (${String(e.maxAppendSize)} bytes): add ?devrecMaxAppendBytes=<fewer bytes> to the store URL`, { cause: err });
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  /** A devrec event from a resolved KurrentDB event; undefined for system events ($-types). */
  private toStored(resolved: ResolvedEvent | AllStreamResolvedEvent): StoredEvent | undefined {
    const ev = resolved.event;
    if (!ev || ev.type.startsWith('$')) return undefined;
    const stream = this.names.deviceOf(ev.streamId);
    if (stream === undefined) return undefined;
    const revision = toNumber(ev.revision);
    if (ev.isJson || !(ev.data instanceof Uint8Array)) {
      throw new Error(`store ${this.url}: ${ev.streamId} revision ${revision} is a ${ev.isJson ? 'JSON' : 'non-binary'} event of type "${ev.type}", not a devrec event`);
    }
    const event = fastDecodeEvent(ev.data);
    if (event.revision !== revision) {
      throw new Error(`store ${this.url}: ${ev.streamId} revision ${revision} carries an event encoded for revision ${event.revision}`);
    }
    return { stream, revision, position: positionOf(resolved), event };
  }
}

function encodeAll(events: NewEvent[], firstRevision: number): Uint8Array[] {
  return events.map((e, i) => fastEncodeEvent(e, firstRevision + i));
}

function positionOf(resolved: ResolvedEvent | AllStreamResolvedEvent): number {
  const p = resolved.event?.position?.commit ?? resolved.commitPosition;
  return p === undefined ? -1 : toNumber(p);
}

function logPosition(position: number): Position {
  const p = BigInt(position);
  return { commit: p, prepare: p };
}

function toNumber(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new RangeError(`${v} does not fit a JavaScript number`);
  return Number(v);
}

function snapshotRevision(metadata: unknown): number | undefined {
  let m = metadata;
  if (m instanceof Uint8Array) {
    try {
      m = JSON.parse(Buffer.from(m).toString('utf8'));
    } catch {
      return undefined;
    }
  }
  const r = (m as { revision?: unknown } | undefined)?.revision;
  const n = typeof r === 'string' ? Number(r) : r;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : undefined;
}

function isStreamNotFound(err: unknown): boolean {
  return (err as { type?: unknown } | undefined)?.type === 'stream-not-found';
}

/** gRPC status 12: the server does not have this call (multi-stream appends came with KurrentDB 25.1). */
function isUnimplemented(err: unknown): boolean {
  const e = err as { code?: unknown; type?: unknown; message?: unknown } | undefined;
  return e?.code === 12 || e?.type === 'unimplemented' || /UNIMPLEMENTED/i.test(String(e?.message ?? ''));
}

function isWrongExpectedVersion(err: unknown): boolean {
  return (err as { type?: unknown } | undefined)?.type === 'wrong-expected-version';
}
