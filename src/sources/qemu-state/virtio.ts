// A virtio device's section as QEMU 7.2 writes it (hw/virtio/virtio.c virtio_save; the section's vmsd, e.g.
// "virtio-net" version 11 or "virtio-blk" version 2, holds only VMSTATE_VIRTIO_DEVICE):
//
//  1. bus save_config
//     virtio-pci (hw/virtio/virtio-pci.c virtio_pci_save_config):
//       pci_device_save (hw/pci/pci.c, vmstate "PCIDevice" v2): be32 version_id, config space (256 bytes, or 4096
//       for a PCI Express device), be32 irq_state[4];
//       msix_save (hw/pci/msix.c) when the device has MSI-X: table (16 bytes x entries), PBA (ceil(entries / 8));
//       be16 config_vector when the device has MSI-X.
//     virtio-mmio (hw/virtio/virtio-mmio.c virtio_mmio_save_config): be32 host_features_sel, be32
//       guest_features_sel, be32 guest_page_shift.
//  2. u8 status, u8 isr, be16 queue_sel, be32 guest_features (low 32 bits), be32 config_len, config[config_len]
//  3. be32 num: queues before the first with vring.num == 0
//  4. per queue: be32 vring.num, be32 vring.align (virtio-mmio only: has_variable_vring_alignment), be64
//     vring.desc, be16 last_avail_idx, be16 MSI-X vector (virtio-pci with MSI-X: virtio_pci_save_queue)
//  5. the device's own part: vdc->save (virtio-blk: its request list) or vdc->vmsd ("virtio-net-device")
//  6. subsections of vmstate "virtio" (any order, each u8 0x05, u8 len, name, be32 version 1):
//     virtio/device_endian u8 | virtio/64bit_features be64 guest_features | virtio/virtqueues 1024 x (be64 avail,
//     be64 used) | virtio/ringsize 1024 x be32 num_default | virtio/broken bool | virtio/extra_state (the bus:
//     "virtio_pci" with subsection virtio_pci/modern_state {be32 dfselect, be32 gfselect, be32 guest_features[2],
//     1024 x (be16 num, 1 unused byte, bool enabled, be32 desc[2], be32 avail[2], be32 used[2])}, or "virtio_mmio"
//     with virtio_mmio/state {be32 guest_features[2], 1024 x (be16 num, bool enabled, be32 desc[2], avail[2],
//     used[2])}) | virtio/started bool | virtio/packed_virtqueues 1024 x (be16 last_avail_idx, bool wrap, be16
//     used_idx, bool wrap, be32 inuse) | virtio/disabled bool
//  then the section footer.
//
// Device parts decoded (QEMU 7.2 source, checked against the committed captures):
//  virtio-net-device v11: mac[6], be32 tx_waiting (queue pair 0), be32 mergeable_rx_bufs, be16 status, u8 promisc,
//    u8 allmulti, be32 mac_table.in_use, in_use x 6 bytes of MACs, vlans bitmap (512 bytes), be32 has_vnet_hdr,
//    u8 multi_overflow, uni_overflow, alluni, nomulti, nouni, nobcast, u8 has_ufo, [be16 max_queue_pairs, be16
//    curr_queue_pairs: only when max_queue_pairs > 1], (curr_queue_pairs - 1) x be32 tx_waiting, [be64
//    curr_guest_offloads: when the guest features have CTRL_GUEST_OFFLOADS], subsection virtio-net-device/rss when
//    RSS is on (from the source; the captures have none). max_queue_pairs is not in the stream: the single-pair
//    layout is tried first and the multi-pair one only when what follows the single-pair parse is not a
//    subsection or the footer.
//  virtio-blk (vdc->save): per in-flight request u8 1, [be32 queue index when num_queues > 1], the request's
//    VirtQueueElementOld written raw in host byte order (x86-64: u32 index, u32 out_num, u32 in_num, 4 padding,
//    in_addr/out_addr 1024 x u64, in_sg/out_sg 1024 x {u64, u64}: 49168 bytes); then u8 0. The captures have no
//    in-flight request (the 0 alone), so the element layout is from the source only.
// Other device types (and a net/blk part that does not match): the device part is walked, not decoded, by a
// bounded search for where the "virtio/" subsection chain starts: the first position from which the chain parses
// through to the section footer (0x7e + section id) followed by a valid next section header or EOF.
import type { Transport } from '../../events/types.js';
import { MSIX_CAP, PCI_CAP_ID, findPciCapability } from '../../model/pci-capabilities.js';
import { isLegacyTransport } from '../../model/transports.js';
import { qemuDeviceByVmsd } from '../../model/qemu-names.js';
import { MSI_NO_VECTOR, PCIE_CONFIG_SPACE_SIZE, PCI_CONFIG_SPACE_SIZE, PCI_ID_OFFSETS } from '../../model/registers.js';
import { PCI_MODERN_DEVICE_ID_BASE, featureBit } from '../../model/index.js';
import { Cursor, NeedMore, QemuStreamError, be32At, hex } from './cursor.js';
import { QEMU_VM_SUBSECTION } from './vmdesc.js';

