// A virtio device's section as QEMU writes it (hw/virtio/virtio.c virtio_save; the section's vmsd, e.g.
// "virtio-net" version 11 or "virtio-blk" version 2, holds only VMSTATE_VIRTIO_DEVICE), in order:
//  1. the bus's save_config: virtio-pci (virtio_pci_save_config): pci_device_save (vmstate "PCIDevice" v2: be32
//     version_id, config space of 256 bytes, or 4096 for a PCI Express device, be32 irq_state[4]), then with MSI-X
//     msix_save (table 16 bytes x entries, PBA ceil(entries / 8)) and be16 config_vector; read here, since its
//     length follows the config space's capabilities. virtio-mmio: table VIRTIO_MMIO_SAVE_CONFIG.
//  2. the core registers and config (table VIRTIO_CORE), then per queue before the first with vring.num == 0
//     (table VIRTIO_QUEUE)
//  3. the device's own part: vdc->save (virtio-blk: its request list) or vdc->vmsd ("virtio-net-device")
//  4. the subsections of vmstate "virtio" (tables VIRTIO_SUBSECTIONS, TRANSPORT_SUBSECTIONS), then the footer.
//
// The fixed layouts are field tables in src/model/qemu-vmstate.ts (read by vmsd-fields.ts); the device parts are
// parsed by the parsers registered by (vmsd name, version) in device-parts.ts (virtio-net.ts, virtio-blk.ts); the
// subsection chain by virtio-subsections.ts; a device part with no parser (or one that does not match) is walked by
// the bounded search of chain-search.ts. The part and the chain are read into fresh objects, merged into the device
// only when the whole section has parsed.
import type { Transport } from '../../events/types.js';
import { PCI_MODERN_DEVICE_ID_BASE, featureBit } from '../../model/index.js';
import { MSIX_CAP, PCI_CAP_ID, findPciCapability } from '../../model/pci-capabilities.js';
import { qemuDeviceByVmsd, qemuIdName, qemuMmioDeviceId } from '../../model/qemu-names.js';
import { MSI_NO_VECTOR, PCIE_CONFIG_SPACE_SIZE, PCI_CONFIG_SPACE_SIZE, PCI_ID_OFFSETS } from '../../model/registers.js';
import { isLegacyTransport } from '../../model/transports.js';
import { VIRTIO_CORE, VIRTIO_MMIO_SAVE_CONFIG, VIRTIO_QUEUE, VIRTIO_QUEUE_MAX } from '../../model/qemu-vmstate.js';
import { type FooterContext, findChain } from './chain-search.js';
import { Cursor, QemuStreamError, be32At, hex } from './cursor.js';
import { DECODED_PARTS, devicePartParser } from './device-parts.js';
import type { BlkDevicePart } from './virtio-blk.js';
import type { NetDevicePart } from './virtio-net.js';
import type { BalloonDevicePart, EmptyDevicePart } from './virtio-small.js';
import { type ChainResult, readSubsectionChain } from './virtio-subsections.js';
import { readFields } from './vmsd-fields.js';

export type { BlkDevicePart } from './virtio-blk.js';
export type { NetDevicePart } from './virtio-net.js';
export type { BalloonDevicePart, EmptyDevicePart } from './virtio-small.js';
export { VIRTIO_QUEUE_MAX, VQ_ELEMENT_OLD_SIZE } from '../../model/qemu-vmstate.js';

const VIRTQUEUE_MAX_SIZE = 1024;
const MSIX_ENTRY_SIZE = MSIX_CAP.TABLE_ENTRY_SIZE;
const VIRTIO_NO_VECTOR = MSI_NO_VECTOR;
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
  device: NetDevicePart | BlkDevicePart | BalloonDevicePart | EmptyDevicePart | WalkedDevicePart;
  /** the core, the bus parts and the subsection chain were decoded through to the footer */
  complete: boolean;
  notes: string[];
}

/** What the section walker needs from the stream parser. */
export interface SectionContext extends FooterContext {
  idstr: string;
  instance: number;
  version: number;
  offset: number;
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
  const type = qemuDeviceByVmsd(n.vmsdName)!.type;
  if (n.bus === 'pci') return `${qemuIdName(type, 'pci')}@${n.pciAddress}`;
  return qemuMmioDeviceId(type, n.mmioBase!);
}

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
  const f = readFields(c, VIRTIO_MMIO_SAVE_CONFIG, {}, 'virtio-mmio');
  const guestPageShift = f.num('guest_page_shift');
  if (guestPageShift > 31) throw c.error(`virtio-mmio guest_page_shift ${guestPageShift} is not a shift`, f.at('guest_page_shift'));
  dev.mmio = { hostFeaturesSel: f.num('host_features_sel'), guestFeaturesSel: f.num('guest_features_sel'), guestPageShift, version: 1 };
}

