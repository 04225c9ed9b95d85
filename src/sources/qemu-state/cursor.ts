// Byte cursor over the parser's window of a QEMU savevm stream: big-endian reads, every length checked against a
// cap and against what the window holds before anything is read or allocated.
//
// The parser works in units (a section header, a whole non-RAM section, one RAM page record, the vmdesc). A unit
// is parsed from the window with a Cursor; when the window ends before the unit does and more bytes may still
// come, the cursor throws NeedMore and the unit is parsed again from its start once the window holds more.
// Once the input is known to be complete (`final`), running out of bytes is a QemuStreamError instead.

/** Everything wrong with a QEMU stream is one of these: the section (idstr when known), the byte offset, the reason. */
export class QemuStreamError extends Error {
  constructor(
    /** absolute byte offset in the (decompressed) stream */
    readonly offset: number,
    readonly reason: string,
    /** idstr of the section, when known */
    readonly section?: string,
    /** the input's name (file), when given */
    readonly input?: string,
  ) {
    super(`${input ? `${input}: ` : ''}${section !== undefined ? `section "${section}" ` : ''}at offset ${offset}: ${reason}`);
    this.name = 'QemuStreamError';
  }

  withInput(input: string | undefined): QemuStreamError {
    return input === undefined || this.input !== undefined ? this : new QemuStreamError(this.offset, this.reason, this.section, input);
  }

  withSection(section: string | undefined): QemuStreamError {
    return section === undefined || this.section !== undefined ? this : new QemuStreamError(this.offset, this.reason, section, this.input);
  }
}

/** Internal: the window ends before the unit does; `upTo` is the absolute offset the unit needs at least. */
export class NeedMore {
  constructor(readonly upTo: number) {}
}

export interface CursorContext {
  /** idstr of the section being read (for errors) */
  section?: string;
  /** total size of the input when known (a file's size): lengths past it are refused at once */
  totalSize?: number;
  /**
   * The reader reads at the offsets the parser asks for (a file read with positioned reads): bytes a unit skips at
   * its end need not be held, see skipToUnitEnd.
   */
  positioned?: boolean;
}

const HEX = (n: number): string => `0x${n.toString(16)}`;
export { HEX as hex };

export class Cursor {
  private readonly view: DataView;

  constructor(
    readonly buf: Uint8Array,
    /** index in buf of the next byte */
    public pos: number,
    /** index in buf one past the last byte held */
    readonly end: number,
    /** absolute stream offset of buf[0] */
    readonly base: number,
    /** no more bytes will come after `end` */
    readonly final: boolean,
    public ctx: CursorContext = {},
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** absolute stream offset of the next byte */
  get offset(): number {
    return this.base + this.pos;
  }

  /** bytes held after the cursor */
  get held(): number {
    return this.end - this.pos;
  }

  /** absolute offset where the input ends, when known */
  get knownEnd(): number | undefined {
    return this.final ? this.base + this.end : this.ctx.totalSize;
  }

  error(reason: string, offset = this.offset): QemuStreamError {
    return new QemuStreamError(offset, reason, this.ctx.section);
  }

  /** Makes sure `n` bytes are held after the cursor (or throws NeedMore / a truncation error). */
  need(n: number, what: string): void {
    if (this.pos + n <= this.end) return;
    const knownEnd = this.knownEnd;
    if (knownEnd !== undefined && this.offset + n > knownEnd) {
      throw this.error(`${what}: needs ${n} byte${n === 1 ? '' : 's'}, but the stream ends at offset ${knownEnd}`);
    }
    throw new NeedMore(this.offset + n);
  }

  /** True when at least `n` bytes are held or can still come; false when the input is known to end sooner. */
  mayHave(n: number): boolean {
    const knownEnd = this.knownEnd;
    return knownEnd === undefined || this.offset + n <= knownEnd;
  }

  /** Checks a length field against a cap before anything is read or allocated. */
  checkLength(n: number, cap: number, what: string, at = this.offset): void {
    if (!Number.isSafeInteger(n) || n < 0) throw this.error(`${what}: length ${n} is not valid`, at);
    if (n > cap) throw this.error(`${what}: length ${n} is over the limit of ${cap}`, at);
    if (this.pos + n <= this.end) return; // held, so inside the input
    const knownEnd = this.knownEnd;
    if (knownEnd !== undefined && this.offset + n > knownEnd) {
      throw this.error(`${what}: length ${n} points past the end of the stream (offset ${knownEnd})`, at);
    }
  }

  peek(k = 0): number {
    this.need(k + 1, 'peek');
    return this.buf[this.pos + k]!;
  }

  /** The byte at `k` after the cursor when held, else undefined (never throws). */
  peekHeld(k = 0): number | undefined {
    return this.pos + k < this.end ? this.buf[this.pos + k] : undefined;
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  bool(what: string): boolean {
    return this.u8(what) !== 0;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, false);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, false);
    this.pos += 4;
    return v;
  }

  u64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, false);
    this.pos += 8;
    return v;
  }

  /** A view of the next `n` bytes (not copied); `cap` bounds `n` first. */
  bytes(n: number, what: string, cap: number): Uint8Array {
    this.checkLength(n, cap, what);
    this.need(n, what);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number, what: string, cap: number): void {
    this.checkLength(n, cap, what);
    this.need(n, what);
    this.pos += n;
  }

  /**
   * Skips the last `n` bytes of the unit being read (RAM page data). With a positioned reader the bytes past the
   * window are never read: the cursor moves past the window's end, and the parser asks its reader to continue from
   * there. Nothing may be read after this in the same unit.
   */
  skipToUnitEnd(n: number, what: string, cap: number): void {
    this.checkLength(n, cap, what);
    if (this.pos + n > this.end && this.ctx.positioned && this.ctx.totalSize !== undefined && !this.final) {
      this.pos += n; // checkLength kept it inside the input
      return;
    }
    this.need(n, what);
    this.pos += n;
  }

  /** u8 length + that many bytes, as text (QEMU's idstr / subsection name encoding). */
  shortString(what: string): string {
    const at = this.offset;
    const len = this.u8(`${what} length`);
    const raw = this.bytes(len, what, 255);
    for (const b of raw) {
      if (b < 0x20 || b > 0x7e) throw this.error(`${what}: byte ${HEX(b)} is not printable ASCII`, at);
    }
    return String.fromCharCode(...raw);
  }

  /** Index in buf of the next occurrence of `byte` at or after `from`, or -1 within what is held. */
  indexOf(byte: number, from: number): number {
    return this.buf.subarray(0, this.end).indexOf(byte, from);
  }
}

/** Byte-level helpers shared by the decoders. */
export function be32At(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

export function isPrintable(b: Uint8Array, from: number, len: number): boolean {
  for (let i = from; i < from + len; i++) {
    const c = b[i]!;
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}