/** VIRTIO_QUEUE_MAX in QEMU 7.2: the per-queue subsections always hold this many entries. */
export const VIRTIO_QUEUE_MAX = 1024;
const VIRTQUEUE_MAX_SIZE = 1024;
const MSIX_ENTRY_SIZE = MSIX_CAP.TABLE_ENTRY_SIZE;
const VIRTIO_NO_VECTOR = MSI_NO_VECTOR;
const MAX_CONFIG_LEN = 64 * 1024;
/** x86-64 sizeof(VirtQueueElementOld) */
export const VQ_ELEMENT_OLD_SIZE = 49168;
const MAX_BLK_REQUESTS = 4096;
const MAX_CHAIN_CANDIDATES = 4096;
/** VirtIONet MAC_TABLE_ENTRIES */
const MAC_TABLE_ENTRIES = 64;
const VIRTIO_NET_RSS_MAX_KEY_SIZE = 40;
const CTRL_GUEST_OFFLOADS = featureBit('VIRTIO_NET_F_CTRL_GUEST_OFFLOADS');
const VERSION_1 = featureBit('VIRTIO_F_VERSION_1');
const SECTION_FOOTER = 0x7e;


export interface QemuVirtioQueue {
  index: number;
  /** vring.num */
  size: number;
  /** vring.num_default (the device's maximum) from virtio/ringsize; equal to size when that subsection is absent */
  sizeDefault: number;
  /** vring.align (virtio-mmio) */
  align?: number;
  desc: bigint;
  /** driver area (split: avail ring; packed: driver event area) */
  avail: bigint;
  /** device area (split: used ring; packed: device event area) */
  used: bigint;
  /** where avail/used come from: the virtio/virtqueues subsection, derived from desc the way QEMU does for legacy
   *  devices (virtio_queue_update_rings), or nowhere (no desc) */
  addresses: 'virtqueues' | 'derived' | 'none';
  lastAvailIdx: number;
  /** packed rings only (virtio/packed_virtqueues) */
  lastAvailWrap?: boolean;
  /** null for split rings: QEMU does not save used_idx (it re-reads it from guest memory on load); a full stream's
   *  guest RAM gives it (guest-ram.ts, usedIdxFrom 'ram') */
  usedIdx: number | null;
  /** split rings: 'ram' when usedIdx / availIdx were read from the guest RAM pages of a full migration stream */
  usedIdxFrom?: 'ram';
  /** split rings, from guest RAM: the driver's avail->idx */
  availIdx?: number;
  usedWrap?: boolean;
  inuse?: number;
  /** MSI-X vector (virtio-pci with MSI-X) */
  vector?: number;
  enabled: boolean;
  /** the transport's own copy (virtio_pci/modern_state or virtio_mmio/state) */
  transport?: { num: number; enabled: boolean; desc: bigint; avail: bigint; used: bigint };
}

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

export interface BlkDevicePart {
  kind: 'blk';
  requests: { offset: number; queue?: number; index: number; outNum: number; inNum: number }[];
}

export interface WalkedDevicePart {
  kind: 'walked';
  /** absolute offset and length of the bytes walked over */
  offset: number;
  length: number;
  how: string;
}

export interface QemuVirtioDevice {
  /** devrec stream id: `<qemu type>@<bus:slot.fn>` (PCI) or `<qemu type>@<mmio base>` (virtio-mmio) */
  id: string;
  qemuType: string;
  vmsdName: string;
  type: string;
  virtioId: number;
  transport: Transport;
  section: { id: number; idstr: string; instance: number; version: number; offset: number };
  bus: 'pci' | 'mmio';
  /** the address the guest sees (behind bridges: the bus number the guest programmed into the bridge) */
  pciAddress?: string;
  /** QEMU's topological PCI path from the section name ("0000:00:02.0:00.0"), set once the stream is read */
  qemuPath?: string;
  mmioBase?: bigint;
  status: number;
  isr: number;
  queueSel: number;
  /** vdev->guest_features: what the device runs with (low 32 bits from the core, all 64 from virtio/64bit_features) */
  guestFeatures: bigint;
  /** what the driver wrote: the transport's copy (virtio_pci/modern_state, virtio_mmio/state) when saved, else guestFeatures */
  driverFeatures: bigint;
  /** what the stream says about the offered features (they are not saved): VERSION_1 (virtio/virtqueues present),
   *  some bit at or above 32 (virtio/64bit_features present), RING_PACKED (virtio/packed_virtqueues present) */
  hostFeatureHints: { version1: boolean; above32: boolean; ringPacked: boolean };
  deviceFeatureSelect: number;
  driverFeatureSelect: number;
  config: Uint8Array;
  numQueues: number;
  queues: QemuVirtioQueue[];
  pci?: {
    vmstateVersion: number;
    express: boolean;
    config: Uint8Array;
    irqState: number[];
    msix?: { tableSize: number; enabled: boolean; functionMask: boolean; table: Uint8Array; pba: Uint8Array };
    configVector: number;
  };
  mmio?: { hostFeaturesSel: number; guestFeaturesSel: number; guestPageShift: number; version: 1 | 2 };
  deviceEndian?: number;
  broken?: boolean;
  started?: boolean;
  disabled?: boolean;
  /** virtio subsections seen, in stream order */
  subsections: string[];
  device: NetDevicePart | BlkDevicePart | WalkedDevicePart;
  /** the core, the bus parts and the subsection chain were decoded through to the footer */
  complete: boolean;
  notes: string[];
}

