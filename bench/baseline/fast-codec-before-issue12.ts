// FROZEN COPY for `npm run bench`: src/events/fast-codec.ts as it was before issue 12 (commit ac81d95^, the codec
// compiled at load time with `new Function`), so the record path can be measured before and after state v2 in the
// same run. Only the import paths (and the schema reflection, now reflectionType(spec)) differ from the original; it compiles its coders from today's schema tables (the
// events the bench writes encode to the same bytes, which the bench checks). Not used by devrec.
//
// Specialised event codec: the hot path of recording and replay.
//
// At module load, one encode and one decode function per message type is generated as JavaScript source from the
// schema tables (schema.ts, which follow proto/devrec/v1/events.proto) and compiled with `new Function`, the way
// protobufjs builds its own coders. Nothing here is written per message: add a field or a body kind to the .proto,
// regenerate the descriptor, and both directions follow.
//
// Contract (checked by test/events/fast-codec.spec.ts):
//  - fastEncodeEvent(e, rev) is byte-identical to encodeEvent(e, rev) of codec.ts (protobufjs 8): fields in field-number
//    order, proto3 defaults of implicit-presence scalars left out (0, false, '', empty bytes, empty repeated,
//    enum value 0) while proto3 `optional` and message fields are written whenever set (also when 0), packed
//    repeated numerics, and the same input validation (CodecError for a non-bigint or out-of-range u64, an unknown
//    enum name or event kind).
//  - fastDecodeEvent(bytes) is deep-equal to decodeEvent(bytes): same domain objects, same defaults, presence
//    fields left out when absent, bytes copied, unknown enum numbers as "enum-N", a message field seen twice is
//    merged, the last oneof member wins. Unknown fields (and known field numbers with an unexpected wire type, as
//    protobufjs does) are skipped by wire type; malformed input (truncated or overlong varints, lengths past the end,
//    field number 0, wire types 6/7, bad groups, invalid UTF-8 in strings) throws CodecError naming what was being
//    read and the byte offset (an index into the Uint8Array handed in).
import protobuf from 'protobufjs';
import { CodecError } from '../../src/events/codec.js';
import { BODY_SPECS, ENVELOPE_FIELDS, EVENT_SPEC } from '../../src/events/event-spec.js';
import type { FieldSpec, MessageSpec } from '../../src/events/schema.js';
import { reflectionType } from '../../src/events/schema-reflection.js';
import type { DeviceEvent, NewEvent } from '../../src/events/types.js';

// ---------------------------------------------------------------------------------------------------------------
// Runtime support shared by the generated functions

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const S8 = new Uint8Array(8);
const S32 = new Uint32Array(S8.buffer);
const S64 = new BigUint64Array(S8.buffer);
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = LITTLE_ENDIAN ? 1 : 0;
const TWO32 = 4294967296;

/** Second return values of the out-of-line helpers (they return the new read/write position). */
const R = { v: 0, lo: 0, hi: 0 };

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** Growable output buffer. Generated encoders keep `buf`/`pos` in locals and sync `pos` around nested calls. */
class ByteWriter {
  buf: Uint8Array;
  pos = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }

  /** Makes room for `need` more bytes after `pos` (bytes before `pos` are kept); returns the (new) buffer. */
  grow(pos: number, need: number): Uint8Array {
    const old = this.buf;
    if (old.length - pos >= need) return old;
    let size = old.length * 2 || 64;
    while (size - pos < need) size *= 2;
    const buf = new Uint8Array(size);
    buf.set(old.subarray(0, pos));
    this.buf = buf;
    return buf;
  }
}

interface MsgInfo { name: string; fields: Map<number, string> }
const MSG_INFO: MsgInfo[] = [];

function where(mi: number, tag: number): string {
  const info = MSG_INFO[mi]!;
  const num = tag >>> 3;
  const f = info.fields.get(num);
  return f ? `${info.name}.${f}` : `${info.name} field ${num}`;
}

