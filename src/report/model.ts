// The data behind `devrec report`: one pass over a device's events (streamed, never held), building
//   - per-queue index lines (last_avail_idx and used_idx, unwrapped into cumulative counts), downsampled into
//     a fixed number of revision buckets (min/max per bucket, in the order they happened);
//   - the status byte at every change (a step line per status bit);
//   - every marker: resets, status writes, feature negotiation steps, VFIO state changes, lint findings and a
//     few rare kinds (identified, snapshot, annotation), each with its event in words (describe/explain).
// Memory grows with the number of buckets and of markers, not of events.
import { explainEvents } from '../events/explain.js';
import { describeBody, nsToIsoNs } from '../events/describe.js';
import { hex64 } from '../events/json.js';
import type { DeviceEvent, EventBody } from '../events/types.js';
import { deviceTypeByName } from '../model/device-types.js';
import { featureBit, featureNames } from '../model/index.js';
import { Linter } from '../project/rules/lint.js';
import { sessionWords } from '../project/rules/sessions.js';
import type { Finding } from '../project/rules/types.js';
import type { DeviceState } from '../project/state.js';
import { scanStream, type EventStore } from '../store/types.js';
import { isWallClock } from '../events/time.js';

export type MarkerCategory = 'reset' | 'status' | 'features' | 'vfio' | 'finding' | 'other';
export const MARKER_CATEGORIES: readonly MarkerCategory[] = ['reset', 'status', 'features', 'vfio', 'finding', 'other'];

export interface ReportMarker {
  /** revision */
  r: number;
  /** seconds since the first event of the range (0 when the recording has no times) */
  t: number;
  /** event kind (body.kind), or `finding` */
  k: string;
  c: MarkerCategory;
  /** the event (or finding) in words */
  x: string;
  /** finding severity / rule */
  sev?: string;
  rule?: string;
  /** feature negotiation step: offered, written, accepted, refused, parent, provisioned; with the bit names */
  step?: string;
  mask?: string;
  names?: string[];
}

export interface QueueSeries {
  /** `q<index> last_avail` or `q<index> used` */
  name: string;
  queue: number;
  index: 'lastAvail' | 'used';
  /** one value per x point; null before the queue existed */
  values: (number | null)[];
}

export interface ReportData {
  format: 'devrec-report/1';
  device: string;
  type: string;
  transport: string;
  /** first and last revision shown */
  from: number;
  to: number;
  /** events in [from, to] */
  events: number;
  /** events read in all (the replay starts at revision 0, to know the state at `from`) */
  scanned: number;
  /** every event kind in the range, with counts */
  kinds: Record<string, number>;
  /** ISO time of the first event in the range, when the recording has times */
  t0: string | null;
  hasTime: boolean;
  /** revisions per bucket of the plotted lines (1: every event is a point) */
  bucketWidth: number;
  queues: { x: number[]; t: number[]; series: QueueSeries[] };
  /** status byte after each status change; the first point is the status at `from`; null: unknown */
  status: { x: number[]; t: number[]; values: (number | null)[] };
  markers: ReportMarker[];
  findings: { errors: number; warnings: number; infos: number };
}

export interface BuildReportOptions {
  from?: number;
  to?: number;
  /** buckets of the downsampled lines (default 2000; each gives at most two points) */
  buckets?: number;
  /** called every `progressEvery` events with the number of events read so far */
  onProgress?: (scanned: number, total: number) => void;
  progressEvery?: number;
}

const PACKED = featureBit('VIRTIO_F_RING_PACKED');
const RESET_KINDS = new Set(['resetRequested', 'resetCompleted', 'snapshot']);
const QUEUE_KINDS = new Set(['vqIndex', 'queueConfigured', 'statusWritten', 'resetRequested', 'resetCompleted', 'snapshot']);

/**
 * The shortest way from index `a` to index `b` modulo `mod` (in (-mod/2, mod/2]), added to the count `at`;
 * forwards when going back would make the count negative.
 */
function advance(at: number, a: number, b: number, mod: number): number {
  let d = (((b - a) % mod) + mod) % mod;
  if (d > mod / 2 && at + d - mod >= 0) d -= mod;
  return at + d;
}

