// PCI capabilities, as data: the capability ids devrec names (standard list and PCIe extended list), the sizes of
// those whose length is not in the capability itself, the MSI-X capability layout, and virtio's vendor capability
// (struct virtio_pci_cap: field offsets and cfg_type values). One walker of the standard list serves every reader
// of a recorded config space. Sources: PCI Local Bus 3.0 6.7 (capabilities list: status bit 4, pointer at 0x34)
// and 6.8.2 (MSI-X); PCI Express Base 4.0 7.6 (extended capabilities from 0x100); virtio 1.3 4.1.4 (virtio
// structure PCI capabilities; Linux include/uapi/linux/virtio_pci.h VIRTIO_PCI_CAP_*).
import { PCI_CAPABILITY_LIST, PCI_STATUS, PCI_STATUS_OFFSET } from './registers.js';

export interface PciCapabilityKind {
  readonly id: number;
  /** Linux's PCI_CAP_ID_* / PCI_EXT_CAP_ID_* short name */
  readonly name: string;
  /** bytes it occupies when that is fixed (the capability carries no length of its own) */
  readonly size?: number;
}

/** Standard capability ids (PCI 3.0 appendix H; Linux include/uapi/linux/pci_regs.h PCI_CAP_ID_*). */
export const PCI_CAPABILITY_KINDS: readonly PciCapabilityKind[] = [
  { id: 0x01, name: 'PM', size: 8 },
  { id: 0x05, name: 'MSI', size: 24 },
  { id: 0x09, name: 'VNDR' },
  { id: 0x10, name: 'EXP', size: 60 },
  { id: 0x11, name: 'MSIX', size: 12 },
  { id: 0x12, name: 'SATA' },
  { id: 0x13, name: 'AF' },
];

/** PCIe extended capability ids (PCIe 4.0 7.6; pci_regs.h PCI_EXT_CAP_ID_*). */
export const PCIE_EXT_CAPABILITY_KINDS: readonly PciCapabilityKind[] = [
  { id: 0x01, name: 'AER', size: 72 },
  { id: 0x03, name: 'DSN', size: 12 },
  { id: 0x0b, name: 'VSEC' },
  { id: 0x0d, name: 'ACS' },
  { id: 0x0e, name: 'ARI', size: 8 },
  { id: 0x0f, name: 'ATS', size: 8 },
  { id: 0x10, name: 'SR-IOV', size: 64 },
  { id: 0x13, name: 'PRI', size: 16 },
  { id: 0x1b, name: 'PASID', size: 8 },
];

const kindOf = (kinds: readonly PciCapabilityKind[], name: string): number => kinds.find((k) => k.name === name)!.id;

/** The ids code refers to by name. */
export const PCI_CAP_ID = {
  MSI: kindOf(PCI_CAPABILITY_KINDS, 'MSI'),
  VENDOR: kindOf(PCI_CAPABILITY_KINDS, 'VNDR'),
  EXP: kindOf(PCI_CAPABILITY_KINDS, 'EXP'),
  MSIX: kindOf(PCI_CAPABILITY_KINDS, 'MSIX'),
} as const;
export const PCIE_EXT_CAP_ID = { PASID: kindOf(PCIE_EXT_CAPABILITY_KINDS, 'PASID') } as const;

const byId = (kinds: readonly PciCapabilityKind[]) => new Map(kinds.map((k) => [k.id, k]));
const STANDARD = byId(PCI_CAPABILITY_KINDS);
const EXTENDED = byId(PCIE_EXT_CAPABILITY_KINDS);
export const pciCapabilityKind = (id: number): PciCapabilityKind | undefined => STANDARD.get(id);
export const pcieExtCapabilityKind = (id: number): PciCapabilityKind | undefined => EXTENDED.get(id);

/** MSI-X capability (PCI 3.0 6.8.2): offsets from the capability start, and message control bits. */
export const MSIX_CAP = {
  MESSAGE_CONTROL: 2,
  TABLE: 4,
  PBA: 8,
  /** message control bit 15 */
  ENABLE: 0x8000,
  /** message control bit 14 */
  FUNCTION_MASK: 0x4000,
  /** message control bits 10:0 hold table size - 1 */
  TABLE_SIZE_MASK: 0x07ff,
  /** table and PBA offset registers: BAR indicator in bits 2:0, offset above */
  BIR_MASK: 0x7,
  /** bytes per table entry, and pending bits per le64 PBA word */
  TABLE_ENTRY_SIZE: 16,
  PBA_BITS_PER_QWORD: 64,
} as const;

