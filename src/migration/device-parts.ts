// Virtio device parts (virtio 1.4 draft, device-parts.tex and admin-cmds-device-parts.tex), byte-exact: each part
// is a 16-byte struct virtio_dev_part_hdr followed by `length` bytes of value, all little-endian. A DEVICE_DATA
// record holds a run of parts exactly as VIRTIO_ADMIN_CMD_DEV_PARTS_GET returns them, so a virtio-vfio style
// target can hand it to DEV_PARTS_SET.
import { PCI_COMMON_CFG } from '../model/registers.js';
import { MigrationFormatError, type OffsetMap } from './format.js';

export const PART = {
  DEV_FEATURES: 0x100,
  DRV_FEATURES: 0x101,
  PCI_COMMON_CFG: 0x102,
  DEVICE_STATUS: 0x103,
  VQ_CFG: 0x104,
  VQ_NOTIFY_CFG: 0x105,
  /** virtio-net: VIRTIO_NET_DEV_PART_CVQ_CFG_PART (device-type specific range 0x200-0x5ff) */
  NET_CVQ_CFG: 0x200,
} as const;

export const PART_NAMES: Readonly<Record<number, string>> = {
  0x100: 'VIRTIO_DEV_PART_DEV_FEATURES',
  0x101: 'VIRTIO_DEV_PART_DRV_FEATURES',
  0x102: 'VIRTIO_DEV_PART_PCI_COMMON_CFG',
  0x103: 'VIRTIO_DEV_PART_DEVICE_STATUS',
  0x104: 'VIRTIO_DEV_PART_VQ_CFG',
  0x105: 'VIRTIO_DEV_PART_VQ_NOTIFY_CFG',
};

export function partName(type: number, deviceType: string): string {
  if (type === PART.NET_CVQ_CFG && deviceType === 'net') return 'VIRTIO_NET_DEV_PART_CVQ_CFG_PART';
  return PART_NAMES[type] ?? `part_0x${type.toString(16)}`;
}

export const PART_HDR_SIZE = 16;
export const PART_F_OPTIONAL = 1;
export const VQ_CFG_SIZE = 32;
export const VQ_NOTIFY_CFG_SIZE = 8;
/** Feature parts hold le64 words; 32 words (2048 bits) is far beyond any virtio feature space. */
export const MAX_FEATURE_WORDS = 32;
/** virtio-net CVQ command data: the largest defined (MAC_TABLE_SET, RSS_CONFIG) stays well under this. */
export const MAX_CVQ_DATA = 65536;

/**
 * struct virtio_pci_common_cfg fields devrec carries as VIRTIO_DEV_PART_PCI_COMMON_CFG parts (one part per
 * offset), by offset; offsets and widths from the register map. Device status has its own part and the per-queue
 * fields are VQ_CFG / VQ_NOTIFY_CFG.
 */
const CARRIED_COMMON_CFG = ['device_feature_select', 'driver_feature_select', 'config_msix_vector', 'num_queues', 'queue_select'] as const;
export const COMMON_CFG_FIELDS: Readonly<Record<number, { name: (typeof CARRIED_COMMON_CFG)[number]; width: 1 | 2 | 4 }>> = Object.fromEntries(
  CARRIED_COMMON_CFG.map((name) => {
    const r = PCI_COMMON_CFG.find((x) => x.name === name)!;
    return [r.offset, { name, width: r.size as 1 | 2 | 4 }];
  }));

export type DevicePart =
  | { type: 0x100 | 0x101; flags: number; words: bigint[] }
  | { type: 0x102; flags: number; cfgOffset: number; width: number; value: number }
  | { type: 0x103; flags: number; status: number }
  | { type: 0x104; flags: number; index: number; queueSize: number; vector: number; enabled: number; desc: bigint; driver: bigint; device: bigint }
  | { type: 0x105; flags: number; index: number; notifyOff: number; notifConfigData: number }
  | { type: 0x200; flags: number; class: number; command: number; data: Uint8Array }
  | { type: number; flags: number; unknown: true; selector: Uint8Array; value: Uint8Array };

export type LocatedPart = DevicePart & { offset: number; length: number };

function header(type: number, flags: number, selector: Uint8Array, length: number): Uint8Array {
  const h = new Uint8Array(PART_HDR_SIZE);
  const dv = new DataView(h.buffer);
  dv.setUint16(0, type, true);
  h[2] = flags;
  h[3] = 0;
  h.set(selector, 4);
  dv.setUint32(12, length, true);
  return h;
}

function withHeader(type: number, flags: number, selector: Uint8Array, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(PART_HDR_SIZE + value.length);
  out.set(header(type, flags, selector, value.length), 0);
  out.set(value, PART_HDR_SIZE);
  return out;
}

