// The capability chain of a recorded PCI config space, as a layout (space, id, offset, length): the standard list
// (src/migration/pci-caps.ts) and the PCIe extended list from 0x100 (PCIe base spec 7.6: le32 header, id in bits
// 15:0, version 19:16, next 31:20). PASID also gives its Max PASID Width. Ids, names and sizes:
// src/model/pci-capabilities.ts.
import {
  PCIE_EXT_CAP_ID, PCIE_EXT_CAP_START, hasCapabilityList, pciCapabilityKind, pcieExtCapabilityKind,
} from '../model/pci-capabilities.js';
import { pciCapabilities } from '../migration/pci-caps.js';

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

/** The capability chain, when the recorded config space holds one (status register bit 4), else null (unknown). */
export function recordedCapabilityChain(config: Uint8Array | undefined): Capability[] | null {
  return config && hasCapabilityList(config) ? capabilityChain(config) : null;
}

export function capabilityChain(config: Uint8Array): Capability[] {
  const out: Capability[] = [];
  for (const c of pciCapabilities(config)) {
    const kind = pciCapabilityKind(c.id);
    out.push({ space: 'pci', id: c.id, offset: c.offset, length: c.length || kind?.size || 0, ...(kind ? { name: kind.name } : {}) });
  }
  if (config.length >= PCIE_EXT_CAP_START + 4) {
    const dv = new DataView(config.buffer, config.byteOffset, config.byteLength);
    const seen = new Set<number>();
    let ptr = PCIE_EXT_CAP_START;
    while (ptr >= PCIE_EXT_CAP_START && ptr + 4 <= config.length && !seen.has(ptr) && seen.size < 96) {
      seen.add(ptr);
      const h = dv.getUint32(ptr, true);
      if (h === 0 || h === 0xffffffff) break;
      const id = h & 0xffff;
      const kind = pcieExtCapabilityKind(id);
      const cap: Capability = { space: 'pcie-ext', id, offset: ptr, length: kind?.size ?? 4, ...(kind ? { name: kind.name } : {}) };
      if (id === PCIE_EXT_CAP_ID.PASID && ptr + 6 <= config.length) cap.pasidWidth = (dv.getUint16(ptr + 4, true) >> 8) & 0x1f;
      out.push(cap);
      ptr = (h >>> 20) & 0xffc;
    }
  }
  return out;
}

export function capName(c: Capability): string {
  const n = c.name ?? (c.space === 'pci' ? pciCapabilityKind(c.id) : pcieExtCapabilityKind(c.id))?.name;
  return `${n ?? 'cap'} (${c.space === 'pci' ? '' : 'extended '}id 0x${c.id.toString(16)})`;
}
