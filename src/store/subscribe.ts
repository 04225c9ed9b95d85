// Catch-up-then-live subscriptions shared by the stores: subscribe to live appends first and buffer them,
// replay history, then drain the buffer, skipping what history already delivered. No gap, no duplicate.
import type { Observable } from 'rxjs';
import { rx } from './rx.js';
import type { StoredEvent } from '../events/types.js';

export function catchUpThenLive(
  live: Observable<StoredEvent>,
  history: (from: number) => AsyncIterable<StoredEvent>,
  from: number,
  keyOf: (e: StoredEvent) => number,
): Observable<StoredEvent> {
  return new (rx().Observable)<StoredEvent>((subscriber) => {
    let next = from;
    let buffering = true;
    let closed = false;
    const buffer: StoredEvent[] = [];
    const emit = (e: StoredEvent) => {
      const k = keyOf(e);
      if (k < next) return;
      next = k + 1;
      subscriber.next(e);
    };
    const liveSub = live.subscribe({
      next: (e) => (buffering ? buffer.push(e) : emit(e)),
      error: (err) => subscriber.error(err),
      complete: () => subscriber.complete(),
    });
    (async () => {
      for await (const e of history(from)) {
        if (closed) return;
        emit(e);
      }
      buffering = false;
      for (const e of buffer.splice(0)) emit(e);
    })().catch((err) => subscriber.error(err));
    return () => {
      closed = true;
      liveSub.unsubscribe();
    };
  });
}
