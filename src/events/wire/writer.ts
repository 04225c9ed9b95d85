// Growable output buffer of the generated encoders. They keep `buf`/`pos` in locals and sync `pos` around nested
// calls.
export class ByteWriter {
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
