// The source side of a migration: runs the device's VFIO v2 state machine (RUNNING -> PRE_COPY: the precopy
// chunk; -> PRE_COPY_P2P -> STOP_COPY: the stop-copy chunk; -> STOP) and returns the migration stream (devrec
// records, or wrapped in QEMU's VFIO sections). Read-only by default: the arcs are walked in memory and returned.
// With `record: true` (what a real migration does: `migrate send`, `export --record`) every arc is appended as a
// `vfioState` event to the device's stream, which leaves the device in STOP (`devrec vfio resume` takes it back).
//
// The stream carries the recorded state at one revision R (--at, default the head when the export starts). The
// save window is the time the device spends in the saving group: if anything appends a device reset to the
// stream during it, the export is refused, as the virtio-vfio driver drops its migration files on a reset (and
// the device goes back to RUNNING, which is recorded too).
import { lastStamp, nextStamp } from '../events/time.js';
import type { EventBody, NewEvent, VfioState } from '../events/types.js';
import { Projector } from '../project/projector.js';
import type { DeviceState } from '../project/state.js';
import type { EventStore } from '../store/types.js';
import { type EncodedChunks, encodeChunks } from './encode.js';
import { MigrationExportError, concat } from './format.js';
import { wrapQemuVfio } from './qemu-vfio.js';
import { VFIO_MIGRATION_ALL, VFIO_MIGRATION_P2P, VFIO_MIGRATION_PRE_COPY, VfioDeviceFsm, type VfioArc, upper } from './vfio-fsm.js';

export type ExportFormat = 'devrec' | 'qemu-vfio';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['devrec', 'qemu-vfio'];

export interface ExportOptions {
  /** revision whose state is exported (default: the head when the export starts) */
  at?: number;
  format?: ExportFormat;
  /** VFIO_MIGRATION_* flags of the source device (default: STOP_COPY | P2P | PRE_COPY) */
  flags?: number;
  persona?: { id: string; version: string };
  /** clock (ns since the epoch) for the events written and the header's exported_at */
  now?: () => bigint;
  /** append every VFIO arc to the device's stream (default: false, the store is only read) */
  record?: boolean;
  /** called after each arc is taken (tests use it to act during the save window) */
  onTransition?: (arc: VfioArc) => void | Promise<void>;
}

export interface ExportResult {
  device: string;
  /** the revision whose state the stream carries */
  revision: number;
  format: ExportFormat;
  bytes: Uint8Array;
  /** sizes of the two devrec chunks (their sum is the devrec stream) */
  precopyBytes: number;
  stopCopyBytes: number;
  arcs: VfioArc[];
  state: DeviceState;
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

/** A recorded device with nothing a target could take: no identity, no features, no queues, no config. */
export function hasNoState(s: DeviceState): boolean {
  return s.type === '' && s.virtioId === 0 && s.transport === 'unspecified' && s.features.device === 0n && s.features.driver === 0n
    && s.queues.length === 0 && s.config.length === 0 && s.status === 0;
}

function isDeviceReset(b: EventBody): boolean {
  return (b.kind === 'statusWritten' && b.status === 0) || (b.kind === 'resetRequested' && b.scope !== 'queue-reset');
}

export async function exportDevice(store: EventStore, device: string, options: ExportOptions = {}): Promise<ExportResult> {
  const format = options.format ?? 'devrec';
  if (!EXPORT_FORMATS.includes(format)) throw new MigrationExportError(`format "${String(format)}" is not one of ${EXPORT_FORMATS.join(', ')}`);
  const flags = options.flags ?? VFIO_MIGRATION_ALL;
  const now = options.now ?? nowNs;
  let last: bigint | undefined; // our appends keep the stream's kind of time (events/time.ts)
  const head = await store.head(device);
  if (head < 0) throw new MigrationExportError(`no device "${device}" in the store`);
  const at = options.at ?? head;
  if (!Number.isInteger(at) || at < 0 || at > head) throw new MigrationExportError(`--at ${at}: device ${device} has revisions 0..${head}`);
  const projector = new Projector(store);
  const state = await projector.stateAt(device, at);
  if (hasNoState(state)) {
    throw new MigrationExportError(`device ${device} has no state at revision ${at}: no identity, features, queues or config recorded`);
  }
  const current = at === head ? state : await projector.stateAt(device, head);
  const initial: VfioState = current.vfioState ?? 'running';

  // Our own appends, so the save window check can tell them from everyone else's.
  const ours = new Set<number>();
  let windowStart = -1;
  const record = async (arc: VfioArc, actor: NewEvent['actor'] = 'vmm') => {
    if (!options.record) return;
    last = nextStamp(last ?? await lastStamp(store, device), now());
    const r = await store.append(device, [{ timestampNs: last, actor, path: 'vfio-ioctl', source: 'api', body: { kind: 'vfioState', from: arc.from, to: arc.to } }]);
    ours.add(r.firstRevision);
    if (windowStart < 0) windowStart = r.firstRevision;
  };
  const fsm = new VfioDeviceFsm(initial, flags, async (arc) => {
    await record(arc);
    await options.onTransition?.(arc);
  });

  /** Refuses (after recording the reset's effect: the device is back in RUNNING) when a device reset landed in the window. */
  const checkWindow = async () => {
    if (windowStart < 0) return;
    for await (const e of store.read(device, { from: windowStart })) {
      if (ours.has(e.revision) || !isDeviceReset(e.event.body)) continue;
      const inState = fsm.state;
      if (inState !== 'running') {
        await record({ from: inState, to: 'running' }, 'host-kernel');
      }
      throw new MigrationExportError(
        `device ${device} was reset during the save window (revision ${e.revision}, in ${upper(inState)}): the migration data is void; export again`);
    }
  };
  const go = async (target: VfioState) => {
    await fsm.set(target);
    await checkWindow();
  };

  const chunks: EncodedChunks = encodeChunks(state, {
    vfioFlags: flags, exportedAtNs: now(), ...(options.persona ? { persona: options.persona } : {}),
  });
  const precopy = (flags & VFIO_MIGRATION_PRE_COPY) !== 0;
  if (precopy) {
    await go('pre-copy');               // saving session starts: the precopy chunk is read while the device runs
    if (flags & VFIO_MIGRATION_P2P) await go('pre-copy-p2p');
  }
  await go('stop-copy');                // device stopped: the rest of the device state
  await go('stop');                     // end of the data session (QEMU: save_cleanup)

  const bytes = format === 'qemu-vfio'
    ? wrapQemuVfio(chunks.precopy, chunks.stopCopy, state.pci.config, precopy)
    : concat(chunks.precopy, chunks.stopCopy);
  return {
    device, revision: at, format, bytes, precopyBytes: chunks.precopy.length, stopCopyBytes: chunks.stopCopy.length,
    arcs: fsm.arcs, state,
  };
}