/** Merges what the subsection chain said into the device. */
function mergeChain(dev: QemuVirtioDevice, r: ChainResult): void {
  dev.subsections.push(...r.subsections);
  if (r.deviceEndian !== undefined) dev.deviceEndian = r.deviceEndian;
  if (r.guestFeatures64 !== undefined) {
    dev.guestFeatures = r.guestFeatures64;
    dev.hostFeatureHints.above32 = true;
  }
  if (r.rings) {
    dev.hostFeatureHints.version1 = true;
    for (const q of dev.queues) Object.assign(q, { avail: r.rings[q.index]!.avail, used: r.rings[q.index]!.used, addresses: 'virtqueues' });
  }
  if (r.numDefault) for (const q of dev.queues) q.sizeDefault = r.numDefault[q.index]!;
  if (r.broken !== undefined) dev.broken = r.broken;
  if (r.started !== undefined) dev.started = r.started;
  if (r.disabled !== undefined) dev.disabled = r.disabled;
  if (r.packed) {
    dev.hostFeatureHints.ringPacked = true;
    for (const q of dev.queues) Object.assign(q, r.packed[q.index]!);
  }
  const t = r.transport;
  if (t) {
    if (t.deviceFeatureSelect !== undefined) {
      dev.deviceFeatureSelect = t.deviceFeatureSelect;
      dev.driverFeatureSelect = t.driverFeatureSelect!;
    }
    if (t.name === 'virtio_mmio/state') dev.mmio!.version = 2;
    dev.driverFeatures = t.driverFeatures;
    for (const q of dev.queues) {
      q.transport = { ...t.queues[q.index]! };
      q.enabled = q.transport.enabled;
    }
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
    qemuType: qemuIdName(known.type, name.bus),
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
  const core = readFields(c, VIRTIO_CORE, {}, 'virtio');
  dev.status = core.num('status');
  dev.isr = core.num('isr');
  dev.queueSel = core.num('queue_sel');
  if (dev.queueSel >= VIRTIO_QUEUE_MAX) throw c.error(`queue_sel ${dev.queueSel} >= VIRTIO_QUEUE_MAX (virtio_load refuses it)`, core.at('queue_sel'));
  dev.guestFeatures = BigInt(core.num('guest_features'));
  dev.config = core.bytes('config');
  const num = core.num('num');
  if (num > VIRTIO_QUEUE_MAX) throw c.error(`Invalid number of virtqueues: ${hex(num)}`, core.at('num'));
  dev.numQueues = num;
  const flags = { mmio: name.bus === 'mmio', msix: dev.pci?.msix !== undefined };
  for (let i = 0; i < num; i++) {
    const q = readFields(c, VIRTIO_QUEUE, flags, `vq ${i}`);
    const size = q.num('num');
    if (size === 0 || size > VIRTQUEUE_MAX_SIZE) throw c.error(`vq ${i} num ${size}: QEMU saves queues with 1..${VIRTQUEUE_MAX_SIZE} entries`, q.at('num'));
    const desc = q.big('desc');
    const lastAvailIdx = q.num('last_avail_idx');
    if (desc === 0n && lastAvailIdx !== 0) throw c.error(`VQ ${i} address 0x0 inconsistent with Host index ${hex(lastAvailIdx)}`, q.at('last_avail_idx'));
    dev.queues.push({
      index: i, size, sizeDefault: size, ...(q.has('align') ? { align: q.num('align') } : {}), desc, avail: 0n, used: 0n,
      addresses: 'none', lastAvailIdx, usedIdx: null, ...(q.has('vector') ? { vector: q.num('vector') } : {}), enabled: desc !== 0n,
    });
  }
  const partStart = c.pos;
  let chain: ChainResult;
  try {
    const parse = devicePartParser(name.vmsdName, ctx.version);
    if (!parse) throw c.error(`${name.vmsdName} version ${ctx.version}: devrec decodes ${DECODED_PARTS} device parts only`);
    const part = parse(c, { numQueues: dev.numQueues, guestFeatures: dev.guestFeatures, sid: ctx.sid });
    chain = readSubsectionChain(c, dev.bus);
    const next = c.peek();
    if (next !== SECTION_FOOTER) throw c.error(`byte ${hex(next)} after the virtio subsections: expected the section footer 0x7e`);
    c.need(5, 'section footer');
    if (be32At(c.buf, c.pos + 1) !== ctx.sid) throw c.error(`section footer names section ${be32At(c.buf, c.pos + 1)}, not ${ctx.sid}`);
    dev.device = part;
  } catch (e) {
    if (!(e instanceof QemuStreamError)) throw e;
    dev.notes.push(`device part not decoded (${e.reason} at offset ${e.offset}); walked instead`);
    c.pos = partStart;
    const found = findChain(c, dev.bus, ctx, partStart);
    chain = found.chain;
    dev.device = { kind: 'walked', offset: c.base + partStart, length: found.walked, how: 'bounded search for the virtio/ subsection chain' };
  }
  mergeChain(dev, chain);
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
