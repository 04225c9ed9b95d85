// virtio-net control-queue state from QEMU's saved device part ("virtio-net-device" vmstate, see virtio.ts):
// the receive-mode flags, the MAC filter table, the VLAN bitmap, the current queue pairs, guest offloads and
// RSS, which QEMU keeps as the result of the commands the guest sent (hw/net/virtio-net.c virtio_net_handle_rx_mode,
// _mac, _vlan_table, _mq, _offloads). What the stream does not keep (counts of commands) is null.
import { NET_MAX_VLAN } from '../../model/net-control.js';
import { initialNetControl, macText, type NetControlState } from '../../project/net-control.js';
import type { NetDevicePart } from './virtio.js';

export function netControlFromQemu(part: NetDevicePart): NetControlState {
  const s = initialNetControl();
  s.rxMode = {
    promisc: part.promisc !== 0, allmulti: part.allmulti !== 0, alluni: part.alluni !== 0,
    nomulti: part.nomulti !== 0, nouni: part.nouni !== 0, nobcast: part.nobcast !== 0,
  };
  // n->mac is the address in use: the config MAC, or the last MAC_ADDR_SET
  s.mac = macText(part.mac);
  // QEMU keeps the unicast entries first, then the multicast ones (group bit set); on overflow it drops the
  // table and receives all of that kind, so what the driver asked for is not known
  if (part.macTable.fits && !part.uniOverflow && !part.multiOverflow) {
    const unicast: string[] = [];
    const multicast: string[] = [];
    for (let i = 0; i < part.macTable.inUse; i++) {
      const m = part.macTable.macs.subarray(i * 6, i * 6 + 6);
      ((m[0]! & 1) === 0 ? unicast : multicast).push(macText(m));
    }
    s.macTable = { unicast, multicast };
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
  s.announceAcks = null;
  s.rejected = null;
  s.other = null;
  return s;
}