/** What the section walker needs from the stream parser. */
export interface SectionContext {
  sid: number;
  idstr: string;
  instance: number;
  version: number;
  offset: number;
  /** Is there a valid next section header (or EOF) at buf index p? 'need-more' when the window ends too soon. */
  validNextAt(c: Cursor, p: number): boolean | 'need-more';
}

export interface VirtioSectionName {
  bus: 'pci' | 'mmio';
  vmsdName: string;
  pciAddress?: string;
  mmioBase?: bigint;
}

/** Recognises `0000:00:02.0/virtio-net` and `virtio-mmio@00000000feb02e00/virtio-net` style idstrs. */
export function parseVirtioIdstr(idstr: string): VirtioSectionName | undefined {
  const slash = idstr.lastIndexOf('/');
  if (slash < 0) return undefined;
  const vmsdName = idstr.slice(slash + 1);
  if (!qemuDeviceByVmsd(vmsdName)) return undefined;
  const path = idstr.slice(0, slash);
  const mmio = /(?:^|\/)virtio-mmio@([0-9a-f]{1,16})$/.exec(path);
  if (mmio) return { bus: 'mmio', vmsdName, mmioBase: BigInt(`0x${mmio[1]}`) };
  // pcibus_get_dev_path: "dddd:bb:ss.f" then ":ss.f" per bridge on the way
  const pci = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2}\.[0-7](?::[0-9a-f]{2}\.[0-7])*)$/.exec(path);
  if (pci) return { bus: 'pci', vmsdName, pciAddress: `${pci[1] === '0000' ? '' : `${pci[1]}:`}${pci[2]}:${pci[3]}` };
  return undefined;
}

export function deviceIdOf(n: VirtioSectionName): string {
  if (n.bus === 'pci') return `${n.vmsdName}-pci@${n.pciAddress}`;
  return `${n.vmsdName}-device@${n.mmioBase!.toString(16).padStart(8, '0')}`;
}

interface SubHeader {
  at: number;
  name: string;
  version: number;
}

/** Reads a subsection header when the next byte is 0x05 and its name starts with `prefix`; else leaves the cursor. */
function trySubHeader(c: Cursor, prefix: string): SubHeader | undefined {
  if (c.peek() !== QEMU_VM_SUBSECTION) return undefined;
  const save = c.pos;
  const at = c.offset;
  c.u8('subsection');
  const name = c.shortString('subsection name');
  if (!name.startsWith(prefix)) {
    c.pos = save;
    return undefined;
  }
  const version = c.u32(`subsection ${name} version`);
  if (version !== 1) throw c.error(`subsection ${name} version ${version}: QEMU 7.2 writes version 1`, at);
  return { at, name, version };
}

const addr64 = (lo: number, hi: number): bigint => (BigInt(hi) << 32n) | BigInt(lo);
const alignUp = (v: bigint, a: bigint): bigint => (a > 0n ? ((v + a - 1n) / a) * a : v);

function decodePciConfig(c: Cursor, dev: QemuVirtioDevice): void {
  const vmstateVersion = c.u32('PCIDevice version_id');
  if (vmstateVersion < 1 || vmstateVersion > 2) throw c.error(`PCIDevice version_id ${vmstateVersion}: expected 2 (VMSTATE_PCI_DEVICE)`);
  const first = c.bytes(PCI_CONFIG_SPACE_SIZE, 'PCI config space', PCI_CONFIG_SPACE_SIZE);
  // A PCI Express device saves its whole 4 KiB extended config space (is_pcie_device): it has the Express capability.
  const express = findPciCapability(first, PCI_CAP_ID.EXP) !== undefined;
  let full = first.slice();
  if (express) {
    const rest = c.bytes(PCIE_CONFIG_SPACE_SIZE - PCI_CONFIG_SPACE_SIZE, 'PCI Express extended config space', PCIE_CONFIG_SPACE_SIZE);
    full = new Uint8Array(PCIE_CONFIG_SPACE_SIZE);
    full.set(first);
    full.set(rest, PCI_CONFIG_SPACE_SIZE);
  }
  const irqState: number[] = [];
  for (let i = 0; i < 4; i++) irqState.push(c.u32(`PCIDevice irq_state[${i}]`));
  const msixCap = findPciCapability(first, PCI_CAP_ID.MSIX);
  let msix: NonNullable<QemuVirtioDevice['pci']>['msix'];
  let configVector = VIRTIO_NO_VECTOR;
  if (msixCap !== undefined) {
    const ctrl = first[msixCap + MSIX_CAP.MESSAGE_CONTROL]! | (first[msixCap + MSIX_CAP.MESSAGE_CONTROL + 1]! << 8);
    const tableSize = (ctrl & MSIX_CAP.TABLE_SIZE_MASK) + 1;
    const table = c.bytes(tableSize * MSIX_ENTRY_SIZE, 'MSI-X table', 2048 * MSIX_ENTRY_SIZE).slice();
    const pba = c.bytes(Math.ceil(tableSize / 8), 'MSI-X PBA', 256).slice();
    msix = { tableSize, enabled: (ctrl & MSIX_CAP.ENABLE) !== 0, functionMask: (ctrl & MSIX_CAP.FUNCTION_MASK) !== 0, table, pba };
    configVector = c.u16('config_vector');
  }
  dev.pci = { vmstateVersion, express, config: full, irqState, ...(msix ? { msix } : {}), configVector };
}

