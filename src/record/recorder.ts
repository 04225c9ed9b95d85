// The Recorder: what an emulator or VMM calls on every device event. record() only queues (cheap, never blocks
// on I/O): events wait in one array per device until the batch is full (maxBatch) or bufferMs has passed since
// its first event; batches go to the store as serialized appends (each starts when the previous one is durable),
// and flush() resolves once everything recorded before it is durable. Plain arrays and one timer rather than an
// rxjs pipeline on the hot path: per-event Subject/bufferTime work cost two thirds of the throughput, and an idle
// Recorder holds no timer, so a process that is done exits.
import type { EventBody, NewEvent } from '../events/types.js';
import type { AppendRequest, EventStore } from '../store/types.js';

export interface RecorderOptions {
  /** longest time an event waits in memory before its batch is written (ms) */
  bufferMs?: number;
  /** largest batch (events) */
  maxBatch?: number;
  /** clock in ns since the epoch; default: wall clock with hrtime resolution */
  clock?: () => bigint;
  /** defaults for events that leave these out */
  source?: NewEvent['source'];
}

export type RecordInput = Partial<Omit<NewEvent, 'body'>> & { body: EventBody };

const wallOriginNs = BigInt(Math.round(performance.timeOrigin * 1e6));
const hrOrigin = process.hrtime.bigint();
export function wallClockNs(): bigint {
  return wallOriginNs + (process.hrtime.bigint() - hrOrigin);
}

export class Recorder {
  /** the batch being filled: events per device, in first-seen order of devices */
  private batch = new Map<string, NewEvent[]>();
  private batched = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** the last append handed to the store; the next one starts after it */
  private writing: Promise<void> = Promise.resolve();
  private recorded = 0;
  private durable = 0;
  private failures: Error[] = [];
  private waiters: { target: number; resolve: () => void }[] = [];
  private readonly lastTs = new Map<string, bigint>();
  private readonly clock: () => bigint;
  private readonly source: NewEvent['source'];
  private readonly bufferMs: number;
  private readonly maxBatch: number;
  private closed = false;

  constructor(private readonly store: EventStore, options: RecorderOptions = {}) {
    this.clock = options.clock ?? wallClockNs;
    this.source = options.source ?? 'api';
    this.bufferMs = options.bufferMs ?? 20;
    this.maxBatch = options.maxBatch ?? 8192;
  }

  /** Queues one event for `device`. Timestamps default to now and never go backwards within a device. */
  record(device: string, input: RecordInput): void {
    if (this.closed) throw new Error('Recorder.record() after close()');
    let ts = input.timestampNs ?? this.clock();
    const last = this.lastTs.get(device);
    if (last !== undefined && ts < last) ts = last;
    this.lastTs.set(device, ts);
    this.recorded++;
    let list = this.batch.get(device);
    if (!list) this.batch.set(device, (list = []));
    list.push({ timestampNs: ts, actor: input.actor ?? 'unspecified', path: input.path ?? 'unspecified', source: input.source ?? this.source, body: input.body });
    if (++this.batched >= this.maxBatch) this.cut();
    else this.timer ??= setTimeout(() => this.cut(), this.bufferMs);
  }

  /** Number of events queued and not yet durable. */
  get pending(): number {
    return this.recorded - this.durable;
  }

  /** Resolves when every event recorded before the call is durable; rejects if any batch failed. */
  async flush(): Promise<void> {
    const target = this.recorded;
    this.cut(); // what waits for durability need not wait for the batch timer too
    if (this.durable < target) await new Promise<void>((resolve) => this.waiters.push({ target, resolve }));
    if (this.failures.length > 0) {
      const errs = this.failures.splice(0);
      throw new Error(`recording failed for ${errs.length} batch(es): ${errs.map((e) => e.message).join('; ')}`);
    }
  }

  /** Flushes, then takes no more events; nothing of the Recorder is left running. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.closed = true;
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** Hands the batch being filled to the store, after the append before it. */
  private cut(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.batched === 0) return;
    const requests: AppendRequest[] = [...this.batch].map(([stream, events]) => ({ stream, events }));
    const n = this.batched;
    this.batch = new Map();
    this.batched = 0;
    this.writing = this.writing.then(
      () => this.store.appendMany(requests).then(
        () => this.settle(n),
        (err: Error) => {
          this.failures.push(err);
          this.settle(n);
        },
      ),
    );
  }

  private settle(n: number): void {
    this.durable += n;
    this.waiters = this.waiters.filter((w) => (w.target <= this.durable ? (w.resolve(), false) : true));
  }
}
