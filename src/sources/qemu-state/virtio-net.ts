// The device part of "virtio-net" v11 (vmstate_virtio_net_device, table in src/model/qemu-vmstate.ts).
//
// max_queue_pairs is not in the stream: the single-pair layout is tried first and the multi-pair one only when what
// follows the single-pair parse is not a subsection or the section footer. Each attempt reads into a fresh object.
import { featureBit } from '../../model/index.js';
import {
  VIRTIO_NET_DEVICE_V11, VIRTIO_NET_OFFLOADS, VIRTIO_NET_RSS, VIRTIO_QUEUE_MAX,
} from '../../model/qemu-vmstate.js';
import { type Cursor, QemuStreamError, be32At, hex } from './cursor.js';
import type { DevicePartContext } from './device-parts.js';
import { trySubHeader } from './virtio-subsections.js';
import { QEMU_VM_SUBSECTION } from './vmdesc.js';
import { readFields } from './vmsd-fields.js';

/** VirtIONet MAC_TABLE_ENTRIES */
const MAC_TABLE_ENTRIES = 64;
const CTRL_GUEST_OFFLOADS = featureBit('VIRTIO_NET_F_CTRL_GUEST_OFFLOADS');
const SECTION_FOOTER = 0x7e;

export interface NetDevicePart {
  kind: 'net';
  mac: Uint8Array;
  txWaiting: number[];
  mergeableRxBufs: number;
  status: number;
  promisc: number;
  allmulti: number;
  macTable: { inUse: number; fits: boolean; macs: Uint8Array };
  vlans: Uint8Array;
  hasVnetHdr: number;
  multiOverflow: number;
  uniOverflow: number;
  alluni: number;
  nomulti: number;
  nouni: number;
  nobcast: number;
  hasUfo: number;
  maxQueuePairs: number;
  currQueuePairs: number;
  currGuestOffloads?: bigint;
  rss?: { enabled: boolean; redirect: boolean; populateHash: boolean; hashTypes: number; defaultQueue: number; key: Uint8Array; indirectionTable: number[] };
}

function readNet(c: Cursor, ctx: DevicePartContext, multiQueue: boolean): NetDevicePart {
  const ctrlGuestOffloads = (ctx.guestFeatures & CTRL_GUEST_OFFLOADS) !== 0n;
  const f = readFields(c, VIRTIO_NET_DEVICE_V11, { multiQueue }, 'virtio-net');
  const inUse = f.num('mac_table.in_use');
  const part: NetDevicePart = {
    kind: 'net', mac: f.bytes('mac'), txWaiting: [f.num('tx_waiting')], mergeableRxBufs: f.num('mergeable_rx_bufs'), status: f.num('status'),
    promisc: f.num('promisc'), allmulti: f.num('allmulti'),
    macTable: { inUse, fits: inUse <= MAC_TABLE_ENTRIES, macs: f.bytes('mac_table.macs') }, vlans: f.bytes('vlans'),
    hasVnetHdr: f.num('has_vnet_hdr'), multiOverflow: f.num('mac_table.multi_overflow'), uniOverflow: f.num('mac_table.uni_overflow'),
    alluni: f.num('alluni'), nomulti: f.num('nomulti'), nouni: f.num('nouni'), nobcast: f.num('nobcast'), hasUfo: f.num('has_ufo'),
    maxQueuePairs: 1, currQueuePairs: 1,
  };
  if (multiQueue) {
    part.maxQueuePairs = f.num('max_queue_pairs');
    part.currQueuePairs = f.num('curr_queue_pairs');
    const at = f.at('max_queue_pairs');
    if (part.maxQueuePairs < 2 || part.currQueuePairs > part.maxQueuePairs) {
      throw c.error(`virtio-net max_queue_pairs ${part.maxQueuePairs} / curr_queue_pairs ${part.currQueuePairs} do not fit`, at);
    }
    if (2 * part.maxQueuePairs + 1 > VIRTIO_QUEUE_MAX) throw c.error(`virtio-net max_queue_pairs ${part.maxQueuePairs} is over QEMU's limit`, at);
    for (let i = 1; i < part.currQueuePairs; i++) part.txWaiting.push(c.u32(`virtio-net tx_waiting[${i}]`));
  }
  const off = readFields(c, VIRTIO_NET_OFFLOADS, { ctrlGuestOffloads }, 'virtio-net');
  if (off.has('curr_guest_offloads')) part.currGuestOffloads = off.big('curr_guest_offloads');
  for (;;) {
    const h = trySubHeader(c, 'virtio-net-device/');
    if (!h) break;
    if (h.name !== 'virtio-net-device/rss') throw c.error(`unknown virtio-net subsection ${h.name}`, h.at);
    const r = readFields(c, VIRTIO_NET_RSS, {}, 'rss');
    part.rss = {
      enabled: r.bool('enabled'), redirect: r.bool('redirect'), populateHash: r.bool('populate_hash'), hashTypes: r.num('hash_types'),
      defaultQueue: r.num('default_queue'), key: r.bytes('key'), indirectionTable: r.array('indirections_table'),
    };
  }
  const next = c.peek();
  const footerHere = next === SECTION_FOOTER && c.held >= 5 && be32At(c.buf, c.pos + 1) === ctx.sid;
  if (next !== QEMU_VM_SUBSECTION && !footerHere) {
    if (next === SECTION_FOOTER && c.held < 5) c.need(5, 'section footer');
    throw c.error(`after the virtio-net device part: byte ${hex(next)} is neither a subsection nor the section footer`);
  }
  return part;
}

export function decodeNetV11(c: Cursor, ctx: DevicePartContext): NetDevicePart {
  const start = c.pos;
  try {
    return readNet(c, ctx, false);
  } catch (e) {
    if (!(e instanceof QemuStreamError)) throw e;
    c.pos = start;
    try {
      return readNet(c, ctx, true);
    } catch (e2) {
      if (!(e2 instanceof QemuStreamError)) throw e2;
      throw e; // the single-pair reason is the useful one
    }
  }
}
