// The linter: replays a device's events through the reducer and runs every rule on each step.
import type { DeviceEvent } from '../../events/types.js';
import type { EventStore } from '../../store/types.js';
import { applyInPlace } from '../reducer.js';
import { type DeviceState, initialState } from '../state.js';
import { type DriverSession, DriverSessions, isDeviceReset } from './sessions.js';
import { RULES } from './table.js';
import { type Finding, type LintMemory, type LintOptions, type NotChecked, type Rule, UnknownValue } from './types.js';

function whyNot(fields: string[]): string {
  return `it needs ${fields.join(', ')}, which no source had recorded at that point (unknown, not 0)`;
}

export class Linter {
  private state: DeviceState;
  private readonly mem: LintMemory = {
    resetSeen: false, resetFindingGiven: false, statusReadUnseen: false, driverFeaturesSinceReset: false, offerKnown: new Set(), macRead: undefined,
  };
  constructor(device: string, private readonly options: LintOptions = {}, private readonly rules: readonly Rule[] = RULES) {
    this.state = initialState(device);
  }

  /** Rules that needed an unknown value, by rule id (in rule order when listed). */
  private readonly skipped = new Map<string, NotChecked>();

  get current(): DeviceState {
    return this.state;
  }

  get notChecked(): NotChecked[] {
    return this.rules.filter((r) => this.skipped.has(r.id)).map((r) => this.skipped.get(r.id)!);
  }

  private skip(rule: Rule, field: string, revision: number): void {
    const n = this.skipped.get(rule.id);
    if (!n) this.skipped.set(rule.id, { rule: rule.id, fields: [field], events: 1, firstRevision: revision, why: whyNot([field]) });
    else {
      n.events++;
      if (!n.fields.includes(field)) {
        n.fields.push(field);
        n.why = whyNot(n.fields);
      }
    }
  }

  /** driver sessions (Finding.session): numbered as they start, named once their driver's signs are all seen */
  readonly sessions = new DriverSessions();

  /**
   * Applies one event; returns the findings it causes (their `sessionDriver` is null until the session's driver is
   * known: lintStream and the report fill it in from `sessions` at the end).
   */
  step(event: DeviceEvent): Finding[] {
    this.sessions.step(event);
    const before = beforeView(this.state, event);
    const after = applyInPlace(this.state, event);
    const findings: Finding[] = [];
    const ctx = { before, after, event, mem: this.mem, options: this.options };
    for (const rule of this.rules) {
      let message: string | undefined;
      try {
        message = rule.check(ctx);
      } catch (e) {
        if (!(e instanceof UnknownValue)) throw e;
        this.skip(rule, e.field, event.revision);
      }
      if (message !== undefined) {
        findings.push({
          rule: rule.id, severity: rule.severity, revision: event.revision, session: this.sessions.session, sessionStart: this.sessions.sessionStart,
          sessionDriver: null, message, reference: rule.reference,
        });
      }
    }
    this.remember(event);
    this.state = after;
    return findings;
  }

  private remember(event: DeviceEvent): void {
    const b = event.body;
    const m = this.mem;
    if (isDeviceReset(event)) {
      m.resetSeen = true;
      m.resetFindingGiven = false;
      m.statusReadUnseen = false;
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
  /** rules that did not fire on some events because a value they need is unknown */
  notChecked: NotChecked[];
  /** every driver session of the linted revisions, named where the evidence allows */
  sessions: DriverSession[];
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
  const sessions = linter.sessions.list();
  for (const f of findings) f.sessionDriver = sessions[f.session]?.driver ?? null;
  return {
    device, events, findings, sessions, notChecked: linter.notChecked,
    errors: findings.filter((f) => f.severity === 'error').length,
    warnings: findings.filter((f) => f.severity === 'warning').length,
  };
}
