// Snapshots of the file store: one file per (stream, revision) under snapshots/<stream, URI-encoded>/, written
// to a temporary name and renamed so a reader never sees half a snapshot. A snapshot is a cache of the
// projection: a damaged one is skipped, never trusted.
import { promises as fsp, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { SnapshotRecord } from './types.js';

const MAGIC = Buffer.from('DRSNAP01', 'ascii');
const HEADER = 8 + 4 + 8;

export class FileSnapshots {
  private readonly listings = new Map<string, number[]>();
  constructor(private readonly dir: string, private readonly readOnly: boolean) {}

  private streamDir(stream: string): string {
    return path.join(this.dir, encodeURIComponent(stream));
  }

  async save(stream: string, revision: number, data: Uint8Array): Promise<void> {
    const dir = this.streamDir(stream);
    const file = path.join(dir, `${String(revision).padStart(16, '0')}.snap`);
    const buf = Buffer.allocUnsafe(HEADER + data.length);
    MAGIC.copy(buf, 0);
    buf.writeUInt32LE(crc32(data), 8);
    buf.writeUInt32LE(revision % 4294967296, 12);
    buf.writeUInt32LE(Math.floor(revision / 4294967296), 16);
    buf.set(data, HEADER);
    try {
      await fsp.mkdir(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await fsp.writeFile(tmp, buf);
      await fsp.rename(tmp, file);
    } catch (err) {
      // A read-only opener caches snapshots when it can; failing to is not an error for it.
      if (this.readOnly) return;
      throw err;
    }
    const list = this.listings.get(stream);
    if (list && !list.includes(revision)) {
      list.push(revision);
      list.sort((a, b) => a - b);
    }
  }

  private async revisions(stream: string): Promise<number[]> {
    let list = this.listings.get(stream);
    if (!list) {
      // synchronous, as the store's other reads: a listing is microseconds, a thread-pool trip is not
      let names: string[];
      try {
        names = readdirSync(this.streamDir(stream));
      } catch {
        names = [];
      }
      list = names.map((n) => /^(\d{16})\.snap$/.exec(n)).filter((m) => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
      this.listings.set(stream, list);
    }
    return list;
  }

  async load(stream: string, atOrBefore: number): Promise<SnapshotRecord | undefined> {
    const list = await this.revisions(stream);
    for (let i = list.length - 1; i >= 0; i--) {
      const revision = list[i]!;
      if (revision > atOrBefore) continue;
      const file = path.join(this.streamDir(stream), `${String(revision).padStart(16, '0')}.snap`);
      let buf: Buffer | undefined;
      try {
        buf = readFileSync(file);
      } catch {
        buf = undefined;
      }
      if (!buf || buf.length < HEADER || !buf.subarray(0, 8).equals(MAGIC)) continue;
      const data = buf.subarray(HEADER);
      const rev = buf.readUInt32LE(12) + buf.readUInt32LE(16) * 4294967296;
      if (rev !== revision || crc32(data) !== buf.readUInt32LE(8)) continue;
      return { stream, revision, data: new Uint8Array(data) };
    }
    return undefined;
  }

  /** Forgets cached listings (another process may have written snapshots). */
  invalidate(): void {
    this.listings.clear();
  }
}