const NO_SELECTOR = new Uint8Array(8);

function vqSelector(index: number): Uint8Array {
  const s = new Uint8Array(8);
  new DataView(s.buffer).setUint16(0, index, true);
  return s;
}

export function encodeFeaturesPart(type: 0x100 | 0x101, words: bigint[]): Uint8Array {
  const v = new Uint8Array(8 * words.length);
  const dv = new DataView(v.buffer);
  words.forEach((w, i) => dv.setBigUint64(8 * i, w, true));
  return withHeader(type, type === PART.DEV_FEATURES ? PART_F_OPTIONAL : 0, NO_SELECTOR, v);
}

export function encodeCommonCfgPart(offset: number, value: number): Uint8Array {
  const field = COMMON_CFG_FIELDS[offset];
  if (!field) throw new RangeError(`common cfg offset ${offset} is not one devrec carries`);
  const sel = new Uint8Array(8);
  new DataView(sel.buffer).setUint32(0, offset, true);
  const v = new Uint8Array(field.width);
  const dv = new DataView(v.buffer);
  if (field.width === 4) dv.setUint32(0, value, true);
  else if (field.width === 2) dv.setUint16(0, value, true);
  else v[0] = value;
  return withHeader(PART.PCI_COMMON_CFG, 0, sel, v);
}

export function encodeStatusPart(status: number): Uint8Array {
  return withHeader(PART.DEVICE_STATUS, 0, NO_SELECTOR, Uint8Array.of(status));
}

export interface VqCfg { index: number; queueSize: number; vector: number; enabled: number; desc: bigint; driver: bigint; device: bigint }

export function encodeVqCfgPart(q: VqCfg): Uint8Array {
  const v = new Uint8Array(VQ_CFG_SIZE);
  const dv = new DataView(v.buffer);
  dv.setUint16(0, q.queueSize, true);
  dv.setUint16(2, q.vector, true);
  dv.setUint16(4, q.enabled, true);
  dv.setUint16(6, 0, true);
  dv.setBigUint64(8, q.desc, true);
  dv.setBigUint64(16, q.driver, true);
  dv.setBigUint64(24, q.device, true);
  return withHeader(PART.VQ_CFG, 0, vqSelector(q.index), v);
}

export function encodeVqNotifyPart(index: number, notifyOff: number, notifConfigData: number): Uint8Array {
  const v = new Uint8Array(VQ_NOTIFY_CFG_SIZE);
  const dv = new DataView(v.buffer);
  dv.setUint16(0, notifyOff, true);
  dv.setUint16(2, notifConfigData, true);
  return withHeader(PART.VQ_NOTIFY_CFG, 0, vqSelector(index), v);
}

export function encodeNetCvqPart(cls: number, command: number, data: Uint8Array): Uint8Array {
  return withHeader(PART.NET_CVQ_CFG, 0, Uint8Array.of(cls, command, 0, 0, 0, 0, 0, 0), data);
}

/** Rank in the mandatory order (admin-cmds-device-parts.tex "Device parts order"); device-type parts come last. */
export function partRank(type: number): number {
  return type >= 0x100 && type <= 0x105 ? type - 0x100 : 6;
}

function allZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

/**
 * Decodes a run of device parts (the data of one DEVICE_DATA record). `base` is the offset of `data` in the
 * devrec stream; every error names the part's offset through `map`. Unknown part types are returned as such
 * (the caller decides: skip when optional, refuse when mandatory).
 */
