// The compatibility check the source runs on the target's profile before it stops anything. The endpoints take
// any `CheckFn`; the default is src/compat's checkCompatibility. Profiles travel as the JSON `devrec profile`
// writes (profileToJson) and are validated on arrival with parseProfile.
import { type CompatResult, checkCompatibility } from '../compat/check.js';
import { type Profile, type SourceInfo, parseProfile, profileToJson } from '../compat/profile.js';
import type { DeviceState } from '../project/state.js';

export type CompatVerdict = CompatResult['verdict'];

export interface CompatResultLike {
  verdict: CompatVerdict;
  findings: readonly unknown[];
}

/** `checkCompatibility(sourceState, targetProfile, info)`'s shape. */
export type CheckFn = (source: DeviceState, profile: Profile, info: SourceInfo) => CompatResultLike | Promise<CompatResultLike>;

export const defaultCheck: CheckFn = (source, profile, info) => checkCompatibility(source, profile, info);

/** A profile as it goes on the wire (the `devrec profile` JSON). */
export function profileToWire(p: Profile): Record<string, unknown> {
  return profileToJson(p);
}

/** A profile from the wire, validated (throws ProfileError naming `from` and the field). */
export function profileFromWire(v: unknown, from: string): Profile {
  return parseProfile(JSON.stringify(v), from);
}

/** One line per finding, whatever the checker's finding type looks like. */
export function describeFindings(findings: readonly unknown[]): string[] {
  return findings.map((f) => {
    if (typeof f === 'string') return f;
    if (f && typeof f === 'object') {
      const o = f as Record<string, unknown>;
      const msg = typeof o['message'] === 'string' ? o['message'] : JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v));
      const sev = typeof o['severity'] === 'string' ? `${o['severity']}` : '';
      const rule = typeof o['rule'] === 'string' ? ` ${o['rule']}` : '';
      return sev || rule ? `${sev}${rule}: ${msg}` : msg;
    }
    return String(f);
  });
}

/** Only the findings that block (severity error), for the reason line; all of them when none is marked. */
export function blockingFindings(findings: readonly unknown[]): unknown[] {
  const errors = findings.filter((f) => f && typeof f === 'object' && (f as Record<string, unknown>)['severity'] === 'error');
  return errors.length ? errors : [...findings];
}
