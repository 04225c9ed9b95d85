// The Linux VFIO migration v2 state machine (include/uapi/linux/vfio.h, drivers/vfio/vfio_main.c), ported as
// data: the 8 device states with their uAPI values, the capability flags, `state_flags_table` (what each state
// requires of the device) and `vfio_from_fsm_table[cur][new]` (the next primitive arc towards `new`), cell by
// cell. `nextStep` is vfio_mig_get_next_state(); `path` calls it until the target is reached, as a variant
// driver's set_state loop does. Domain names are the kebab-case strings of src/events/types.ts.
import { vfioStateName } from '../events/json.js';
import { ENUMS } from '../events/event-spec.js';
import type { VfioState } from '../events/types.js';

/**
 * enum vfio_device_mig_state (exact uAPI values): the schema's VfioState enum (proto/devrec/v1/events.proto) holds
 * them, so the values are read from it, not written again here.
 */
export const VFIO_STATE_VALUE: Readonly<Record<VfioState, number>> = Object.fromEntries(ENUMS.vfioState.numbers) as Record<VfioState, number>;

/** States in uAPI value order (index = value). */
export const VFIO_STATES: readonly VfioState[] = [...ENUMS.vfioState.names.entries()].sort((a, b) => a[0] - b[0]).map(([, n]) => n as VfioState);

/** VFIO_DEVICE_FEATURE_MIGRATION flags. */
export const VFIO_MIGRATION_STOP_COPY = 1 << 0;
export const VFIO_MIGRATION_P2P = 1 << 1;
export const VFIO_MIGRATION_PRE_COPY = 1 << 2;
export const VFIO_MIGRATION_ALL = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | VFIO_MIGRATION_PRE_COPY;

/** state_flags_table: the migration flags a device must have for the state to exist. ERROR: ~0U (never). */
export const STATE_FLAGS_TABLE: Readonly<Record<VfioState, number>> = {
  'stop': VFIO_MIGRATION_STOP_COPY,
  'running': VFIO_MIGRATION_STOP_COPY,
  'pre-copy': VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY,
  'pre-copy-p2p': VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | VFIO_MIGRATION_PRE_COPY,
  'stop-copy': VFIO_MIGRATION_STOP_COPY,
  'resuming': VFIO_MIGRATION_STOP_COPY,
  'running-p2p': VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P,
  'error': 0xffffffff,
};

/** vfio_from_fsm_table[cur][new]: the next state on the way from `cur` to `new`. Rows and columns as in the kernel. */
export const VFIO_FSM_TABLE: Readonly<Record<VfioState, Readonly<Record<VfioState, VfioState>>>> = {
  'stop': {
    'stop': 'stop', 'running': 'running-p2p', 'pre-copy': 'running-p2p', 'pre-copy-p2p': 'running-p2p',
    'stop-copy': 'stop-copy', 'resuming': 'resuming', 'running-p2p': 'running-p2p', 'error': 'error',
  },
  'running': {
    'stop': 'running-p2p', 'running': 'running', 'pre-copy': 'pre-copy', 'pre-copy-p2p': 'running-p2p',
    'stop-copy': 'running-p2p', 'resuming': 'running-p2p', 'running-p2p': 'running-p2p', 'error': 'error',
  },
  'pre-copy': {
    'stop': 'running', 'running': 'running', 'pre-copy': 'pre-copy', 'pre-copy-p2p': 'pre-copy-p2p',
    'stop-copy': 'pre-copy-p2p', 'resuming': 'running', 'running-p2p': 'running', 'error': 'error',
  },
  'pre-copy-p2p': {
    'stop': 'running-p2p', 'running': 'running-p2p', 'pre-copy': 'pre-copy', 'pre-copy-p2p': 'pre-copy-p2p',
    'stop-copy': 'stop-copy', 'resuming': 'running-p2p', 'running-p2p': 'running-p2p', 'error': 'error',
  },
  'stop-copy': {
    'stop': 'stop', 'running': 'stop', 'pre-copy': 'error', 'pre-copy-p2p': 'error',
    'stop-copy': 'stop-copy', 'resuming': 'stop', 'running-p2p': 'stop', 'error': 'error',
  },
  'resuming': {
    'stop': 'stop', 'running': 'stop', 'pre-copy': 'stop', 'pre-copy-p2p': 'stop',
    'stop-copy': 'stop', 'resuming': 'resuming', 'running-p2p': 'stop', 'error': 'error',
  },
  'running-p2p': {
    'stop': 'stop', 'running': 'running', 'pre-copy': 'running', 'pre-copy-p2p': 'pre-copy-p2p',
    'stop-copy': 'stop', 'resuming': 'stop', 'running-p2p': 'running-p2p', 'error': 'error',
  },
  'error': {
    'stop': 'error', 'running': 'error', 'pre-copy': 'error', 'pre-copy-p2p': 'error',
    'stop-copy': 'error', 'resuming': 'error', 'running-p2p': 'error', 'error': 'error',
  },
};

/** A request the kernel answers with -EINVAL. */
export class VfioFsmError extends Error {
  constructor(readonly from: VfioState, readonly to: VfioState, readonly flags: number, reason: string) {
    super(`VFIO migration state ${upper(from)} -> ${upper(to)} refused (flags ${flagNames(flags)}): ${reason}`);
    this.name = 'VfioFsmError';
  }
}

/** The kernel's name of a state (STOP_COPY): the one spelling users see (src/events/json.ts). */
export const upper = (s: VfioState): string => vfioStateName(s);

