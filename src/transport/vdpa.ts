// vDPA bus decoder: the operations a driver makes on a vDPA device (struct vdpa_config_ops, include/linux/vdpa.h),
// as kprobe events on the parent's ops record them, -> semantic events. Each op is kept raw first (an info
// annotation carrying the trace line, code `vdpa-op`), then what it means: set_status is a status write,
// get_status the device's answer (and, after FEATURES_OK was written, the verdict on the features), the
// set_vq_* ops the queue setup, get_config the device config bytes the caller saw.
import type { AccessPath, Actor, NewEvent } from '../events/types.js';
import { featureBit } from '../model/features.js';
import { VDPA_MANAGEMENT_CALLERS, VDPA_OPS, type VdpaOpMeaning } from '../model/vdpa.js';
import type { Out } from './support.js';
import { VirtioShadow } from './virtio-shadow.js';

/** One recorded vDPA bus operation (one kprobe event line). */
export interface VdpaOpRecord {
  timestampNs: bigint;
  /** the task that made the call (trace comm) */
  comm: string;
  /** the vdpa_config_ops member */
  op: string;
  /** the parent's function that implements it (vduse_vdpa_set_status) */
  fn: string;
  /** return probes: the function that called the op (virtio_dev_probe, vdpa_dev_config_fill) */
  caller?: string;
  /** fetched arguments, as the trace printed them */
  args: Record<string, string>;
  /** the trace line, kept as the raw record */
  raw: string;
}

export class VdpaOpError extends Error {}

const MANAGEMENT = new Set(VDPA_MANAGEMENT_CALLERS);
const RING_PACKED = featureBit('VIRTIO_F_RING_PACKED');

function num(r: VdpaOpRecord, key: string): number {
  const v = r.args[key];
  const n = v === undefined ? NaN : Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new VdpaOpError(`${r.op}: argument ${key}=${v ?? '(missing)'} is not a number`);
  return n;
}

function big(r: VdpaOpRecord, key: string): bigint {
  const v = r.args[key];
  if (v === undefined || !/^(0x[0-9a-f]+|\d+)$/i.test(v)) throw new VdpaOpError(`${r.op}: argument ${key}=${v ?? '(missing)'} is not a number`);
  const b = BigInt(v);
  if (b > 0xffffffffffffffffn) throw new VdpaOpError(`${r.op}: argument ${key}=${v} is wider than 64 bits`);
  return b;
}

/** `{0x7e,0x0,...}` as printed for a u8 array fetch -> bytes (at most `len`). */
function bytes(r: VdpaOpRecord, len: number): Uint8Array {
  const v = r.args['data'];
  if (v === undefined || !/^\{[0-9a-fx,]*\}$/i.test(v)) throw new VdpaOpError(`${r.op}: argument data=${v ?? '(missing)'} is not a byte array`);
  const items = v.slice(1, -1).split(',').filter((s) => s !== '');
  const out = items.slice(0, len).map((s) => Number(s));
  if (out.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) throw new VdpaOpError(`${r.op}: data=${v} has a value that is not a byte`);
  return Uint8Array.from(out);
}

/**
 * One vDPA device's decoder. It keeps the little state the meaning of the next op depends on (FEATURES_OK
 * written and not yet read back, a reset not yet seen complete, the accepted features for the ring layout).
 */
export class VdpaOpDecoder {
  private readonly shadow: VirtioShadow;
  private accepted = 0n;
  /** kicks per queue: they change no modelled state (the ring indices live in guest memory) */
  readonly kicks = new Map<number, number>();

  /** @param numQueues the device's virtqueues (`vdpa dev show` max_vqs), when known */
  constructor(readonly numQueues?: number) {
    this.shadow = new VirtioShadow(true, numQueues);
  }

  meaning(r: VdpaOpRecord): VdpaOpMeaning | undefined {
    return VDPA_OPS[r.op];
  }