/** Index lines of one queue; null while the index is unknown (the line has a gap there). */
interface QueueTrack {
  queue: number;
  rawAvail: number | null;
  rawUsed: number | null;
  avail: number | null;
  used: number | null;
  availSeries: SeriesBuilder;
  usedSeries: SeriesBuilder;
}

/** One plotted line: the carried value, and its min/max/first/last inside the open bucket. */
class SeriesBuilder {
  readonly values: (number | null)[] = [];
  value: number | null = 0;
  private min = 0;
  private max = 0;
  private first = 0;
  private touched = false;
  constructor(readonly name: string, readonly queue: number, readonly index: 'lastAvail' | 'used', pointsSoFar: number) {
    for (let i = 0; i < pointsSoFar; i++) this.values.push(null);
  }
  set(v: number | null): void {
    if (v === null || this.value === null) {
      // unknown: a gap; the bucket shows the last value it had
      this.value = v;
      this.touched = false;
      return;
    }
    if (!this.touched) {
      this.touched = true;
      this.first = this.value;
      this.min = Math.min(this.value, v);
      this.max = Math.max(this.value, v);
    } else {
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
    }
    this.value = v;
  }
  /** Closes a bucket that becomes `points` x points (1 or 2). */
  close(points: 1 | 2): void {
    if (points === 1 || !this.touched) {
      for (let i = 0; i < points; i++) this.values.push(this.value);
    } else if (this.value !== null && this.value >= this.first) {
      this.values.push(this.min, this.max);
    } else {
      this.values.push(this.max, this.min);
    }
    this.touched = false;
  }
}

/** Builds the report data from events handed in revision order (`step`), then `finish`. */
export class ReportBuilder {
  private readonly linter: Linter;
  private readonly from: number;
  private readonly to: number;
  private readonly width: number;
  private t0Ns: bigint | undefined;
  private lastT = 0;
  private hasTime = false;
  private events = 0;
  private scanned = 0;
  private readonly kinds: Record<string, number> = {};
  private readonly qx: number[] = [];
  private readonly qt: number[] = [];
  private readonly tracks = new Map<number, QueueTrack>();
  private readonly series: SeriesBuilder[] = [];
  private bucket = -1;
  private bucketFirstRev = 0;
  private bucketLastRev = 0;
  private bucketFirstT = 0;
  private bucketLastT = 0;
  private readonly status = { x: [] as number[], t: [] as number[], values: [] as (number | null)[] };
  private readonly markers: ReportMarker[] = [];
  private readonly findingText: { marker: ReportMarker; finding: Finding; at: string }[] = [];
  private readonly findings = { errors: 0, warnings: 0, infos: 0 };
  private lastRaw: DeviceEvent | undefined;
  private lastStatus: number | null = -1;

  /** `to`: the last revision of the range (the stream head when not given). */
  constructor(private readonly device: string, range: { from: number; to: number }, buckets = 2000) {
    this.linter = new Linter(device);
    this.from = range.from;
    this.to = range.to;
    const n = Math.max(1, range.to - range.from + 1);
    this.width = Math.max(1, Math.ceil(n / Math.max(1, buckets)));
  }

  get state(): DeviceState {
    return this.linter.current;
  }

  step(e: DeviceEvent): void {
    this.scanned++;
    const findings = this.linter.step(e);
    const s = this.linter.current;
    const inRange = e.revision >= this.from && e.revision <= this.to;
    const b = e.body;
    let t = 0;
    if (inRange) {
      t = this.timeOf(e);
      const bucket = Math.floor((e.revision - this.from) / this.width);
      if (bucket !== this.bucket) {
        if (this.bucket >= 0) this.closeBucket();
        this.bucket = bucket;
        this.bucketFirstRev = e.revision;
        this.bucketFirstT = t;
      }
      this.bucketLastRev = e.revision;
      this.bucketLastT = t;
    }
    if (QUEUE_KINDS.has(b.kind)) this.trackQueues(s, b);
    if (inRange) {
      this.events++;
      this.kinds[b.kind] = (this.kinds[b.kind] ?? 0) + 1;
      if (this.events === 1 || s.status !== this.lastStatus) {
        this.status.x.push(e.revision);
        this.status.t.push(t);
        this.status.values.push(s.status);
        this.lastStatus = s.status;
      }
      this.mark(e, t, s.type, findings);
    } else {
      this.lastStatus = s.status;
    }
    if (b.kind === 'registerAccess') this.lastRaw = e;
  }

