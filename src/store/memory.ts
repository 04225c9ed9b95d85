// In-memory EventStore for tests and short-lived tools. Events are kept encoded, as in every other store,
// so a test on this store exercises the same codec as the durable ones.
import type { Observable, Subject } from 'rxjs';
import { rx } from './rx.js';
import { fastDecodeEvent, fastEncodeEvent } from '../events/fast-codec.js';
import type { NewEvent, StoredEvent } from '../events/types.js';
import { catchUpThenLive } from './subscribe.js';
import {
  checkExpected, flattenChunks, type AppendRequest, type AppendResult, type EventStore, type ExpectedRevision,
  type ReadOptions, type SnapshotRecord, type StreamInfo, type SubscribeOptions,
} from './types.js';

interface Entry { stream: string; revision: number; position: number; bytes: Uint8Array }

export class MemoryEventStore implements EventStore {
  readonly url = 'memory:';
  private readonly log: Entry[] = [];
  private readonly byStream = new Map<string, Entry[]>();
  private readonly snapshots = new Map<string, SnapshotRecord[]>();
  /** live appends for subscribers; made (and rxjs loaded) by the first subscribe */
  private live$: Subject<StoredEvent> | undefined;
  private get appended(): Subject<StoredEvent> {
    return (this.live$ ??= new (rx().Subject)<StoredEvent>());
  }
  private closed = false;

  async append(stream: string, events: NewEvent[], expectedRevision?: ExpectedRevision): Promise<AppendResult> {
    return (await this.appendMany([{ stream, events, expectedRevision }]))[0]!;
  }

  async appendMany(requests: AppendRequest[]): Promise<AppendResult[]> {
    if (this.closed) throw new Error('store is closed');
    const heads = new Map<string, number>();
    const headOf = (s: string) => heads.get(s) ?? (this.byStream.get(s)?.length ?? 0) - 1;
    // Check and encode everything first: a failure appends nothing.
    const staged: Entry[] = [];
    const results: AppendResult[] = [];
    for (const r of requests) {
      checkExpected(r.stream, r.expectedRevision, headOf(r.stream));
      const first = headOf(r.stream) + 1;
      r.events.forEach((e, i) => {
        staged.push({ stream: r.stream, revision: first + i, position: this.log.length + staged.length, bytes: fastEncodeEvent(e, first + i) });
      });
      heads.set(r.stream, first + r.events.length - 1);
      results.push({ firstRevision: first, nextExpectedRevision: first + r.events.length - 1, position: this.log.length + staged.length - 1 });
    }
    for (const entry of staged) {
      this.log.push(entry);
      let list = this.byStream.get(entry.stream);
      if (!list) this.byStream.set(entry.stream, (list = []));
      list.push(entry);
    }
    if (this.live$?.observed) for (const entry of staged) this.live$.next(toStored(entry));
    return results;
  }

  /**
   * Runs `fn` (which appends) as one unit: if it fails, every event and snapshot it added is taken back, so a
   * failed import leaves nothing and its retry starts from the same store. Appends by others while `fn` runs
   * would be taken back too: an import is the store's only writer while it runs.
   */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('store is closed');
    const logLength = this.log.length;
    try {
      return await fn();
    } catch (err) {
      for (const entry of this.log.splice(logLength)) {
        const list = this.byStream.get(entry.stream)!;
        list.pop();
        if (list.length === 0) this.byStream.delete(entry.stream);
      }
      // a snapshot past a stream's head now describes events that are gone
      for (const [stream, list] of this.snapshots) {
        const head = (this.byStream.get(stream)?.length ?? 0) - 1;
        const kept = list.filter((snap) => snap.revision <= head);
        if (kept.length) this.snapshots.set(stream, kept);
        else this.snapshots.delete(stream);
      }
      throw err;
    }
  }

  async *readChunks(stream: string, options: ReadOptions = {}): AsyncIterable<StoredEvent[]> {
    const list = this.byStream.get(stream) ?? [];
    const backwards = options.direction === 'backwards';
    const max = options.maxCount ?? Infinity;
    const out: StoredEvent[] = [];
    if (backwards) {
      const from = Math.min(options.from ?? list.length - 1, list.length - 1);
      const to = Math.max(options.to ?? 0, 0);
      for (let r = from; r >= to && out.length < max; r--) out.push(toStored(list[r]!));
    } else {
      const from = Math.max(options.from ?? 0, 0);
      const to = Math.min(options.to ?? list.length - 1, list.length - 1);
      for (let r = from; r <= to && out.length < max; r++) out.push(toStored(list[r]!));
    }
    for (let i = 0; i < out.length; i += 1024) yield out.slice(i, i + 1024);
  }

  read(stream: string, options?: ReadOptions): AsyncIterable<StoredEvent> {
    return flattenChunks(this.readChunks(stream, options));
  }

  async *readAll(fromPosition = 0): AsyncIterable<StoredEvent> {
    for (let p = Math.max(0, fromPosition); p < this.log.length; p++) yield toStored(this.log[p]!);
  }

  async head(stream: string): Promise<number> {
    return (this.byStream.get(stream)?.length ?? 0) - 1;
  }

  async streams(): Promise<StreamInfo[]> {
    return [...this.byStream.entries()].map(([stream, list]) => ({ stream, revision: list.length - 1 }));
  }

  subscribe(stream: string | null, options: SubscribeOptions = {}): Observable<StoredEvent> {
    const from = options.from ?? 0;
    if (stream === null) return catchUpThenLive(this.appended, (f) => this.readAll(f), from, (e) => e.position);
    return catchUpThenLive(
      this.appended.pipe(rx().filter((e) => e.stream === stream)),
      (f) => this.read(stream, { from: f }),
      from,
      (e) => e.revision,
    );
  }

  async saveSnapshot(stream: string, revision: number, data: Uint8Array): Promise<void> {
    const list = this.snapshots.get(stream) ?? [];
    list.push({ stream, revision, data: new Uint8Array(data) });
    list.sort((a, b) => a.revision - b.revision);
    this.snapshots.set(stream, list);
  }

  async loadSnapshot(stream: string, atOrBefore: number): Promise<SnapshotRecord | undefined> {
    const list = this.snapshots.get(stream) ?? [];
    let best: SnapshotRecord | undefined;
    for (const s of list) if (s.revision <= atOrBefore) best = s;
    return best;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.live$?.complete();
  }
}

function toStored(e: Entry): StoredEvent {
  return { stream: e.stream, revision: e.revision, position: e.position, event: fastDecodeEvent(e.bytes) };
}
