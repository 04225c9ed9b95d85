// Decode helpers of the generated codec: the slow paths (multi-byte varints, groups) and error construction.
// The generated decoders inline the common cases and call these for the rest.
import { CodecError } from '../codec-error.js';
import { LO, HI, R, TWO32 } from './scratch.js';

// big()'s own 8-byte view (module constants of this module: the hot path reads no imported binding)
const B8 = new Uint8Array(8);
const B32 = new Uint32Array(B8.buffer);
const B64 = new BigUint64Array(B8.buffer);
const BLO = LO;
const BHI = HI;

/** A message as named in decode errors: its name and field number -> field name. */
export interface MsgInfo { name: string; fields: Map<number, string> }

function where(m: MsgInfo, tag: number): string {
  const num = tag >>> 3;
  const f = m.fields.get(num);
  return f ? `${m.name}.${f}` : `${m.name} field ${num}`;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---- varints ----

/** Multi-byte tag starting at `s` (the first byte is known to have its continuation bit set); value in R.v. */
export function tag(buf: Uint8Array, s: number, end: number, m: MsgInfo): number {
  let pos = s;
  let v = 0;
  for (let i = 0; i < 5; i++) {
    if (pos >= end) throw new CodecError(`${m.name}: truncated field tag at byte ${s}`);
    const b = buf[pos++]!;
    if (i === 4) {
      if (b > 15) throw new CodecError(`${m.name}: invalid field tag (more than 32 bits) at byte ${s}`);
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
  throw new CodecError(`${m.name}: invalid field tag at byte ${s}`);
}

/** Bytes 5..10 of a varint whose first four bytes (28 bits, in `lo`) are read; `pos` is at byte 5. Into R.lo/R.hi. */
export function vtail(buf: Uint8Array, pos: number, end: number, lo: number, m: MsgInfo, t: number, s: number): number {
  if (pos >= end) throw trunc(m, t, s, 'varint', end);
  let b = buf[pos++]!;
  lo = (lo | ((b & 15) << 28)) >>> 0;
  let hi = (b & 127) >>> 4;
  for (let shift = 3; b > 127; shift += 7) {
    if (shift > 31) throw new CodecError(`${where(m, t)}: varint longer than 10 bytes at byte ${s}`);
    if (pos >= end) throw trunc(m, t, s, 'varint', end);
    b = buf[pos++]!;
    hi |= (b & 127) << shift;
  }
  R.lo = lo;
  R.hi = hi >>> 0;
  return pos;
}

/** A length prefix of two or more bytes starting at `p`; value in R.v. */
export function vlen(buf: Uint8Array, p: number, end: number, m: MsgInfo, t: number, s: number): number {
  let v = 0;
  for (let i = 0; i < 5; i++) {
    if (p >= end) throw trunc(m, t, s, 'length', end);
    const b = buf[p++]!;
    if (i === 4) {
      if (b > 7) throw new CodecError(`${where(m, t)}: length prefix over 2^31 at byte ${s}`);
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
  throw new CodecError(`${where(m, t)}: invalid length prefix at byte ${s}`);
}

/** Skips a group (wire type 3) whose start tag `t0` began at `s`; `pos` is after that tag. */
export function group(buf: Uint8Array, pos: number, end: number, t0: number, s: number, m: MsgInfo): number {
  const open = [t0 >>> 3];
  while (open.length) {
    if (pos >= end) throw new CodecError(`${where(m, t0)}: group starting at byte ${s} has no end-group tag`);
    const ts = pos;
    let t = buf[pos++]!;
    if (t > 127) {
      pos = tag(buf, ts, end, m);
      t = R.v;
    }
    const num = t >>> 3;
    if (num === 0) throw new CodecError(`${m.name}: field number 0 at byte ${ts}`);
    switch (t & 7) {
      case 0:
        for (let i = 0; ; i++) {
          if (i === 10) throw new CodecError(`${where(m, t)}: varint longer than 10 bytes at byte ${ts}`);
          if (pos >= end) throw trunc(m, t, ts, 'varint', end);
          if (buf[pos++]! < 128) break;
        }
        break;
      case 1:
        if (end - pos < 8) throw trunc(m, t, ts, 'fixed64', end);
        pos += 8;
        break;
      case 5:
        if (end - pos < 4) throw trunc(m, t, ts, 'fixed32', end);
        pos += 4;
        break;
      case 2: {
        let len = buf[pos++]!;
        if (len > 127) {
          pos = vlen(buf, pos - 1, end, m, t, ts);
          len = R.v;
        } else if (pos > end) throw trunc(m, t, ts, 'length', end);
        if (len > end - pos) throw past(m, t, ts, pos, len, end);
        pos += len;
        break;
      }
      case 3:
        if (open.length >= 64) throw new CodecError(`${where(m, t)}: groups nested too deep at byte ${ts}`);
        open.push(num);
        break;
      case 4:
        if (open.pop() !== num) throw new CodecError(`${where(m, t)}: mismatched end-group tag at byte ${ts}`);
        break;
      default:
        throw wire(m, t, ts);
    }
  }
  return pos;
}

// ---- values ----

export function big(lo: number, hi: number): bigint {
  if (hi === 0 && lo < 0x40000000) return BigInt(lo);
  B32[BLO] = lo;
  B32[BHI] = hi;
  return B64[0]!;
}

export function u64num(lo: number, hi: number, m: MsgInfo, t: number): number {
  const n = hi * TWO32 + lo;
  if (n > Number.MAX_SAFE_INTEGER) throw new CodecError(`${where(m, t)}: ${n} exceeds 2^53`);
  return n;
}

export function i64num(lo: number, hi: number, m: MsgInfo, t: number): number {
  if (hi >= 0x80000000) return -((~hi >>> 0) * TWO32 + ((~lo >>> 0) + 1));
  return u64num(lo, hi, m, t);
}

/** zig-zag decode of a 64-bit varint into R.lo/R.hi */
export function zz64(lo: number, hi: number): void {
  const mask = -(lo & 1);
  R.lo = (((lo >>> 1) | (hi << 31)) ^ mask) >>> 0;
  R.hi = ((hi >>> 1) ^ mask) >>> 0;
}

/** Enum name of `v` from a dense table; an unknown number reads as "enum-N". */
export function en(names: readonly (string | undefined)[], v: number): string {
  const s = v >= 0 && v < names.length ? names[v] : undefined;
  return s !== undefined ? s : 'enum-' + v;
}

export function enMap(names: ReadonlyMap<number, string>, v: number): string {
  return names.get(v) ?? 'enum-' + v;
}

export function str(buf: Uint8Array, start: number, end: number, m: MsgInfo, t: number, s: number): string {
  const n = end - start;
  if (n <= 32) {
    let out = '';
    let i = start;
    for (; i < end; i++) {
      const c = buf[i]!;
      if (c > 127) break;
      out += String.fromCharCode(c);
    }
    if (i === end) return out;
  }
  try {
    return utf8Strict.decode(buf.subarray(start, end));
  } catch {
    throw new CodecError(`${where(m, t)}: invalid UTF-8 in string at byte ${s}`);
  }
}

// ---- errors ----

export function trunc(m: MsgInfo, t: number, s: number, what: string, end: number): CodecError {
  return new CodecError(`${where(m, t)}: truncated ${what} at byte ${s} (input ends at byte ${end})`);
}

export function past(m: MsgInfo, t: number, s: number, pos: number, len: number, end: number): CodecError {
  return new CodecError(
    `${where(m, t)}: length ${len} at byte ${s} runs past the end (${end - pos} bytes left, input ends at byte ${end})`);
}

export function zero(m: MsgInfo, s: number): CodecError {
  return new CodecError(`${m.name}: invalid field number 0 at byte ${s}`);
}

export function wire(m: MsgInfo, t: number, s: number): CodecError {
  const wt = t & 7;
  return wt === 4
    ? new CodecError(`${where(m, t)}: end-group tag without a group at byte ${s}`)
    : new CodecError(`${where(m, t)}: invalid wire type ${wt} at byte ${s}`);
}

export function packed(m: MsgInfo, t: number, s: number, len: number, width: number): CodecError {
  return new CodecError(`${where(m, t)}: packed length ${len} at byte ${s} is not a multiple of ${width}`);
}

export function noBody(start: number, end: number): CodecError {
  return new CodecError(`event bytes ${start}..${end} have no body (unknown or missing event kind)`);
}
