// Point-in-time projection over a store: state at a revision or a time, using snapshots so that a query replays
// at most `snapshotEvery` events, and leaving new snapshots behind as it goes.
import type { EventKind } from '../events/types.js';
import { scanStream, type EventStore } from '../store/types.js';
import { applyInPlace } from './reducer.js';
import { decodeSnapshot, encodeSnapshot } from './snapshot-codec.js';
import { type DeviceState, cloneState, initialState } from './state.js';

export interface ProjectorOptions {
  /** take a snapshot every this many revisions while replaying (0: never) */
  snapshotEvery?: number;
  /** called as a replay goes, with the events replayed so far and how many it will replay */
  onProgress?: (replayed: number, total: number) => void;
}

/** What names a device: only `identified` events and snapshots set these fields (reducer.ts applyBody/applySnapshot). */
export type DeviceIdentity = Pick<DeviceState, 'device' | 'type' | 'transport' | 'backend' | 'aliases'>;
const IDENTITY_KINDS: ReadonlySet<EventKind> = new Set<EventKind>(['identified', 'snapshot']);

export class UnknownDeviceError extends Error {
  constructor(readonly device: string) {
    super(`no device "${device}" in the store`);
    this.name = 'UnknownDeviceError';
  }
}

export class Projector {
  readonly snapshotEvery: number;
  private readonly onProgress: ((replayed: number, total: number) => void) | undefined;
  constructor(private readonly store: EventStore, options: ProjectorOptions = {}) {
    this.snapshotEvery = options.snapshotEvery ?? 4096;
    this.onProgress = options.onProgress;
  }

  /** State after applying events 0..revision (default: the last). */
  async stateAt(device: string, revision?: number): Promise<DeviceState> {
    const head = await this.store.head(device);
    if (head < 0) throw new UnknownDeviceError(device);
    const target = revision ?? head;
    if (!Number.isInteger(target) || target < 0 || target > head) {
      throw new RangeError(`device "${device}" has revisions 0..${head}; ${revision} is not one of them`);
    }
    let state = initialState(device);
    const snap = await this.store.loadSnapshot(device, target);
    if (snap) {
      const saved = decodeSnapshot(snap.data);
      if (saved && saved.revision === snap.revision && saved.device === device) state = saved;
    }
    if (state.revision === target) return state;
    const every = this.snapshotEvery;
    const due: Uint8Array[] = [];
    const dueAt: number[] = [];
    const from = state.revision + 1;
    // Replay in pieces of at most `every` events so snapshots are written as we pass their revisions.
    for (let lo = from; lo <= target; ) {
      const hi = every > 0 ? Math.min(target, (Math.floor(lo / every) + 1) * every - 1) : target;
      await scanStream(this.store, device, { from: lo, to: hi }, (e) => applyInPlace(state, e));
      this.onProgress?.(hi - from + 1, target - from + 1);
      if (every > 0 && hi !== target && (hi + 1) % every === 0) {
        due.push(encodeSnapshot(state));
        dueAt.push(hi);
        if (due.length >= 16) await this.flushSnapshots(device, due, dueAt);
      }
      lo = hi + 1;
    }
    await this.flushSnapshots(device, due, dueAt);
    return state;
  }

  /**
   * The device's identity as stateAt(device) has it, folded from the events that set it alone (the others are
   * skipped, unread where the store can): `devices` and alias lookups need no full replay.
   */
  async identityOf(device: string): Promise<DeviceIdentity> {
    if ((await this.store.head(device)) < 0) throw new UnknownDeviceError(device);
    const state = initialState(device);
    await scanStream(this.store, device, { kinds: IDENTITY_KINDS }, (e) => applyInPlace(state, e));
    return { device, type: state.type, transport: state.transport, backend: state.backend, aliases: state.aliases };
  }

  private async flushSnapshots(device: string, due: Uint8Array[], dueAt: number[]): Promise<void> {
    for (let i = 0; i < due.length; i++) await this.store.saveSnapshot(device, dueAt[i]!, due[i]!);
    due.length = 0;
    dueAt.length = 0;
  }

  /** Revision of the last event stamped at or before `timeNs` (timestamps are non-decreasing per stream). */
  async revisionAtTime(device: string, timeNs: bigint): Promise<number> {
    const head = await this.store.head(device);
    if (head < 0) throw new UnknownDeviceError(device);
    let lo = -1;
    let hi = head;
    while (lo < hi) {
      const mid = Math.floor((lo + hi + 1) / 2);
      const ts = await this.timestampOf(device, mid);
      if (ts <= timeNs) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private async timestampOf(device: string, revision: number): Promise<bigint> {
    for await (const e of this.store.read(device, { from: revision, maxCount: 1 })) return e.event.timestampNs;
    throw new RangeError(`revision ${revision} of ${device} not found`);
  }

  /** Replays the whole stream, calling `onState` after each event with the (shared, mutable) state. */
  async replay(device: string, onState?: (s: DeviceState, revision: number) => void): Promise<DeviceState> {
    const state = initialState(device);
    await scanStream(this.store, device, {}, (e) => {
      applyInPlace(state, e);
      onState?.(state, e.revision);
    });
    return cloneState(state);
  }
}
