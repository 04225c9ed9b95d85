// Device parts with a fixed layout and nothing to search: virtio-balloon v1 (table VIRTIO_BALLOON_DEVICE_V1), and
// the device types whose part is empty (VIRTIO_EMPTY_DEVICE_PARTS). Checked on QEMU 7.2 and 10.0 streams of
// devices that never ran (test/fixtures/qemu-devices/, scripts/qemu/devstate-unbooted.py).
import { VIRTIO_BALLOON_DEVICE_V1 } from '../../model/qemu-vmstate.js';
import type { Cursor } from './cursor.js';
import { readFields } from './vmsd-fields.js';

export interface BalloonDevicePart {
  kind: 'balloon';
  /** pages the host asked the guest to give back (num_pages) and the guest's answer (actual), 4 KiB each */
  numPages: number;
  actual: number;
}

/** A device that saves nothing of its own: only the core and the subsections. */
export interface EmptyDevicePart {
  kind: 'empty';
}

export function decodeBalloonV1(c: Cursor): BalloonDevicePart {
  const f = readFields(c, VIRTIO_BALLOON_DEVICE_V1, {}, 'virtio-balloon');
  return { kind: 'balloon', numPages: f.num('num_pages'), actual: f.num('actual') };
}

export function decodeEmpty(): EmptyDevicePart {
  return { kind: 'empty' };
}
