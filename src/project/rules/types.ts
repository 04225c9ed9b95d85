// Lint rules: spec invariants checked as events are projected. A rule sees the state before and after one
// event, the event, and the linter's memory of earlier events; it returns a message when the event breaks it.
import type { DeviceEvent } from '../../events/types.js';
import type { DeviceState } from '../state.js';

export type Severity = 'error' | 'warning' | 'info';

export interface LintMemory {
  /** a device reset happened at some point (DMA-after-reset needs a reset to be after) */
  resetSeen: boolean;
  /** the current pending reset already produced a finding (one per reset) */
  resetFindingGiven: boolean;
  /** since the last reset the driver read status, but the source did not see the value (it may have read 0) */
  statusReadUnseen: boolean;
  /** driver features written since the last reset */
  driverFeaturesSinceReset: boolean;
  /** 32-bit words of the device offer the driver has seen (select reads), or 'all' */
  offerKnown: Set<number> | 'all';
  /** a guest read of the MAC (config bytes 0..5) in progress: bytes read so far, and whether the device wrote them meanwhile */
  macRead: { read: Set<number>; torn: boolean } | undefined;
}

export interface RuleContext {
  /** the state before the event: scalar fields and feature sets, and in `queues` only the queue the event touches */
  before: DeviceState;
  after: DeviceState;
  event: DeviceEvent;
  mem: LintMemory;
  options: LintOptions;
}

export interface ExclusiveFeatures {
  a: number;
  b: number;
  /** device type the pair applies to (undefined: every device) */
  device?: string;
  why: string;
}

export interface LintOptions {
  /** pairs of feature bits that must not be negotiated together (empty by default) */
  exclusive?: ExclusiveFeatures[];
}

export interface Rule {
  id: string;
  severity: Severity;
  /** where the rule comes from: spec section, seed digest requirement, QEMU check */
  reference: string;
  summary: string;
  check(ctx: RuleContext): string | undefined;
}

/**
 * A rule met a value no source has told us (null in the state): it does not fire, and the linter lists it as not
 * checked, naming the field. Thrown by `need`, caught by the linter.
 */
export class UnknownValue extends Error {
  constructor(readonly field: string) {
    super(`${field} is unknown`);
  }
}

/** The value, or stop the rule here: it needs `field`, which is unknown. */
export function need<T>(v: T | null | undefined, field: string): T {
  if (v === null || v === undefined) throw new UnknownValue(field);
  return v;
}

/** A rule that could not be checked on some events, and why. */
export interface NotChecked {
  rule: string;
  /** the unknown state fields it needed */
  fields: string[];
  /** events it was skipped on */
  events: number;
  /** the first revision it was skipped at */
  firstRevision: number;
  /** in words */
  why: string;
}

export interface Finding {
  rule: string;
  severity: Severity;
  revision: number;
  /**
   * The driver session the finding belongs to: 0 before the first device reset in the log, n after the n-th (a
   * reset, virtio 1.x 2.1 / 3.1.1 step 1, starts a new driver's attempt: on a PC, firmware such as SeaBIOS
   * drives virtio-blk in an earlier session than the OS driver).
   */
  session: number;
  /** revision of the reset that started the session (null for session 0) */
  sessionStart: number | null;
  /** the session's driver when its signs name it (src/project/rules/sessions.ts), else null: unknown */
  sessionDriver: string | null;
  message: string;
  reference: string;
}
