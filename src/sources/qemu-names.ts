// QEMU's names for feature and status bits, as its QMP commands print them (x-query-virtio-status in QEMU 7.2:
// `{dev-features: ["VIRTIO_NET_F_MAC: Device has given MAC address", ...], transports: [...],
// unknown-dev-features?: N}` and `{statuses: ["VIRTIO_CONFIG_S_DRIVER_OK: Driver setup and ready", ...]}`) ->
// bigint feature masks and status bytes.
//
// Names go through devrec's feature catalog (src/model/features.ts: spec names and their aliases, e.g.
// VIRTIO_RING_F_EVENT_IDX, VIRTIO_F_IOMMU_PLATFORM) and then the names only QEMU uses (src/model/qemu-names.ts). A name found
// in neither is an error naming it: guessing a bit would make every comparison built on it wrong.
import { STATUS_BITS, featureBit } from '../model/index.js';
import { QEMU_ONLY_ENTRIES, QEMU_ONLY_FEATURES } from '../model/qemu-names.js';

/** QEMU's VIRTIO_CONFIG_S_* names -> status bits (the status table's macro names). */
export const QEMU_STATUS_NAMES: Readonly<Record<string, number>> = Object.fromEntries(STATUS_BITS.map((b) => [b.macro, b.value]));

export class QmpNameError extends Error {
  constructor(readonly names: string[], what: string) {
    super(`unknown QEMU ${what} name${names.length > 1 ? 's' : ''}: ${names.join(', ')}`);
    this.name = 'QmpNameError';
  }
}

/** "VIRTIO_NET_F_MAC: Device has given MAC address" -> "VIRTIO_NET_F_MAC" */
export function qmpName(entry: string): string {
  const colon = entry.indexOf(':');
  return (colon < 0 ? entry : entry.slice(0, colon)).trim();
}

/** The bit of one QEMU feature name (catalog name or alias, else QEMU-only), or undefined. */
export function qemuFeatureBit(name: string): number | undefined {
  if (name in QEMU_ONLY_FEATURES) return QEMU_ONLY_FEATURES[name];
  try {
    const mask = featureBit(name);
    return mask.toString(2).length - 1;
  } catch {
    return undefined;
  }
}

export interface QmpFeatures {
  'dev-features'?: readonly string[];
  transports?: readonly string[];
  /** raw bits QEMU has no name for; a JSON number (exact for single bits, rounded past 2^53), string or bigint */
  'unknown-dev-features'?: number | string | bigint;
}

function unknownBits(v: number | string | bigint | undefined): bigint {
  if (v === undefined) return 0n;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) throw new QmpNameError([String(v)], 'unknown-dev-features value');
    return BigInt(v);
  }
  try {
    return BigInt(v);
  } catch {
    throw new QmpNameError([v], 'unknown-dev-features value');
  }
}

/** A QMP feature answer (host-features, guest-features, backend-features) -> mask. Unknown names throw, naming them. */
export function qmpFeatureMask(obj: QmpFeatures): bigint {
  let mask = unknownBits(obj['unknown-dev-features']);
  const unknown: string[] = [];
  for (const entry of [...(obj['dev-features'] ?? []), ...(obj.transports ?? [])]) {
    const name = qmpName(entry);
    const bit = QEMU_ONLY_ENTRIES[entry.trim()] ?? qemuFeatureBit(name);
    if (bit === undefined) unknown.push(name);
    else mask |= 1n << BigInt(bit);
  }
  if (unknown.length) throw new QmpNameError(unknown, 'feature');
  return mask;
}

/** A QMP status answer ({statuses: [...]}) -> status byte. Unknown names throw, naming them. */
export function qmpStatusByte(obj: { statuses?: readonly string[] }): number {
  let status = 0;
  const unknown: string[] = [];
  for (const entry of obj.statuses ?? []) {
    const name = qmpName(entry);
    const bit = QEMU_STATUS_NAMES[name] ?? QEMU_STATUS_NAMES[`VIRTIO_CONFIG_S_${name}`];
    if (bit === undefined) unknown.push(name);
    else status |= bit;
  }
  if (unknown.length) throw new QmpNameError(unknown, 'status');
  return status;
}
