// Event times: nanoseconds since the Unix epoch in code; in JSON an ISO 8601 string with all nine digits
// (`time`) beside the exact integer (`timestampNs`, a decimal string: JSON numbers lose digits past 2^53 in
// JavaScript). Imports without wall-clock times (QEMU traces without the pid@time prefix) stamp events with
// ordinals, which are no time: their `time` is null.

/** Below this (2001-09-09), a timestamp is an ordinal from an import, not a wall-clock time. */
export const WALL_CLOCK_MIN_NS = 1_000_000_000_000_000_000n;

export function isWallClock(ns: bigint): boolean {
  return ns >= WALL_CLOCK_MIN_NS;
}

/** ISO 8601 with nanoseconds: 2026-11-30T05:04:59.123456789Z. */
export function nsToIsoNs(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString();
  return iso.replace(/\.(\d{3})Z$/, (_m, msPart: string) => `.${msPart}${String(ns % 1_000_000n).padStart(6, '0')}Z`);
}

/** The two JSON fields of a time: `time` (ISO 8601, null for ordinals) and `timestampNs` (decimal integer). */
export function timeJson(ns: bigint): { time: string | null; timestampNs: string } {
  return { time: isWallClock(ns) ? nsToIsoNs(ns) : null, timestampNs: ns.toString(10) };
}

/**
 * The time of an event appended after one stamped `last`: `now` when the stream has wall-clock times (or no
 * event yet), else the next ordinal, so that a stream imported without times (a QEMU trace without pid@time
 * prefixes) never gets wall-clock times mixed into it by later appends (exports, VFIO state changes).
 */
export function nextStamp(last: bigint | undefined, now: bigint): bigint {
  return last === undefined || isWallClock(last) ? now : last + 1n;
}

/** The timestamp of a stream's last event (undefined when the stream is empty). */
export async function lastStamp(store: { head(s: string): Promise<number>; read(s: string, o: { from: number; maxCount: number }): AsyncIterable<{ event: { timestampNs: bigint } }> }, stream: string): Promise<bigint | undefined> {
  const head = await store.head(stream);
  if (head < 0) return undefined;
  for await (const e of store.read(stream, { from: head, maxCount: 1 })) return e.event.timestampNs;
  return undefined;
}
