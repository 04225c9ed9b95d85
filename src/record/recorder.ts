// The Recorder: what an emulator or VMM calls on every device event. record() only queues (cheap, never blocks
// on I/O); batches go to the store as serialized appends (bufferTime + concatMap) and flush() resolves once
// everything recorded before it is durable.
import { Subject, Subscription, bufferTime, concatMap, filter, from, catchError, EMPTY } from 'rxjs';
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

interface Pending { device: string; event: NewEvent }

const wallOriginNs = BigInt(Math.round(performance.timeOrigin * 1e6));
const hrOrigin = process.hrtime.bigint();
export function wallClockNs(): bigint {
  return wallOriginNs + (process.hrtime.bigint() - hrOrigin);
}

export class Recorder {
  private readonly input = new Subject<Pending>();
  private readonly subscription: Subscription;
  private recorded = 0;
  private durable = 0;
  private failures: Error[] = [];
  private waiters: { target: number; resolve: () => void }[] = [];
  private readonly lastTs = new Map<string, bigint>();
  private readonly clock: () => bigint;
  private readonly source: NewEvent['source'];

  constructor(private readonly store: EventStore, options: RecorderOptions = {}) {
    this.clock = options.clock ?? wallClockNs;
    this.source = options.source ?? 'api';
    this.subscription = this.input
      .pipe(
        bufferTime(options.bufferMs ?? 20, null, options.maxBatch ?? 8192),
        filter((batch) => batch.length > 0),
        concatMap((batch) =>
          from(this.store.appendMany(group(batch)).then(() => batch.length)).pipe(
            catchError((err: Error) => {
              this.failures.push(err);
              this.settle(batch.length);
              return EMPTY;
            }),
          ),
        ),
      )
      .subscribe((n) => this.settle(n));
  }

  /** Queues one event for `device`. Timestamps default to now and never go backwards within a device. */
  record(device: string, input: RecordInput): void {
    let ts = input.timestampNs ?? this.clock();
    const last = this.lastTs.get(device);
    if (last !== undefined && ts < last) ts = last;
    this.lastTs.set(device, ts);
    this.recorded++;
    this.input.next({
      device,
      event: { timestampNs: ts, actor: input.actor ?? 'unspecified', path: input.path ?? 'unspecified', source: input.source ?? this.source, body: input.body },
    });
  }

  /** Number of events queued and not yet durable. */
  get pending(): number {
    return this.recorded - this.durable;
  }

  /** Resolves when every event recorded before the call is durable; rejects if any batch failed. */
  async flush(): Promise<void> {
    const target = this.recorded;
    if (this.durable < target) await new Promise<void>((resolve) => this.waiters.push({ target, resolve }));
    if (this.failures.length > 0) {
      const errs = this.failures.splice(0);
      throw new Error(`recording failed for ${errs.length} batch(es): ${errs.map((e) => e.message).join('; ')}`);
    }
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.subscription.unsubscribe();
    }
  }

  private settle(n: number): void {
    this.durable += n;
    this.waiters = this.waiters.filter((w) => (w.target <= this.durable ? (w.resolve(), false) : true));
  }
}

/** One append request per device, in first-seen order; each device's events keep their order. */
function group(batch: Pending[]): AppendRequest[] {
  const byDevice = new Map<string, NewEvent[]>();
  for (const p of batch) {
    let list = byDevice.get(p.device);
    if (!list) byDevice.set(p.device, (list = []));
    list.push(p.event);
  }
  return [...byDevice.entries()].map(([stream, events]) => ({ stream, events }));
}
