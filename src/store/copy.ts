// Copying recordings between stores (embedded log <-> KurrentDB, or any two EventStores), resumable and verified.
//
// Per device stream:
//  1. heads: a target with more events than the source is refused;
//  2. the events the target already has (revisions 0..target head) are compared byte for byte with the source's,
//     and any difference is refused (CopyMismatchError) before anything is written;
//  3. the missing tail is appended in batches, each with the exact expected revision (so a concurrent writer on
//     the target makes the copy fail instead of interleaving);
//  4. the target is read back: its event count and the SHA-256 of its event bytes must equal the source's.
// A run that stops (error, abort) leaves a valid prefix on the target; the next run compares it and copies the rest.
//
// "Event bytes" are the devrec.v1.Event protobuf bytes of each event with its revision (fastEncodeEvent of the
// event as read), which is what every store keeps; the checksum is SHA-256 over, per event in revision order,
// a u32 little-endian length and those bytes. Snapshots are not copied: they are a cache the projector rebuilds.
import { createHash, type Hash } from 'node:crypto';
import { fastEncodeEvent } from '../events/fast-codec.js';
import type { DeviceEvent, NewEvent, StoredEvent } from '../events/types.js';
import type { EventStore } from './types.js';

export interface CopyProgress {
  stream: string;
  /** 0-based index of the stream among those being copied, and how many there are */
  index: number;
  streams: number;
  phase: 'compare' | 'copy' | 'verify';
  /** events of this stream handled in this phase so far, out of `total` */
  done: number;
  total: number;
}

export interface CopyOptions {
  /** device ids to copy (default: every stream of the source) */
  streams?: string[];
  /** events per append on the target (default 2048) */
  batchSize?: number;
  /** stops the copy between batches; what was appended stays, and the next run resumes after it */
  signal?: AbortSignal;
  onProgress?: (p: CopyProgress) => void;
}

export interface StreamCopyReport {
  stream: string;
  /** last revision of the source when the copy of this stream started (events = sourceRevision + 1) */
  sourceRevision: number;
  /** last revision the target had before this run (-1: none) */
  targetRevisionBefore: number;
  /** events appended by this run */
  copied: number;
  /** events verified on the target (= sourceRevision + 1) */
  events: number;
  /** SHA-256 (hex) of the event bytes, equal on source and target */
  sha256: string;
  status: 'copied' | 'up-to-date';
}

export interface CopyReport {
  from: string;
  to: string;
  streams: StreamCopyReport[];
  /** events appended by this run, all streams */
  copied: number;
  /** events verified on the target, all streams */
  events: number;
  verified: true;
}

/** A copy that cannot start or go on (a device the source does not have, a store returning the wrong events). */
export class CopyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CopyError';
  }
}

/** The target holds events that are not the source's: nothing of this stream was written. */
export class CopyMismatchError extends Error {
  constructor(readonly stream: string, readonly revision: number, readonly reason: string, from: string, to: string) {
    super(`copy ${from} -> ${to}: device "${stream}" at revision ${revision}: ${reason}; refusing to copy over it`);
    this.name = 'CopyMismatchError';
  }
}

/** The copy was stopped (abort signal); `report` lists the streams finished before it. Run again to resume. */
export class CopyInterruptedError extends Error {
  constructor(readonly report: StreamCopyReport[], readonly stream: string, readonly copiedInStream: number) {
    super(`copy interrupted in device "${stream}" after ${copiedInStream} event(s) of it; run the same copy again to resume`);
    this.name = 'CopyInterruptedError';
  }
}

/** The verification after copying failed (should not happen: a store changed the events). */
export class CopyVerifyError extends Error {
  constructor(readonly stream: string, reason: string, to: string) {
    super(`copy to ${to}: device "${stream}" does not verify: ${reason}`);
    this.name = 'CopyVerifyError';
  }
}

/** The bytes every store keeps for an event: its devrec.v1.Event protobuf encoding with its revision. */
export function eventBytes(e: StoredEvent): Uint8Array {
  return fastEncodeEvent(e.event, e.revision);
}

/** Count and SHA-256 (see the header) of a stream's events, revisions 0..`to`. */
export async function streamChecksum(store: EventStore, stream: string, to?: number, onEvent?: (n: number) => void): Promise<{ events: number; sha256: string }> {
  const hash = createHash('sha256');
  let events = 0;
  for await (const chunk of store.readChunks(stream, { from: 0, ...(to !== undefined ? { to } : {}) })) {
    for (const e of chunk) {
      if (e.revision !== events) throw new CopyVerifyError(stream, `${store.url} returned revision ${e.revision} where ${events} was due`, store.url);
      addToHash(hash, eventBytes(e));
      events++;
    }
    onEvent?.(events);
  }
  return { events, sha256: hash.digest('hex') };
}

