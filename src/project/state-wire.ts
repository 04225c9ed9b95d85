// The one mapping between a DeviceState (domain: unknown is null, feature masks are bigint) and its wire form
// (devrec.v1.DeviceStateV2: unknown is absent, masks are FeatureMask words). Driven by the schema tables, so a field
// added to the .proto travels through snapshots, imports and exports with no hand-kept field list. Used by
// projector snapshots, `snapshot` events (QEMU imports, the migration importer) and the migration encoder.
import { type FieldSpec, type MessageSpec, defaultValue, lookupMessage } from '../events/schema.js';
import type { DeviceState, DeviceStateWire } from './generated/state-types.js';

let stateSpecRead: MessageSpec | undefined;
/** The DeviceStateV2 message spec, read from the schema on first use (replaying events never needs it). */
export function stateSpec(): MessageSpec {
  return (stateSpecRead ??= lookupMessage('DeviceStateV2'));
}
const MASK = '.devrec.v1.FeatureMask';
const OWN = '.devrec.v1.DeviceStateV2';

/** A feature mask as little-endian 64-bit words, word 0 first (no trailing zero words). */
export function maskToWords(mask: bigint): bigint[] {
  const words: bigint[] = [];
  for (let m = mask; m > 0n; m >>= 64n) words.push(m & 0xffffffffffffffffn);
  return words;
}

export function wordsToMask(words: readonly bigint[]): bigint {
  let m = 0n;
  for (let i = words.length - 1; i >= 0; i--) m = (m << 64n) | words[i]!;
  return m;
}

const isMask = (f: FieldSpec): boolean => f.message?.fullName === MASK;
/** Messages of the state schema follow the null-for-unknown rule; reused event messages keep their own shape. */
const isOwn = (spec: MessageSpec): boolean => spec.fullName.startsWith(OWN);

function valueToWire(f: FieldSpec, v: unknown): unknown {
  if (isMask(f)) return { words: maskToWords(v as bigint) };
  if (f.message) return messageToWire(f.message, v as Record<string, unknown>);
  if (v instanceof Uint8Array) return v.slice();
  return v;
}

function messageToWire(spec: MessageSpec, obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of spec.fields) {
    const v = obj[f.name];
    if (v === null || v === undefined) continue;
    out[f.name] = f.repeated ? (v as unknown[]).map((x) => valueToWire(f, x)) : valueToWire(f, v);
  }
  return out;
}

function valueFromWire(f: FieldSpec, v: unknown): unknown {
  if (isMask(f)) return wordsToMask((v as { words?: bigint[] }).words ?? []);
  if (f.message) return messageFromWire(f.message, v as Record<string, unknown>);
  if (v instanceof Uint8Array) return v.slice();
  return v;
}

function messageFromWire(spec: MessageSpec, w: Record<string, unknown> | undefined): Record<string, unknown> {
  const own = isOwn(spec);
  const out: Record<string, unknown> = {};
  for (const f of spec.fields) {
    const v = w?.[f.name];
    if (v === undefined || v === null) {
      if (f.repeated) out[f.name] = [];
      else if (f.optional && own) out[f.name] = null;
      else if (f.message && own) out[f.name] = messageFromWire(f.message, undefined);
      else if (!f.presence) out[f.name] = defaultValue(f);
      // a reused message's presence field stays absent, as the event codec gives it
    } else {
      out[f.name] = f.repeated ? (v as unknown[]).map((x) => valueFromWire(f, x)) : valueFromWire(f, v);
    }
  }
  return out;
}

export function stateToWire(s: DeviceState): DeviceStateWire {
  return messageToWire(stateSpec(), s as unknown as Record<string, unknown>) as unknown as DeviceStateWire;
}

/** The domain state of a wire state (a copy: nothing is shared with `w`). Queues come back sorted by index. */
export function stateFromWire(w: DeviceStateWire): DeviceState {
  const s = messageFromWire(stateSpec(), w as unknown as Record<string, unknown>) as unknown as DeviceState;
  s.queues.sort((a, b) => a.index - b.index);
  return s;
}
