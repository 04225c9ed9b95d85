// Framing of the live-migration protocol (docs/endpoints.md): every message is
//   le32 length | u8 type | le32 crc32 | payload[length]
// where crc32 is CRC-32 (zlib) of the type byte followed by the payload. The length is checked against the cap
// for its type BEFORE anything is allocated for it; a peer that claims more is cut off at once.
import type { Socket } from 'node:net';
import { crc32 } from 'node:zlib';

export const FRAME_HEADER_SIZE = 9;

/** Message types. */
export const MSG = {
  HELLO: 0x01,
  PROFILE: 0x02,
  PRECOPY: 0x03,
  STOP_COPY: 0x04,
  ACK: 0x05,
  ABORT: 0x06,
  QUERY: 0x07,
  OUTCOME: 0x08,
} as const;
export type MsgType = (typeof MSG)[keyof typeof MSG];
const MSG_NAMES = new Map<number, string>(Object.entries(MSG).map(([k, v]) => [v, k]));
export function msgName(t: number): string {
  return MSG_NAMES.get(t) ?? `0x${t.toString(16).padStart(2, '0')}`;
}

/** Caps for the JSON messages; PRECOPY and STOP_COPY use the session's `maxFrame`. */
export const JSON_FRAME_CAP = 1024 * 1024;
/**
 * Cap on every frame before a peer's HELLO was accepted (HELLO and QUERY are a few hundred bytes): a connection that
 * never says HELLO costs at most this much memory, however many there are.
 */
export const PRE_HELLO_FRAME_CAP = 64 * 1024;
/** Default cap on a PRECOPY / STOP_COPY frame (a virtio device's stream is kilobytes; the stream format allows 64 MiB records). */
export const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;

/** A protocol violation or transport failure; `code` says which (docs/endpoints.md lists them). */
export class EndpointError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'EndpointError';
  }
}

export interface Frame {
  type: number;
  payload: Buffer;
}

export function encodeFrame(type: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt8(type, 4);
  out.writeUInt32LE(frameCrc(type, payload), 5);
  out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

function frameCrc(type: number, payload: Uint8Array): number {
  return crc32(payload, crc32(Buffer.of(type))) >>> 0;
}

/** JSON with bigint as "0x..." hex, as everywhere in devrec. */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v)), 'utf8');
}

