// Projector snapshots: DeviceState <-> devrec.v1.DeviceStateV2 bytes, prefixed with the projector version (u32 LE)
// so a snapshot made by a different reducer is never trusted.
import { decodeStandalone, encodeStandalone } from '../events/fast-codec.js';
import type { DeviceStateWire } from './generated/state-types.js';
import { stateSpec, stateFromWire, stateToWire } from './state-wire.js';
import type { DeviceState } from './state.js';

export { maskToWords, wordsToMask } from './state-wire.js';

/** Bump whenever the reducer's output for the same events changes. 2: device state schema v2. */
export const PROJECTOR_VERSION = 2;

export function encodeSnapshot(s: DeviceState): Uint8Array {
  const body = encodeStandalone(stateSpec(), stateToWire(s));
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, PROJECTOR_VERSION, true);
  out.set(body, 4);
  return out;
}

/** The whole state a snapshot holds; undefined for snapshots of another projector version. */
export function decodeSnapshot(data: Uint8Array): DeviceState | undefined {
  if (data.length < 4) return undefined;
  if (new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0, true) !== PROJECTOR_VERSION) return undefined;
  return stateFromWire(decodeStandalone<DeviceStateWire>(stateSpec(), data.subarray(4)));
}
