// Encode helpers of the generated codec: multi-byte varints, strings and bytes, the 64-bit split of JS numbers,
// and the validation errors. They write exactly what protobufjs 8 writes for the same input (the tests' oracle).
import { CodecError } from '../codec-error.js';
import { R, TWO32 } from './scratch.js';
import type { ByteWriter } from './writer.js';

const utf8Encoder = new TextEncoder();

export function wv32(buf: Uint8Array, pos: number, v: number): number {
  while (v > 127) {
    buf[pos++] = (v & 127) | 128;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

export function wv64(buf: Uint8Array, pos: number, lo: number, hi: number): number {
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
}

/** int32 as protobufjs writes it: negatives sign-extended to 10 bytes */
export function wi32(buf: Uint8Array, pos: number, v: number): number {
  if (v >= 0) return wv32(buf, pos, v);
  return wv64(buf, pos, v >>> 0, 0xffffffff);
}

/** Two's-complement 64-bit bits of a JS number, truncated toward zero like protobufjs' LongBits.fromNumber. */
function numberBits(v: number): void {
  if (v === 0 || Number.isNaN(v)) {
    R.lo = 0;
    R.hi = 0;
    return;
  }
  const neg = v < 0;
  if (neg) v = -v;
  let lo = v >>> 0;
  let hi = ((v - lo) / TWO32) >>> 0;
  if (neg) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
    if (++lo > 0xffffffff) {
      lo = 0;
      if (++hi > 0xffffffff) hi = 0;
    }
  }
  R.lo = lo;
  R.hi = hi;
}

/**
 * 64-bit bits of what a JS-number 64-bit field holds (a number; a decimal string or a {low, high} Long-like
 * object are accepted as protobufjs accepts them) into R.lo/R.hi.
 */
export function long(v: unknown): void {
  if (typeof v === 'number') return numberBits(v);
  if (typeof v === 'string') {
    let b: bigint;
    try {
      b = BigInt.asUintN(64, BigInt(v.trim()));
    } catch {
      throw new CodecError(`"${v}" is not a 64-bit integer`);
    }
    R.lo = Number(b & 0xffffffffn);
    R.hi = Number(b >> 32n);
    return;
  }
  const o = v as { low?: number; high?: number };
  R.lo = (o.low ?? 0) >>> 0;
  R.hi = (o.high ?? 0) >>> 0;
}

export function zz64e(lo: number, hi: number): void {
  const mask = hi >> 31;
  R.hi = (((hi << 1) | (lo >>> 31)) ^ mask) >>> 0;
  R.lo = ((lo << 1) ^ mask) >>> 0;
}

export function badBig(v: unknown, field: string): CodecError {
  if (typeof v !== 'bigint') return new CodecError(`${field}: expected bigint, got ${typeof v}`);
  return new CodecError(`${field}: ${v} is outside unsigned 64-bit range`);
}

/** Wire number of an enum value the table does not name: only "enum-N" (a number read from a newer schema). */
export function enumNum(v: unknown, field: string, enumName: string): number {
  const m = /^enum-(\d+)$/.exec(String(v));
  if (m) return Number(m[1]);
  throw new CodecError(`${field}: unknown ${enumName} "${String(v)}"`);
}

/** A string, length-prefixed, as protobufjs' BufferWriter writes it; may grow the writer. */
export function wstr(w: ByteWriter, pos: number, v: string): number {
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
  pos = wv32(buf, pos, len);
  utf8Encoder.encodeInto(v, buf.subarray(pos, pos + len));
  return pos + len;
}

/** Bytes, length-prefixed; may grow the writer. */
export function wbytes(w: ByteWriter, pos: number, v: Uint8Array | string): number {
  if (typeof v === 'string') v = Buffer.from(v, 'base64'); // protobufjs accepts base64 strings
  const len = v.length >>> 0;
  let buf = w.buf;
  if (buf.length - pos < len + 5) buf = w.grow(pos, len + 5);
  if (len < 128) buf[pos++] = len;
  else pos = wv32(buf, pos, len);
  if (len <= 32) {
    for (let i = 0; i < len; i++) buf[pos + i] = v[i]!;
  } else {
    buf.set(v, pos);
  }
  return pos + len;
}

/** A length placeholder byte at `st` turned out too small for `len`: shift the content and write the varint. */
export function fixLen(w: ByteWriter, st: number, len: number, pos: number): number {
  const n = len < 16384 ? 2 : len < 2097152 ? 3 : len < 268435456 ? 4 : 5;
  const buf = w.buf.length - pos < n - 1 ? w.grow(pos, n - 1) : w.buf;
  buf.copyWithin(st + n, st + 1, pos);
  wv32(buf, st, len);
  return pos + n - 1;
}

export function unknownKind(kind: unknown): CodecError {
  return new CodecError(`unknown event kind "${String(kind)}"`);
}
