// Parsers of a virtio device's own part of its section (vdc->save or vdc->vmsd), registered by the section's vmsd
// name and version. A device part with no parser here is walked by the bounded search (chain-search.ts).
import { VIRTIO_EMPTY_DEVICE_PARTS } from '../../model/qemu-vmstate.js';
import type { Cursor } from './cursor.js';
import { type BlkDevicePart, decodeBlkV2 } from './virtio-blk.js';
import { type NetDevicePart, decodeNetV11 } from './virtio-net.js';
import { type BalloonDevicePart, type EmptyDevicePart, decodeBalloonV1, decodeEmpty } from './virtio-small.js';

/** What a device part's layout depends on, from the part of the section already read. */
export interface DevicePartContext {
  numQueues: number;
  /** vdev->guest_features as the core saved it (low 32 bits) */
  guestFeatures: bigint;
  /** the section id: its footer (0x7e + id) may follow the part */
  sid: number;
}

export type DecodedDevicePart = NetDevicePart | BlkDevicePart | BalloonDevicePart | EmptyDevicePart;
export type DevicePartParser = (c: Cursor, ctx: DevicePartContext) => DecodedDevicePart;

const PARSERS: ReadonlyMap<string, { vmsd: string; version: number; parse: DevicePartParser }> = new Map(
  [
    { vmsd: 'virtio-net', version: 11, parse: decodeNetV11 },
    { vmsd: 'virtio-blk', version: 2, parse: decodeBlkV2 },
    { vmsd: 'virtio-balloon', version: 1, parse: decodeBalloonV1 },
    ...VIRTIO_EMPTY_DEVICE_PARTS.map((p) => ({ ...p, parse: decodeEmpty })),
  ].map((p) => [`${p.vmsd}@${p.version}`, p]),
);

export function devicePartParser(vmsd: string, version: number): DevicePartParser | undefined {
  return PARSERS.get(`${vmsd}@${version}`)?.parse;
}

/** "virtio-net v11, virtio-blk v2, ..." */
export const DECODED_PARTS = [...PARSERS.values()].map((p) => `${p.vmsd} v${p.version}`).join(', ');