  private timeOf(e: DeviceEvent): number {
    // ordinals stamped by imports without a wall clock (QEMU traces without pid@time) are not times
    if (!isWallClock(e.timestampNs)) return this.lastT;
    if (this.t0Ns === undefined) this.t0Ns = e.timestampNs;
    this.hasTime = true;
    // seconds since the first event; kept non-decreasing so the time axis stays sorted
    const t = Number(e.timestampNs - this.t0Ns) / 1e9;
    if (t > this.lastT) this.lastT = t;
    return this.lastT;
  }

  private trackQueues(s: DeviceState, b: EventBody): void {
    const restart = RESET_KINDS.has(b.kind) || (b.kind === 'statusWritten' && b.status === 0);
    const packed = s.features.accepted !== null && (s.features.accepted & PACKED) !== 0n;
    for (const q of s.queues) {
      let tr = this.tracks.get(q.index);
      if (!tr) {
        const points = this.qx.length;
        tr = {
          queue: q.index, rawAvail: q.lastAvailIdx, rawUsed: q.usedIdx, avail: q.lastAvailIdx, used: q.usedIdx,
          availSeries: new SeriesBuilder(`q${q.index} last_avail`, q.index, 'lastAvail', points),
          usedSeries: new SeriesBuilder(`q${q.index} used`, q.index, 'used', points),
        };
        tr.availSeries.value = tr.avail;
        tr.usedSeries.value = tr.used;
        this.tracks.set(q.index, tr);
        this.series.push(tr.availSeries, tr.usedSeries);
        continue;
      }
      const mod = packed && q.size ? q.size : 0x10000;
      // a delta the event states is taken as is (it may pass half the ring); otherwise the shortest way round
      const own = b.kind === 'vqIndex' && b.index === q.index ? b : undefined;
      if (own && own.lastAvailIdx === undefined && own.availDelta && tr.avail !== null && q.lastAvailIdx !== null) {
        tr.avail += own.availDelta;
        tr.rawAvail = q.lastAvailIdx;
        tr.availSeries.set(tr.avail);
      } else if (q.lastAvailIdx !== tr.rawAvail) {
        tr.avail = restart || tr.avail === null || tr.rawAvail === null || q.lastAvailIdx === null
          ? q.lastAvailIdx : advance(tr.avail, tr.rawAvail, q.lastAvailIdx, mod);
        tr.rawAvail = q.lastAvailIdx;
        tr.availSeries.set(tr.avail);
      }
      if (own && own.usedIdx === undefined && own.usedDelta && tr.used !== null && q.usedIdx !== null) {
        tr.used += own.usedDelta;
        tr.rawUsed = q.usedIdx;
        tr.usedSeries.set(tr.used);
      } else if (q.usedIdx !== tr.rawUsed) {
        tr.used = restart || tr.used === null || tr.rawUsed === null || q.usedIdx === null
          ? q.usedIdx : advance(tr.used, tr.rawUsed, q.usedIdx, mod);
        tr.rawUsed = q.usedIdx;
        tr.usedSeries.set(tr.used);
      }
    }
  }

  private closeBucket(): void {
    const two = this.bucketLastRev !== this.bucketFirstRev;
    if (two) {
      this.qx.push(this.bucketFirstRev, this.bucketLastRev);
      this.qt.push(this.bucketFirstT, this.bucketLastT);
    } else {
      this.qx.push(this.bucketFirstRev);
      this.qt.push(this.bucketFirstT);
    }
    for (const s of this.series) s.close(two ? 2 : 1);
  }

  private words(e: DeviceEvent, type: string): string {
    const lines = [...explainEvents(this.lastRaw && e.body.kind !== 'registerAccess' ? [this.lastRaw, e] : [e], type)];
    return lines[lines.length - 1] ?? describeBody(e.body, type);
  }