function decodeMmioConfig(c: Cursor, dev: QemuVirtioDevice): void {
  const hostFeaturesSel = c.u32('virtio-mmio host_features_sel');
  const guestFeaturesSel = c.u32('virtio-mmio guest_features_sel');
  const at = c.offset;
  const guestPageShift = c.u32('virtio-mmio guest_page_shift');
  if (guestPageShift > 31) throw c.error(`virtio-mmio guest_page_shift ${guestPageShift} is not a shift`, at);
  dev.mmio = { hostFeaturesSel, guestFeaturesSel, guestPageShift, version: 1 };
}

function decodeNet(c: Cursor, dev: QemuVirtioDevice, ctx: SectionContext): NetDevicePart {
  const mac = c.bytes(6, 'virtio-net mac', 6).slice();
  const tx0 = c.u32('virtio-net tx_waiting');
  const mergeableRxBufs = c.u32('virtio-net mergeable_rx_bufs');
  const status = c.u16('virtio-net status');
  const promisc = c.u8('virtio-net promisc');
  const allmulti = c.u8('virtio-net allmulti');
  const inUseAt = c.offset;
  const inUse = c.u32('virtio-net mac_table.in_use');
  c.checkLength(inUse * 6, 0x10000 * 6, 'virtio-net mac_table.macs', inUseAt);
  const macs = c.bytes(inUse * 6, 'virtio-net mac_table.macs', 0x10000 * 6).slice();
  const vlans = c.bytes(4096 >> 3, 'virtio-net vlans', 512).slice();
  const hasVnetHdr = c.u32('virtio-net has_vnet_hdr');
  const flags = [0, 1, 2, 3, 4, 5].map(() => c.u8('virtio-net rx mode flag'));
  const hasUfo = c.u8('virtio-net has_ufo');
  const base: NetDevicePart = {
    kind: 'net', mac, txWaiting: [tx0], mergeableRxBufs, status, promisc, allmulti,
    macTable: { inUse, fits: inUse <= MAC_TABLE_ENTRIES, macs }, vlans, hasVnetHdr,
    multiOverflow: flags[0]!, uniOverflow: flags[1]!, alluni: flags[2]!, nomulti: flags[3]!, nouni: flags[4]!, nobcast: flags[5]!,
    hasUfo, maxQueuePairs: 1, currQueuePairs: 1,
  };
  const afterFixed = c.pos;
  const hasOffloads = (dev.guestFeatures & CTRL_GUEST_OFFLOADS) !== 0n;
  const tail = (multi: boolean): NetDevicePart => {
    const part: NetDevicePart = { ...base, txWaiting: [tx0] };
    if (multi) {
      const at = c.offset;
      part.maxQueuePairs = c.u16('virtio-net max_queue_pairs');
      part.currQueuePairs = c.u16('virtio-net curr_queue_pairs');
      if (part.maxQueuePairs < 2 || part.currQueuePairs > part.maxQueuePairs) {
        throw c.error(`virtio-net max_queue_pairs ${part.maxQueuePairs} / curr_queue_pairs ${part.currQueuePairs} do not fit`, at);
      }
      if (2 * part.maxQueuePairs + 1 > VIRTIO_QUEUE_MAX) throw c.error(`virtio-net max_queue_pairs ${part.maxQueuePairs} is over QEMU's limit`, at);
      for (let i = 1; i < part.currQueuePairs; i++) part.txWaiting.push(c.u32(`virtio-net tx_waiting[${i}]`));
    }
    if (hasOffloads) part.currGuestOffloads = c.u64('virtio-net curr_guest_offloads');
    for (;;) {
      const h = trySubHeader(c, 'virtio-net-device/');
      if (!h) break;
      if (h.name !== 'virtio-net-device/rss') throw c.error(`unknown virtio-net subsection ${h.name}`, h.at);
      const enabled = c.bool('rss enabled');
      const redirect = c.bool('rss redirect');
      const populateHash = c.bool('rss populate_hash');
      const hashTypes = c.u32('rss hash_types');
      const n = c.u16('rss indirections_len');
      const defaultQueue = c.u16('rss default_queue');
      const key = c.bytes(VIRTIO_NET_RSS_MAX_KEY_SIZE, 'rss key', VIRTIO_NET_RSS_MAX_KEY_SIZE).slice();
      const indirectionTable: number[] = [];
      c.checkLength(n * 2, 0x20000, 'rss indirections_table');
      for (let i = 0; i < n; i++) indirectionTable.push(c.u16('rss indirection'));
      part.rss = { enabled, redirect, populateHash, hashTypes, defaultQueue, key, indirectionTable };
    }
    const next = c.peek();
    const footerHere = next === SECTION_FOOTER && c.held >= 5 && be32At(c.buf, c.pos + 1) === ctx.sid;
    if (next !== QEMU_VM_SUBSECTION && !footerHere) {
      if (next === SECTION_FOOTER && c.held < 5) c.need(5, 'section footer');
      throw c.error(`after the virtio-net device part: byte ${hex(next)} is neither a subsection nor the section footer`);
    }
    return part;
  };
  try {
    return tail(false);
  } catch (e) {
    if (!(e instanceof QemuStreamError)) throw e;
    c.pos = afterFixed;
    try {
      return tail(true);
    } catch (e2) {
      if (!(e2 instanceof QemuStreamError)) throw e2;
      throw e; // the single-pair reason is the useful one
    }
  }
}

