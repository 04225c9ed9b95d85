// The standard PCI capability list of a recorded config space (PCI Local Bus 3.0 6.7: status bit 4, pointer at
// 0x34), with virtio's vendor capabilities (struct virtio_pci_cap, virtio 1.3 4.1.4) decoded. Walks only bytes
// that were recorded, never loops (visited set and a 48-entry bound, as Linux's PCI_FIND_CAP_TTL).
import type { PciCapabilityMsg } from './schema.js';

const PCI_STATUS = 0x06;
const PCI_STATUS_CAP_LIST = 0x10;
const PCI_CAPABILITY_LIST = 0x34;
const PCI_CAP_ID_VNDR = 0x09;
const TTL = 48;

export const PCI_CAP_NAMES: Readonly<Record<number, string>> = {
  0x01: 'PM', 0x05: 'MSI', 0x09: 'VNDR', 0x10: 'EXP', 0x11: 'MSIX', 0x12: 'SATA', 0x13: 'AF',
};
export const VIRTIO_CFG_TYPES: Readonly<Record<number, string>> = {
  1: 'COMMON_CFG', 2: 'NOTIFY_CFG', 3: 'ISR_CFG', 4: 'DEVICE_CFG', 5: 'PCI_CFG', 8: 'SHARED_MEMORY_CFG', 9: 'VENDOR_CFG',
};

export function pciCapabilities(config: Uint8Array): PciCapabilityMsg[] {
  const caps: PciCapabilityMsg[] = [];
  if (config.length <= PCI_CAPABILITY_LIST || !(config[PCI_STATUS]! & PCI_STATUS_CAP_LIST)) return caps;
  const dv = new DataView(config.buffer, config.byteOffset, config.byteLength);
  const seen = new Set<number>();
  let ptr = config[PCI_CAPABILITY_LIST]! & 0xfc;
  while (ptr >= 0x40 && ptr + 2 <= config.length && !seen.has(ptr) && caps.length < TTL) {
    seen.add(ptr);
    const id = config[ptr]!;
    const next = config[ptr + 1]! & 0xfc;
    const cap: PciCapabilityMsg = { offset: ptr, id, next, length: 0, virtioCfgType: 0, bar: 0, barOffset: 0, barLength: 0 };
    if (id === PCI_CAP_ID_VNDR && ptr + 3 <= config.length) {
      cap.length = config[ptr + 2]!;
      if (ptr + 16 <= config.length && cap.length >= 16) {
        cap.virtioCfgType = config[ptr + 3]!;
        cap.bar = config[ptr + 4]!;
        cap.barOffset = dv.getUint32(ptr + 8, true);
        cap.barLength = dv.getUint32(ptr + 12, true);
      }
    }
    caps.push(cap);
    ptr = next;
  }
  return caps;
}
