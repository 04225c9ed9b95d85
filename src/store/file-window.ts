// Reading a segment through a window: one read() fetches many small records, so opening or verifying a store costs
// a read per window, not two per record (each read is a trip through libuv's thread pool, which dominates on a busy
// machine). Memory stays bounded by the window or the largest record asked for.
import type { FileHandle } from 'node:fs/promises';

export class SegmentWindow {
  private start = 0;
  private buf: Buffer = Buffer.alloc(0);

  constructor(
    private readonly handle: FileHandle,
    /** the segment's size when this window was made: nothing at or past it is read */
    readonly size: number,
    private readonly windowBytes: number,
  ) {}

  /** `len` bytes at `at` as a view valid until the next call; shorter only where the segment ends first. */
  async read(at: number, len: number): Promise<Buffer> {
    if (at < this.start || at + len > this.start + this.buf.length) {
      const want = Math.max(0, Math.min(Math.max(len, this.windowBytes), this.size - at));
      const b = Buffer.allocUnsafe(want);
      const { bytesRead } = await this.handle.read(b, 0, want, at);
      this.buf = b.subarray(0, bytesRead);
      this.start = at;
    }
    return this.buf.subarray(at - this.start, at - this.start + len);
  }
}