  /** The raw op event first, then the semantic events. Throws VdpaOpError on an op whose arguments make no sense. */
  decode(r: VdpaOpRecord): NewEvent[] {
    const management = r.caller !== undefined && MANAGEMENT.has(r.caller);
    const actor: Actor = management ? 'management-tool' : 'guest-driver';
    const path: AccessPath = management && r.caller!.startsWith('vdpa_') ? 'netlink' : 'internal';
    const base = { timestampNs: r.timestampNs, actor, path, source: 'kprobe-trace' as const };
    const out: NewEvent[] = [{ ...base, body: { kind: 'annotation', severity: 'info', code: 'vdpa-op', message: r.raw } }];
    for (const o of this.semantic(r)) out.push({ ...base, ...(o.actor ? { actor: o.actor } : {}), body: o.body });
    return out;
  }

  private semantic(r: VdpaOpRecord): Out[] {
    switch (this.meaning(r)) {
      case 'reset':
        // vdpa_config_ops.reset is a synchronous call: the device is reset when it returns, and the driver
        // (virtio_vdpa_reset -> vdpa_reset) makes its next op only after that; there is no status to poll.
        this.shadow.reset();
        this.accepted = 0n;
        return [
          { body: { kind: 'resetRequested', scope: 'device-reset', queue: 0 } },
          { body: { kind: 'resetCompleted', scope: 'device-reset', queue: 0 }, actor: 'device' },
        ];
      case 'status-write': {
        const status = num(r, 'status');
        if (status > 0xff) throw new VdpaOpError(`set_status: status ${status} is wider than 8 bits`);
        if (status === 0) this.accepted = 0n;
        return this.shadow.writeStatus(status);
      }
      case 'status-read': {
        const status = num(r, 'status');
        if (status > 0xff) throw new VdpaOpError(`get_status: status ${status} is wider than 8 bits`);
        // A management read (sysfs, vdpa dev config show) is no answer to the driver's FEATURES_OK question.
        if (r.caller !== undefined && MANAGEMENT.has(r.caller)) return [{ body: { kind: 'statusRead', status } }];
        const outs = this.shadow.readStatus(status);
        for (const o of outs) if (o.body.kind === 'featuresNegotiated' && o.body.accepted) this.accepted = o.body.features;
        return outs;
      }
      case 'device-features':
        return [{ body: { kind: 'deviceFeatures', value: big(r, 'features'), highWords: [] }, actor: 'device' }];
      case 'driver-features-write': {
        const f = big(r, 'features');
        this.shadow.driverFeatureWritten(f & 0xffffffffn, 0);
        this.shadow.driverFeatureWritten(f >> 32n, 1);
        return [{ body: { kind: 'driverFeatures', value: f, highWords: [] } }];
      }
      case 'vq-num-max': {
        // One maximum for every queue of the device (vdpa_config_ops.get_vq_num_max takes no index).
        const maxSize = num(r, 'num');
        const n = this.numQueues ?? 0;
        return Array.from({ length: n }, (_, index) => ({ body: { kind: 'queueConfigured' as const, index, maxSize }, actor: 'device' as const }));
      }
      case 'vq-num':
        return [{ body: { kind: 'queueConfigured', index: this.queueIndex(r), size: num(r, 'num') } }];
      case 'vq-address':
        return [{ body: { kind: 'queueConfigured', index: this.queueIndex(r), desc: big(r, 'desc'), driver: big(r, 'driver'), device: big(r, 'device') } }];
      case 'vq-ready-write': {
        const index = this.queueIndex(r);
        const enabled = num(r, 'ready') !== 0;
        // once ready, the device moves the ring in guest memory, which no bus op shows: its indices are unknown
        // until a get_vq_state reads them back
        return enabled
          ? [{ body: { kind: 'queueConfigured', index, enabled } }, { body: { kind: 'vqIndex', index, indicesUnseen: true } }]
          : [{ body: { kind: 'queueConfigured', index, enabled } }];
      }
      case 'vq-ready-read':
        return [{ body: { kind: 'queueConfigured', index: this.queueIndex(r), enabled: num(r, 'ready') !== 0 }, actor: 'device' }];
      case 'vq-state-write':
      case 'vq-state-read': {
        const index = this.queueIndex(r);
        const s0 = num(r, 'state0');
        const s1 = num(r, 'state1');
        const actor: Actor | undefined = this.meaning(r) === 'vq-state-read' ? 'device' : undefined;
        // struct vdpa_vq_state: split rings carry avail_index only; packed rings a wrap counter (bit 0) and a
        // 15-bit index for the available and the used side.
        if (!(this.accepted & RING_PACKED)) return [{ body: { kind: 'vqIndex', index, lastAvailIdx: s0 }, ...(actor ? { actor } : {}) }];
        return [{
          body: { kind: 'vqIndex', index, lastAvailIdx: s0 >> 1, availWrap: (s0 & 1) === 1, usedIdx: s1 >> 1, usedWrap: (s1 & 1) === 1 },
          ...(actor ? { actor } : {}),
        }];
      }
      case 'vq-kick': {
        const index = this.queueIndex(r);
        this.kicks.set(index, (this.kicks.get(index) ?? 0) + 1);
        return [];
      }
      case 'config-read':
      case 'config-write': {
        const offset = num(r, 'offset');
        const len = num(r, 'len');
        const data = bytes(r, len);
        if (data.length === 0) return [];
        return [{ body: { kind: this.meaning(r) === 'config-read' ? 'configRead' : 'configWritten', offset, data } }];
      }
      case 'driver-features-read':
      case 'suspend':
      case 'resume':
        return [];
      case undefined:
        throw new VdpaOpError(`unknown vdpa_config_ops member "${r.op}" (known: ${Object.keys(VDPA_OPS).join(', ')})`);
    }
  }

