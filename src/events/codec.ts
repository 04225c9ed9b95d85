// Binary codec: domain events <-> protobuf bytes (devrec.v1.Event). The same bytes go into the embedded log,
// KurrentDB binary events and migration streams.
import protobuf from 'protobufjs/light.js'; // reflection and codec, without the .proto parser devrec never uses at run time
import type { DeviceEvent, EventBody, NewEvent } from './types.js';
import { checkEventRanges } from './ranges.js';
export { checkEventRanges } from './ranges.js';
import { BODY_SPECS, EVENT_SPEC } from './event-spec.js';
import type { FieldSpec, MessageSpec } from './schema.js';
import { EVENT_TYPE, reflectionType } from './schema-reflection.js';
import { CodecError } from './codec-error.js';

const U64_MAX = (1n << 64n) - 1n;
const TWO32 = 4294967296;

export { CodecError };

interface LongLike { low: number; high: number; unsigned?: boolean }

function bigintToWire(v: bigint, field: string): number | LongLike {
  if (typeof v !== 'bigint') throw new CodecError(`${field}: expected bigint, got ${typeof v}`);
  if (v < 0n || v > U64_MAX) throw new CodecError(`${field}: ${v} is outside unsigned 64-bit range`);
  if (v <= 0x1fffffffffffffn) return Number(v);
  return { low: Number(v & 0xffffffffn) | 0, high: Number(v >> 32n) | 0, unsigned: true };
}

function longToBigint(v: LongLike | number): bigint {
  if (typeof v === 'number') return BigInt(v);
  const lo = v.low >>> 0;
  const hi = v.high >>> 0;
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

function longToNumber(v: LongLike | number, signed: boolean, field: string): number {
  if (typeof v === 'number') return v;
  if (signed && v.high < 0) {
    const n = -((~v.high >>> 0) * TWO32 + ((~v.low >>> 0) + 1));
    return n;
  }
  const n = (v.high >>> 0) * TWO32 + (v.low >>> 0);
  if (n > Number.MAX_SAFE_INTEGER) throw new CodecError(`${field}: ${n} exceeds 2^53`);
  return n;
}

function scalarToWire(f: FieldSpec, v: unknown): unknown {
  if (f.enumSpec) {
    const n = f.enumSpec.numbers.get(v as string);
    if (n === undefined) {
      const m = /^enum-(\d+)$/.exec(String(v));
      if (m) return Number(m[1]);
      throw new CodecError(`${f.fullName}: unknown ${f.enumSpec.name} "${String(v)}"`);
    }
    return n;
  }
  if (f.message) return messageToWire(f.message, v as Record<string, unknown>);
  if (f.scalar === 'u64') return bigintToWire(v as bigint, f.fullName);
  return v;
}

function messageToWire(spec: MessageSpec, obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of spec.fields) {
    const v = obj[f.name];
    if (v === undefined || v === null) continue;
    out[f.name] = f.repeated ? (v as unknown[]).map((x) => scalarToWire(f, x)) : scalarToWire(f, v);
  }
  return out;
}

function scalarFromWire(f: FieldSpec, v: unknown): unknown {
  if (f.enumSpec) return f.enumSpec.names.get(v as number) ?? `enum-${String(v)}`;
  if (f.message) return messageFromWire(f.message, v as Record<string, unknown>);
  switch (f.scalar) {
    case 'u64': return longToBigint(v as LongLike);
    case 'u64num': return longToNumber(v as LongLike, false, f.fullName);
    case 'i64num': return longToNumber(v as LongLike, true, f.fullName);
    // protobufjs returns views into the input buffer: copy, so callers may reuse their read buffers.
    case 'bytes': return new Uint8Array(v as Uint8Array);
    default: return v;
  }
}

