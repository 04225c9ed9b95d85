// Store URLs: `file:<dir>` (default `file:./.devrec`), `memory:`. KurrentDB (`kurrentdb://`) is its own issue.
import { FileEventStore, type FileStoreOptions } from './file-store.js';
import { MemoryEventStore } from './memory.js';
import type { EventStore } from './types.js';

export const DEFAULT_STORE_URL = 'file:./.devrec';

export function storeUrlFromEnv(explicit?: string): string {
  return explicit ?? process.env['DEVREC_STORE'] ?? DEFAULT_STORE_URL;
}

export async function openStore(url: string, options: FileStoreOptions = {}): Promise<EventStore> {
  if (url === 'memory:') return new MemoryEventStore();
  if (url.startsWith('file:')) {
    const dir = url.slice('file:'.length).replace(/^\/\/(?=\/)/, '');
    if (!dir) throw new Error(`store URL ${url}: no directory`);
    return FileEventStore.open(dir, options);
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  if (scheme && ['kurrentdb', 'kurrent', 'kdb', 'esdb'].includes(scheme.replace(/\+discover$/, ''))) {
    throw new Error(`store URL ${url}: the KurrentDB store is not built yet in this version of devrec`);
  }
  throw new Error(`store URL ${url}: unknown scheme (use file:<dir> or memory:)`);
}
