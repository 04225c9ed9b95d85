// The capability chain of a recorded PCI config space, as a layout (space, id, offset, length): the standard list
// (src/migration/pci-caps.ts) and the PCIe extended list from 0x100 (PCIe base spec 7.6: le32 header, id in bits
// 15:0, version 19:16, next 31:20). PASID (extended id 0x1b) also gives its Max PASID Width.
import { PCI_CAP_NAMES, pciCapabilities } from '../migration/pci-caps.js';

export interface Capability {
  space: 'pci' | 'pcie-ext';
  id: number;
  offset: number;
  /** bytes the capability occupies (vendor caps: their length byte; others: up to the next capability) */
  length: number;
  name?: string;
  /** PASID only: Max PASID Width (bits) */
  pasidWidth?: number;
}

export const PCIE_EXT_CAP_PASID = 0x1b;
export const PCIE_EXT_NAMES: Readonly<Record<number, string>> = {
  0x01: 'AER', 0x03: 'DSN', 0x0b: 'VSEC', 0x0d: 'ACS', 0x0e: 'ARI', 0x0f: 'ATS', 0x10: 'SR-IOV', 0x13: 'PRI', 0x1b: 'PASID',
};

/** Fixed sizes of capabilities whose length is not in the capability itself. */
const PCI_SIZES: Readonly<Record<number, number>> = { 0x01: 8, 0x05: 24, 0x10: 60, 0x11: 12 };
const EXT_SIZES: Readonly<Record<number, number>> = { 0x01: 72, 0x03: 12, 0x0e: 8, 0x0f: 8, 0x10: 64, 0x13: 16, 0x1b: 8 };

export function capabilityChain(config: Uint8Array): Capability[] {
  const out: Capability[] = [];
  for (const c of pciCapabilities(config)) {
    out.push({ space: 'pci', id: c.id, offset: c.offset, length: c.length || PCI_SIZES[c.id] || 0, ...(PCI_CAP_NAMES[c.id] ? { name: PCI_CAP_NAMES[c.id]! } : {}) });
  }
  if (config.length >= 0x104) {
    const dv = new DataView(config.buffer, config.byteOffset, config.byteLength);
    const seen = new Set<number>();
    let ptr = 0x100;
    while (ptr >= 0x100 && ptr + 4 <= config.length && !seen.has(ptr) && seen.size < 96) {
      seen.add(ptr);
      const h = dv.getUint32(ptr, true);
      if (h === 0 || h === 0xffffffff) break;
      const id = h & 0xffff;
      const cap: Capability = { space: 'pcie-ext', id, offset: ptr, length: EXT_SIZES[id] ?? 4, ...(PCIE_EXT_NAMES[id] ? { name: PCIE_EXT_NAMES[id]! } : {}) };
      if (id === PCIE_EXT_CAP_PASID && ptr + 6 <= config.length) cap.pasidWidth = (dv.getUint16(ptr + 4, true) >> 8) & 0x1f;
      out.push(cap);
      ptr = (h >>> 20) & 0xffc;
    }
  }
  return out;
}

export function capName(c: Capability): string {
  const n = c.name ?? (c.space === 'pci' ? PCI_CAP_NAMES[c.id] : PCIE_EXT_NAMES[c.id]);
  return `${n ?? 'cap'} (${c.space === 'pci' ? '' : 'extended '}id 0x${c.id.toString(16)})`;
}
