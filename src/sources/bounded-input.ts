// Size caps and time bounds for everything devrec reads from a user: whole files (regular files only, never a
// device such as /dev/zero or a pipe that never ends), lines (our own splitter with a length cap, instead of
// readline's unbounded buffer), and gzip (decompressed bytes counted and capped: a gzip bomb stops at the cap).
import { openSync, closeSync, fstatSync, readSync } from 'node:fs';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { MAX_DECOMPRESSED_BYTES, MAX_LINE_BYTES } from '../model/limits.js';

/** An input broke a size cap: one line naming the input, where, the cap and what to do. */
export class InputLimitError extends Error {
  constructor(readonly input: string, where: string, reason: string) {
    super(`${input}: ${where ? `${where}: ` : ''}${reason}`);
    this.name = 'InputLimitError';
  }
}

/** Reads a regular file whole, refusing anything larger than `max` bytes, and devices, pipes and directories. */
export function readWholeFile(file: string, max: number, what: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputLimitError(file, '', `cannot read: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new InputLimitError(file, '', `is a directory, not ${what}; name a file inside it`);
    if (!st.isFile()) throw new InputLimitError(file, '', `is not a regular file (a device, pipe or socket), not ${what}; save it to a file first`);
    if (st.size > max) throw new InputLimitError(file, '', `${st.size} bytes is larger than any ${what} devrec reads (at most ${max})`);
    const out = Buffer.allocUnsafe(st.size);
    let done = 0;
    while (done < st.size) {
      const n = readSync(fd, out, done, st.size - done, done);
      if (n === 0) break;
      done += n;
    }
    return new Uint8Array(out.buffer, out.byteOffset, done);
  } finally {
    closeSync(fd);
  }
}

/**
 * Splits a byte stream into lines (LF or CRLF), with a cap on each line's length. Line numbers in errors are 1-based.
 */
export async function* readLines(input: Readable | AsyncIterable<Buffer | string>, name: string, maxLineBytes = MAX_LINE_BYTES): AsyncIterable<string> {
  let parts: Buffer[] = [];
  let pending = 0;
  let lineNo = 0;
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (;;) {
      const nl = b.indexOf(10, start);
      if (nl < 0) {
        pending += b.length - start;
        if (pending > maxLineBytes) throw new InputLimitError(name, `line ${lineNo + 1}`, `longer than ${maxLineBytes} bytes; no real line is that long (is this the right file?)`);
        if (start < b.length) parts.push(b.subarray(start));
        break;
      }
      if (pending + nl - start > maxLineBytes) throw new InputLimitError(name, `line ${lineNo + 1}`, `longer than ${maxLineBytes} bytes; no real line is that long (is this the right file?)`);
      parts.push(b.subarray(start, nl));
      let line = parts.length === 1 ? parts[0]!.toString('utf8') : Buffer.concat(parts).toString('utf8');
      if (line.endsWith('\r')) line = line.slice(0, -1);
      parts = [];
      pending = 0;
      lineNo++;
      yield line;
      start = nl + 1;
    }
  }
  if (parts.length) yield Buffer.concat(parts).toString('utf8').replace(/\r$/, '');
}

/** Passes decompressed bytes through, failing once more than `max` have come out (a gzip bomb ends here). */
export function decompressedCap(name: string, max = MAX_DECOMPRESSED_BYTES): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      total += chunk.length;
      if (total > max) return done(new InputLimitError(name, `decompressed byte ${max}`, `decompresses to more than ${max} bytes; devrec reads no input that large (a gzip bomb?)`));
      done(null, chunk);
    },
  });
}
