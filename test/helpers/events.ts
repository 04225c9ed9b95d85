// Test helpers: small real events.
import type { NewEvent, EventBody } from '../../src/events/types.js';

export function ev(body: EventBody, ts = 1n): NewEvent {
  return { timestampNs: ts, actor: 'guest-driver', path: 'mmio', source: 'api', body };
}

export function statusEv(status: number, ts = 1n): NewEvent {
  return ev({ kind: 'statusWritten', status }, ts);
}

export function vqEv(index: number, availDelta: number, ts = 1n): NewEvent {
  return ev({ kind: 'vqIndex', index, availDelta, usedDelta: availDelta }, ts);
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