function decodeBlk(c: Cursor, dev: QemuVirtioDevice): BlkDevicePart {
  const requests: BlkDevicePart['requests'] = [];
  for (;;) {
    const at = c.offset;
    const more = c.u8('virtio-blk request list marker');
    if (more === 0) break;
    if (more !== 1) throw c.error(`virtio-blk request list marker ${hex(more)}: expected 0 or 1`, at);
    if (requests.length >= MAX_BLK_REQUESTS) throw c.error(`virtio-blk: more than ${MAX_BLK_REQUESTS} in-flight requests`, at);
    let queue: number | undefined;
    if (dev.numQueues > 1) {
      const qAt = c.offset;
      queue = c.u32('virtio-blk request queue index');
      if (queue >= dev.numQueues) throw c.error(`virtio-blk request queue index ${queue}: the device has ${dev.numQueues} queues`, qAt);
    }
    const eAt = c.offset;
    const el = c.bytes(VQ_ELEMENT_OLD_SIZE, 'VirtQueueElementOld', VQ_ELEMENT_OLD_SIZE);
    const dv = new DataView(el.buffer, el.byteOffset, 12);
    const index = dv.getUint32(0, true);
    const outNum = dv.getUint32(4, true);
    const inNum = dv.getUint32(8, true);
    if (outNum > VIRTQUEUE_MAX_SIZE || inNum > VIRTQUEUE_MAX_SIZE) {
      throw c.error(`VirtQueueElementOld out_num ${outNum} / in_num ${inNum} over ${VIRTQUEUE_MAX_SIZE}`, eAt);
    }
    requests.push({ offset: at, ...(queue !== undefined ? { queue } : {}), index, outNum, inNum });
  }
  return { kind: 'blk', requests };
}

/** The "virtio/..." subsection chain; the cursor ends on the byte after the last subsection. */
function decodeVirtioSubsections(c: Cursor, dev: QemuVirtioDevice): void {
  const seen = new Set<string>();
  for (;;) {
    const h = trySubHeader(c, '');
    if (!h) return;
    if (!h.name.startsWith('virtio/')) throw c.error(`subsection ${h.name} where a virtio/ subsection or the footer was expected`, h.at);
    if (seen.has(h.name)) throw c.error(`subsection ${h.name} twice`, h.at);
    seen.add(h.name);
    dev.subsections.push(h.name);
    switch (h.name) {
      case 'virtio/device_endian': {
        const at = c.offset;
        dev.deviceEndian = c.u8('device_endian');
        if (dev.deviceEndian > 2) throw c.error(`device_endian ${dev.deviceEndian}: 0 unknown, 1 little, 2 big`, at);
        break;
      }
      case 'virtio/64bit_features':
        dev.guestFeatures = c.u64('guest_features');
        dev.hostFeatureHints.above32 = true;
        break;
      case 'virtio/virtqueues':
        dev.hostFeatureHints.version1 = true;
        for (let i = 0; i < VIRTIO_QUEUE_MAX; i++) {
          const avail = c.u64(`vq ${i} avail`);
          const used = c.u64(`vq ${i} used`);
          const q = dev.queues[i];
          if (q) Object.assign(q, { avail, used, addresses: 'virtqueues' });
        }
        break;
      case 'virtio/ringsize':
        for (let i = 0; i < VIRTIO_QUEUE_MAX; i++) {
          const n = c.u32(`vq ${i} num_default`);
          const q = dev.queues[i];
          if (q) q.sizeDefault = n;
        }
        break;
      case 'virtio/broken':
        dev.broken = c.bool('broken');
        break;
      case 'virtio/extra_state':
        if (dev.bus === 'pci') decodePciExtra(c, dev);
        else decodeMmioExtra(c, dev);
        break;
      case 'virtio/started':
        dev.started = c.bool('started');
        break;
      case 'virtio/packed_virtqueues':
        dev.hostFeatureHints.ringPacked = true;
        for (let i = 0; i < VIRTIO_QUEUE_MAX; i++) {
          const lastAvailIdx = c.u16(`vq ${i} last_avail_idx`);
          const lastAvailWrap = c.bool(`vq ${i} last_avail_wrap_counter`);
          const usedIdx = c.u16(`vq ${i} used_idx`);
          const usedWrap = c.bool(`vq ${i} used_wrap_counter`);
          const inuse = c.u32(`vq ${i} inuse`);
          const q = dev.queues[i];
          if (q) Object.assign(q, { lastAvailIdx, lastAvailWrap, usedIdx, usedWrap, inuse });
        }
        break;
      case 'virtio/disabled':
        dev.disabled = c.bool('disabled');
        break;
      default:
        throw c.error(`unknown subsection ${h.name} (QEMU 7.2 has no such virtio subsection)`, h.at);
    }
  }
}

