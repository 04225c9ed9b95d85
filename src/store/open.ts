// Store URLs: `file:<dir>` (default `file:./.devrec`), `memory:`, and KurrentDB: `kurrentdb://host:2113?tls=false`
// (also kurrent://, kdb://, esdb:// and their +discover variants; see docs/stores.md).
import { FileEventStore, type FileStoreOptions } from './file-store.js';
import { isKurrentDbUrl } from './kurrentdb-common.js';
import { MemoryEventStore } from './memory.js';
import { StorePathError, type EventStore } from './types.js';

export const DEFAULT_STORE_URL = 'file:./.devrec';

export function storeUrlFromEnv(explicit?: string): string {
  return explicit ?? process.env['DEVREC_STORE'] ?? DEFAULT_STORE_URL;
}

export async function openStore(url: string, options: FileStoreOptions = {}): Promise<EventStore> {
  if (url === 'memory:') return new MemoryEventStore();
  if (url.startsWith('file:')) {
    const dir = url.slice('file:'.length).replace(/^\/\/(?=\/)/, '');
    if (!dir) throw new StorePathError(`store URL ${url}`, 'no directory', 'write file:<dir>, e.g. file:./.devrec');
    return FileEventStore.open(dir, options);
  }
  if (isKurrentDbUrl(url)) {
    // Loaded on demand: the gRPC client and its native read bridge cost nothing to file: users.
    const { KurrentDbEventStore } = await import('./kurrentdb.js');
    return KurrentDbEventStore.connect(url, { readOnly: options.readOnly });
  }
  throw new StorePathError(`store URL ${url}`, 'unknown scheme', 'use file:<dir>, memory: or kurrentdb://host:2113');
}
