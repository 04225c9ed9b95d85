// virtio-net control-queue state from QEMU's saved device part ("virtio-net-device" vmstate, see virtio.ts):
// the receive-mode flags, the MAC filter table, the VLAN bitmap, the current queue pairs, guest offloads and
// RSS, which QEMU keeps as the result of the commands the guest sent (hw/net/virtio-net.c virtio_net_handle_rx_mode,
// _mac, _vlan_table, _mq, _offloads). What the stream does not keep (counts of commands) is null.
import { NET_MAX_VLAN } from '../../model/net-control.js';
import { initialNetControl, macText, type NetControlState } from '../../project/net-control.js';
import type { NetDevicePart } from './virtio.js';

export function netControlFromQemu(part: NetDevicePart): NetControlState {
  // QEMU keeps no count of commands
  const s = initialNetControl(false);
  s.rxMode = {
    promisc: part.promisc !== 0, allmulti: part.allmulti !== 0, alluni: part.alluni !== 0,
    nomulti: part.nomulti !== 0, nouni: part.nouni !== 0, nobcast: part.nobcast !== 0,
  };
  // n->mac is the address in use: the config MAC, or the last MAC_ADDR_SET
  s.mac = macText(part.mac);
  // QEMU keeps the unicast entries first, then the multicast ones, and on load splits them at the first entry with
  // the group bit (virtio_net_post_load_device, first_multi). A kind that overflowed (more entries than
  // MAC_TABLE_ENTRIES) has no entries in the table: the device receives all of that kind. A saved table longer than
  // the device holds is dropped on load and both kinds overflow (virtio_net_load_device).
  if (part.macTable.fits) {
    let firstMulti = 0;
    while (firstMulti < part.macTable.inUse && (part.macTable.macs[firstMulti * 6]! & 1) === 0) firstMulti++;
    const entry = (i: number) => macText(part.macTable.macs.subarray(i * 6, i * 6 + 6));
    const unicast = Array.from({ length: firstMulti }, (_, i) => entry(i));
    const multicast = Array.from({ length: part.macTable.inUse - firstMulti }, (_, i) => entry(firstMulti + i));
    s.macTable = { unicast, multicast, unicastOverflow: part.uniOverflow !== 0, multicastOverflow: part.multiOverflow !== 0 };
  } else {
    s.macTable = { unicast: [], multicast: [], unicastOverflow: true, multicastOverflow: true };
  }
  // QEMU's bitmap is u32 words (bit vid & 31 of word vid >> 5) saved raw in the source host's byte order: on
  // a little-endian host (x86, arm64) that is bit vid & 7 of byte vid >> 3
  const ids: number[] = [];
  for (let v = 0; v < NET_MAX_VLAN; v++) if ((part.vlans[v >> 3]! >> (v & 7)) & 1) ids.push(v);
  s.vlans = { ids, complete: true };
  s.queuePairs = part.currQueuePairs;
  s.guestOffloads = part.currGuestOffloads ?? null;
  if (part.rss?.enabled) {
    s.rss = {
      hashTypes: part.rss.hashTypes, indirectionTable: [...part.rss.indirectionTable], unclassifiedQueue: part.rss.defaultQueue,
      maxTxVq: null, key: Buffer.from(part.rss.key).toString('hex'),
    };
  }
  return s;
}