function decodePciExtra(c: Cursor, dev: QemuVirtioDevice): void {
  for (;;) {
    const h = trySubHeader(c, 'virtio_pci/');
    if (!h) return;
    if (h.name !== 'virtio_pci/modern_state') throw c.error(`unknown subsection ${h.name}`, h.at);
    dev.subsections.push(h.name);
    dev.deviceFeatureSelect = c.u32('dfselect');
    dev.driverFeatureSelect = c.u32('gfselect');
    const lo = c.u32('guest_features[0]');
    const hi = c.u32('guest_features[1]');
    dev.driverFeatures = addr64(lo, hi);
    readTransportQueues(c, dev, true);
  }
}

/**
 * The transport's own per-queue state, written for every possible queue (VIRTIO_QUEUE_MAX): virtio-pci's
 * modern_queue_state has an unused byte after num, virtio-mmio's state does not.
 */
function readTransportQueues(c: Cursor, dev: QemuVirtioDevice, unusedByte: boolean): void {
  for (let i = 0; i < VIRTIO_QUEUE_MAX; i++) {
    const num = c.u16(`vq ${i} num`);
    if (unusedByte) c.u8('unused');
    const enabled = c.bool(`vq ${i} enabled`);
    const desc = addr64(c.u32('desc lo'), c.u32('desc hi'));
    const avail = addr64(c.u32('avail lo'), c.u32('avail hi'));
    const used = addr64(c.u32('used lo'), c.u32('used hi'));
    const q = dev.queues[i];
    if (q) {
      q.transport = { num, enabled, desc, avail, used };
      q.enabled = enabled;
    }
  }
}

function decodeMmioExtra(c: Cursor, dev: QemuVirtioDevice): void {
  for (;;) {
    const h = trySubHeader(c, 'virtio_mmio/');
    if (!h) return;
    if (h.name !== 'virtio_mmio/state') throw c.error(`unknown subsection ${h.name}`, h.at);
    dev.subsections.push(h.name);
    dev.mmio!.version = 2;
    const lo = c.u32('guest_features[0]');
    const hi = c.u32('guest_features[1]');
    dev.driverFeatures = addr64(lo, hi);
    readTransportQueues(c, dev, false);
  }
}

type DevSnapshot = Pick<QemuVirtioDevice, 'guestFeatures' | 'driverFeatures' | 'deviceFeatureSelect' | 'driverFeatureSelect' | 'deviceEndian' | 'broken' | 'started' | 'disabled'> & {
  queues: QemuVirtioQueue[]; subsections: number; hints: QemuVirtioDevice['hostFeatureHints']; mmioVersion: 1 | 2 | undefined;
};

/** What the device part and the subsections may change: saved before an attempt, put back when it fails. */
function saveDev(dev: QemuVirtioDevice): DevSnapshot {
  return {
    guestFeatures: dev.guestFeatures, driverFeatures: dev.driverFeatures, deviceFeatureSelect: dev.deviceFeatureSelect,
    driverFeatureSelect: dev.driverFeatureSelect, deviceEndian: dev.deviceEndian, broken: dev.broken, started: dev.started,
    disabled: dev.disabled, queues: dev.queues.map((q) => ({ ...q })), subsections: dev.subsections.length,
    hints: { ...dev.hostFeatureHints }, mmioVersion: dev.mmio?.version,
  };
}

