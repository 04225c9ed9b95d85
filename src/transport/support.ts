// Helpers the transport decoders share: building the events, byte/value conversions, and matching an access
// against a register map (which anomalies it has, and whether the device would act on it).
import type { AccessPath, Actor, EventBody, NewEvent, RegisterAccess, Transport } from '../events/types.js';
import { DEVICE_CONFIG_WIDTHS, MAX_DEVICE_CONFIG, type RegisterDef, registerAt, registerEnd } from '../model/registers.js';
import type { Anomaly, RawAccess } from './types.js';

/** A semantic event decided from an access; `actor` overrides the access's actor (the device answered). */
export interface Out {
  body: EventBody;
  actor?: Actor;
}

/** What one decoder decided about one access. */
export interface Decoded {
  anomalies: Anomaly[];
  outs: Out[];
}

/** Context recorded with the raw access. */
export interface RawContext {
  transport: Transport;
  path: AccessPath;
  msixEnabled: boolean;
  selectedQueue?: number;
}

export const EMPTY = new Uint8Array(0);

export const widthMask = (width: number): bigint => (1n << BigInt(8 * Math.min(width, 8))) - 1n;

/** The value's low `width` bytes (width <= 8), in the given byte order. */
export function valueBytes(value: bigint, width: number, endian: 'little' | 'big' = 'little'): Uint8Array {
  const out = new Uint8Array(width);
  for (let i = 0; i < width; i++) out[endian === 'little' ? i : width - 1 - i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** Little-endian bytes as a number (at most the first 8 bytes count). */
export function bytesValue(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = Math.min(bytes.length, 8) - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

/** 1, 2, 4 or 8 bytes: the widths a CPU access can have. */
export const isBusWidth = (width: number): boolean => width === 1 || width === 2 || width === 4 || width === 8;
export const isAligned = (offset: number, width: number): boolean => isBusWidth(width) && offset % width === 0;

/** Offsets and widths a decoder can reason about; anything else is kept raw and flagged. */
export function shapeAnomaly(a: RawAccess): Anomaly | undefined {
  if (!Number.isSafeInteger(a.offset) || a.offset < 0) return 'out-of-range';
  if (!Number.isSafeInteger(a.width) || a.width <= 0) return 'wrong-width';
  return undefined;
}

/** The access's value as a bigint the decoders can use (a caller outside the types may pass a number). */
export function accessValue(a: RawAccess): bigint {
  if (typeof a.value === 'bigint') return a.value;
  const n = Number(a.value);
  return Number.isSafeInteger(n) ? BigInt(n) : 0n;
}

/** True when the semantic events may use the value (the source saw it). */
export const valueKnown = (a: RawAccess): boolean => a.valueKnown !== false;

export function rawEvent(a: RawAccess, ctx: RawContext, anomalies: readonly Anomaly[]): RegisterAccess {
  // every trace access makes one of these: built without spreads or a Set unless there is something to add
  const known = valueKnown(a);
  const out: RegisterAccess = {
    kind: 'registerAccess',
    transport: ctx.transport,
    region: a.region,
    bar: a.bar ?? 0,
    offset: a.offset,
    width: a.width,
    direction: a.direction,
    // a read the source could not see is marked so, not recorded as 0
    value: known ? a.value : 0n,
    valueUnseen: !known,
    msixEnabled: ctx.msixEnabled,
    data: a.data ? a.data.slice() : EMPTY,
    anomalies: anomalies.length === 0 ? [] : anomalies.length === 1 ? [anomalies[0]!] : [...new Set(anomalies)],
  };
  if (ctx.selectedQueue !== undefined) out.selectedQueue = ctx.selectedQueue;
  if (a.admin) out.admin = { ...a.admin };
  return out;
}

/** The raw access first, then the semantic events, all stamped with the access's time, actor and path. */
export function toEvents(a: RawAccess, ctx: RawContext, decoded: Decoded): NewEvent[] {
  const actor = a.actor ?? 'guest-driver';
  const source = a.source ?? 'api';
  const out: NewEvent[] = [{ timestampNs: a.timestampNs, actor, path: ctx.path, source, body: rawEvent(a, ctx, decoded.anomalies) }];
  for (const o of decoded.outs) out.push({ timestampNs: a.timestampNs, actor: o.actor ?? actor, path: ctx.path, source, body: o.body });
  return out;
}

/**
 * Runs a decoder body and guarantees decode() never throws: should the body fail on an input nobody
 * foresaw, the access is still recorded, flagged as not understood.
 */
export function guarded(a: RawAccess, ctx: () => RawContext, body: () => NewEvent[]): NewEvent[] {
  try {
    return body();
  } catch {
    let c: RawContext;
    try {
      c = ctx();
    } catch {
      c = { transport: 'unspecified', path: 'unspecified', msixEnabled: false };
    }
    const raw: RegisterAccess = {
      kind: 'registerAccess', transport: c.transport, region: a?.region ?? 'unspecified', bar: a?.bar ?? 0,
      offset: a?.offset ?? 0, width: a?.width ?? 0, direction: a?.direction ?? 'unspecified', value: typeof a?.value === 'bigint' ? a.value : 0n,
      valueUnseen: typeof a?.value !== 'bigint' || a.valueKnown === false,
      msixEnabled: c.msixEnabled, data: a?.data instanceof Uint8Array ? a.data : EMPTY, anomalies: ['unknown-register'],
    };
    return [{ timestampNs: a?.timestampNs ?? 0n, actor: a?.actor ?? 'guest-driver', path: c.path, source: a?.source ?? 'api', body: raw }];
  }
}

// --- matching an access against a register map --------------------------------------------------------------

/**
 * How the device decides which register an access hits:
 * - 'start-address': QEMU's virtio-pci (modern common config and the legacy IO BAR) switches on the start
 *   offset only and hands the register the whole value, whatever the width; naturally unaligned accesses are
 *   dropped by QEMU's memory core (valid.unaligned is not set), and accesses that start inside a register hit
 *   no `case` and are ignored.
 * - 'exact-width': QEMU's virtio-mmio ignores any register access that is not 32 bits wide.
 * - 'single-field': admin legacy commands; the spec makes the device fail an access that is not exactly one
 *   field.
 */
export type DispatchRule = 'start-address' | 'exact-width' | 'single-field';

export interface RegisterMatch<R extends RegisterDef> {
  /** the register the access starts in */
  reg: R | undefined;
  anomalies: Anomaly[];
  /** the device acts on the access (register found, width and alignment acceptable to it, direction allowed) */
  dispatch: boolean;
}

/** Width / straddle / direction anomalies of an access against `regs`, and whether the device acts on it. */
export function matchRegister<R extends RegisterDef>(
  regs: readonly R[], offset: number, width: number, direction: 'read' | 'write', rule: DispatchRule,
): RegisterMatch<R> {
  const reg = registerAt(regs, offset);
  if (!reg) return { reg, anomalies: ['unknown-register'], dispatch: false };
  const anomalies: Anomaly[] = [];
  const atStart = offset === reg.offset;
  const allowed = atStart && reg.widths.includes(width);
  if (!allowed) anomalies.push('wrong-width');
  // a wide access allowed at the start (the 8-byte queue address) is not a straddle
  if (!allowed && offset + width > registerEnd(reg)) anomalies.push('straddle');
  const aligned = isAligned(offset, width);
  if (!aligned) anomalies.push('unaligned');
  if (direction === 'write' && reg.access === 'ro') anomalies.push('read-only-write');
  if (direction === 'read' && reg.access === 'wo') anomalies.push('write-only-read');
  const directionOk = direction === 'write' ? reg.access !== 'ro' : reg.access !== 'wo';
  const shapeOk =
    rule === 'start-address' ? atStart && aligned :
    rule === 'exact-width' ? allowed && aligned :
    allowed;
  return { reg, anomalies, dispatch: directionOk && shapeOk };
}

/** The value a register sees: QEMU hands over the whole value, the register keeps its own width of it. */
export function registerValue(reg: RegisterDef, width: number, value: bigint): bigint {
  const keep = Math.min(width, Math.max(...reg.widths));
  return value & widthMask(keep);
}

/** Device config bytes of an access: the bytes the source gave, or the value in the given byte order. */
export function configBytes(a: RawAccess, value: bigint, endian: 'little' | 'big'): Uint8Array | undefined {
  if (a.data && a.data.length === a.width) return a.data.slice();
  if (a.width > 8) return undefined;
  return valueBytes(value, a.width, endian);
}

// --- device-specific configuration ---------------------------------------------------------------------------

export interface DeviceConfigContext {
  /** offset inside the device config */
  offset: number;
  /** when unknown, MAX_DEVICE_CONFIG bounds it */
  configSize: number | undefined;
  /** byte order of multi-byte fields: little for virtio 1.x, guest-native for legacy */
  endian: 'little' | 'big';
  /** false when the device does not see the access (decode off) or the value is unknown */
  apply: boolean;
}

/**
 * A device config access: configWritten / configRead with the bytes as the device holds them. Accesses a
 * device cannot take (not a naturally aligned 1/2/4/8-byte access, or past the config's end: QEMU's
 * virtio_config_*_read/write ignore those) are kept flagged and change nothing. 8-byte accesses are flagged
 * (the spec wants 64-bit fields read as two 32-bit halves) but QEMU splits and performs them.
 */
export function deviceConfigAccess(a: RawAccess, ctx: DeviceConfigContext): Decoded {
  const anomalies: Anomaly[] = [];
  if (!DEVICE_CONFIG_WIDTHS.includes(a.width)) anomalies.push('wrong-width');
  if (!isAligned(a.offset, a.width)) anomalies.push('unaligned');
  const past = ctx.offset + a.width > (ctx.configSize ?? MAX_DEVICE_CONFIG);
  if (past) anomalies.push('out-of-range');
  if (!ctx.apply || past || !isAligned(a.offset, a.width)) return { anomalies, outs: [] };
  const data = configBytes(a, accessValue(a) & widthMask(a.width), ctx.endian);
  if (!data) return { anomalies, outs: [] };
  const kind = a.direction === 'write' ? 'configWritten' : 'configRead';
  return { anomalies, outs: [{ body: { kind, offset: ctx.offset, data } }] };
}
