// Imports are all or nothing: the file store runs them as a transaction (cut back on failure or crash). Stores
// without one (memory:, KurrentDB) run the import as it is: there a failed import can leave what it appended.
import type { EventStore } from './types.js';

interface Transactional {
  transaction<T>(fn: () => Promise<T>): Promise<T>;
}

export function allOrNothing<T>(store: EventStore, fn: () => Promise<T>): Promise<T> {
  const t = store as Partial<Transactional>;
  return typeof t.transaction === 'function' ? t.transaction.call(store, fn) as Promise<T> : fn();
}