function restoreDev(dev: QemuVirtioDevice, s: DevSnapshot): void {
  const { queues, subsections, hints, mmioVersion, ...fields } = s;
  for (const k of ['deviceEndian', 'broken', 'started', 'disabled'] as const) delete dev[k];
  Object.assign(dev, Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)));
  dev.queues = queues.map((q) => ({ ...q }));
  dev.subsections.length = subsections;
  dev.hostFeatureHints = { ...hints };
  if (dev.mmio && mmioVersion) dev.mmio.version = mmioVersion;
}

/** Is the section footer (0x7e + this section's id) at buf index p, followed by a valid next header or EOF? */
function footerAt(c: Cursor, p: number, ctx: SectionContext): boolean | 'need-more' {
  if (p + 5 > c.end) return c.final ? false : 'need-more';
  if (c.buf[p] !== SECTION_FOOTER || be32At(c.buf, p + 1) !== ctx.sid) return false;
  return ctx.validNextAt(c, p + 5);
}

/**
 * The bounded search for the subsection chain after a device part that is not decoded: the first position at or
 * after `from` where either the virtio/ chain parses through to a valid footer, or a valid footer is (no chain).
 * Candidates are positions holding 0x05 + a length + "virtio/", or 0x7e + the section id; at most
 * MAX_CHAIN_CANDIDATES are tried, all within the section's window.
 */
function findChain(c: Cursor, dev: QemuVirtioDevice, ctx: SectionContext, from: number): void {
  let tried = 0;
  const tag = [0x76, 0x69, 0x72, 0x74, 0x69, 0x6f, 0x2f]; // "virtio/"
  const before = saveDev(dev);
  for (let p = from; ; p++) {
    if (p >= c.end) {
      if (c.final) throw c.error(`device part not decoded and no virtio subsection chain or section footer found after offset ${c.base + from}`);
      throw new NeedMore(c.base + c.end + 1);
    }
    const b = c.buf[p]!;
    let isChain = false;
    if (b === QEMU_VM_SUBSECTION) {
      if (p + 9 > c.end) {
        if (!c.final) throw new NeedMore(c.base + p + 9);
        continue;
      }
      isChain = tag.every((t, i) => c.buf[p + 2 + i] === t);
      if (!isChain) continue;
    } else if (b !== SECTION_FOOTER) {
      continue;
    }
    if (++tried > MAX_CHAIN_CANDIDATES) throw c.error(`device part not decoded: gave up after ${MAX_CHAIN_CANDIDATES} candidate positions for the subsection chain`);
    const save = c.pos;
    try {
      c.pos = p;
      if (isChain) decodeVirtioSubsections(c, dev);
      const ok = footerAt(c, c.pos, ctx);
      if (ok === 'need-more') throw new NeedMore(c.base + c.pos + 5 + 300);
      if (ok) {
        dev.device = { kind: 'walked', offset: c.base + from, length: p - from, how: 'bounded search for the virtio/ subsection chain' };
        return;
      }
    } catch (e) {
      if (!(e instanceof QemuStreamError)) throw e;
    }
    c.pos = save;
    restoreDev(dev, before);
  }
}

/**
 * Decodes one virtio device section body; the cursor must be at the body's first byte and ends at the footer
 * (not consumed). Throws QemuStreamError when even the core does not decode (the caller then walks the section
 * another way) and NeedMore when the window is too short.
 */