export function flagNames(flags: number): string {
  const n = [
    flags & VFIO_MIGRATION_STOP_COPY ? 'STOP_COPY' : '',
    flags & VFIO_MIGRATION_P2P ? 'P2P' : '',
    flags & VFIO_MIGRATION_PRE_COPY ? 'PRE_COPY' : '',
  ].filter(Boolean);
  return n.length ? n.join('|') : '0';
}

function isState(s: unknown): s is VfioState {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(VFIO_STATE_VALUE, s);
}

/** The device has every flag the state needs (`(state_flags_table[s] & flags) == state_flags_table[s]`). */
export function stateSupported(s: VfioState, flags: number): boolean {
  const need = STATE_FLAGS_TABLE[s];
  return ((need & flags) >>> 0) === need >>> 0;
}

/**
 * vfio_mig_get_next_state(): the next primitive arc from `cur` towards `target`. Throws VfioFsmError where the
 * kernel returns -EINVAL: an unsupported current or requested state (ERROR is never supported, so it can be
 * neither requested nor left), or a blocked arc (STOP_COPY -> PRE_COPY / PRE_COPY_P2P). Unsupported interior
 * states are skipped with table[next][target]; the loop stops at ERROR (the fix for the soft lockup the kernel's
 * original loop had on blocked arcs, "vfio: ... ERROR sentinel", vfio next for v7.2).
 */
export function nextStep(cur: VfioState, target: VfioState, flags: number): VfioState {
  if (!isState(cur)) throw new VfioFsmError(cur, target, flags, `"${String(cur)}" is not a VFIO device state`);
  if (!isState(target)) throw new VfioFsmError(cur, target, flags, `"${String(target)}" is not a VFIO device state`);
  if (!(flags & VFIO_MIGRATION_STOP_COPY)) {
    throw new VfioFsmError(cur, target, flags, 'the device does not advertise VFIO_MIGRATION_STOP_COPY (mandatory)');
  }
  if (!stateSupported(cur, flags)) {
    throw new VfioFsmError(cur, target, flags, cur === 'error'
      ? 'the device is in ERROR; only VFIO_DEVICE_RESET recovers it'
      : `the current state ${upper(cur)} is not supported by the device`);
  }
  if (!stateSupported(target, flags)) {
    throw new VfioFsmError(cur, target, flags, target === 'error'
      ? 'ERROR cannot be requested'
      : `${upper(target)} is not supported by the device`);
  }
  let next = VFIO_FSM_TABLE[cur][target];
  while (next !== 'error' && !stateSupported(next, flags)) next = VFIO_FSM_TABLE[next][target];
  if (next === 'error') throw new VfioFsmError(cur, target, flags, `no arc leads from ${upper(cur)} to ${upper(target)}`);
  return next;
}

export interface VfioArc { from: VfioState; to: VfioState }

/** Every primitive arc from `cur` to `target`, in order (empty when cur === target). */
export function path(cur: VfioState, target: VfioState, flags: number): VfioArc[] {
  const arcs: VfioArc[] = [];
  let s = cur;
  // The table has no cycles towards a fixed target; 8 steps is a hard bound that keeps a broken table from hanging.
  for (let i = 0; s !== target; i++) {
    if (i >= VFIO_STATES.length) throw new VfioFsmError(cur, target, flags, 'no path within 8 arcs');
    const next = nextStep(s, target, flags);
    arcs.push({ from: s, to: next });
    s = next;
  }
  if (arcs.length === 0) nextStep(cur, target, flags); // a same-state request is still checked for support
  return arcs;
}

/** States of the saving group (one data_fd) and the resuming state. */
export const SAVING_STATES: ReadonlySet<VfioState> = new Set<VfioState>(['pre-copy', 'pre-copy-p2p', 'stop-copy']);

/**
 * One device's VFIO migration state. `set(target)` expands the request into primitive arcs and reports each to
 * `onArc` (which records it, e.g. as a `vfioState` event) before moving on; the state advances arc by arc, so
 * after a failing callback it is where the kernel would leave it: at the last arc that completed.
 */
export class VfioDeviceFsm {
  private current: VfioState;
  readonly arcs: VfioArc[] = [];

  constructor(
    initial: VfioState,
    readonly flags: number,
    private readonly onArc: (arc: VfioArc) => void | Promise<void> = () => {},
  ) {
    if (!isState(initial)) throw new VfioFsmError(initial, initial, flags, `"${String(initial)}" is not a VFIO device state`);
    this.current = initial;
  }

  get state(): VfioState {
    return this.current;
  }

  supports(s: VfioState): boolean {
    return stateSupported(s, this.flags);
  }

  /** Moves to `target` through every primitive arc; returns the arcs taken. Throws VfioFsmError before any arc when refused. */
  async set(target: VfioState): Promise<VfioArc[]> {
    const arcs = path(this.current, target, this.flags);
    for (const arc of arcs) {
      await this.onArc(arc);
      this.current = arc.to;
      this.arcs.push(arc);
    }
    return arcs;
  }

  /** VFIO_DEVICE_RESET: the device returns to RUNNING from any state (ERROR included). */
  async reset(): Promise<VfioArc | undefined> {
    if (this.current === 'running') return undefined;
    const arc = { from: this.current, to: 'running' as VfioState };
    await this.onArc(arc);
    this.current = 'running';
    this.arcs.push(arc);
    return arc;
  }
}
