// Reading a segment through a window: one read fetches many small records, so opening or verifying a store costs
// a read per window, not two per record. The read is synchronous: a segment is a local file, mostly in the page
// cache, and an asynchronous read is a trip through libuv's thread pool that costs more than the copy itself (on a
// busy machine, milliseconds per read). Memory stays bounded by the window or the largest record asked for.
import { readSync } from 'node:fs';
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

  /** `len` bytes at `at`, shorter only where the segment ends first: a view that stays valid (a window that moves reads into a new buffer, never over an old one). */
  read(at: number, len: number): Buffer {
    if (at < this.start || at + len > this.start + this.buf.length) {
      const want = Math.max(0, Math.min(Math.max(len, this.windowBytes), this.size - at));
      const b = Buffer.allocUnsafe(want);
      let bytesRead = 0;
      while (bytesRead < want) {
        const n = readSync(this.handle.fd, b, bytesRead, want - bytesRead, at + bytesRead);
        if (n === 0) break;
        bytesRead += n;
      }
      this.buf = b.subarray(0, bytesRead);
      this.start = at;
    }
    return this.buf.subarray(at - this.start, at - this.start + len);
  }
}