export function decodeVirtioSection(c: Cursor, name: VirtioSectionName, ctx: SectionContext): QemuVirtioDevice {
  const known = qemuDeviceByVmsd(name.vmsdName)!;
  const dev: QemuVirtioDevice = {
    id: deviceIdOf(name),
    qemuType: `${name.vmsdName}-${name.bus === 'pci' ? 'pci' : 'device'}`,
    vmsdName: name.vmsdName,
    type: known.type,
    virtioId: known.virtioId,
    transport: 'unspecified',
    section: { id: ctx.sid, idstr: ctx.idstr, instance: ctx.instance, version: ctx.version, offset: ctx.offset },
    bus: name.bus,
    ...(name.pciAddress !== undefined ? { pciAddress: name.pciAddress } : {}),
    ...(name.mmioBase !== undefined ? { mmioBase: name.mmioBase } : {}),
    status: 0, isr: 0, queueSel: 0, guestFeatures: 0n, driverFeatures: 0n,
    hostFeatureHints: { version1: false, above32: false, ringPacked: false },
    deviceFeatureSelect: 0, driverFeatureSelect: 0, config: new Uint8Array(0), numQueues: 0, queues: [],
    subsections: [], device: { kind: 'walked', offset: 0, length: 0, how: '' }, complete: false, notes: [],
  };
  if (name.bus === 'pci') decodePciConfig(c, dev);
  else decodeMmioConfig(c, dev);
  dev.status = c.u8('status');
  dev.isr = c.u8('isr');
  const qsAt = c.offset;
  dev.queueSel = c.u16('queue_sel');
  if (dev.queueSel >= VIRTIO_QUEUE_MAX) throw c.error(`queue_sel ${dev.queueSel} >= VIRTIO_QUEUE_MAX (virtio_load refuses it)`, qsAt);
  dev.guestFeatures = BigInt(c.u32('guest_features'));
  const clAt = c.offset;
  const configLen = c.u32('config_len');
  c.checkLength(configLen, MAX_CONFIG_LEN, 'config', clAt);
  dev.config = c.bytes(configLen, 'config', MAX_CONFIG_LEN).slice();
  const numAt = c.offset;
  const num = c.u32('number of queues');
  if (num > VIRTIO_QUEUE_MAX) throw c.error(`Invalid number of virtqueues: ${hex(num)}`, numAt);
  dev.numQueues = num;
  const hasVector = dev.pci?.msix !== undefined;
  for (let i = 0; i < num; i++) {
    const sAt = c.offset;
    const size = c.u32(`vq ${i} num`);
    if (size === 0 || size > VIRTQUEUE_MAX_SIZE) throw c.error(`vq ${i} num ${size}: QEMU saves queues with 1..${VIRTQUEUE_MAX_SIZE} entries`, sAt);
    const align = name.bus === 'mmio' ? c.u32(`vq ${i} align`) : undefined;
    const desc = c.u64(`vq ${i} desc`);
    const lAt = c.offset;
    const lastAvailIdx = c.u16(`vq ${i} last_avail_idx`);
    if (desc === 0n && lastAvailIdx !== 0) throw c.error(`VQ ${i} address 0x0 inconsistent with Host index ${hex(lastAvailIdx)}`, lAt);
    const vector = hasVector ? c.u16(`vq ${i} vector`) : undefined;
    dev.queues.push({
      index: i, size, sizeDefault: size, ...(align !== undefined ? { align } : {}), desc, avail: 0n, used: 0n,
      addresses: 'none', lastAvailIdx, usedIdx: null, ...(vector !== undefined ? { vector } : {}), enabled: desc !== 0n,
    });
  }
  const partStart = c.pos;
  const beforePart = saveDev(dev);
  try {
    if (known.type === 'net' && ctx.version === 11) dev.device = decodeNet(c, dev, ctx);
    else if (known.type === 'blk' && ctx.version === 2) dev.device = decodeBlk(c, dev);
    else throw c.error(`${name.vmsdName} version ${ctx.version}: devrec decodes virtio-net v11 and virtio-blk v2 device parts only`);
    decodeVirtioSubsections(c, dev);
    const next = c.peek();
    if (next !== SECTION_FOOTER) throw c.error(`byte ${hex(next)} after the virtio subsections: expected the section footer 0x7e`);
    c.need(5, 'section footer');
    if (be32At(c.buf, c.pos + 1) !== ctx.sid) throw c.error(`section footer names section ${be32At(c.buf, c.pos + 1)}, not ${ctx.sid}`);
  } catch (e) {
    if (!(e instanceof QemuStreamError)) throw e;
    dev.notes.push(`device part not decoded (${e.reason} at offset ${e.offset}); walked instead`);
    c.pos = partStart;
    restoreDev(dev, beforePart);
    findChain(c, dev, ctx, partStart);
  }
  finish(dev);
  return dev;
}

/** Fills what follows from the decoded parts: transport, legacy ring addresses, packed indices. */
function finish(dev: QemuVirtioDevice): void {
  dev.complete = true;
  const modernState = dev.subsections.includes('virtio_pci/modern_state');
  const mmioState = dev.subsections.includes('virtio_mmio/state');
  if (!modernState && !mmioState) dev.driverFeatures = dev.guestFeatures;
  if (dev.bus === 'mmio') {
    dev.transport = mmioState ? 'mmio-modern' : 'mmio-legacy';
  } else {
    const pciDevice = dev.pci ? dev.pci.config[PCI_ID_OFFSETS.device]! | (dev.pci.config[PCI_ID_OFFSETS.device + 1]! << 8) : 0;
    const version1 = (dev.guestFeatures & VERSION_1) !== 0n;
    if (!modernState) dev.transport = 'pci-legacy';
    else if (pciDevice >= PCI_MODERN_DEVICE_ID_BASE) dev.transport = 'pci-modern';
    else {
      // transitional: the driver chose; VERSION_1 accepted means it went through the modern interface
      dev.transport = version1 || dev.guestFeatures === 0n ? 'pci-modern' : 'pci-legacy';
      dev.notes.push(`transitional device (PCI device id ${hex(pciDevice)}): ${dev.transport} decided by VERSION_1 in the guest features`);
    }
  }
  const legacyRings = isLegacyTransport(dev.transport);
  for (const q of dev.queues) {
    if (q.addresses === 'none' && q.desc !== 0n && legacyRings && !dev.hostFeatureHints.ringPacked) {
      // virtio_queue_update_rings: avail right after the descriptor table, used aligned after avail's ring[num]
      const align = BigInt(q.align ?? 4096);
      q.avail = q.desc + BigInt(q.size) * 16n;
      q.used = alignUp(q.avail + 4n + 2n * BigInt(q.size), align);
      q.addresses = 'derived';
    }
  }
}
