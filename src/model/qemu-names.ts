// QEMU's names for virtio things, in one place: its device names (the vmstate section names of a device-state
// stream, the qdev type names of its PCI proxies) per devrec device type, and the feature names its QMP tables
// print that devrec's catalog (src/model/features.ts) spells otherwise or does not hold. QEMU's feature
// descriptions, whole, are src/model/qemu-feature-descriptions.ts (generated from QEMU binaries).
import { type DeviceTypeName, deviceTypeByName } from './device-types.js';

export interface QemuVirtioDeviceNames {
  readonly type: DeviceTypeName;
  /**
   * vmstate names of the device's section (the part of a section idstr after '/', e.g. `0000:00:02.0/virtio-net`);
   * the first is the one device ids are made from (`<vmsd>-pci@<address>`, `<vmsd>-device@<base>`)
   */
  readonly vmsd: readonly string[];
  /**
   * qdev type of the virtio-pci proxy (pci_cfg_write trace lines name it); devrec's device ids use it for PCI, and
   * its virtio-mmio twin (`-pci` -> `-device`) for mmio, whichever source saw the device
   */
  readonly pci: string;
  /** other concrete proxy types of the same virtio device (hw/virtio/virtio-input-pci.c registers one per kind) */
  readonly pciAlso?: readonly string[];
}

/** Sources: QEMU's hw/virtio (each device's VMSTATE_VIRTIO_DEVICE name and TYPE_*_PCI), as seen in the captures. */
export const QEMU_VIRTIO_DEVICE_NAMES: readonly QemuVirtioDeviceNames[] = [
  { type: 'net', vmsd: ['virtio-net'], pci: 'virtio-net-pci' },
  { type: 'blk', vmsd: ['virtio-blk'], pci: 'virtio-blk-pci' },
  { type: 'console', vmsd: ['virtio-console'], pci: 'virtio-serial-pci' },
  { type: 'rng', vmsd: ['virtio-rng'], pci: 'virtio-rng-pci' },
  { type: 'balloon', vmsd: ['virtio-balloon'], pci: 'virtio-balloon-pci' },
  { type: 'scsi', vmsd: ['virtio-scsi'], pci: 'virtio-scsi-pci' },
  { type: '9p', vmsd: ['virtio-9p'], pci: 'virtio-9p-pci' },
  { type: 'gpu', vmsd: ['virtio-gpu'], pci: 'virtio-gpu-pci', pciAlso: ['virtio-gpu-gl-pci'] },
  {
    type: 'input', vmsd: ['virtio-input'], pci: 'virtio-input-pci',
    pciAlso: ['virtio-keyboard-pci', 'virtio-mouse-pci', 'virtio-tablet-pci', 'virtio-multitouch-pci', 'virtio-input-host-pci'],
  },
  { type: 'vsock', vmsd: ['vhost-vsock', 'vhost-user-vsock'], pci: 'vhost-vsock-pci' },
  { type: 'crypto', vmsd: ['virtio-crypto'], pci: 'virtio-crypto-pci' },
  { type: 'iommu', vmsd: ['virtio-iommu'], pci: 'virtio-iommu-pci' },
  { type: 'mem', vmsd: ['virtio-mem'], pci: 'virtio-mem-pci' },
  { type: 'fs', vmsd: [], pci: 'vhost-user-fs-pci' },
  { type: 'pmem', vmsd: ['virtio-pmem'], pci: 'virtio-pmem-pci' },
];

const BY_VMSD = new Map<string, { type: DeviceTypeName; virtioId: number }>(QEMU_VIRTIO_DEVICE_NAMES.flatMap((d) =>
  d.vmsd.map((v) => [v, { type: d.type, virtioId: deviceTypeByName(d.type)!.id }] as const)));
const BY_PCI = new Map<string, DeviceTypeName>(QEMU_VIRTIO_DEVICE_NAMES.flatMap((d) =>
  [d.pci, ...(d.pciAlso ?? [])].map((p) => [p, d.type] as const)));
const ID_NAME = new Map<string, string>(QEMU_VIRTIO_DEVICE_NAMES.map((d) => [d.type, d.pci]));
// QEMU registers every virtio-pci proxy also as `<type>-transitional` and `<type>-non-transitional`
// (hw/virtio/virtio-pci.c virtio_pci_types_register): to a guest and to devrec the same device
const PCI_VARIANT_SUFFIX = /-(?:non-)?transitional$/;

/** The device type and virtio id of a vmstate section name, or undefined for a section that is not a virtio device's. */
export function qemuDeviceByVmsd(vmsd: string): { type: DeviceTypeName; virtioId: number } | undefined {
  return BY_VMSD.get(vmsd);
}

/** The device type of a virtio-pci proxy's qdev type name (any of its variants), or undefined. */
export function qemuDeviceTypeOfPci(qdevType: string): DeviceTypeName | undefined {
  return BY_PCI.get(qdevType.replace(PCI_VARIANT_SUFFIX, ''));
}

/**
 * The QEMU name a device id starts with (`<name>@<address>`), one per device type whichever source saw the device
 * (a trace names the proxy, a device-state stream the vmsd, QMP the qdev type): `virtio-serial-pci` on PCI,
 * `virtio-serial-device` on virtio-mmio.
 */
export function qemuIdName(type: string, bus: 'pci' | 'mmio'): string {
  const pci = ID_NAME.get(type) ?? `virtio-${type}-pci`;
  return bus === 'pci' ? pci : pci.replace(/-pci$/, '-device');
}

/**
 * A virtio-mmio device's id, whichever source saw it (device-state stream, trace, QMP): its QEMU name and its
 * transport's base in at least 8 hex digits, as QEMU's savevm idstr prints it (`virtio-net-device@feb02e00`).
 */
export function qemuMmioDeviceId(type: string, base: bigint): string {
  return `${qemuIdName(type, 'mmio')}@${base.toString(16).padStart(8, '0')}`;
}

/**
 * Feature names QEMU's QMP tables (hw/virtio/virtio-qmp.c; hw/virtio/virtio.c in 7.2) print that the catalog does
 * not have, with QEMU's own misspellings: the part of an entry before ':' is the name.
 */
export const QEMU_ONLY_FEATURES: Readonly<Record<string, number>> = {
  // vhost-user's bit 30, listed in every device table (VIRTIO_F_BAD_FEATURE on legacy transports)
  VHOST_USER_F_PROTOCOL_FEATURES: 30,
  // vhost-net's bit 27 (VIRTIO_F_ANY_LAYOUT's bit), in the virtio-net table
  VHOST_NET_F_VIRTIO_NET_HDR: 27,
  // misspelled in QEMU's tables
  VIRTIO_I2C_F_ZERO_LEGNTH_REQUEST: 0,
  VIRTIO_MEM_F_PERSISTENT_SUSPND: 2,
  VIRTIO_MEM_F_PERSISTENT_SUSPEND: 2,
};

/** Whole entries whose name part is wrong in QEMU's table (VIRTIO_NET_F_GUEST_USO6 is printed as ..._USO4). */
export const QEMU_ONLY_ENTRIES: Readonly<Record<string, number>> = {
  'VIRTIO_NET_F_GUEST_USO4: Driver can receive USOv6': 55,
};
