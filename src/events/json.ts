// The JSON form of events (NDJSON input, `log --json`): flat `{revision, timestampNs, actor, path, source,
// kind, ...body fields}`. 64-bit values are "0x..." hex strings, bytes are hex strings, enums kebab-case.
// Parsing is strict: every problem is a FieldError naming the field.
import type { DeviceEvent, EventBody, NewEvent } from './types.js';
import { eventRangeProblem } from './ranges.js';
import { BODY_SPECS, EVENT_SPEC } from './event-spec.js';
import { defaultValue, type FieldSpec, type MessageSpec } from './schema.js';
import { timeJson } from './time.js';
import { bytesToHex, hex64 } from './hex.js';

export { bytesToHex, hex64 };

/**
 * 32-bit fields that hold register values or identifiers, not counts: written as "0x..." strings in JSON (the
 * radix policy, docs/state.md), zero-padded to the digits given (PCI ids as "0x1af4"). Input takes both forms.
 */
const HEX_FIELDS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  statusWritten: { status: 2 },
  statusRead: { status: 2 },
  pciConfigWritten: { value: 0 },
  queueConfigured: { pfn: 0 },
  identified: { pciVendor: 4, pciDevice: 4, pciSubsystemVendor: 4, pciSubsystem: 4, pciRevision: 2 },
};

/**
 * A copy of a JSON value with the numbers under the given keys (at any depth) written as "0x..." strings, padded
 * to the digits given: for JSON made elsewhere that holds register values or masks beside counts.
 */
export function hexKeys(v: unknown, keys: Readonly<Record<string, number>>): unknown {
  if (Array.isArray(v)) return v.map((x) => hexKeys(x, keys));
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const digits = keys[k];
    out[k] = digits !== undefined && typeof x === 'number' && Number.isInteger(x) && x >= 0 ? '0x' + x.toString(16).padStart(digits, '0') : hexKeys(x, keys);
  }
  return out;
}

/** VFIO states as the kernel's enum vfio_device_mig_state names them (STOP_COPY); the one spelling users see. */
export function vfioStateName(s: string): string {
  return s.toUpperCase().replace(/-/g, '_');
}

export class FieldError extends Error {
  constructor(readonly field: string, readonly reason: string) {
    super(`field "${field}": ${reason}`);
    this.name = 'FieldError';
  }
}

const U64_MAX = (1n << 64n) - 1n;

export function hexToBytes(s: string, field: string): Uint8Array {
  const h = s.startsWith('0x') || s.startsWith('0X') ? s.slice(2) : s;
  const clean = h.replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new FieldError(field, `expected a hex byte string, got ${JSON.stringify(s)}`);
  }
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

/** Parses a u64 from a JSON value: "0x..." hex, decimal string, or a safe non-negative integer. */
export function parseU64(v: unknown, field: string): bigint {
  let n: bigint;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) {
      throw new FieldError(field, `number ${v} cannot hold a 64-bit value exactly; write it as a "0x..." string`);
    }
    n = BigInt(v);
  } else if (typeof v === 'string' && /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v)) {
    n = BigInt(v);
  } else {
    throw new FieldError(field, `expected an unsigned 64-bit value ("0x..." or decimal), got ${JSON.stringify(v)}`);
  }
  if (n < 0n || n > U64_MAX) throw new FieldError(field, `${v} is outside unsigned 64-bit range`);
  return n;
}

function parseInt32(v: unknown, field: string, min: number, max: number): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^(0x[0-9a-fA-F]+|-?[0-9]+)$/.test(v)) n = Number(v);
  else throw new FieldError(field, `expected an integer, got ${JSON.stringify(v)}`);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new FieldError(field, `expected an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

function scalarFromJson(f: FieldSpec, v: unknown, path: string): unknown {
  if (f.enumSpec && typeof v === 'string' && !f.enumSpec.numbers.has(v)) {
    // STOP_COPY (as devrec prints VFIO states) for the enum's stop-copy
    const kebab = v.toLowerCase().replace(/_/g, '-');
    if (f.enumSpec.numbers.has(kebab)) v = kebab;
  }
  if (f.enumSpec) {
    if (typeof v !== 'string' || !f.enumSpec.numbers.has(v)) {
      throw new FieldError(path, `expected one of ${[...f.enumSpec.numbers.keys()].join(', ')}; got ${JSON.stringify(v)}`);
    }
    return v;
  }
  if (f.message) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FieldError(path, 'expected an object');
    return messageFromJson(f.message, v as Record<string, unknown>, path + '.');
  }
  switch (f.scalar) {
    case 'u32': return parseInt32(v, path, 0, 0xffffffff);
    case 'i32': return parseInt32(v, path, -0x80000000, 0x7fffffff);
    case 'u64': return parseU64(v, path);
    case 'u64num': return parseInt32(v, path, 0, Number.MAX_SAFE_INTEGER);
    case 'i64num': return parseInt32(v, path, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    case 'bool':
      if (typeof v !== 'boolean') throw new FieldError(path, `expected true or false, got ${JSON.stringify(v)}`);
      return v;
    case 'string':
      if (typeof v !== 'string') throw new FieldError(path, `expected a string, got ${JSON.stringify(v)}`);
      return v;
    case 'bytes':
      if (typeof v === 'string') return hexToBytes(v, path);
      if (Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)) return new Uint8Array(v);
      throw new FieldError(path, `expected a hex byte string, got ${JSON.stringify(v)}`);
    default:
      throw new FieldError(path, 'unsupported field type');
  }
}

export function messageFromJson(spec: MessageSpec, obj: Record<string, unknown>, prefix = '', skip: ReadonlySet<string> = new Set()): Record<string, unknown> {
  for (const key of Object.keys(obj)) {
    if (!spec.byName.has(key) && !skip.has(key)) {
      throw new FieldError(prefix + key, `unknown field for ${spec.name} (known: ${[...spec.byName.keys()].join(', ')})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const f of spec.fields) {
    const v = obj[f.name];
    const path = prefix + f.name;
    if (v === undefined || v === null) {
      const d = defaultValue(f);
      if (d !== undefined) out[f.name] = d;
    } else if (f.repeated) {
      if (!Array.isArray(v)) throw new FieldError(path, 'expected an array');
      out[f.name] = v.map((x, i) => scalarFromJson(f, x, `${path}[${i}]`));
    } else {
      out[f.name] = scalarFromJson(f, v, path);
    }
  }
  return out;
}

