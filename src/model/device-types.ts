// Virtio device types: ids, the short names devrec uses, and where the
// virtio 1.3 spec describes them. Source: virtio 1.3 (csd01) chapter 5
// "Device Types" and the PCI discovery table in section 4.1.2.

export interface DeviceType {
  /** Virtio device id (spec chapter 5 table). */
  readonly id: number;
  /** Short name used throughout devrec, e.g. 'net'. */
  readonly name: string;
  /** Title of the device's section in the spec. */
  readonly specName: string;
  /** Spec section number in virtio 1.3. */
  readonly section: string;
  /** Modern (non-transitional) PCI device id: always 0x1040 + id. */
  readonly pciModernDeviceId: number;
  /** Transitional PCI device id, only for the device types that have one. */
  readonly pciTransitionalDeviceId?: number;
}

// Kept as a literal table (not computed) so it reads like the spec; a test
// checks pciModernDeviceId === 0x1040 + id for every row.
// `as const` only to derive DeviceTypeName; DEVICE_TYPES below is the
// widened view callers use (so the optional field reads cleanly).
const TABLE = [
  { id: 1, name: 'net', specName: 'Network Device', section: '5.1', pciModernDeviceId: 0x1041, pciTransitionalDeviceId: 0x1000 },
  { id: 2, name: 'blk', specName: 'Block Device', section: '5.2', pciModernDeviceId: 0x1042, pciTransitionalDeviceId: 0x1001 },
  { id: 3, name: 'console', specName: 'Console Device', section: '5.3', pciModernDeviceId: 0x1043, pciTransitionalDeviceId: 0x1003 },
  { id: 4, name: 'rng', specName: 'Entropy Device', section: '5.4', pciModernDeviceId: 0x1044, pciTransitionalDeviceId: 0x1005 },
  { id: 5, name: 'balloon', specName: 'Traditional Memory Balloon Device', section: '5.5', pciModernDeviceId: 0x1045, pciTransitionalDeviceId: 0x1002 },
  { id: 8, name: 'scsi', specName: 'SCSI Host Device', section: '5.6', pciModernDeviceId: 0x1048, pciTransitionalDeviceId: 0x1004 },
  // 9P has an id (and a transitional PCI id) but no section of its own in
  // the spec; it only appears in the device id table of chapter 5.
  { id: 9, name: '9p', specName: '9P Transport', section: '5', pciModernDeviceId: 0x1049, pciTransitionalDeviceId: 0x1009 },
  { id: 16, name: 'gpu', specName: 'GPU Device', section: '5.7', pciModernDeviceId: 0x1050 },
  { id: 18, name: 'input', specName: 'Input Device', section: '5.8', pciModernDeviceId: 0x1052 },
  { id: 19, name: 'vsock', specName: 'Socket Device', section: '5.10', pciModernDeviceId: 0x1053 },
  { id: 20, name: 'crypto', specName: 'Crypto Device', section: '5.9', pciModernDeviceId: 0x1054 },
  { id: 23, name: 'iommu', specName: 'IOMMU Device', section: '5.13', pciModernDeviceId: 0x1057 },
  { id: 24, name: 'mem', specName: 'Memory Device', section: '5.15', pciModernDeviceId: 0x1058 },
  { id: 25, name: 'sound', specName: 'Sound Device', section: '5.14', pciModernDeviceId: 0x1059 },
  { id: 26, name: 'fs', specName: 'File System Device', section: '5.11', pciModernDeviceId: 0x105a },
  { id: 27, name: 'pmem', specName: 'PMEM Device', section: '5.19', pciModernDeviceId: 0x105b },
  { id: 28, name: 'rpmb', specName: 'RPMB Device', section: '5.12', pciModernDeviceId: 0x105c },
  { id: 32, name: 'scmi', specName: 'SCMI Device', section: '5.17', pciModernDeviceId: 0x1060 },
  { id: 34, name: 'i2c', specName: 'I2C Adapter Device', section: '5.16', pciModernDeviceId: 0x1062 },
  { id: 41, name: 'gpio', specName: 'GPIO Device', section: '5.18', pciModernDeviceId: 0x1069 },
] as const satisfies readonly DeviceType[];

/** Union of the short names above ('net' | 'blk' | ...). */
export type DeviceTypeName = (typeof TABLE)[number]['name'];

export const DEVICE_TYPES: readonly DeviceType[] = TABLE;

const byName = new Map<string, DeviceType>(DEVICE_TYPES.map((d) => [d.name, d]));
const byId = new Map<number, DeviceType>(DEVICE_TYPES.map((d) => [d.id, d]));

export function deviceTypeByName(name: string): DeviceType | undefined {
  return byName.get(name);
}

export function deviceTypeById(id: number): DeviceType | undefined {
  return byId.get(id);
}

// --- PCI identity of virtio devices (virtio 1.3 4.1.2 "PCI Device Discovery") ---------------------------------

/** PCI vendor id of every virtio device. */
export const VIRTIO_PCI_VENDOR = 0x1af4;
/** Modern (non-transitional) device ids are this + the virtio device id. */
export const PCI_MODERN_DEVICE_ID_BASE = 0x1040;
/** Transitional device ids (4.1.2.1): 0x1000 through 0x103f; their subsystem id is the virtio device id. */
export const PCI_TRANSITIONAL_DEVICE_IDS = { first: 0x1000, last: 0x103f } as const;

export function isTransitionalPciId(deviceId: number): boolean {
  return deviceId >= PCI_TRANSITIONAL_DEVICE_IDS.first && deviceId <= PCI_TRANSITIONAL_DEVICE_IDS.last;
}

/** The virtio device id a PCI function says it is (0 when its ids are not a virtio device's). */
export function virtioIdOfPci(deviceId: number, subsystemId: number): number {
  if (deviceId >= PCI_MODERN_DEVICE_ID_BASE) return deviceId - PCI_MODERN_DEVICE_ID_BASE;
  return isTransitionalPciId(deviceId) ? subsystemId : 0;
}