  private mark(e: DeviceEvent, t: number, type: string, findings: Finding[]): void {
    const b = e.body;
    let c: MarkerCategory | undefined;
    let step: string | undefined;
    let mask: bigint | undefined;
    switch (b.kind) {
      case 'statusWritten':
        c = b.status === 0 ? 'reset' : 'status';
        break;
      case 'resetRequested':
      case 'resetCompleted':
        c = 'reset';
        break;
      case 'deviceFeatures':
        c = 'features';
        step = 'offered';
        mask = b.select === undefined ? b.value : b.value << BigInt(32 * b.select);
        break;
      case 'driverFeatures':
        c = 'features';
        step = 'written';
        mask = b.select === undefined ? b.value : b.value << BigInt(32 * b.select);
        break;
      case 'featuresNegotiated':
        c = 'features';
        step = b.accepted ? 'accepted' : 'refused';
        mask = b.accepted ? b.features : undefined;
        break;
      case 'parentFeatures':
        c = 'features';
        step = 'parent';
        mask = b.value;
        break;
      case 'provisioned':
        c = 'features';
        step = 'provisioned';
        mask = b.deviceFeaturesGiven ? b.deviceFeatures : undefined;
        break;
      case 'vfioState':
        c = 'vfio';
        break;
      case 'identified':
      case 'snapshot':
      case 'annotation':
        c = 'other';
        break;
      default:
        break;
    }
    let text: string | undefined;
    if (c) {
      text = this.words(e, type);
      const m: ReportMarker = { r: e.revision, t, k: b.kind, c, x: text };
      if (step) {
        m.step = step;
        if (mask !== undefined) {
          m.mask = hex64(mask);
          m.names = featureNames(mask, type && deviceTypeByName(type) ? type : undefined);
        }
      }
      this.markers.push(m);
    }
    for (const f of findings) {
      text ??= this.words(e, type);
      if (f.severity === 'error') this.findings.errors++;
      else if (f.severity === 'warning') this.findings.warnings++;
      else this.findings.infos++;
      const marker: ReportMarker = { r: e.revision, t, k: 'finding', c: 'finding', sev: f.severity, rule: f.rule, x: '' };
      this.markers.push(marker);
      // the session's driver is named once its signs are all seen (a later reset may be one): text at finish
      this.findingText.push({ marker, finding: f, at: text });
    }
  }

  finish(): ReportData {
    if (this.bucket >= 0) this.closeBucket();
    this.bucket = -1;
    const sessions = this.linter.sessions.list();
    for (const { marker, finding: f, at } of this.findingText.splice(0)) {
      f.sessionDriver = sessions[f.session]?.driver ?? null;
      marker.x = `${f.severity} ${f.rule} (driver ${sessionWords(f)}): ${f.message}\n${f.reference}\nat ${at}`;
    }
    const s = this.linter.current;
    return {
      format: 'devrec-report/1',
      device: this.device,
      type: s.type,
      transport: s.transport,
      from: this.from,
      to: Math.min(this.to, s.revision),
      events: this.events,
      scanned: this.scanned,
      kinds: this.kinds,
      t0: this.t0Ns !== undefined ? nsToIsoNs(this.t0Ns) : null,
      hasTime: this.hasTime,
      bucketWidth: this.width,
      queues: {
        x: this.qx, t: this.qt,
        series: this.series.map((sb) => ({ name: sb.name, queue: sb.queue, index: sb.index, values: sb.values })),
      },
      status: this.status,
      markers: this.markers,
      findings: this.findings,
    };
  }
}

export class ReportRangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RangeError';
  }
}

/** Streams a device's events (revision 0 up to `to`) into a ReportBuilder. */
export async function buildReport(store: EventStore, device: string, options: BuildReportOptions = {}): Promise<ReportData> {
  const head = await store.head(device);
  if (head < 0) throw new ReportRangeError(`no device "${device}" in ${store.url}`);
  const from = options.from ?? 0;
  const to = Math.min(options.to ?? head, head);
  if (from > head) throw new ReportRangeError(`--from ${from}: device ${device} has revisions 0..${head}`);
  if (to < from) throw new ReportRangeError(`--to ${to} is before --from ${from}`);
  const builder = new ReportBuilder(device, { from, to }, options.buckets);
  const every = options.progressEvery ?? 65536;
  let n = 0;
  const total = to + 1;
  await scanStream(store, device, { from: 0, to }, (e) => {
    builder.step(e);
    if (options.onProgress && ++n % every === 0) options.onProgress(n, total);
  });
  return builder.finish();
}
