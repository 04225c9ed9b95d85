// The device part of "virtio-blk" v2 (virtio_blk_save_device): per in-flight request a marker byte 1, the queue
// index when the device has several queues, and the request's VirtQueueElementOld written raw in the source host's
// byte order (x86-64 layout; table in src/model/qemu-vmstate.ts); a 0 ends the list. The committed captures have no
// in-flight request (the 0 alone), so the element layout is from QEMU's source only.
import { VIRTIO_BLK_REQUEST_V2, VQ_ELEMENT_OLD_HEAD } from '../../model/qemu-vmstate.js';
import { Cursor, hex } from './cursor.js';
import type { DevicePartContext } from './device-parts.js';
import { readFields } from './vmsd-fields.js';

const VIRTQUEUE_MAX_SIZE = 1024;
const MAX_BLK_REQUESTS = 4096;

export interface BlkDevicePart {
  kind: 'blk';
  requests: { offset: number; queue?: number; index: number; outNum: number; inNum: number }[];
}

export function decodeBlkV2(c: Cursor, ctx: DevicePartContext): BlkDevicePart {
  const requests: BlkDevicePart['requests'] = [];
  for (;;) {
    const at = c.offset;
    const more = c.u8('virtio-blk request list marker');
    if (more === 0) break;
    if (more !== 1) throw c.error(`virtio-blk request list marker ${hex(more)}: expected 0 or 1`, at);
    if (requests.length >= MAX_BLK_REQUESTS) throw c.error(`virtio-blk: more than ${MAX_BLK_REQUESTS} in-flight requests`, at);
    const r = readFields(c, VIRTIO_BLK_REQUEST_V2, { multiQueue: ctx.numQueues > 1 }, 'virtio-blk request');
    const queue = r.has('queue') ? r.num('queue') : undefined;
    if (queue !== undefined && queue >= ctx.numQueues) throw c.error(`virtio-blk request queue index ${queue}: the device has ${ctx.numQueues} queues`, r.at('queue'));
    const eAt = r.at('element');
    const el = r.bytes('element');
    const head = readFields(new Cursor(el, 0, el.length, eAt, true), VQ_ELEMENT_OLD_HEAD);
    const outNum = head.num('out_num');
    const inNum = head.num('in_num');
    if (outNum > VIRTQUEUE_MAX_SIZE || inNum > VIRTQUEUE_MAX_SIZE) {
      throw c.error(`VirtQueueElementOld out_num ${outNum} / in_num ${inNum} over ${VIRTQUEUE_MAX_SIZE}`, eAt);
    }
    requests.push({ offset: at, ...(queue !== undefined ? { queue } : {}), index: head.num('index'), outNum, inNum });
  }
  return { kind: 'blk', requests };
}
