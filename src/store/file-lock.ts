// The writer lock of a file: store. An open-file-description lock (fcntl F_OFD_SETLK on Linux, through
// fs-native-extensions) on <dir>/LOCK: the kernel grants it to one opener at a time and drops it when the holder's
// file is closed or the process dies, so a dead holder never needs taking over and there is no race to take it.
// The file's text (<pid>@<host>) only names the holder in messages; an empty or garbled LOCK is harmless. The file
// is never removed: removing it would let two openers lock two different inodes.
import { constants, promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import path from 'node:path';
import { StoreLockedError } from './types.js';

interface NativeLocks {
  tryLock(fd: number, offset?: number, length?: number, options?: { shared?: boolean }): boolean;
  unlock(fd: number): void;
}
// Loaded by the first writer: read-only commands (devices, log, state) never take the lock, nor pay for the addon.
let native: NativeLocks | undefined;
const locks = (): NativeLocks => (native ??= createRequire(import.meta.url)('fs-native-extensions') as NativeLocks);

export class WriterLock {
  private constructor(private readonly handle: fsp.FileHandle) {}

  static async acquire(dir: string): Promise<WriterLock> {
    const file = path.join(dir, 'LOCK');
    const handle = await fsp.open(file, constants.O_RDWR | constants.O_CREAT, 0o644);
    let granted: boolean;
    try {
      granted = locks().tryLock(handle.fd);
    } catch (err) {
      await handle.close();
      throw err;
    }
    if (!granted) {
      const holder = await readHolder(handle);
      await handle.close();
      throw new StoreLockedError(dir, holder ? `process ${holder}` : 'another process');
    }
    const me = Buffer.from(`${process.pid}@${hostname()}`);
    await handle.truncate(0);
    await handle.write(me, 0, me.length, 0);
    return new WriterLock(handle);
  }

  async release(): Promise<void> {
    await this.handle.truncate(0).catch(() => undefined);
    await this.handle.close().catch(() => undefined);
  }
}

async function readHolder(handle: fsp.FileHandle): Promise<string> {
  const b = Buffer.alloc(256);
  const { bytesRead } = await handle.read(b, 0, b.length, 0).catch(() => ({ bytesRead: 0 }));
  const text = b.toString('utf8', 0, bytesRead).trim();
  return /^\d+@[\w.-]+$/.test(text) ? text : '';
}
