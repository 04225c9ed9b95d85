// The production codec of events, projector snapshots and migration records: entry points over the code generated
// at build time into src/events/generated/fast-codec.ts (by scripts/codegen/fast-codec.ts, from the .proto files).
//
// Contract (checked by test/events/fast-codec.spec.ts against codec.ts, the protobufjs 8 oracle):
//  - fastEncodeEvent(e, rev) is byte-identical to encodeEvent(e, rev), encodeStandalone(spec, obj) to
//    encodeMessage(spec, obj); fastDecodeEvent / decodeStandalone are deep-equal to decodeEvent / decodeMessageOf.
//  - malformed input throws CodecError naming what was being read and the byte offset (an index into the
//    Uint8Array handed in). See the generator for the details.
import { CodecError } from './codec-error.js';
import { checkEventRanges } from './ranges.js';
import { decodeEventAt, EVENT_BODY_FIELDS, EVENT_ENCODERS, MESSAGE_CODECS } from './generated/fast-codec.js';
import type { MessageSpec } from './schema.js';
import type { DeviceEvent, EventKind, NewEvent } from './types.js';
import { unknownKind } from './wire/write.js';
import { ByteWriter } from './wire/writer.js';

type Decoder = (buf: Uint8Array, pos: number, end: number, prev: unknown) => DeviceEvent;
type Encoder = (w: ByteWriter, e: NewEvent, rev: number) => void;
interface MessageCodec {
  encode(w: ByteWriter, o: unknown): void;
  decode(buf: Uint8Array, pos: number, end: number, prev: undefined): unknown;
}

const decEvent = decodeEventAt as Decoder;
const ENCODERS = new Map<string, Encoder>(Object.entries(EVENT_ENCODERS as Record<string, Encoder>));
const MESSAGES = new Map<string, MessageCodec>(Object.entries(MESSAGE_CODECS as Record<string, MessageCodec>));

function encoderOf(e: NewEvent): Encoder {
  const body = e.body as { kind?: unknown } | null | undefined;
  if (body == null) throw new CodecError('event has no body');
  const enc = ENCODERS.get(body.kind as string);
  if (enc === undefined) throw unknownKind(body.kind);
  return enc;
}

const shared = new ByteWriter(4096);

/**
 * Encodes one event with its stream revision; byte-identical to codec.ts encodeEvent. Returns a fresh Uint8Array
 * (not a Buffer) that the caller owns.
 */
export function fastEncodeEvent(e: NewEvent, revision: number): Uint8Array {
  checkEventRanges(e.body);
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
    checkEventRanges(e.body);
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
  const e = decEvent(buf, start, end, start);
  checkEventRanges(e.body);
  return e;
}

/**
 * The kind of the event encoded in buf[start, end), read from its field tags alone: nothing is decoded or allocated,
 * so a reader can skip the events it does not need. The last body field wins, as when protobuf reads a oneof.
 * undefined when the event has no body or its framing is broken (decoding it then says where and why).
 */
export function eventKindAt(buf: Uint8Array, start: number, end: number): EventKind | undefined {
  let kind: string | undefined;
  let pos = start;
  while (pos < end) {
    const tag = varintAt(buf, pos, end);
    if (tag < 0) return undefined;
    pos = varintEnd;
    switch (tag & 7) {
      case 0: // varint
        while (pos < end && buf[pos]! >= 0x80) pos++;
        pos++;
        break;
      case 1: // fixed64
        pos += 8;
        break;
      case 2: { // length-delimited
        const len = varintAt(buf, pos, end);
        if (len < 0) return undefined;
        pos = varintEnd + len;
        kind = EVENT_BODY_FIELDS[Math.floor(tag / 8)] ?? kind;
        break;
      }
      case 5: // fixed32
        pos += 4;
        break;
      default:
        return undefined;
    }
  }
  return pos === end ? (kind as EventKind | undefined) : undefined;
}

/** Where the varint varintAt read last ended (a module slot: eventKindAt runs per event and allocates nothing). */
let varintEnd = 0;

/** The varint (a tag or a length) at buf[pos], at most 35 bits; -1 when it is cut off or longer. */
function varintAt(buf: Uint8Array, pos: number, end: number): number {
  let v = 0;
  for (let shift = 0; shift <= 28; shift += 7) {
    if (pos >= end) return -1;
    const b = buf[pos++]!;
    v += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) {
      varintEnd = pos;
      return v;
    }
  }
  return -1;
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
    const e = decEvent(buf, s, pos, s);
    checkEventRanges(e.body);
    onEvent(e);
    n++;
  }
  return n;
}

function messageCodec(spec: MessageSpec): MessageCodec {
  const c = MESSAGES.get(spec.name);
  if (!c) throw new Error(`no generated codec for ${spec.name}: list it in scripts/codegen/fast-codec.ts and run npm run proto`);
  return c;
}

/** Encodes one standalone message (a snapshot's DeviceState, a migration record); byte-identical to encodeMessage. */
export function encodeStandalone(spec: MessageSpec, obj: object): Uint8Array {
  const w = shared;
  w.pos = 0;
  messageCodec(spec).encode(w, obj);
  return w.buf.slice(0, w.pos);
}

/** Decodes one standalone message from all of `bytes`; deep-equal to decodeMessageOf. */
export function decodeStandalone<T>(spec: MessageSpec, bytes: Uint8Array): T {
  const buf = plain(bytes);
  return messageCodec(spec).decode(buf, 0, buf.length, undefined) as T;
}