export function decodeParts(data: Uint8Array, base: number, deviceType: string, map: OffsetMap, tag: number): LocatedPart[] {
  const parts: LocatedPart[] = [];
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const fail = (at: number, reason: string): never => {
    throw new MigrationFormatError(map(base + at), reason, tag);
  };
  // the part being decoded (read by exactFail)
  let pos = 0;
  let length = 0;
  let name = '';
  const exactFail = (n: number): never => fail(pos + 12, `${name} length is ${length}, the spec layout is ${n} bytes`);
  while (pos < data.length) {
    const left = data.length - pos;
    if (left < PART_HDR_SIZE) fail(pos, `truncated device part header: ${left} of ${PART_HDR_SIZE} bytes`);
    const type = dv.getUint16(pos, true);
    const flags = data[pos + 2]!;
    const reserved = data[pos + 3]!;
    const selector = data.subarray(pos + 4, pos + 12);
    length = dv.getUint32(pos + 12, true);
    name = partName(type, deviceType);
    if (length > left - PART_HDR_SIZE) fail(pos + 12, `${name} length ${length} runs past the record: ${left - PART_HDR_SIZE} bytes follow its header`);
    if ((flags & ~PART_F_OPTIONAL) !== 0) fail(pos + 2, `${name} has reserved flag bits 0x${(flags & ~PART_F_OPTIONAL).toString(16)} set`);
    if (reserved !== 0) fail(pos + 3, `${name} reserved byte is 0x${reserved.toString(16)}, not 0`);
    const value = data.subarray(pos + PART_HDR_SIZE, pos + PART_HDR_SIZE + length);
    const vdv = new DataView(value.buffer, value.byteOffset, value.byteLength);
    const at = base + pos;
    let part: DevicePart;
    switch (type) {
      case PART.DEV_FEATURES:
      case PART.DRV_FEATURES: {
        if (!allZero(selector)) fail(pos + 4, `${name} selector is reserved and must be zero`);
        if (length % 8 !== 0) fail(pos + 12, `${name} length ${length} is not a whole number of le64 feature words`);
        if (length / 8 > MAX_FEATURE_WORDS) fail(pos + 12, `${name} holds ${length / 8} feature words, over the cap of ${MAX_FEATURE_WORDS}`);
        const words: bigint[] = [];
        for (let i = 0; i < length; i += 8) words.push(vdv.getBigUint64(i, true));
        part = { type, flags, words };
        break;
      }
      case PART.PCI_COMMON_CFG: {
        const offset = dv.getUint32(pos + 4, true);
        if (dv.getUint32(pos + 8, true) !== 0) fail(pos + 8, `${name} selector.pci_common_cfg.reserved must be zero`);
        const field = COMMON_CFG_FIELDS[offset];
        if (!field) {
          part = { type, flags, unknown: true, selector: selector.slice(), value: value.slice() };
          break;
        }
        if (length !== field.width) exactFail(field.width);
        const v = field.width === 4 ? vdv.getUint32(0, true) : field.width === 2 ? vdv.getUint16(0, true) : value[0]!;
        part = { type, flags, cfgOffset: offset, width: field.width, value: v };
        break;
      }
      case PART.DEVICE_STATUS:
        if (!allZero(selector)) fail(pos + 4, `${name} selector is reserved and must be zero`);
        if (length !== 1) exactFail(1);
        part = { type, flags, status: value[0]! };
        break;
      case PART.VQ_CFG: {
        if (!allZero(selector.subarray(2))) fail(pos + 6, `${name} selector.vq_index.reserved must be zero`);
        const index = dv.getUint16(pos + 4, true);
        if (length !== VQ_CFG_SIZE) exactFail(VQ_CFG_SIZE);
        if (vdv.getUint16(6, true) !== 0) fail(pos + PART_HDR_SIZE + 6, `${name} reserved field must be zero`);
        part = {
          type, flags, index, queueSize: vdv.getUint16(0, true), vector: vdv.getUint16(2, true), enabled: vdv.getUint16(4, true),
          desc: vdv.getBigUint64(8, true), driver: vdv.getBigUint64(16, true), device: vdv.getBigUint64(24, true),
        };
        if (part.enabled > 1) fail(pos + PART_HDR_SIZE + 4, `${name} enabled is ${part.enabled}, not 0 or 1`);
        break;
      }
      case PART.VQ_NOTIFY_CFG: {
        if (!allZero(selector.subarray(2))) fail(pos + 6, `${name} selector.vq_index.reserved must be zero`);
        const index = dv.getUint16(pos + 4, true);
        if (length !== VQ_NOTIFY_CFG_SIZE) exactFail(VQ_NOTIFY_CFG_SIZE);
        if (!allZero(value.subarray(4))) fail(pos + PART_HDR_SIZE + 4, `${name} reserved bytes must be zero`);
        part = { type, flags, index, notifyOff: vdv.getUint16(0, true), notifConfigData: vdv.getUint16(2, true) };
        break;
      }
      case PART.NET_CVQ_CFG:
        if (deviceType === 'net') {
          if (!allZero(selector.subarray(2))) fail(pos + 6, `${name} selector reserved bytes must be zero`);
          if (length > MAX_CVQ_DATA) fail(pos + 12, `${name} length ${length} is over the ${MAX_CVQ_DATA}-byte cap`);
          part = { type, flags, class: selector[0]!, command: selector[1]!, data: value.slice() };
          break;
        }
        part = { type, flags, unknown: true, selector: selector.slice(), value: value.slice() };
        break;
      default:
        part = { type, flags, unknown: true, selector: selector.slice(), value: value.slice() };
    }
    parts.push({ ...part, offset: at, length } as LocatedPart);
    pos += PART_HDR_SIZE + length;
  }
  return parts;
}

export function isUnknownPart(p: DevicePart): p is Extract<DevicePart, { unknown: true }> {
  return 'unknown' in p;
}
