// A segment of a store opened read-only, as the FileHandle the file store holds, made with synchronous calls: a
// reader (`devices`, `state`, `log`) then never loads node:fs/promises nor starts libuv's thread pool, together
// about 4 ms of a short command's start-up here, for reads of a local file mostly in the page cache. Only what a
// read-only store calls exists: reading, stat and close (writes are refused before they reach a segment).
import { closeSync, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

class ReadOnlySegmentFile {
  constructor(readonly fd: number) {}

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number; buffer: Uint8Array }> {
    let bytesRead = 0;
    while (bytesRead < length) {
      const n = readSync(this.fd, buffer, offset + bytesRead, length - bytesRead, position + bytesRead);
      if (n === 0) break;
      bytesRead += n;
    }
    return { bytesRead, buffer };
  }

  async stat(): Promise<Stats> {
    return fstatSync(this.fd);
  }

  async close(): Promise<void> {
    closeSync(this.fd);
  }
}

/** `file` opened for reading, as the part of a FileHandle a read-only store uses (read, stat, close, fd). */
export function openReadOnlySegment(file: string): FileHandle {
  return new ReadOnlySegmentFile(openSync(file, 'r')) as unknown as FileHandle;
}