const ENVELOPE = new Set(['revision', 'timestampNs', 'time', 'actor', 'path', 'source', 'kind']);

export interface EventJsonDefaults {
  actor?: NewEvent['actor'];
  path?: NewEvent['path'];
  source?: NewEvent['source'];
  /** timestamp used when the JSON has neither timestampNs nor time */
  timestampNs?: () => bigint;
}

/** Parses one JSON event (flat form). `revision`, when present, is ignored: the store assigns revisions. */
export function eventFromJson(obj: unknown, defaults: EventJsonDefaults = {}): NewEvent {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new FieldError('(event)', 'expected a JSON object');
  }
  const o = obj as Record<string, unknown>;
  const kind = o['kind'];
  if (typeof kind !== 'string') throw new FieldError('kind', `missing; one of ${[...BODY_SPECS.keys()].join(', ')}`);
  const spec = BODY_SPECS.get(kind);
  if (!spec) throw new FieldError('kind', `unknown event kind ${JSON.stringify(kind)}; one of ${[...BODY_SPECS.keys()].join(', ')}`);
  const body = { kind, ...messageFromJson(spec, o, '', ENVELOPE) } as unknown as EventBody;
  const range = eventRangeProblem(body);
  if (range) throw new FieldError(range.field, range.reason);
  let timestampNs: bigint;
  if (o['timestampNs'] !== undefined) timestampNs = parseU64(o['timestampNs'], 'timestampNs');
  else if (o['time'] !== undefined && o['time'] !== null) {
    const ms = typeof o['time'] === 'string' ? Date.parse(o['time']) : NaN;
    if (Number.isNaN(ms)) throw new FieldError('time', `expected an ISO 8601 time, got ${JSON.stringify(o['time'])}`);
    timestampNs = BigInt(ms) * 1_000_000n;
  } else timestampNs = defaults.timestampNs ? defaults.timestampNs() : 0n;
  const env = (name: 'actor' | 'path' | 'source') =>
    o[name] === undefined
      ? (defaults[name] ?? 'unspecified')
      : (scalarFromJson(EVENT_SPEC.byName.get(name)!, o[name], name) as string);
  return {
    timestampNs,
    actor: env('actor') as NewEvent['actor'],
    path: env('path') as NewEvent['path'],
    source: env('source') as NewEvent['source'],
    body,
  };
}

function scalarToJson(f: FieldSpec, v: unknown): unknown {
  if (f.message) return messageToJson(f.message, v as Record<string, unknown>);
  if (f.scalar === 'u64') return hex64(v as bigint);
  if (f.scalar === 'bytes') return bytesToHex(v as Uint8Array);
  return v;
}

export function messageToJson(spec: MessageSpec, obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of spec.fields) {
    const v = obj[f.name];
    if (v === undefined) continue;
    out[f.name] = f.repeated ? (v as unknown[]).map((x) => scalarToJson(f, x)) : scalarToJson(f, v);
  }
  return out;
}

/** The flat JSON form of a stored event. */
export function eventToJson(e: DeviceEvent | NewEvent): Record<string, unknown> {
  const spec = BODY_SPECS.get(e.body.kind)!;
  const out: Record<string, unknown> = {};
  if ('revision' in e) out['revision'] = e.revision;
  Object.assign(out, timeJson(e.timestampNs));
  out['actor'] = e.actor;
  out['path'] = e.path;
  out['source'] = e.source;
  out['kind'] = e.body.kind;
  Object.assign(out, messageToJson(spec, e.body as unknown as Record<string, unknown>));
  const hex = HEX_FIELDS[e.body.kind];
  if (hex) {
    for (const [name, digits] of Object.entries(hex)) {
      const v = out[name];
      if (typeof v === 'number') out[name] = '0x' + v.toString(16).padStart(digits, '0');
    }
  }
  if (e.body.kind === 'vfioState') {
    out['from'] = vfioStateName(e.body.from);
    out['to'] = vfioStateName(e.body.to);
  }
  // the device state a snapshot carries (schema v1 `state`, v2 `stateV2`), under the same policy as the events
  for (const key of ['state', 'stateV2'] as const) {
    if (e.body.kind !== 'snapshot' || !out[key] || typeof out[key] !== 'object') continue;
    const st = hexKeys(out[key], { ...HEX_FIELDS['identified'], ...HEX_FIELDS['statusWritten'], ...HEX_FIELDS['queueConfigured'] }) as Record<string, unknown>;
    if (typeof st['timestampNs'] === 'string' && /^0x/.test(st['timestampNs'])) st['timestampNs'] = BigInt(st['timestampNs']).toString(10);
    if (typeof st['vfioState'] === 'string') st['vfioState'] = vfioStateName(st['vfioState']);
    out[key] = st;
  }
  return out;
}