export async function copyStores(source: EventStore, target: EventStore, options: CopyOptions = {}): Promise<CopyReport> {
  const ids = options.streams ?? (await source.streams()).map((s) => s.stream);
  const batchSize = Math.max(1, options.batchSize ?? 2048);
  const reports: StreamCopyReport[] = [];
  for (let index = 0; index < ids.length; index++) {
    const stream = ids[index]!;
    if (options.signal?.aborted) throw new CopyInterruptedError(reports, stream, 0);
    const progress = (phase: CopyProgress['phase'], done: number, total: number) =>
      options.onProgress?.({ stream, index, streams: ids.length, phase, done, total });
    reports.push(await copyStream(source, target, stream, batchSize, options.signal, progress, reports));
  }
  return {
    from: source.url,
    to: target.url,
    streams: reports,
    copied: reports.reduce((n, r) => n + r.copied, 0),
    events: reports.reduce((n, r) => n + r.events, 0),
    verified: true,
  };
}

async function copyStream(
  source: EventStore, target: EventStore, stream: string, batchSize: number, signal: AbortSignal | undefined,
  progress: (phase: CopyProgress['phase'], done: number, total: number) => void, finished: StreamCopyReport[],
): Promise<StreamCopyReport> {
  const mismatch = (revision: number, reason: string) => new CopyMismatchError(stream, revision, reason, source.url, target.url);
  const sourceHead = await source.head(stream);
  if (sourceHead < 0) throw new CopyError(`copy: no device "${stream}" in ${source.url}`);
  const targetHead = await target.head(stream);
  if (targetHead > sourceHead) {
    throw mismatch(sourceHead + 1, `the target has ${targetHead + 1} event(s), the source only ${sourceHead + 1}`);
  }

  // 1) compare what the target has, 2) append the rest; the source is read once for both and hashed on the way.
  const hash = createHash('sha256');
  const targetChunks = targetHead >= 0 ? target.readChunks(stream, { from: 0, to: targetHead })[Symbol.asyncIterator]() : undefined;
  let targetBuffer: StoredEvent[] = [];
  let targetAt = 0;
  const nextTarget = async (): Promise<StoredEvent | undefined> => {
    while (targetAt >= targetBuffer.length) {
      const r = await targetChunks!.next();
      if (r.done) return undefined;
      targetBuffer = r.value;
      targetAt = 0;
    }
    return targetBuffer[targetAt++];
  };
  let expected = targetHead;
  let copied = 0;
  let batch: NewEvent[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    if (signal?.aborted) throw new CopyInterruptedError(finished, stream, copied);
    const res = await target.append(stream, batch, expected < 0 ? 'no-stream' : expected);
    expected = res.nextExpectedRevision;
    copied += batch.length;
    batch = [];
    progress('copy', copied, sourceHead - targetHead);
  };
  try {
    let seen = 0;
    for await (const chunk of source.readChunks(stream, { from: 0, to: sourceHead })) {
      for (const e of chunk) {
        if (e.revision !== seen) throw new CopyError(`copy: ${source.url} returned revision ${e.revision} of "${stream}" where ${seen} was due`);
        seen++;
        const bytes = eventBytes(e);
        addToHash(hash, bytes);
        if (e.revision <= targetHead) {
          const t = await nextTarget();
          if (!t) throw mismatch(e.revision, `the target's events end before its head ${targetHead}`);
          if (t.revision !== e.revision) throw mismatch(e.revision, `the target returned revision ${t.revision}`);
          if (!sameBytes(eventBytes(t), bytes)) throw mismatch(e.revision, 'the event bytes differ between source and target');
          if (e.revision === targetHead || e.revision % 4096 === 0) progress('compare', e.revision + 1, targetHead + 1);
        } else {
          batch.push(toNew(e.event));
          if (batch.length >= batchSize) await flush();
        }
      }
    }
    if (seen !== sourceHead + 1) throw new CopyError(`copy: ${source.url} returned ${seen} event(s) of "${stream}", expected ${sourceHead + 1}`);
    await flush();
  } finally {
    await targetChunks?.return?.();
  }
  const sha256 = hash.digest('hex');

  // 3) verify the target as it is now, up to the revision copied.
  const check = await streamChecksum(target, stream, sourceHead, (n) => progress('verify', n, sourceHead + 1));
  if (check.events !== sourceHead + 1) throw new CopyVerifyError(stream, `${check.events} event(s) on the target, ${sourceHead + 1} on the source`, target.url);
  if (check.sha256 !== sha256) throw new CopyVerifyError(stream, `SHA-256 ${check.sha256} on the target, ${sha256} on the source`, target.url);
  return { stream, sourceRevision: sourceHead, targetRevisionBefore: targetHead, copied, events: check.events, sha256, status: copied > 0 ? 'copied' : 'up-to-date' };
}

function toNew(e: DeviceEvent): NewEvent {
  return { timestampNs: e.timestampNs, actor: e.actor, path: e.path, source: e.source, body: e.body };
}

function addToHash(hash: Hash, bytes: Uint8Array): void {
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32LE(bytes.length, 0);
  hash.update(len);
  hash.update(bytes);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