/**
 * virtio vendor capability cfg_type values (virtio 1.3 4.1.4; VIRTIO_PCI_CAP_*): `region` is the register region
 * the structure holds, `inBar` whether it is a structure in a BAR (PCI_CFG is a window in config space itself).
 */
export const VIRTIO_PCI_CAP_TYPE = [
  { value: 1, name: 'VIRTIO_PCI_CAP_COMMON_CFG', short: 'COMMON_CFG', region: 'common-cfg', inBar: true },
  { value: 2, name: 'VIRTIO_PCI_CAP_NOTIFY_CFG', short: 'NOTIFY_CFG', region: 'notify', inBar: true },
  { value: 3, name: 'VIRTIO_PCI_CAP_ISR_CFG', short: 'ISR_CFG', region: 'isr', inBar: true },
  { value: 4, name: 'VIRTIO_PCI_CAP_DEVICE_CFG', short: 'DEVICE_CFG', region: 'device-cfg', inBar: true },
  { value: 5, name: 'VIRTIO_PCI_CAP_PCI_CFG', short: 'PCI_CFG', region: 'pci-cfg-space', inBar: false },
  { value: 8, name: 'VIRTIO_PCI_CAP_SHARED_MEMORY_CFG', short: 'SHARED_MEMORY_CFG', region: undefined, inBar: true },
  { value: 9, name: 'VIRTIO_PCI_CAP_VENDOR_CFG', short: 'VENDOR_CFG', region: undefined, inBar: true },
] as const;

export type VirtioPciCapType = (typeof VIRTIO_PCI_CAP_TYPE)[number];
const CAP_TYPES = new Map<number, VirtioPciCapType>(VIRTIO_PCI_CAP_TYPE.map((t) => [t.value, t]));
export const virtioPciCapType = (value: number): VirtioPciCapType | undefined => CAP_TYPES.get(value);

/** struct virtio_pci_cap field offsets from the capability start. */
export const VIRTIO_PCI_CAP = {
  CAP_VNDR: 0, CAP_NEXT: 1, CAP_LEN: 2, CFG_TYPE: 3, BAR: 4, ID: 5, OFFSET: 8, LENGTH: 12,
  /** sizeof(struct virtio_pci_cap) */
  SIZE: 16,
  /** virtio_pci_notify_cap.notify_off_multiplier */
  NOTIFY_OFF_MULTIPLIER: 16,
} as const;

/** Standard capabilities sit after the 64-byte header; a pointer's low two bits are reserved. */
export const PCI_CAP_MIN_OFFSET = 0x40;
export const PCI_CAP_POINTER_MASK = 0xfc;
/** Linux's PCI_FIND_CAP_TTL: no real list is longer, so a loop in a damaged one ends here. */
export const PCI_CAP_TTL = 48;
/** PCIe extended capabilities start at 0x100 (le32 header: id 15:0, version 19:16, next 31:20). */
export const PCIE_EXT_CAP_START = 0x100;

/** The config space holds a capability list: the status register's capabilities-list bit is set. */
export function hasCapabilityList(config: Uint8Array): boolean {
  return config.length >= PCI_CAP_MIN_OFFSET && (config[PCI_STATUS_OFFSET]! & PCI_STATUS.CAP_LIST) !== 0;
}

export interface PciCapabilityLink {
  offset: number;
  id: number;
  /** cap_next as recorded (reserved bits cleared) */
  next: number;
}

/**
 * The standard capability list as recorded: each capability's offset, id and next pointer. Walks only recorded
 * bytes and never loops (visited set and PCI_CAP_TTL). Empty when there is no list.
 */
export function pciCapabilityList(config: Uint8Array): PciCapabilityLink[] {
  const out: PciCapabilityLink[] = [];
  if (!hasCapabilityList(config)) return out;
  const seen = new Set<number>();
  let ptr = config[PCI_CAPABILITY_LIST]! & PCI_CAP_POINTER_MASK;
  while (ptr >= PCI_CAP_MIN_OFFSET && ptr + 2 <= config.length && !seen.has(ptr) && out.length < PCI_CAP_TTL) {
    seen.add(ptr);
    const next = config[ptr + 1]! & PCI_CAP_POINTER_MASK;
    out.push({ offset: ptr, id: config[ptr]!, next });
    ptr = next;
  }
  return out;
}

/** Offset of the first capability with this id, or undefined. */
export function findPciCapability(config: Uint8Array, id: number): number | undefined {
  return pciCapabilityList(config).find((c) => c.id === id)?.offset;
}