function messageFromWire(spec: MessageSpec, msg: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of spec.fields) {
    // protobufjs keeps defaults on the prototype: own properties are the fields the bytes carried.
    const present = Object.prototype.hasOwnProperty.call(msg, f.name);
    const v = msg[f.name];
    if (f.repeated) {
      out[f.name] = present && v ? (v as unknown[]).map((x) => scalarFromWire(f, x)) : [];
    } else if (f.presence) {
      if (present && v !== null && v !== undefined) out[f.name] = scalarFromWire(f, v);
    } else if (f.scalar === 'bytes') {
      out[f.name] = present ? scalarFromWire(f, v) : new Uint8Array(0);
    } else {
      out[f.name] = scalarFromWire(f, v);
    }
  }
  return out;
}

function eventToWire(e: NewEvent, revision: number): Record<string, unknown> {
  const spec = BODY_SPECS.get(e.body.kind);
  if (!spec) throw new CodecError(`unknown event kind "${String(e.body.kind)}"`);
  checkEventRanges(e.body);
  return {
    revision,
    timestampNs: bigintToWire(e.timestampNs, 'timestampNs'),
    actor: scalarToWire(EVENT_SPEC.byName.get('actor')!, e.actor),
    path: scalarToWire(EVENT_SPEC.byName.get('path')!, e.path),
    source: scalarToWire(EVENT_SPEC.byName.get('source')!, e.source),
    [e.body.kind]: messageToWire(spec, e.body as unknown as Record<string, unknown>),
  };
}

/** Encodes one event with its stream revision. */
export function encodeEvent(e: NewEvent, revision: number): Uint8Array {
  return EVENT_TYPE.encode(eventToWire(e, revision)).finish();
}

/** Appends one event, length-delimited (varint), to a writer: used to pack batches. */
export function encodeEventDelimited(e: NewEvent, revision: number, w: protobuf.Writer): void {
  EVENT_TYPE.encode(eventToWire(e, revision), w.fork()).ldelim();
}

function decodeMessage(msg: protobuf.Message): DeviceEvent {
  const m = msg as unknown as Record<string, unknown>;
  const kind = m['body'] as string | undefined;
  if (!kind) throw new CodecError('event has no body (unknown or missing event kind)');
  const spec = BODY_SPECS.get(kind)!;
  const body = { kind, ...messageFromWire(spec, m[kind] as Record<string, unknown>) } as unknown as EventBody;
  checkEventRanges(body);
  return {
    revision: longToNumber(m['revision'] as LongLike, false, 'revision'),
    timestampNs: longToBigint(m['timestampNs'] as LongLike),
    actor: scalarFromWire(EVENT_SPEC.byName.get('actor')!, m['actor']) as DeviceEvent['actor'],
    path: scalarFromWire(EVENT_SPEC.byName.get('path')!, m['path']) as DeviceEvent['path'],
    source: scalarFromWire(EVENT_SPEC.byName.get('source')!, m['source']) as DeviceEvent['source'],
    body,
  };
}

/** Decodes one event; throws CodecError (or protobufjs' RangeError, wrapped) on malformed bytes. */
export function decodeEvent(bytes: Uint8Array): DeviceEvent {
  let msg: protobuf.Message;
  try {
    msg = EVENT_TYPE.decode(bytes);
  } catch (err) {
    throw new CodecError(`malformed event bytes: ${(err as Error).message}`);
  }
  return decodeMessage(msg);
}

/** Decodes the next length-delimited event from a reader. */
export function decodeEventDelimited(r: protobuf.Reader): DeviceEvent {
  let msg: protobuf.Message;
  try {
    msg = EVENT_TYPE.decodeDelimited(r);
  } catch (err) {
    throw new CodecError(`malformed event bytes at ${r.pos}: ${(err as Error).message}`);
  }
  return decodeMessage(msg);
}

export function encodeMessage(name: MessageSpec, obj: Record<string, unknown>): Uint8Array {
  return reflectionType(name).encode(messageToWire(name, obj)).finish();
}

export function decodeMessageOf<T>(spec: MessageSpec, bytes: Uint8Array): T {
  let msg: protobuf.Message;
  try {
    msg = reflectionType(spec).decode(bytes);
  } catch (err) {
    throw new CodecError(`malformed ${spec.name} bytes: ${(err as Error).message}`);
  }
  return messageFromWire(spec, msg as unknown as Record<string, unknown>) as T;
}