/** Out-of-line pieces of the generated code: slow paths, error construction. */
const H = {
  // ---- decode: varints ----
  /** Multi-byte tag starting at `s` (the first byte is known to have its continuation bit set). */
  tag(buf: Uint8Array, s: number, end: number, mi: number): number {
    let pos = s;
    let v = 0;
    for (let i = 0; i < 5; i++) {
      if (pos >= end) throw new CodecError(`${MSG_INFO[mi]!.name}: truncated field tag at byte ${s}`);
      const b = buf[pos++]!;
      if (i === 4) {
        if (b > 15) throw new CodecError(`${MSG_INFO[mi]!.name}: invalid field tag (more than 32 bits) at byte ${s}`);
        R.v = (v | (b << 28)) >>> 0;
        return pos;
      }
      v |= (b & 127) << (7 * i);
      if (b < 128) {
        R.v = v;
        return pos;
      }
    }
    /* c8 ignore next */
    throw new CodecError(`${MSG_INFO[mi]!.name}: invalid field tag at byte ${s}`);
  },

  /** Bytes 5..10 of a varint whose first four bytes (28 bits, in `lo`) are read; `pos` is at byte 5. */
  vtail(buf: Uint8Array, pos: number, end: number, lo: number, mi: number, tag: number, s: number): number {
    if (pos >= end) throw H.trunc(mi, tag, s, 'varint', end);
    let b = buf[pos++]!;
    lo = (lo | ((b & 15) << 28)) >>> 0;
    let hi = (b & 127) >>> 4;
    for (let shift = 3; b > 127; shift += 7) {
      if (shift > 31) throw new CodecError(`${where(mi, tag)}: varint longer than 10 bytes at byte ${s}`);
      if (pos >= end) throw H.trunc(mi, tag, s, 'varint', end);
      b = buf[pos++]!;
      hi |= (b & 127) << shift;
    }
    R.lo = lo;
    R.hi = hi >>> 0;
    return pos;
  },

  /** A length prefix of two or more bytes starting at `p`. */
  vlen(buf: Uint8Array, p: number, end: number, mi: number, tag: number, s: number): number {
    let v = 0;
    for (let i = 0; i < 5; i++) {
      if (p >= end) throw H.trunc(mi, tag, s, 'length', end);
      const b = buf[p++]!;
      if (i === 4) {
        if (b > 7) throw new CodecError(`${where(mi, tag)}: length prefix over 2^31 at byte ${s}`);
        R.v = (v | (b << 28)) >>> 0;
        return p;
      }
      v |= (b & 127) << (7 * i);
      if (b < 128) {
        R.v = v;
        return p;
      }
    }
    /* c8 ignore next */
    throw new CodecError(`${where(mi, tag)}: invalid length prefix at byte ${s}`);
  },

  /** Skips a group (wire type 3) whose start tag `tag` began at `s`; `pos` is after that tag. */
  group(buf: Uint8Array, pos: number, end: number, tag: number, s: number, mi: number): number {
    const open = [tag >>> 3];
    while (open.length) {
      if (pos >= end) throw new CodecError(`${where(mi, tag)}: group starting at byte ${s} has no end-group tag`);
      const ts = pos;
      let t = buf[pos++]!;
      if (t > 127) {
        pos = H.tag(buf, ts, end, mi);
        t = R.v;
      }
      const num = t >>> 3;
      if (num === 0) throw new CodecError(`${MSG_INFO[mi]!.name}: field number 0 at byte ${ts}`);
      switch (t & 7) {
        case 0:
          for (let i = 0; ; i++) {
            if (i === 10) throw new CodecError(`${where(mi, t)}: varint longer than 10 bytes at byte ${ts}`);
            if (pos >= end) throw H.trunc(mi, t, ts, 'varint', end);
            if (buf[pos++]! < 128) break;
          }
          break;
        case 1:
          if (end - pos < 8) throw H.trunc(mi, t, ts, 'fixed64', end);
          pos += 8;
          break;
        case 5:
          if (end - pos < 4) throw H.trunc(mi, t, ts, 'fixed32', end);
          pos += 4;
          break;
        case 2: {
          let len = buf[pos++]!;
          if (len > 127) {
            pos = H.vlen(buf, pos - 1, end, mi, t, ts);
            len = R.v;
          } else if (pos > end) throw H.trunc(mi, t, ts, 'length', end);
          if (len > end - pos) throw H.past(mi, t, ts, pos, len, end);
          pos += len;
          break;
        }
        case 3:
          if (open.length >= 64) throw new CodecError(`${where(mi, t)}: groups nested too deep at byte ${ts}`);
          open.push(num);
          break;
        case 4:
          if (open.pop() !== num) throw new CodecError(`${where(mi, t)}: mismatched end-group tag at byte ${ts}`);
          break;
        default:
          throw H.wire(mi, t, ts);
      }
    }
    return pos;
  },

  // ---- decode: values ----
  big(lo: number, hi: number): bigint {
    if (hi === 0 && lo < 0x40000000) return BigInt(lo);
    S32[LO] = lo;
    S32[HI] = hi;
    return S64[0]!;
  },
  u64num(lo: number, hi: number, mi: number, tag: number): number {
    const n = hi * TWO32 + lo;
    if (n > Number.MAX_SAFE_INTEGER) throw new CodecError(`${where(mi, tag)}: ${n} exceeds 2^53`);
    return n;
  },
  i64num(lo: number, hi: number, mi: number, tag: number): number {
    if (hi >= 0x80000000) return -((~hi >>> 0) * TWO32 + ((~lo >>> 0) + 1));
    return H.u64num(lo, hi, mi, tag);
  },
  /** zig-zag decode of a 64-bit varint into R.lo/R.hi */
  zz64(lo: number, hi: number): void {
    const mask = -(lo & 1);
    R.lo = (((lo >>> 1) | (hi << 31)) ^ mask) >>> 0;
    R.hi = ((hi >>> 1) ^ mask) >>> 0;
  },
  en(names: (string | undefined)[], v: number): string {
    const s = v >= 0 && v < names.length ? names[v] : undefined;
    return s !== undefined ? s : 'enum-' + v;
  },
  enMap(names: Map<number, string>, v: number): string {
    return names.get(v) ?? 'enum-' + v;
  },
  str(buf: Uint8Array, start: number, end: number, mi: number, tag: number, s: number): string {
    const n = end - start;
    if (n <= 32) {
      let str = '';
      let i = start;
      for (; i < end; i++) {
        const c = buf[i]!;
        if (c > 127) break;
        str += String.fromCharCode(c);
      }
      if (i === end) return str;
    }
    try {
      return utf8Strict.decode(buf.subarray(start, end));
    } catch {
      throw new CodecError(`${where(mi, tag)}: invalid UTF-8 in string at byte ${s}`);
    }
  },

  // ---- decode: errors ----
  trunc(mi: number, tag: number, s: number, what: string, end: number): CodecError {
    return new CodecError(`${where(mi, tag)}: truncated ${what} at byte ${s} (input ends at byte ${end})`);
  },
  past(mi: number, tag: number, s: number, pos: number, len: number, end: number): CodecError {
    return new CodecError(
      `${where(mi, tag)}: length ${len} at byte ${s} runs past the end (${end - pos} bytes left, input ends at byte ${end})`);
  },
  zero(mi: number, s: number): CodecError {
    return new CodecError(`${MSG_INFO[mi]!.name}: invalid field number 0 at byte ${s}`);
  },
  wire(mi: number, tag: number, s: number): CodecError {
    const wt = tag & 7;
    return wt === 4
      ? new CodecError(`${where(mi, tag)}: end-group tag without a group at byte ${s}`)
      : new CodecError(`${where(mi, tag)}: invalid wire type ${wt} at byte ${s}`);
  },
  packed(mi: number, tag: number, s: number, len: number, width: number): CodecError {
    return new CodecError(`${where(mi, tag)}: packed length ${len} at byte ${s} is not a multiple of ${width}`);
  },
  noBody(start: number, end: number): CodecError {
    return new CodecError(`event bytes ${start}..${end} have no body (unknown or missing event kind)`);
  },

  // ---- encode ----
  wv32(buf: Uint8Array, pos: number, v: number): number {
    while (v > 127) {
      buf[pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    buf[pos++] = v;
    return pos;
  },
  wv64(buf: Uint8Array, pos: number, lo: number, hi: number): number {
    while (hi) {
      buf[pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 127) {
      buf[pos++] = (lo & 127) | 128;
      lo >>>= 7;
    }
    buf[pos++] = lo;
    return pos;
  },
  /** int32 as protobufjs writes it: negatives sign-extended to 10 bytes */
  wi32(buf: Uint8Array, pos: number, v: number): number {
    if (v >= 0) return H.wv32(buf, pos, v);
    return H.wv64(buf, pos, v >>> 0, 0xffffffff);
  },
  /** 64-bit bits of a JS number (or anything else protobufjs accepts) into R.lo/R.hi, exactly as protobufjs does */
  long(v: unknown): void {
    const bits = (protobuf.util.LongBits as unknown as { from(v: unknown): { lo: number; hi: number } }).from(v);
    R.lo = bits.lo >>> 0;
    R.hi = bits.hi >>> 0;
  },
  zz64e(lo: number, hi: number): void {
    const mask = hi >> 31;
    R.hi = (((hi << 1) | (lo >>> 31)) ^ mask) >>> 0;
    R.lo = ((lo << 1) ^ mask) >>> 0;
  },
  badBig(v: unknown, field: string): CodecError {
    if (typeof v !== 'bigint') return new CodecError(`${field}: expected bigint, got ${typeof v}`);
    return new CodecError(`${field}: ${v} is outside unsigned 64-bit range`);
  },
  enumNum(v: unknown, field: string, enumName: string): number {
    const m = /^enum-(\d+)$/.exec(String(v));
    if (m) return Number(m[1]);
    throw new CodecError(`${field}: unknown ${enumName} "${String(v)}"`);
  },
  /** A string, length-prefixed, as protobufjs' BufferWriter writes it; may grow the writer. */
  wstr(w: ByteWriter, pos: number, v: string): number {
    const n = v.length;
    let buf = w.buf;
    if (n < 40) {
      // protobufjs encodes these with its own utf8.write (lone surrogates as 3-byte sequences, not U+FFFD)
      if (buf.length - pos < n * 3 + 1) buf = w.grow(pos, n * 3 + 1);
      let p = pos + 1;
      for (let i = 0; i < n; i++) {
        let c1 = v.charCodeAt(i);
        let c2: number;
        if (c1 < 128) {
          buf[p++] = c1;
        } else if (c1 < 2048) {
          buf[p++] = (c1 >> 6) | 192;
          buf[p++] = (c1 & 63) | 128;
        } else if ((c1 & 0xfc00) === 0xd800 && ((c2 = v.charCodeAt(i + 1)) & 0xfc00) === 0xdc00) {
          c1 = 0x10000 + ((c1 & 0x03ff) << 10) + (c2 & 0x03ff);
          ++i;
          buf[p++] = (c1 >> 18) | 240;
          buf[p++] = ((c1 >> 12) & 63) | 128;
          buf[p++] = ((c1 >> 6) & 63) | 128;
          buf[p++] = (c1 & 63) | 128;
        } else {
          buf[p++] = (c1 >> 12) | 224;
          buf[p++] = ((c1 >> 6) & 63) | 128;
          buf[p++] = (c1 & 63) | 128;
        }
      }
      buf[pos] = p - pos - 1; // at most 39 * 3 bytes: a one-byte length
      return p;
    }
    // longer strings go through Buffer#utf8Write in protobufjs: WHATWG UTF-8 (lone surrogates as U+FFFD)
    const len = Buffer.byteLength(v, 'utf8');
    if (buf.length - pos < len + 5) buf = w.grow(pos, len + 5);
    pos = H.wv32(buf, pos, len);
    utf8Encoder.encodeInto(v, buf.subarray(pos, pos + len));
    return pos + len;
  },
  /** Bytes, length-prefixed; may grow the writer. */
  wbytes(w: ByteWriter, pos: number, v: Uint8Array | string): number {
    if (typeof v === 'string') v = Buffer.from(v, 'base64'); // protobufjs accepts base64 strings
    const len = v.length >>> 0;
    let buf = w.buf;
    if (buf.length - pos < len + 5) buf = w.grow(pos, len + 5);
    if (len < 128) buf[pos++] = len;
    else pos = H.wv32(buf, pos, len);
    if (len <= 32) {
      for (let i = 0; i < len; i++) buf[pos + i] = v[i]!;
    } else {
      buf.set(v, pos);
    }
    return pos + len;
  },
  /** A length placeholder byte at `st` turned out too small for `len`: shift the content and write the varint. */
  fixLen(w: ByteWriter, st: number, len: number, pos: number): number {
    const vlen = len < 16384 ? 2 : len < 2097152 ? 3 : len < 268435456 ? 4 : 5;
    const buf = w.buf.length - pos < vlen - 1 ? w.grow(pos, vlen - 1) : w.buf;
    buf.copyWithin(st + vlen, st + 1, pos);
    H.wv32(buf, st, len);
    return pos + vlen - 1;
  },
  unknownKind(kind: unknown): CodecError {
    return new CodecError(`unknown event kind "${String(kind)}"`);
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Schema -> field model

type ProtoType =
  | 'uint32' | 'int32' | 'sint32' | 'fixed32' | 'sfixed32'
  | 'uint64' | 'int64' | 'sint64' | 'fixed64' | 'sfixed64'
  | 'bool' | 'string' | 'bytes' | 'enum' | 'message';

const WIRE: Record<ProtoType, number> = {
  uint32: 0, int32: 0, sint32: 0, fixed32: 5, sfixed32: 5,
  uint64: 0, int64: 0, sint64: 0, fixed64: 1, sfixed64: 1,
  bool: 0, string: 2, bytes: 2, enum: 0, message: 2,
};
const IS_64: Partial<Record<ProtoType, true>> = { uint64: true, int64: true, sint64: true, fixed64: true, sfixed64: true };

interface FieldInfo {
  spec: FieldSpec;
  pf: protobuf.Field;
  index: number;
  id: number;
  pt: ProtoType;
  /** tag of one (unpacked) value */
  tag: number;
  /** repeated scalar that may come packed (wire type 2) */
  packable: boolean;
  /** protobufjs writes it packed */
  packed: boolean;
  /** protobufjs writes it whenever set, default or not */
  explicit: boolean;
  /** numeric wire default of an enum field */
  enumDefault: number;
  local: string;
  /** name of the value in error messages (reference codec's wording) */
  errName: string;
}

function protoTypeOf(pf: protobuf.Field, fullName: string): ProtoType {
  if (pf.map) throw new Error(`fast codec: map field ${fullName} is not supported`);
  if (pf.resolvedType instanceof protobuf.Enum) return 'enum';
  if (pf.resolvedType instanceof protobuf.Type) {
    if (pf.delimited) throw new Error(`fast codec: group-encoded field ${fullName} is not supported`);
    return 'message';
  }
  if (!(pf.type in WIRE) || pf.type === 'enum' || pf.type === 'message') {
    throw new Error(`fast codec: field ${fullName} has unsupported type ${pf.type}`);
  }
  return pf.type as ProtoType;
}

function fieldInfos(spec: MessageSpec): FieldInfo[] {
  return spec.fields.map((f, index) => {
    const pf = reflectionType(spec).fields[f.name];
    if (!pf) throw new Error(`fast codec: ${f.fullName} missing from the reflection type`);
    pf.resolve();
    if (pf.partOf && !(pf.partOf as unknown as { isProto3Optional: boolean }).isProto3Optional &&
        spec !== EVENT_SPEC) {
      throw new Error(`fast codec: oneof ${pf.partOf.name} in ${spec.name} is not supported (only Event.body)`);
    }
    const pt = protoTypeOf(pf, f.fullName);
    const packable = f.repeated && pt !== 'string' && pt !== 'bytes' && pt !== 'message';
    return {
      spec: f, pf, index, id: pf.id, pt,
      tag: ((pf.id << 3) | WIRE[pt]) >>> 0,
      packable,
      packed: packable && pf.packed && protobuf.types.packed[pt === 'enum' ? 'int32' : pt as 'uint32'] !== undefined,
      explicit: pf.hasPresence || pt === 'message',
      enumDefault: pt === 'enum' ? Number(pf.typeDefault) : 0,
      local: `f${index}`,
      errName: f.fullName,
    };
  });
}

function varintBytes(v: number): number[] {
  const out: number[] = [];
  while (v > 127) {
    out.push((v & 127) | 128);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Code generation

/** Constants the generated code refers to by name (closed over by the compiled functions). */
class Consts {
  readonly names: string[] = [];
  readonly values: unknown[] = [];
  private readonly ids = new Map<unknown, string>();
  ref(value: unknown, prefix: string): string {
    let name = this.ids.get(value);
    if (!name) {
      name = `${prefix}${this.values.length}`;
      this.names.push(name);
      this.values.push(value);
      this.ids.set(value, name);
    }
    return name;
  }
}

const consts = new Consts();
const decNames = new Map<string, string>();
const encNames = new Map<string, string>();
const sources: string[] = [];

function msgIndex(name: string, infos: FieldInfo[]): number {
  MSG_INFO.push({ name, fields: new Map(infos.map((fi) => [fi.id, fi.spec.name])) });
  return MSG_INFO.length - 1;
}

function jsStr(s: string): string {
  return JSON.stringify(s);
}

/** Reads a varint at `pos` into lo (low 32 bits; < 2^28 on the inline path) and hi; checks against `end`. */
function readVarint(mi: number, end: string): string {
  return `b = buf[pos++]; lo = b & 127; hi = 0;
      if (b > 127) { b = buf[pos++]; lo |= (b & 127) << 7;
      if (b > 127) { b = buf[pos++]; lo |= (b & 127) << 14;
      if (b > 127) { b = buf[pos++]; lo |= (b & 127) << 21;
      if (b > 127) { pos = H.vtail(buf, pos, ${end}, lo, ${mi}, t, s); lo = R.lo; hi = R.hi; } } } }
      if (pos > ${end}) throw H.trunc(${mi}, t, s, "varint", ${end});`;
}

const enumTables = new Map<unknown, string>();
function enumDecodeExpr(fi: FieldInfo, v: string): string {
  const es = fi.spec.enumSpec!;
  const cached = enumTables.get(es);
  if (cached) return `${cached}, ${v})`;
  const nums = [...es.names.keys()];
  const dense = nums.every((n) => Number.isInteger(n) && n >= 0 && n < 4096);
  if (dense) {
    const arr: (string | undefined)[] = new Array(Math.max(...nums, -1) + 1).fill(undefined);
    for (const [n, s] of es.names) arr[n] = s;
    enumTables.set(es, `H.en(${consts.ref(arr, 'EN')}`);
  } else {
    enumTables.set(es, `H.enMap(${consts.ref(es.names, 'EM')}`);
  }
  return `${enumTables.get(es)!}, ${v})`;
}

/** Domain value of a varint/fixed field from lo/hi (statements may precede it via `pre`). */
function scalarDecode(fi: FieldInfo, mi: number): { pre: string; expr: string } {
  const tagExpr = String(fi.tag);
  switch (fi.pt) {
    case 'uint32': case 'fixed32': return { pre: '', expr: 'lo >>> 0' };
    case 'int32': case 'sfixed32': return { pre: '', expr: 'lo | 0' };
    case 'sint32': return { pre: '', expr: '((lo >>> 1) ^ -(lo & 1)) | 0' };
    case 'bool': return { pre: '', expr: '(lo | hi) !== 0' };
    case 'enum': return { pre: '', expr: enumDecodeExpr(fi, 'lo | 0') };
    case 'uint64': case 'int64': case 'fixed64': case 'sfixed64': case 'sint64': {
      const pre = fi.pt === 'sint64' ? 'H.zz64(lo, hi); lo = R.lo; hi = R.hi;' : '';
      switch (fi.spec.scalar) {
        case 'u64': return { pre, expr: '(hi === 0 && lo < 1073741824 ? BigInt(lo) : H.big(lo, hi))' };
        case 'u64num': return { pre, expr: `(hi === 0 ? lo >>> 0 : H.u64num(lo, hi, ${mi}, ${tagExpr}))` };
        case 'i64num': return { pre, expr: `(hi === 0 ? lo >>> 0 : H.i64num(lo, hi, ${mi}, ${tagExpr}))` };
        default: throw new Error(`fast codec: ${fi.spec.fullName}: 64-bit field with domain kind ${fi.spec.scalar}`);
      }
    }
    default: throw new Error(`fast codec: ${fi.spec.fullName}: not a scalar`);
  }
}

/** Left out of the domain object when absent (FieldSpec.presence is also set on repeated message fields). */
function isOptional(fi: FieldInfo): boolean {
  return fi.spec.presence && !fi.spec.repeated;
}

function defaultExpr(fi: FieldInfo): string {
  const f = fi.spec;
  if (f.repeated || f.presence) return 'undefined';
  if (f.enumSpec) return jsStr(f.enumSpec.names.get(fi.enumDefault) ?? `enum-${fi.enumDefault}`);
  switch (f.scalar) {
    case 'u64': return '0n';
    case 'bool': return 'false';
    case 'string': return '""';
    case 'bytes': return 'undefined'; // a fresh empty array is made at the end
    default: return '0';
  }
}

/** The value stored in the result object for field `fi`. */
function finalExpr(fi: FieldInfo): string {
  if (fi.spec.repeated) return `(${fi.local} === undefined ? [] : ${fi.local})`;
  if (!fi.spec.presence && fi.pt === 'bytes') return `(${fi.local} === undefined ? new Uint8Array(0) : ${fi.local})`;
  return fi.local;
}

function pushTo(fi: FieldInfo, value: string): string {
  return `(${fi.local} === undefined ? (${fi.local} = []) : ${fi.local}).push(${value});`;
}

interface OneofMember { fi: FieldInfo; kind: string; decoder: string }

/**
 * Decoder source for one message. `kind` makes it a body decoder (objects start with `kind`).
 * For Event, `envelope` lists the envelope fields and `oneof` the body members.
 */
function genDecoder(spec: MessageSpec, fnName: string, opts: {
  kind?: string; fields?: FieldInfo[]; oneof?: OneofMember[]; envelope?: boolean;
} = {}): void {
  const infos = opts.fields ?? fieldInfos(spec);
  const mi = msgIndex(spec.name, opts.oneof ? [...infos, ...opts.oneof.map((m) => m.fi)] : infos);
  const v0: string[] = [];
  const v1: string[] = [];
  const v2: string[] = [];
  const v5: string[] = [];

  for (const fi of infos) {
    const f = fi.spec;
    if (fi.pt === 'message') {
      const sub = decoderFor(f.message!);
      const c = f.repeated
        ? pushTo(fi, `${sub}(buf, pos, e2, undefined)`)
        : `${fi.local} = ${sub}(buf, pos, e2, ${fi.local});`; // a message seen twice is merged
      v2.push(`case ${fi.tag}: ${c} break;`);
    } else if (fi.pt === 'string') {
      const e = `(len === 0 ? "" : H.str(buf, pos, e2, ${mi}, t, s))`;
      v2.push(`case ${fi.tag}: ${f.repeated ? pushTo(fi, e) : `${fi.local} = ${e};`} break;`);
    } else if (fi.pt === 'bytes') {
      const e = 'buf.slice(pos, e2)';
      v2.push(`case ${fi.tag}: ${f.repeated ? pushTo(fi, e) : `${fi.local} = ${e};`} break;`);
    } else {
      const { pre, expr } = scalarDecode(fi, mi);
      const wire = WIRE[fi.pt];
      const one = f.repeated ? pushTo(fi, expr) : `${fi.local} = ${expr};`;
      let read = '';
      if (wire === 5) read = 'lo = (buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16 | buf[pos + 3] << 24) >>> 0; hi = 0;';
      if (wire === 1) {
        read = 'lo = (buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16 | buf[pos + 3] << 24) >>> 0; ' +
          'hi = (buf[pos + 4] | buf[pos + 5] << 8 | buf[pos + 6] << 16 | buf[pos + 7] << 24) >>> 0;';
      }
      const target = wire === 0 ? v0 : wire === 1 ? v1 : v5;
      target.push(`case ${fi.tag}: ${read} ${pre} ${one} break;`);
      if (fi.packable) {
        const ptag = ((fi.id << 3) | 2) >>> 0;
        const width = wire === 1 ? 8 : wire === 5 ? 4 : 0;
        let loop: string;
        if (width === 0) {
          loop = `while (pos < e2) { ${readVarint(mi, 'e2')} ${pre} a.push(${expr}); }`;
        } else {
          loop = `if (len % ${width} !== 0) throw H.packed(${mi}, t, s, len, ${width});
            for (; pos < e2; pos += ${width}) { ${read} ${pre} a.push(${expr}); }`;
        }
        v2.push(`case ${ptag}: a = ${fi.local} === undefined ? (${fi.local} = []) : ${fi.local}; ${loop} break;`);
      }
    }
  }

  if (opts.oneof) {
    opts.oneof.forEach((m, i) => {
      v2.push(`case ${m.fi.tag}: body = ${m.decoder}(buf, pos, e2, oc === ${i + 1} ? body : undefined); oc = ${i + 1}; break;`);
    });
  }

  const zeroCheck = `default: if (t < 8) throw H.zero(${mi}, s);`;
  const locals = infos.map((fi) => `${fi.local} = ${defaultExpr(fi)}`);
  const merge = infos.map((fi) => `${fi.local} = prev.${fi.spec.name};`).join(' ');

  // result object: kind first, then fields in schema order; a leading run of always-present fields is a literal
  const props: string[] = [];
  if (opts.kind !== undefined) props.push(`kind: ${jsStr(opts.kind)}`);
  let i = 0;
  for (; i < infos.length && !isOptional(infos[i]!); i++) props.push(`${jsStr(infos[i]!.spec.name)}: ${finalExpr(infos[i]!)}`);
  const tail: string[] = [];
  for (; i < infos.length; i++) {
    const fi = infos[i]!;
    tail.push(isOptional(fi)
      ? `if (${fi.local} !== undefined) o.${fi.spec.name} = ${fi.local};`
      : `o.${fi.spec.name} = ${finalExpr(fi)};`);
  }
  if (opts.oneof) {
    if (tail.length) tail.push('o.body = body;');
    else props.push('body: body');
  }

  sources.push(`function ${fnName}(buf, pos, end, ${opts.oneof ? 'start' : 'prev'}) {
    var s = 0, t = 0, b = 0, lo = 0, hi = 0, len = 0, e2 = 0, a${opts.oneof ? ', oc = 0, body' : ''}${locals.length ? ', ' + locals.join(', ') : ''};
    ${opts.oneof ? '' : `if (prev !== undefined) { ${merge} }`}
    while (pos < end) {
      s = pos;
      t = buf[pos++];
      if (t > 127) { pos = H.tag(buf, s, end, ${mi}); t = R.v; }
      switch (t & 7) {
        case 0:
          ${readVarint(mi, 'end')}
          switch (t) { ${v0.join('\n')} ${zeroCheck} }
          break;
        case 2:
          b = buf[pos++]; len = b;
          if (b > 127) { pos = H.vlen(buf, pos - 1, end, ${mi}, t, s); len = R.v; }
          else if (pos > end) throw H.trunc(${mi}, t, s, "length", end);
          if (len > end - pos) throw H.past(${mi}, t, s, pos, len, end);
          e2 = pos + len;
          switch (t) { ${v2.join('\n')} ${zeroCheck} }
          pos = e2;
          break;
        case 1:
          if (end - pos < 8) throw H.trunc(${mi}, t, s, "fixed64", end);
          switch (t) { ${v1.join('\n')} ${zeroCheck} }
          pos += 8;
          break;
        case 5:
          if (end - pos < 4) throw H.trunc(${mi}, t, s, "fixed32", end);
          switch (t) { ${v5.join('\n')} ${zeroCheck} }
          pos += 4;
          break;
        case 3:
          if (t < 8) throw H.zero(${mi}, s);
          pos = H.group(buf, pos, end, t, s, ${mi});
          break;
        default:
          throw H.wire(${mi}, t, s);
      }
    }
    ${opts.oneof ? 'if (oc === 0) throw H.noBody(start, end);' : ''}
    var o = { ${props.join(', ')} };
    ${tail.join('\n    ')}
    return o;
  }`);
}

function decoderFor(spec: MessageSpec, kind?: string): string {
  const key = `${spec.fullName}|${kind ?? ''}`;
  let name = decNames.get(key);
  if (!name) {
    name = `dec${decNames.size}_${spec.name}${kind !== undefined ? '_' + kind : ''}`;
    decNames.set(key, name);
    genDecoder(spec, name, { kind });
  }
  return name;
}

// ---- encoders ----

function tagWrite(tag: number): string {
  return varintBytes(tag).map((b) => `buf[pos++] = ${b};`).join(' ');
}

function tagLen(tag: number): number {
  return varintBytes(tag).length;
}

/** Upper bound of the bytes a non-repeated fixed-size field takes (0 for variable-size ones). */
function fixedSize(fi: FieldInfo): number {
  if (fi.spec.repeated) return 0;
  const t = tagLen(fi.tag);
  switch (fi.pt) {
    case 'string': case 'bytes': return 0;
    case 'message': return t + 1;
    case 'fixed32': case 'sfixed32': return t + 4;
    case 'fixed64': case 'sfixed64': return t + 8;
    case 'bool': return t + 1;
    default: return t + 10;
  }
}

function isVariable(fi: FieldInfo): boolean {
  return fi.spec.repeated || fi.pt === 'string' || fi.pt === 'bytes' || fi.pt === 'message';
}

/**
 * Statements writing one value `x` of a numeric/bool/enum field (tag not included); `cond` receives the check that
 * decides whether a singular implicit-presence value is written (protobufjs' default omission).
 * Returns [conversion statements, omission condition (or ''), write statements].
 */
function scalarEncode(fi: FieldInfo, x: string): [string, string, string] {
  const f = fi.spec;
  const w32 = 'if (n < 128) buf[pos++] = n; else pos = H.wv32(buf, pos, n);';
  const w64 = 'if (hi === 0 && lo < 128) buf[pos++] = lo; else pos = H.wv64(buf, pos, lo, hi);';
  const fix32 = 'buf[pos++] = n; buf[pos++] = n >>> 8; buf[pos++] = n >>> 16; buf[pos++] = n >>> 24;';
  const fix64 = 'buf[pos++] = lo; buf[pos++] = lo >>> 8; buf[pos++] = lo >>> 16; buf[pos++] = lo >>> 24; ' +
    'buf[pos++] = hi; buf[pos++] = hi >>> 8; buf[pos++] = hi >>> 16; buf[pos++] = hi >>> 24;';
  switch (fi.pt) {
    case 'uint32': return ['', `${x} !== 0`, `n = ${x} >>> 0; ${w32}`];
    case 'int32': return ['', `${x} !== 0`, `n = ${x} | 0; if (n >= 0 && n < 128) buf[pos++] = n; else pos = H.wi32(buf, pos, n);`];
    case 'sint32': return ['', `${x} !== 0`, `n = ((${x} << 1) ^ (${x} >> 31)) >>> 0; ${w32}`];
    case 'fixed32': case 'sfixed32': return ['', `${x} !== 0`, `n = ${x} >>> 0; ${fix32}`];
    case 'bool': return ['', `${x} !== false`, `buf[pos++] = ${x} ? 1 : 0;`];
    case 'enum': {
      const map = consts.ref(f.enumSpec!.numbers, 'EV');
      return [
        `n = ${map}.get(${x}); if (n === undefined) n = H.enumNum(${x}, ${jsStr(fi.errName)}, ${jsStr(f.enumSpec!.name)});`,
        `n !== ${fi.enumDefault}`,
        'n |= 0; if (n >= 0 && n < 128) buf[pos++] = n; else pos = H.wi32(buf, pos, n);',
      ];
    }
    default: break;
  }
  if (!IS_64[fi.pt]) throw new Error(`fast codec: ${f.fullName}: no scalar encoder for ${fi.pt}`);
  let conv: string;
  let cond: string;
  if (f.scalar === 'u64') {
    // bigint, validated like codec.ts bigintToWire
    conv = `if (typeof ${x} !== "bigint" || BigInt.asUintN(64, ${x}) !== ${x}) throw H.badBig(${x}, ${jsStr(fi.errName)});
      S64[0] = ${x}; lo = S32[${LO}]; hi = S32[${HI}];`;
    cond = '(lo | hi) !== 0';
  } else {
    // JS number handed to protobufjs as is (LongBits.from semantics)
    conv = '';
    cond = `(typeof ${x} === "object" ? ${x}.low || ${x}.high : ${x} !== 0)`;
  }
  const split = f.scalar === 'u64' ? ''
    : `if (typeof ${x} === "number" && ${x} >= 0 && ${x} < 4294967296) { lo = ${x} >>> 0; hi = 0; } else { H.long(${x}); lo = R.lo; hi = R.hi; }`;
  const zz = fi.pt === 'sint64' ? 'H.zz64e(lo, hi); lo = R.lo; hi = R.hi;' : '';
  const wr = fi.pt === 'fixed64' || fi.pt === 'sfixed64' ? fix64 : w64;
  return [conv, cond, `${split} ${zz} ${wr}`];
}

/** Encoder statements for one field reading its value from expression `src`. `strict`: envelope field semantics. */
function genFieldEncode(fi: FieldInfo, src: string, restFixed: number, strict: boolean): string {
  const f = fi.spec;
  const ensureRest = restFixed > 0 ? `if (buf.length - pos < ${restFixed}) buf = w.grow(pos, ${restFixed});` : '';
  const lenFix = 'l = pos - st - 1; if (l < 128) buf[st] = l; else { pos = H.fixLen(w, st, l, pos); buf = w.buf; }';

  if (f.repeated) {
    let body: string;
    if (fi.pt === 'message') {
      const sub = encoderFor(f.message!);
      body = `for (i = 0; i < v.length; i++) {
        if (buf.length - pos < ${tagLen(fi.tag) + 1}) buf = w.grow(pos, ${tagLen(fi.tag) + 1});
        ${tagWrite(fi.tag)} st = pos++; w.pos = pos; ${sub}(w, v[i]); pos = w.pos; buf = w.buf; ${lenFix}
      }`;
    } else if (fi.pt === 'string' || fi.pt === 'bytes') {
      const helper = fi.pt === 'string' ? 'H.wstr' : 'H.wbytes';
      body = `for (i = 0; i < v.length; i++) {
        if (buf.length - pos < ${tagLen(fi.tag)}) buf = w.grow(pos, ${tagLen(fi.tag)});
        ${tagWrite(fi.tag)} pos = ${helper}(w, pos, v[i]); buf = w.buf;
      }`;
    } else {
      const [conv, , write] = scalarEncode(fi, 'x');
      if (fi.packed) {
        const ptag = ((fi.id << 3) | 2) >>> 0;
        body = `n = v.length * 10 + ${tagLen(ptag) + 5}; if (buf.length - pos < n) buf = w.grow(pos, n);
          ${tagWrite(ptag)} st = pos++;
          for (i = 0; i < v.length; i++) { x = v[i]; ${conv} ${write} }
          ${lenFix}`;
      } else {
        body = `n = v.length * ${tagLen(fi.tag) + 10}; if (buf.length - pos < n) buf = w.grow(pos, n);
          for (i = 0; i < v.length; i++) { x = v[i]; ${conv} ${tagWrite(fi.tag)} ${write} }`;
      }
    }
    return `v = ${src};
    if (v != null && v.length) { ${body} }
    ${ensureRest}`;
  }

  if (fi.pt === 'message') {
    const sub = encoderFor(f.message!);
    return `v = ${src};
    if (v != null) { ${tagWrite(fi.tag)} st = pos++; w.pos = pos; ${sub}(w, v); pos = w.pos; buf = w.buf; ${lenFix} }
    ${ensureRest}`;
  }
  if (fi.pt === 'string' || fi.pt === 'bytes') {
    const cond = fi.explicit ? 'v != null' : fi.pt === 'string' ? 'v != null && v !== ""' : 'v != null && v.length';
    const helper = fi.pt === 'string' ? 'H.wstr' : 'H.wbytes';
    return `v = ${src};
    if (${cond}) { if (buf.length - pos < ${tagLen(fi.tag)}) buf = w.grow(pos, ${tagLen(fi.tag)}); ${tagWrite(fi.tag)} pos = ${helper}(w, pos, v); buf = w.buf; }
    ${ensureRest}`;
  }
  const [conv, omit, write] = scalarEncode(fi, 'v');
  // the envelope's u64 and enum fields are converted (and so validated) even when null, as codec.ts does
  const converts = f.scalar === 'u64' || fi.pt === 'enum';
  const guard = strict && converts ? 'true' : 'v != null';
  const cond = fi.explicit ? '' : `if (${omit})`;
  return `v = ${src};
    if (${guard}) { ${conv} ${cond} { ${tagWrite(fi.tag)} ${write} } }`;
}

function genEncoderBody(fields: { fi: FieldInfo; src: string; strict: boolean }[]): string {
  const sorted = [...fields].sort((a, b) => a.fi.id - b.fi.id);
  const out: string[] = [];
  const first = sorted.reduce((n, x) => n + fixedSize(x.fi), 0);
  if (first > 0) out.push(`if (buf.length - pos < ${first}) buf = w.grow(pos, ${first});`);
  sorted.forEach((x, k) => {
    const rest = isVariable(x.fi) ? sorted.slice(k + 1).reduce((n, y) => n + fixedSize(y.fi), 0) : 0;
    out.push(genFieldEncode(x.fi, x.src, rest, x.strict));
  });
  return out.join('\n    ');
}

const ENC_LOCALS = 'var buf = w.buf, pos = w.pos, v, x, n = 0, lo = 0, hi = 0, st = 0, l = 0, i = 0;';

function encoderFor(spec: MessageSpec): string {
  const key = spec.fullName;
  let name = encNames.get(key);
  if (!name) {
    name = `enc${encNames.size}_${spec.name}`;
    encNames.set(key, name);
    const infos = fieldInfos(spec);
    const body = genEncoderBody(infos.map((fi) => ({ fi, src: `o.${fi.spec.name}`, strict: false })));
    sources.push(`function ${name}(w, o) {
    ${ENC_LOCALS}
    ${body}
    w.pos = pos;
  }`);
  }
  return name;
}

// ---- the Event: envelope + body ----

const eventInfos = fieldInfos(EVENT_SPEC);
const envelopeInfos = ENVELOPE_FIELDS.map((n) => {
  const fi = eventInfos.find((x) => x.spec.name === n);
  if (!fi) throw new Error(`fast codec: envelope field ${n} missing from Event`);
  return fi;
});
// codec.ts names envelope fields by their bare name in its errors
for (const fi of envelopeInfos) if (fi.spec.scalar === 'u64') fi.errName = fi.spec.name;

const bodyMembers: OneofMember[] = [...BODY_SPECS].map(([kind, spec]) => {
  const fi = eventInfos.find((x) => x.spec.name === kind);
  if (!fi) throw new Error(`fast codec: body ${kind} missing from Event`);
  return { fi, kind, decoder: decoderFor(spec, kind) };
});

genDecoder(EVENT_SPEC, 'dec_Event', { fields: envelopeInfos, oneof: bodyMembers });

const eventEncoderNames = new Map<string, string>();
for (const m of bodyMembers) {
  const name = `encEvent_${m.kind}`;
  eventEncoderNames.set(m.kind, name);
  const fields = [
    ...envelopeInfos.map((fi) => ({ fi, src: fi.spec.name === 'revision' ? 'rev' : `e.${fi.spec.name}`, strict: true })),
    { fi: m.fi, src: 'e.body', strict: false },
  ];
  sources.push(`function ${name}(w, e, rev) {
    ${ENC_LOCALS}
    ${genEncoderBody(fields)}
    w.pos = pos;
  }`);
}

type Decoder = (buf: Uint8Array, pos: number, end: number, prev: unknown) => DeviceEvent;
type Encoder = (w: ByteWriter, e: NewEvent, rev: number) => void;

/** The generated source, for inspection (`console.log(FAST_CODEC_SOURCE)`). */
export const FAST_CODEC_SOURCE = `${sources.join('\n\n')}
  return { dec_Event: dec_Event, encoders: { ${[...eventEncoderNames].map(([k, n]) => `${jsStr(k)}: ${n}`).join(', ')} } };`;

const compiled = new Function('H', 'R', 'S32', 'S64', ...consts.names, `"use strict";\n${FAST_CODEC_SOURCE}`)(
  H, R, S32, S64, ...consts.values,
) as { dec_Event: Decoder; encoders: Record<string, Encoder> };

const decEvent: Decoder = compiled.dec_Event;
const ENCODERS = new Map<string, Encoder>(Object.entries(compiled.encoders));

// ---------------------------------------------------------------------------------------------------------------
// Public API

function encoderOf(e: NewEvent): Encoder {
  const body = e.body as { kind?: unknown } | null | undefined;
  if (body == null) throw new CodecError('event has no body');
  const enc = ENCODERS.get(body.kind as string);
  if (enc === undefined) throw H.unknownKind(body.kind);
  return enc;
}

const shared = new ByteWriter(4096);

/**
 * Encodes one event with its stream revision; byte-identical to codec.ts encodeEvent. Returns a fresh Uint8Array
 * (not a Buffer) that the caller owns.
 */
export function fastEncodeEvent(e: NewEvent, revision: number): Uint8Array {
  const enc = encoderOf(e);
  const w = shared;
  w.pos = 0;
  enc(w, e, revision);
  return w.buf.slice(0, w.pos);
}

/**
 * Packs events into one buffer, each prefixed by its byte length as a little-endian u32 (read back with decodeBatch).
 */
export class EventBatchWriter {
  private w: ByteWriter;
  private handedOut = false;
  private count = 0;

  constructor(initialSize = 64 * 1024) {
    this.w = new ByteWriter(Math.max(64, initialSize));
  }

  /** Appends one event. If encoding throws (CodecError), the batch is left as it was before the call. */
  add(e: NewEvent, revision: number): void {
    const enc = encoderOf(e);
    const w = this.w;
    const start = w.pos;
    if (w.buf.length - start < 4) w.grow(start, 4);
    w.pos = start + 4;
    try {
      enc(w, e, revision);
    } catch (err) {
      w.pos = start;
      throw err;
    }
    const len = w.pos - start - 4;
    const buf = w.buf;
    buf[start] = len;
    buf[start + 1] = len >>> 8;
    buf[start + 2] = len >>> 16;
    buf[start + 3] = len >>> 24;
    this.count++;
  }

  /** Number of bytes written so far. */
  get length(): number {
    return this.w.pos;
  }

  /** Number of events added since the last reset. */
  get events(): number {
    return this.count;
  }

  /**
   * The batch so far, as a view (no copy) of the writer's buffer. The bytes it shows are never overwritten: later
   * add() calls append past its end, and reset() after finish() moves the writer to a fresh buffer.
   */
  finish(): Uint8Array {
    this.handedOut = true;
    return this.w.buf.subarray(0, this.w.pos);
  }

  /** Starts an empty batch (reusing the buffer unless finish() handed out a view of it). */
  reset(): void {
    if (this.handedOut) {
      this.w = new ByteWriter(this.w.buf.length);
      this.handedOut = false;
    }
    this.w.pos = 0;
    this.count = 0;
  }
}

function plain(buf: Uint8Array): Uint8Array {
  if (!(buf instanceof Uint8Array)) throw new TypeError('expected a Uint8Array');
  // one view class for the generated code (monomorphic), and slice() of a plain Uint8Array copies (Buffer's does not)
  return buf.constructor === Uint8Array ? buf : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function checkRange(buf: Uint8Array, start: number, end: number): void {
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= buf.length)) {
    throw new RangeError(`byte range ${start}..${end} is outside the buffer (length ${buf.length})`);
  }
}

/**
 * Decodes one event from buf[start, end) (default: the whole array); deep-equal to codec.ts decodeEvent.
 * Byte offsets in CodecError messages are indices into `buf`.
 */
export function fastDecodeEvent(buf: Uint8Array, start = 0, end: number = buf.length): DeviceEvent {
  buf = plain(buf);
  checkRange(buf, start, end);
  return decEvent(buf, start, end, start);
}

/**
 * Decodes the u32-length-prefixed events of buf[start, end) (as written by EventBatchWriter), calling onEvent for
 * each in order; returns how many. A length that runs past `end` (or a partial prefix) throws CodecError naming its
 * byte offset.
 */
export function decodeBatch(buf: Uint8Array, start: number, end: number, onEvent: (e: DeviceEvent) => void): number {
  buf = plain(buf);
  checkRange(buf, start, end);
  let pos = start;
  let n = 0;
  while (pos < end) {
    if (end - pos < 4) {
      throw new CodecError(`batch: truncated length prefix at byte ${pos} (${end - pos} of 4 bytes before the end at ${end})`);
    }
    const len = (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
    const s = pos + 4;
    if (len > end - s) {
      throw new CodecError(`batch: event length ${len} at byte ${pos} runs past the end (${end - s} bytes left)`);
    }
    pos = s + len;
    onEvent(decEvent(buf, s, pos, s));
    n++;
  }
  return n;
}
