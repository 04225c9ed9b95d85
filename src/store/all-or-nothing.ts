// Imports are all or nothing: every store runs them as a transaction. The file store cuts back on failure or crash
// (a ROLLBACK marker), the memory store takes back what was added, KurrentDB holds the appends and writes them at
// the end as one append per stream (one multi-stream append where the server has it). docs/stores.md.
import type { EventStore } from './types.js';

interface Transactional {
  transaction<T>(fn: () => Promise<T>): Promise<T>;
}

export function allOrNothing<T>(store: EventStore, fn: () => Promise<T>): Promise<T> {
  const t = store as Partial<Transactional>;
  return typeof t.transaction === 'function' ? t.transaction.call(store, fn) as Promise<T> : fn();
}