export function parseJson(frame: Frame): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(frame.payload.toString('utf8'));
  } catch (e) {
    throw new EndpointError('bad-message', `${msgName(frame.type)} payload is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new EndpointError('bad-message', `${msgName(frame.type)} payload is not a JSON object`);
  return v as Record<string, unknown>;
}

/**
 * One framed connection. Reads are lockstep: `next()` returns the next frame or rejects on timeout, close,
 * a bad CRC, an unknown type or an oversized length. The first failure is final: the socket is destroyed and
 * every later call rejects with the same error.
 */
export class FramedConnection {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private frames: Frame[] = [];
  private failure: EndpointError | undefined;
  private waiter: { resolve: (f: Frame) => void; reject: (e: Error) => void } | undefined;
  private ended = false;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    readonly socket: Socket,
    /** cap on each frame's payload, by type; types absent from the map are refused */
    private caps: ReadonlyMap<number, number>,
    private readonly maxQueued = 4,
  ) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('end', () => {
      this.ended = true;
      this.fail(new EndpointError('connection-lost', this.buffered > 0
        ? `connection closed by the peer in the middle of a frame (${this.buffered} bytes buffered)`
        : 'connection closed by the peer'));
    });
    socket.on('close', () => this.fail(new EndpointError('connection-lost', 'connection closed')));
    socket.on('error', (e: NodeJS.ErrnoException) => this.fail(new EndpointError(e.code === 'ECONNRESET' ? 'connection-lost' : 'socket-error', `socket: ${e.message}`)));
  }

  /** Changes the per-type caps (the target widens them once a peer's HELLO was accepted). */
  setCaps(caps: ReadonlyMap<number, number>): void {
    this.caps = caps;
  }

  get error(): EndpointError | undefined {
    return this.failure;
  }

  private onData(d: Buffer): void {
    if (this.failure) return;
    this.bytesIn += d.length;
    this.chunks.push(d);
    this.buffered += d.length;
    try {
      for (;;) {
        if (this.buffered < FRAME_HEADER_SIZE) break;
        const head = this.peek(FRAME_HEADER_SIZE);
        const length = head.readUInt32LE(0);
        const type = head.readUInt8(4);
        const cap = this.caps.get(type);
        if (cap === undefined) throw new EndpointError('bad-message', `unexpected message type ${msgName(type)}`);
        // The cap is checked before anything is allocated for the payload.
        if (length > cap) throw new EndpointError('frame-too-large', `${msgName(type)} frame claims ${length} bytes, over the cap of ${cap}`);
        if (this.buffered < FRAME_HEADER_SIZE + length) break;
        const whole = this.take(FRAME_HEADER_SIZE + length);
        const payload = whole.subarray(FRAME_HEADER_SIZE);
        const want = head.readUInt32LE(5);
        const got = frameCrc(type, payload);
        if (want !== got) throw new EndpointError('bad-crc', `${msgName(type)} frame CRC-32 is 0x${got.toString(16)}, the header says 0x${want.toString(16)}`);
        if (this.frames.length >= this.maxQueued) throw new EndpointError('protocol', `peer sent more than ${this.maxQueued} messages ahead`);
        this.deliver({ type, payload });
      }
    } catch (e) {
      // Stop reading at once (nothing more is buffered or allocated); the owner answers with ABORT and closes.
      this.fail(e as EndpointError, false);
    }
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    const out = Buffer.alloc(n);
    let pos = 0;
    for (const c of this.chunks) {
      const k = Math.min(c.length, n - pos);
      c.copy(out, pos, 0, k);
      pos += k;
      if (pos === n) break;
    }
    return out;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n); // n was checked against the cap and is all buffered already
      let pos = 0;
      while (pos < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - pos);
        c.copy(out, pos, 0, k);
        pos += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }

  private deliver(f: Frame): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(f);
    } else {
      this.frames.push(f);
    }
  }

  private fail(e: EndpointError, destroy = true): void {
    if (this.failure) return;
    this.failure = e;
    this.chunks = [];
    this.buffered = 0;
    if (destroy) {
      if (!this.socket.destroyed) this.socket.destroy();
    } else {
      this.socket.pause();
      this.socket.removeAllListeners('data');
      // Closed by the owner (abort) or, failing that, soon.
      setTimeout(() => this.socket.destroy(), 2000).unref();
    }
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      // Frames that arrived before the failure are still delivered first (see next()).
      w.reject(e);
    }
  }

  /** Next frame, within `timeoutMs`. Frames received before a close are still returned. */
  next(timeoutMs: number, what = 'a message'): Promise<Frame> {
    const queued = this.frames.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        const e = new EndpointError('timeout', `no ${what} from the peer within ${timeoutMs} ms`);
        // keep the socket: the owner tells the peer why with ABORT timeout (docs/endpoints.md), then closes
        this.fail(e, false);
        reject(e);
      }, timeoutMs);
      this.waiter = {
        resolve: (f) => { clearTimeout(timer); resolve(f); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
    });
  }

  send(type: number, payload: Uint8Array): void {
    if (this.failure) throw this.failure;
    const f = encodeFrame(type, payload);
    this.bytesOut += f.length;
    this.socket.write(f);
  }

  /** Sends and resolves once the bytes were handed to the kernel (or rejects when the socket failed). */
  sendFlushed(type: number, payload: Uint8Array): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const f = encodeFrame(type, payload);
    this.bytesOut += f.length;
    return new Promise((resolve, reject) => {
      this.socket.write(f, (err) => (err ? reject(new EndpointError('connection-lost', `socket: ${err.message}`)) : resolve()));
    });
  }

  sendJson(type: number, value: unknown): void {
    this.send(type, jsonBytes(value));
  }

  /**
   * Last words: writes one frame even after a read failure (when the socket can still write), then closes.
   * Never throws.
   */
  closeWith(type: number, value: unknown): Promise<void> {
    return new Promise((resolve) => {
      const s = this.socket;
      this.failure ??= new EndpointError('closed', 'connection closed locally');
      if (s.destroyed || !s.writable) {
        s.destroy();
        return resolve();
      }
      const f = encodeFrame(type, jsonBytes(value));
      this.bytesOut += f.length;
      const timer = setTimeout(() => { s.destroy(); resolve(); }, 1000);
      timer.unref();
      s.end(f, () => {
        clearTimeout(timer);
        // the peer has our last frame (in its kernel buffer); do not wait for it to close
        setTimeout(() => s.destroy(), 200).unref();
        resolve();
      });
    });
  }

  /** Ends the connection after what was written (a polite close). */
  end(): void {
    if (!this.socket.destroyed && !this.ended) this.socket.end();
    this.failure ??= new EndpointError('closed', 'connection closed locally');
  }

  destroy(): void {
    this.failure ??= new EndpointError('closed', 'connection closed locally');
    if (!this.socket.destroyed) this.socket.destroy();
  }
}
