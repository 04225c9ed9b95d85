// The linter: replays a device's events through the reducer and runs every rule on each step.
import type { DeviceEvent } from '../../events/types.js';
import type { EventStore } from '../../store/types.js';
import { applyInPlace } from '../reducer.js';
import { type DeviceState, initialState } from '../state.js';
import { RULES } from './table.js';
import type { Finding, LintMemory, LintOptions, Rule } from './types.js';

export class Linter {
  private state: DeviceState;
  private readonly mem: LintMemory = {
    resetSeen: false, resetFindingGiven: false, driverFeaturesSinceReset: false, offerKnown: new Set(), macRead: undefined,
  };
  constructor(device: string, private readonly options: LintOptions = {}, private readonly rules: readonly Rule[] = RULES) {
    this.state = initialState(device);
  }

  get current(): DeviceState {
    return this.state;
  }

  /** driver session (Finding.session) and the revision of the reset that began it */
  private session = 0;
  private sessionStart: number | null = null;
  /** the previous event was a reset too (a status write of 0 and the reset it requests are one reset) */
  private afterReset = false;

  /** Applies one event; returns the findings it causes. */
  step(event: DeviceEvent): Finding[] {
    const reset = isReset(event);
    if (reset && !this.afterReset) {
      this.session++;
      this.sessionStart = event.revision;
    }
    this.afterReset = reset;
    const before = beforeView(this.state, event);
    const after = applyInPlace(this.state, event);
    const findings: Finding[] = [];
    const ctx = { before, after, event, mem: this.mem, options: this.options };
    for (const rule of this.rules) {
      const message = rule.check(ctx);
      if (message !== undefined) {
        findings.push({ rule: rule.id, severity: rule.severity, revision: event.revision, session: this.session, sessionStart: this.sessionStart, message, reference: rule.reference });
      }
    }
    this.remember(event);
    this.state = after;
    return findings;
  }

  private remember(event: DeviceEvent): void {
    const b = event.body;
    const m = this.mem;
    if (isReset(event)) {
      m.resetSeen = true;
      m.resetFindingGiven = false;
      m.driverFeaturesSinceReset = false;
    } else if (b.kind === 'driverFeatures') {
      m.driverFeaturesSinceReset = true;
    } else if (b.kind === 'deviceFeatures') {
      if (b.select === undefined) m.offerKnown = 'all';
      else if (m.offerKnown !== 'all') m.offerKnown.add(b.select);
    } else if (b.kind === 'snapshot') {
      m.offerKnown = 'all';
    }
  }
}

/** A device reset: status written 0, or a reset requested of the whole device. */
function isReset(event: DeviceEvent): boolean {
  const b = event.body;
  return (b.kind === 'statusWritten' && b.status === 0) || (b.kind === 'resetRequested' && b.scope === 'device-reset');
}

/**
 * What rules may read of the state before an event, copied before the event is applied in place: the scalar
 * fields, the feature sets, and the queue the event touches (rules only compare that one; see RuleContext).
 * Copying this instead of the whole state keeps linting at replay speed.
 */
function beforeView(s: DeviceState, e: DeviceEvent): DeviceState {
  const b = e.body;
  const index = b.kind === 'vqIndex' || b.kind === 'queueConfigured' ? b.index : -1;
  const q = index >= 0 ? s.queues.find((x) => x.index === index) : undefined;
  return { ...s, features: { ...s.features }, queues: q ? [{ ...q }] : [] };
}

export interface LintResult {
  device: string;
  events: number;
  findings: Finding[];
  errors: number;
  warnings: number;
}

export interface LintRange {
  /** last revision linted (default: the head) */
  to?: number;
  /** called after each chunk with the events linted so far */
  onProgress?: (events: number) => void;
}

/** Lints a whole stream (or revisions 0..to); with `stopAtRule`, stops at the first finding of that rule. */
export async function lintStream(store: EventStore, device: string, options: LintOptions & LintRange = {}, stopAtRule?: string): Promise<LintResult> {
  const linter = new Linter(device, options);
  const findings: Finding[] = [];
  let events = 0;
  outer: for await (const chunk of store.readChunks(device, options.to !== undefined ? { to: options.to } : {})) {
    options.onProgress?.(events);
    for (const e of chunk) {
      events++;
      for (const f of linter.step(e.event)) {
        findings.push(f);
        if (f.rule === stopAtRule) break outer;
      }
    }
  }
  return {
    device, events, findings,
    errors: findings.filter((f) => f.severity === 'error').length,
    warnings: findings.filter((f) => f.severity === 'warning').length,
  };
}