  private queueIndex(r: VdpaOpRecord): number {
    const index = num(r, 'idx');
    if (index > 0xffff) throw new VdpaOpError(`${r.op}: queue index ${index} is wider than 16 bits`);
    return index;
  }
}

/** A kprobe event line or a trace_marker line of a tracefs `trace` file. */
export type TraceLine =
  | { kind: 'op'; record: VdpaOpRecord; device: string }
  | { kind: 'marker'; timestampNs: bigint; comm: string; text: string };

const LINE = /^\s*(.+)-(\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(\d+)\]\s+\S+\s+(\d+)\.(\d{6}):\s+([\w]+):\s+(.*)$/;
const LOCATION = /^\(([^)]*)\)(.*)$/;
const ARG = /(\w+)=("[^"]*"|\{[^}]*\}|\S+)/g;

/** Parses one line of a tracefs `trace` file. Returns undefined for lines that are neither (comments, blank). */
export function parseTraceLine(line: string): TraceLine | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  const [, comm, , , secs, micros, event, rest] = m as unknown as [string, string, string, string, string, string, string, string];
  const timestampNs = BigInt(secs) * 1_000_000_000n + BigInt(micros) * 1000n;
  if (event === 'tracing_mark_write') return { kind: 'marker', timestampNs, comm: comm.trim(), text: rest.trim() };
  const loc = LOCATION.exec(rest);
  if (!loc) throw new VdpaOpError(`event ${event}: no probe location "(function+off/size)"`);
  const where = loc[1]!;
  let fn: string;
  let caller: string | undefined;
  const ret = where.split(' <- ');
  if (ret.length === 2) {
    caller = ret[0]!.split('+')[0]!;
    fn = ret[1]!.trim();
  } else {
    fn = where.split('+')[0]!;
  }
  const args: Record<string, string> = {};
  for (const a of loc[2]!.matchAll(ARG)) args[a[1]!] = a[2]!.startsWith('"') ? a[2]!.slice(1, -1) : a[2]!;
  const device = args['dev'];
  if (device === undefined) throw new VdpaOpError(`event ${event}: no dev= argument (the probe must fetch the vDPA device name)`);
  return {
    kind: 'op', device,
    record: { timestampNs, comm: comm.trim(), op: event, fn, ...(caller ? { caller } : {}), args, raw: line.trim() },
  };
}
