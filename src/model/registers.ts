// Register maps of the virtio transports, as data: offset, size, the access widths a driver may use, name,
// access mode and meaning. The transport decoders (src/transport/) look registers up here; nothing else in
// devrec should hard-code an offset.
//
// Sources, checked field by field:
// - virtio 1.3 (csd01) 4.1.4.3 "Common configuration structure layout" and Linux
//   include/uapi/linux/virtio_pci.h (struct virtio_pci_common_cfg / virtio_pci_modern_common_cfg and the
//   VIRTIO_PCI_COMMON_* offsets 0..62);
// - the legacy IO BAR header: virtio 1.3 4.1.4.10 "Legacy Interfaces: A Note on PCI Device Layout" and the
//   legacy part of virtio_pci.h (VIRTIO_PCI_HOST_FEATURES 0 .. VIRTIO_MSI_QUEUE_VECTOR 22,
//   VIRTIO_PCI_CONFIG_OFF(msix_enabled) = msix_enabled ? 24 : 20);
// - virtio-mmio: virtio 1.3 4.2.2 (and 4.2.4 for the legacy v1 layout) and Linux
//   include/uapi/linux/virtio_mmio.h (SHM_* and QUEUE_RESET from the newer header);
// - admin commands: virtio 1.3 admin.tex / admin-cmds-legacy-interface.tex and virtio_pci.h
//   (VIRTIO_ADMIN_CMD_*); status values 6, 16 and 28 are from the 1.4 draft;
// - PCI config space: PCI Local Bus 3.0 type-0 header, MSI-X capability (PCI 3.0 6.8.2), the virtio vendor
//   capability (virtio 1.3 4.1.4, struct virtio_pci_cap).
// All multi-byte registers are little-endian, except legacy device config (guest-native endianness).

export type RegisterAccessMode = 'ro' | 'rw' | 'wo';

export interface RegisterDef {
  readonly offset: number;
  /** bytes the register occupies */
  readonly size: number;
  /** access widths a conforming driver uses (bytes) */
  readonly widths: readonly number[];
  /** spec field name (modern PCI, mmio) or the Linux macro's short name (legacy header) */
  readonly name: string;
  /** the Linux uapi macro for the offset, where there is one */
  readonly macro?: string;
  readonly access: RegisterAccessMode;
  readonly meaning: string;
  /** applies to the queue selected by the queue selector */
  readonly perQueue?: true;
  /** virtio-mmio: the versions (1 legacy, 2 modern) that have this register */
  readonly versions?: readonly (1 | 2)[];
  /** legacy IO BAR: present only while MSI-X is enabled */
  readonly msixOnly?: true;
}

/** Offset of the register's last byte + 1. */
export const registerEnd = (r: RegisterDef): number => r.offset + r.size;

/** The register whose bytes include `offset`, if any. */
export function registerAt<R extends RegisterDef>(map: readonly R[], offset: number): R | undefined {
  return map.find((r) => offset >= r.offset && offset < registerEnd(r));
}

// --- virtio-pci modern: struct virtio_pci_common_cfg (virtio 1.3 4.1.4.3) ------------------------------------

export const PCI_COMMON_CFG = [
  { offset: 0, size: 4, widths: [4], name: 'device_feature_select', macro: 'VIRTIO_PCI_COMMON_DFSELECT', access: 'rw',
    meaning: 'selects which 32-bit word of the device features device_feature shows' },
  { offset: 4, size: 4, widths: [4], name: 'device_feature', macro: 'VIRTIO_PCI_COMMON_DF', access: 'ro',
    meaning: 'device (offered) features, word device_feature_select' },
  { offset: 8, size: 4, widths: [4], name: 'driver_feature_select', macro: 'VIRTIO_PCI_COMMON_GFSELECT', access: 'rw',
    meaning: 'selects which 32-bit word of the driver features driver_feature takes' },
  { offset: 12, size: 4, widths: [4], name: 'driver_feature', macro: 'VIRTIO_PCI_COMMON_GF', access: 'rw',
    meaning: 'driver (accepted) features, word driver_feature_select' },
  { offset: 16, size: 2, widths: [2], name: 'config_msix_vector', macro: 'VIRTIO_PCI_COMMON_MSIX', access: 'rw',
    meaning: 'MSI-X vector for configuration change notifications (0xffff: none)' },
  { offset: 18, size: 2, widths: [2], name: 'num_queues', macro: 'VIRTIO_PCI_COMMON_NUMQ', access: 'ro',
    meaning: 'number of virtqueues the device supports (admin queues excluded)' },
  { offset: 20, size: 1, widths: [1], name: 'device_status', macro: 'VIRTIO_PCI_COMMON_STATUS', access: 'rw',
    meaning: 'device status; writing 0 resets the device' },
  { offset: 21, size: 1, widths: [1], name: 'config_generation', macro: 'VIRTIO_PCI_COMMON_CFGGENERATION', access: 'ro',
    meaning: 'changes whenever the device configuration changes' },
  { offset: 22, size: 2, widths: [2], name: 'queue_select', macro: 'VIRTIO_PCI_COMMON_Q_SELECT', access: 'rw',
    meaning: 'selects the virtqueue the queue_* fields refer to' },
  { offset: 24, size: 2, widths: [2], name: 'queue_size', macro: 'VIRTIO_PCI_COMMON_Q_SIZE', access: 'rw', perQueue: true,
    meaning: 'queue size; on reset it reads the maximum the device supports, 0 if the queue does not exist' },
  { offset: 26, size: 2, widths: [2], name: 'queue_msix_vector', macro: 'VIRTIO_PCI_COMMON_Q_MSIX', access: 'rw', perQueue: true,
    meaning: 'MSI-X vector for the queue (0xffff: none); reads back 0xffff when the device refused it' },
  { offset: 28, size: 2, widths: [2], name: 'queue_enable', macro: 'VIRTIO_PCI_COMMON_Q_ENABLE', access: 'rw', perQueue: true,
    meaning: 'the driver writes 1 to start using the queue (writing 0 is not allowed)' },
  { offset: 30, size: 2, widths: [2], name: 'queue_notify_off', macro: 'VIRTIO_PCI_COMMON_Q_NOFF', access: 'ro', perQueue: true,
    meaning: 'offset of the queue doorbell in the notify region, in notify_off_multiplier units' },
  // 64-bit fields: two 32-bit halves (the spec's way), or one 8-byte access at the low half.
  { offset: 32, size: 4, widths: [4, 8], name: 'queue_desc_lo', macro: 'VIRTIO_PCI_COMMON_Q_DESCLO', access: 'rw', perQueue: true,
    meaning: 'descriptor area address, bits 0..31 (an 8-byte access covers the whole address)' },
  { offset: 36, size: 4, widths: [4], name: 'queue_desc_hi', macro: 'VIRTIO_PCI_COMMON_Q_DESCHI', access: 'rw', perQueue: true,
    meaning: 'descriptor area address, bits 32..63' },
  { offset: 40, size: 4, widths: [4, 8], name: 'queue_driver_lo', macro: 'VIRTIO_PCI_COMMON_Q_AVAILLO', access: 'rw', perQueue: true,
    meaning: 'driver area (avail ring) address, bits 0..31' },
  { offset: 44, size: 4, widths: [4], name: 'queue_driver_hi', macro: 'VIRTIO_PCI_COMMON_Q_AVAILHI', access: 'rw', perQueue: true,
    meaning: 'driver area (avail ring) address, bits 32..63' },
  { offset: 48, size: 4, widths: [4, 8], name: 'queue_device_lo', macro: 'VIRTIO_PCI_COMMON_Q_USEDLO', access: 'rw', perQueue: true,
    meaning: 'device area (used ring) address, bits 0..31' },
  { offset: 52, size: 4, widths: [4], name: 'queue_device_hi', macro: 'VIRTIO_PCI_COMMON_Q_USEDHI', access: 'rw', perQueue: true,
    meaning: 'device area (used ring) address, bits 32..63' },
  { offset: 56, size: 2, widths: [2], name: 'queue_notif_config_data', macro: 'VIRTIO_PCI_COMMON_Q_NDATA', access: 'ro', perQueue: true,
    meaning: 'value to write as the notification when VIRTIO_F_NOTIF_CONFIG_DATA is negotiated' },
  { offset: 58, size: 2, widths: [2], name: 'queue_reset', macro: 'VIRTIO_PCI_COMMON_Q_RESET', access: 'rw', perQueue: true,
    meaning: 'write 1 to reset the queue (VIRTIO_F_RING_RESET); reads 1 until the reset is done, then 0' },
  { offset: 60, size: 2, widths: [2], name: 'admin_queue_index', macro: 'VIRTIO_PCI_COMMON_ADM_Q_IDX', access: 'ro',
    meaning: 'index of the first admin virtqueue (VIRTIO_F_ADMIN_VQ)' },
  { offset: 62, size: 2, widths: [2], name: 'admin_queue_num', macro: 'VIRTIO_PCI_COMMON_ADM_Q_NUM', access: 'ro',
    meaning: 'number of admin virtqueues (VIRTIO_F_ADMIN_VQ)' },
] as const satisfies readonly RegisterDef[];

export type CommonCfgRegister = (typeof PCI_COMMON_CFG)[number];

/** The modern ISR region: one byte, reading it returns and clears the ISR. */
export const PCI_ISR_REGION = [
  { offset: 0, size: 1, widths: [1], name: 'isr', access: 'ro',
    meaning: 'bit 0: queue interrupt, bit 1: configuration change; reading clears it' },
] as const satisfies readonly RegisterDef[];

/** Queue notifications are 16-bit queue indexes, or 32-bit with VIRTIO_F_NOTIFICATION_DATA. */
export const PCI_NOTIFY_WIDTHS: readonly number[] = [2, 4];

// --- virtio-pci legacy IO BAR header (virtio 0.9.5; virtio 1.3 4.1.4.10) -------------------------------------

export const LEGACY_PCI_HEADER = [
  { offset: 0, size: 4, widths: [4], name: 'HOST_FEATURES', macro: 'VIRTIO_PCI_HOST_FEATURES', access: 'ro',
    meaning: 'device features, bits 0..31 only' },
  { offset: 4, size: 4, widths: [4], name: 'GUEST_FEATURES', macro: 'VIRTIO_PCI_GUEST_FEATURES', access: 'rw',
    meaning: 'driver features, bits 0..31; in effect as written (legacy has no FEATURES_OK)' },
  { offset: 8, size: 4, widths: [4], name: 'QUEUE_PFN', macro: 'VIRTIO_PCI_QUEUE_PFN', access: 'rw', perQueue: true,
    meaning: 'ring address >> 12 (VIRTIO_PCI_QUEUE_ADDR_SHIFT) of the selected queue; 0 deactivates it' },
  { offset: 12, size: 2, widths: [2], name: 'QUEUE_NUM', macro: 'VIRTIO_PCI_QUEUE_NUM', access: 'ro', perQueue: true,
    meaning: 'size of the selected queue (fixed by the device); 0 if the queue does not exist' },
  { offset: 14, size: 2, widths: [2], name: 'QUEUE_SEL', macro: 'VIRTIO_PCI_QUEUE_SEL', access: 'rw',
    meaning: 'selects the queue QUEUE_PFN, QUEUE_NUM and MSI_QUEUE_VECTOR refer to' },
  { offset: 16, size: 2, widths: [2], name: 'QUEUE_NOTIFY', macro: 'VIRTIO_PCI_QUEUE_NOTIFY', access: 'rw',
    meaning: 'doorbell: the driver writes a queue index' },
  { offset: 18, size: 1, widths: [1], name: 'STATUS', macro: 'VIRTIO_PCI_STATUS', access: 'rw',
    meaning: 'device status; writing 0 resets the device' },
  { offset: 19, size: 1, widths: [1], name: 'ISR', macro: 'VIRTIO_PCI_ISR', access: 'ro',
    meaning: 'interrupt status; reading returns and clears it (read-and-acknowledge)' },
  { offset: 20, size: 2, widths: [2], name: 'MSI_CONFIG_VECTOR', macro: 'VIRTIO_MSI_CONFIG_VECTOR', access: 'rw', msixOnly: true,
    meaning: 'MSI-X vector for configuration changes; only while MSI-X is enabled' },
  { offset: 22, size: 2, widths: [2], name: 'MSI_QUEUE_VECTOR', macro: 'VIRTIO_MSI_QUEUE_VECTOR', access: 'rw', msixOnly: true, perQueue: true,
    meaning: 'MSI-X vector of the selected queue; only while MSI-X is enabled' },
] as const satisfies readonly RegisterDef[];

export type LegacyRegister = (typeof LEGACY_PCI_HEADER)[number];

/** The header without the MSI-X registers (MSI-X disabled, INTx). */
export const LEGACY_PCI_HEADER_NO_MSIX: readonly LegacyRegister[] = LEGACY_PCI_HEADER.filter((r) => !('msixOnly' in r));

/** VIRTIO_PCI_CONFIG_OFF(msix_enabled): where legacy device config starts in the IO BAR. */
export const legacyConfigOffset = (msixEnabled: boolean): number => (msixEnabled ? 24 : 20);

/** VIRTIO_PCI_QUEUE_ADDR_SHIFT and VIRTIO_PCI_VRING_ALIGN. */
export const LEGACY_QUEUE_ADDR_SHIFT = 12;
export const LEGACY_VRING_ALIGN = 4096;
/** VIRTIO_MSI_NO_VECTOR */
export const MSI_NO_VECTOR = 0xffff;

// --- virtio-mmio (virtio 1.3 4.2.2; legacy v1 4.2.4) ---------------------------------------------------------

const V1 = [1] as const;
const V2 = [2] as const;
const V12 = [1, 2] as const;

export const MMIO_REGS = [
  { offset: 0x000, size: 4, widths: [4], name: 'MagicValue', macro: 'VIRTIO_MMIO_MAGIC_VALUE', access: 'ro', versions: V12,
    meaning: '0x74726976 ("virt")' },
  { offset: 0x004, size: 4, widths: [4], name: 'Version', macro: 'VIRTIO_MMIO_VERSION', access: 'ro', versions: V12,
    meaning: '1: legacy layout, 2: virtio 1.x layout' },
  { offset: 0x008, size: 4, widths: [4], name: 'DeviceID', macro: 'VIRTIO_MMIO_DEVICE_ID', access: 'ro', versions: V12,
    meaning: 'virtio device type id (0: no device)' },
  { offset: 0x00c, size: 4, widths: [4], name: 'VendorID', macro: 'VIRTIO_MMIO_VENDOR_ID', access: 'ro', versions: V12,
    meaning: 'vendor id of the device' },
  { offset: 0x010, size: 4, widths: [4], name: 'DeviceFeatures', macro: 'VIRTIO_MMIO_DEVICE_FEATURES', access: 'ro', versions: V12,
    meaning: 'device features, word DeviceFeaturesSel (legacy: HostFeatures)' },
  { offset: 0x014, size: 4, widths: [4], name: 'DeviceFeaturesSel', macro: 'VIRTIO_MMIO_DEVICE_FEATURES_SEL', access: 'wo', versions: V12,
    meaning: 'selects the device features word' },
  { offset: 0x020, size: 4, widths: [4], name: 'DriverFeatures', macro: 'VIRTIO_MMIO_DRIVER_FEATURES', access: 'wo', versions: V12,
    meaning: 'driver features, word DriverFeaturesSel (legacy: GuestFeatures)' },
  { offset: 0x024, size: 4, widths: [4], name: 'DriverFeaturesSel', macro: 'VIRTIO_MMIO_DRIVER_FEATURES_SEL', access: 'wo', versions: V12,
    meaning: 'selects the driver features word' },
  { offset: 0x028, size: 4, widths: [4], name: 'GuestPageSize', macro: 'VIRTIO_MMIO_GUEST_PAGE_SIZE', access: 'wo', versions: V1,
    meaning: 'guest page size in bytes, the unit of QueuePFN (legacy only)' },
  { offset: 0x030, size: 4, widths: [4], name: 'QueueSel', macro: 'VIRTIO_MMIO_QUEUE_SEL', access: 'wo', versions: V12,
    meaning: 'selects the queue the Queue* registers refer to' },
  { offset: 0x034, size: 4, widths: [4], name: 'QueueNumMax', macro: 'VIRTIO_MMIO_QUEUE_NUM_MAX', access: 'ro', versions: V12, perQueue: true,
    meaning: 'maximum size of the selected queue; 0 if the queue is not available' },
  { offset: 0x038, size: 4, widths: [4], name: 'QueueNum', macro: 'VIRTIO_MMIO_QUEUE_NUM', access: 'wo', versions: V12, perQueue: true,
    meaning: 'size of the selected queue, chosen by the driver' },
  { offset: 0x03c, size: 4, widths: [4], name: 'QueueAlign', macro: 'VIRTIO_MMIO_QUEUE_ALIGN', access: 'wo', versions: V1, perQueue: true,
    meaning: 'used ring alignment of the selected queue (legacy only)' },
  { offset: 0x040, size: 4, widths: [4], name: 'QueuePFN', macro: 'VIRTIO_MMIO_QUEUE_PFN', access: 'rw', versions: V1, perQueue: true,
    meaning: 'ring address / GuestPageSize of the selected queue; 0 deactivates it (legacy only)' },
  { offset: 0x044, size: 4, widths: [4], name: 'QueueReady', macro: 'VIRTIO_MMIO_QUEUE_READY', access: 'rw', versions: V2, perQueue: true,
    meaning: '1: the driver may use the selected queue; reads the last value written' },
  { offset: 0x050, size: 4, widths: [4], name: 'QueueNotify', macro: 'VIRTIO_MMIO_QUEUE_NOTIFY', access: 'wo', versions: V12,
    meaning: 'doorbell: the driver writes a queue index' },
  { offset: 0x060, size: 4, widths: [4], name: 'InterruptStatus', macro: 'VIRTIO_MMIO_INTERRUPT_STATUS', access: 'ro', versions: V12,
    meaning: 'bit 0: used buffer notification, bit 1: configuration change' },
  { offset: 0x064, size: 4, widths: [4], name: 'InterruptACK', macro: 'VIRTIO_MMIO_INTERRUPT_ACK', access: 'wo', versions: V12,
    meaning: 'acknowledges the InterruptStatus bits written' },
  { offset: 0x070, size: 4, widths: [4], name: 'Status', macro: 'VIRTIO_MMIO_STATUS', access: 'rw', versions: V12,
    meaning: 'device status; writing 0 resets the device' },
  { offset: 0x080, size: 4, widths: [4], name: 'QueueDescLow', macro: 'VIRTIO_MMIO_QUEUE_DESC_LOW', access: 'wo', versions: V2, perQueue: true,
    meaning: 'descriptor area address, bits 0..31' },
  { offset: 0x084, size: 4, widths: [4], name: 'QueueDescHigh', macro: 'VIRTIO_MMIO_QUEUE_DESC_HIGH', access: 'wo', versions: V2, perQueue: true,
    meaning: 'descriptor area address, bits 32..63' },
  { offset: 0x090, size: 4, widths: [4], name: 'QueueDriverLow', macro: 'VIRTIO_MMIO_QUEUE_AVAIL_LOW', access: 'wo', versions: V2, perQueue: true,
    meaning: 'driver area (avail ring) address, bits 0..31' },
  { offset: 0x094, size: 4, widths: [4], name: 'QueueDriverHigh', macro: 'VIRTIO_MMIO_QUEUE_AVAIL_HIGH', access: 'wo', versions: V2, perQueue: true,
    meaning: 'driver area (avail ring) address, bits 32..63' },
  { offset: 0x0a0, size: 4, widths: [4], name: 'QueueDeviceLow', macro: 'VIRTIO_MMIO_QUEUE_USED_LOW', access: 'wo', versions: V2, perQueue: true,
    meaning: 'device area (used ring) address, bits 0..31' },
  { offset: 0x0a4, size: 4, widths: [4], name: 'QueueDeviceHigh', macro: 'VIRTIO_MMIO_QUEUE_USED_HIGH', access: 'wo', versions: V2, perQueue: true,
    meaning: 'device area (used ring) address, bits 32..63' },
  { offset: 0x0ac, size: 4, widths: [4], name: 'SHMSel', macro: 'VIRTIO_MMIO_SHM_SEL', access: 'wo', versions: V2,
    meaning: 'selects the shared memory region SHMLen/SHMBase describe' },
  { offset: 0x0b0, size: 4, widths: [4], name: 'SHMLenLow', macro: 'VIRTIO_MMIO_SHM_LEN_LOW', access: 'ro', versions: V2,
    meaning: 'shared memory region length, bits 0..31 (all ones: no such region)' },
  { offset: 0x0b4, size: 4, widths: [4], name: 'SHMLenHigh', macro: 'VIRTIO_MMIO_SHM_LEN_HIGH', access: 'ro', versions: V2,
    meaning: 'shared memory region length, bits 32..63' },
  { offset: 0x0b8, size: 4, widths: [4], name: 'SHMBaseLow', macro: 'VIRTIO_MMIO_SHM_BASE_LOW', access: 'ro', versions: V2,
    meaning: 'shared memory region address, bits 0..31' },
  { offset: 0x0bc, size: 4, widths: [4], name: 'SHMBaseHigh', macro: 'VIRTIO_MMIO_SHM_BASE_HIGH', access: 'ro', versions: V2,
    meaning: 'shared memory region address, bits 32..63' },
  { offset: 0x0c0, size: 4, widths: [4], name: 'QueueReset', macro: 'VIRTIO_MMIO_QUEUE_RESET', access: 'rw', versions: V2, perQueue: true,
    meaning: 'write 1 to reset the selected queue (VIRTIO_F_RING_RESET); reads 1 until done, then 0' },
  { offset: 0x0fc, size: 4, widths: [4], name: 'ConfigGeneration', macro: 'VIRTIO_MMIO_CONFIG_GENERATION', access: 'ro', versions: V2,
    meaning: 'changes whenever the device configuration changes' },
] as const satisfies readonly RegisterDef[];

export type MmioRegister = (typeof MMIO_REGS)[number];

/** VIRTIO_MMIO_CONFIG: device config starts here. */
export const MMIO_CONFIG_OFFSET = 0x100;
/** "virt" read as a little-endian 32-bit value. */
export const MMIO_MAGIC = 0x74726976;

export const mmioRegsOfVersion = (version: 1 | 2): readonly MmioRegister[] =>
  MMIO_REGS.filter((r) => (r.versions as readonly number[]).includes(version));

/** Device config accesses: 8, 16 or 32 bits (64-bit fields are read as two 32-bit halves). */
export const DEVICE_CONFIG_WIDTHS: readonly number[] = [1, 2, 4];

/**
 * devrec's bound on device config when the config size is not known: QEMU maps the modern device-cfg region
 * as 0x1000 bytes, a legacy IO BAR is at most 256 bytes (PCI IO BARs), and an admin legacy offset is a u8.
 * Past it an access is flagged out-of-range instead of growing the projected config without limit.
 */
export const MAX_DEVICE_CONFIG = 0x1000;
/** virtio_admin_cmd_legacy_*_data.offset is a u8. */
export const ADMIN_LEGACY_MAX_OFFSET = 0xff;

// --- virtio admin commands (virtio 1.3 2.12.1; Linux virtio_pci.h) --------------------------------------------

export interface AdminOpcode {
  readonly opcode: number;
  readonly name: string;
  /** legacy register access: the region and direction it carries */
  readonly legacy?: { readonly region: 'admin-legacy-common' | 'admin-legacy-device'; readonly direction: 'read' | 'write' };
  readonly meaning: string;
  readonly since?: string;
}

export const ADMIN_OPCODES: readonly AdminOpcode[] = [
  { opcode: 0x0, name: 'VIRTIO_ADMIN_CMD_LIST_QUERY', meaning: 'the commands the device supports for the group type' },
  { opcode: 0x1, name: 'VIRTIO_ADMIN_CMD_LIST_USE', meaning: 'the commands the driver will use' },
  { opcode: 0x2, name: 'VIRTIO_ADMIN_CMD_LEGACY_COMMON_CFG_WRITE', legacy: { region: 'admin-legacy-common', direction: 'write' },
    meaning: 'write into the legacy common configuration (IO BAR header) of a member; data {u8 offset; u8 reserved[7]; u8 data[]}' },
  { opcode: 0x3, name: 'VIRTIO_ADMIN_CMD_LEGACY_COMMON_CFG_READ', legacy: { region: 'admin-legacy-common', direction: 'read' },
    meaning: 'read from the legacy common configuration of a member; data {u8 offset}, result u8 data[]' },
  { opcode: 0x4, name: 'VIRTIO_ADMIN_CMD_LEGACY_DEV_CFG_WRITE', legacy: { region: 'admin-legacy-device', direction: 'write' },
    meaning: 'write into the legacy device-specific configuration of a member (offset relative to its start)' },
  { opcode: 0x5, name: 'VIRTIO_ADMIN_CMD_LEGACY_DEV_CFG_READ', legacy: { region: 'admin-legacy-device', direction: 'read' },
    meaning: 'read from the legacy device-specific configuration of a member' },
  { opcode: 0x6, name: 'VIRTIO_ADMIN_CMD_LEGACY_NOTIFY_INFO',
    meaning: 'where to send legacy queue notifications: up to 4 {u8 flags (1 owner, 2 member); u8 bar; u8 pad[6]; le64 offset}' },
  { opcode: 0x7, name: 'VIRTIO_ADMIN_CMD_CAP_ID_LIST_QUERY', since: '1.4', meaning: 'capability ids the device supports' },
  { opcode: 0x8, name: 'VIRTIO_ADMIN_CMD_DEVICE_CAP_GET', since: '1.4', meaning: 'read a device capability' },
  { opcode: 0x9, name: 'VIRTIO_ADMIN_CMD_DRIVER_CAP_SET', since: '1.4', meaning: 'set a driver capability' },
  { opcode: 0xa, name: 'VIRTIO_ADMIN_CMD_RESOURCE_OBJ_CREATE', since: '1.4', meaning: 'create a resource object' },
  { opcode: 0xd, name: 'VIRTIO_ADMIN_CMD_RESOURCE_OBJ_DESTROY', since: '1.4', meaning: 'destroy a resource object' },
  { opcode: 0xe, name: 'VIRTIO_ADMIN_CMD_DEV_PARTS_METADATA_GET', since: '1.4', meaning: 'size / count / list of device parts' },
  { opcode: 0xf, name: 'VIRTIO_ADMIN_CMD_DEV_PARTS_GET', since: '1.4', meaning: 'read device parts' },
  { opcode: 0x10, name: 'VIRTIO_ADMIN_CMD_DEV_PARTS_SET', since: '1.4', meaning: 'write device parts (device stopped)' },
  { opcode: 0x11, name: 'VIRTIO_ADMIN_CMD_DEV_MODE_SET', since: '1.4', meaning: 'stop (flags bit 0) or resume a member' },
];

export const adminOpcode = (opcode: number): AdminOpcode | undefined => ADMIN_OPCODES.find((o) => o.opcode === opcode);

/** Admin command status (matching Linux errno numbers). */
export const ADMIN_STATUS = [
  { value: 0, name: 'VIRTIO_ADMIN_STATUS_OK', meaning: 'successful completion' },
  { value: 6, name: 'VIRTIO_ADMIN_STATUS_ENXIO', meaning: 'no such device / resource', since: '1.4' },
  { value: 11, name: 'VIRTIO_ADMIN_STATUS_EAGAIN', meaning: 'try again' },
  { value: 12, name: 'VIRTIO_ADMIN_STATUS_ENOMEM', meaning: 'insufficient resources' },
  { value: 16, name: 'VIRTIO_ADMIN_STATUS_EBUSY', meaning: 'device busy', since: '1.4' },
  { value: 22, name: 'VIRTIO_ADMIN_STATUS_EINVAL', meaning: 'invalid command (the device state did not change)' },
  { value: 28, name: 'VIRTIO_ADMIN_STATUS_ENOSPC', meaning: 'no space', since: '1.4' },
] as const;

export const ADMIN_STATUS_QUALIFIERS = [
  { value: 0x0, name: 'VIRTIO_ADMIN_STATUS_Q_OK' },
  { value: 0x1, name: 'VIRTIO_ADMIN_STATUS_Q_INVALID_COMMAND' },
  { value: 0x2, name: 'VIRTIO_ADMIN_STATUS_Q_INVALID_OPCODE' },
  { value: 0x3, name: 'VIRTIO_ADMIN_STATUS_Q_INVALID_FIELD' },
  { value: 0x4, name: 'VIRTIO_ADMIN_STATUS_Q_INVALID_GROUP' },
  { value: 0x5, name: 'VIRTIO_ADMIN_STATUS_Q_INVALID_MEMBER' },
  { value: 0x6, name: 'VIRTIO_ADMIN_STATUS_Q_NORESOURCE' },
  { value: 0x7, name: 'VIRTIO_ADMIN_STATUS_Q_TRYAGAIN' },
] as const;

export const ADMIN_STATUS_OK = 0;
/** VIRTIO_ADMIN_GROUP_TYPE_SRIOV */
export const ADMIN_GROUP_SRIOV = 0x1;
/** virtio_admin_cmd_notify_info_data.flags */
export const ADMIN_NOTIFY_INFO_FLAGS = { END: 0x0, OWNER_DEV: 0x1, MEMBER_DEV: 0x2 } as const;

// --- PCI configuration space ---------------------------------------------------------------------------------

/** Config cycles carry byte enables: any naturally aligned 1, 2 or 4-byte access is allowed. */
const CFG = [1, 2, 4] as const;

/** The type-0 header registers devrec looks at. Other bytes (capability bodies) are accessed freely. */
export const PCI_CONFIG_HEADER = [
  { offset: 0x00, size: 2, widths: CFG, name: 'vendor_id', access: 'ro', meaning: 'PCI vendor id (0x1af4 for virtio)' },
  { offset: 0x02, size: 2, widths: CFG, name: 'device_id', access: 'ro', meaning: 'PCI device id (0x1040 + type modern, 0x1000.. transitional)' },
  { offset: 0x04, size: 2, widths: CFG, name: 'command', access: 'rw', meaning: 'bit 0 IO space, bit 1 memory space, bit 2 bus master, bit 10 INTx disable' },
  { offset: 0x06, size: 2, widths: CFG, name: 'status', access: 'rw', meaning: 'bit 4: capabilities list present (error bits are write-1-to-clear)' },
  { offset: 0x08, size: 1, widths: CFG, name: 'revision_id', access: 'ro', meaning: 'revision (0 for transitional virtio devices, >= 1 modern)' },
  { offset: 0x09, size: 3, widths: CFG, name: 'class_code', access: 'ro', meaning: 'programming interface, subclass, class' },
  { offset: 0x0c, size: 1, widths: CFG, name: 'cache_line_size', access: 'rw', meaning: 'cache line size' },
  { offset: 0x0d, size: 1, widths: CFG, name: 'latency_timer', access: 'rw', meaning: 'latency timer' },
  { offset: 0x0e, size: 1, widths: CFG, name: 'header_type', access: 'ro', meaning: 'header layout (0: device); bit 7 multi-function' },
  { offset: 0x0f, size: 1, widths: CFG, name: 'bist', access: 'rw', meaning: 'built-in self test' },
  { offset: 0x10, size: 4, widths: CFG, name: 'bar0', access: 'rw', meaning: 'BAR 0 (bit 0 set: IO space; legacy virtio IO BAR)' },
  { offset: 0x14, size: 4, widths: CFG, name: 'bar1', access: 'rw', meaning: 'BAR 1' },
  { offset: 0x18, size: 4, widths: CFG, name: 'bar2', access: 'rw', meaning: 'BAR 2' },
  { offset: 0x1c, size: 4, widths: CFG, name: 'bar3', access: 'rw', meaning: 'BAR 3' },
  { offset: 0x20, size: 4, widths: CFG, name: 'bar4', access: 'rw', meaning: 'BAR 4' },
  { offset: 0x24, size: 4, widths: CFG, name: 'bar5', access: 'rw', meaning: 'BAR 5' },
  { offset: 0x28, size: 4, widths: CFG, name: 'cardbus_cis', access: 'ro', meaning: 'CardBus CIS pointer' },
  { offset: 0x2c, size: 2, widths: CFG, name: 'subsystem_vendor_id', access: 'ro', meaning: 'subsystem vendor id' },
  { offset: 0x2e, size: 2, widths: CFG, name: 'subsystem_id', access: 'ro', meaning: 'subsystem id (virtio device type for transitional devices)' },
  { offset: 0x30, size: 4, widths: CFG, name: 'rom_address', access: 'rw', meaning: 'expansion ROM base address' },
  { offset: 0x34, size: 1, widths: CFG, name: 'capabilities_pointer', access: 'ro', meaning: 'offset of the first capability (bits 1:0 reserved)' },
  { offset: 0x3c, size: 1, widths: CFG, name: 'interrupt_line', access: 'rw', meaning: 'INTx routing (software)' },
  { offset: 0x3d, size: 1, widths: CFG, name: 'interrupt_pin', access: 'ro', meaning: 'INTx pin (1 = INTA, 0 = none)' },
] as const satisfies readonly RegisterDef[];

/** The offset of the register called `name` in `map` (so code names registers instead of repeating offsets). */
export function registerOffset<R extends RegisterDef>(map: readonly R[], name: R['name']): number {
  const r = map.find((x) => x.name === name);
  if (!r) throw new Error(`no register ${String(name)} in this map`);
  return r.offset;
}

export const PCI_COMMAND = { IO: 0x1, MEMORY: 0x2, MASTER: 0x4, INTX_DISABLE: 0x400 } as const;
export const PCI_STATUS = { CAP_LIST: 0x10 } as const;
/** Where the identity registers sit (class_code: prog-if, then subclass, then class). */
export const PCI_ID_OFFSETS = {
  vendor: registerOffset(PCI_CONFIG_HEADER, 'vendor_id'),
  device: registerOffset(PCI_CONFIG_HEADER, 'device_id'),
  revision: registerOffset(PCI_CONFIG_HEADER, 'revision_id'),
  classCode: registerOffset(PCI_CONFIG_HEADER, 'class_code'),
  subsystemVendor: registerOffset(PCI_CONFIG_HEADER, 'subsystem_vendor_id'),
  subsystem: registerOffset(PCI_CONFIG_HEADER, 'subsystem_id'),
} as const;
export const PCI_COMMAND_OFFSET = registerOffset(PCI_CONFIG_HEADER, 'command');
export const PCI_STATUS_OFFSET = registerOffset(PCI_CONFIG_HEADER, 'status');
export const PCI_CAPABILITY_LIST = registerOffset(PCI_CONFIG_HEADER, 'capabilities_pointer');
/** BAR n sits at 0x10 + 4n; bit 0 of a BAR tells IO (1) from memory (0) space. */
export const PCI_BAR_OFFSETS: readonly number[] = (['bar0', 'bar1', 'bar2', 'bar3', 'bar4', 'bar5'] as const).map((n) => registerOffset(PCI_CONFIG_HEADER, n));
export const PCI_BAR_SPACE_IO = 0x1;
/** Type-0 config space is 256 bytes; a PCI Express function's (with extended config) 4096. */
export const PCI_CONFIG_SPACE_SIZE = 0x100;
export const PCIE_CONFIG_SPACE_SIZE = 0x1000;
/** The config space devrec models: a PCIe function's. */
export const PCI_CONFIG_SIZE = PCIE_CONFIG_SPACE_SIZE;

// PCI capabilities (ids, the MSI-X and virtio vendor capability layouts): src/model/pci-capabilities.ts.

/** The device_status register of each register region that has one (what a read of it returns, what writing 0 does). */
export const STATUS_REGISTER: Readonly<Partial<Record<string, number>>> = {
  'common-cfg': registerOffset(PCI_COMMON_CFG, 'device_status'),
  'legacy-io': registerOffset(LEGACY_PCI_HEADER, 'STATUS'),
  'mmio-regs': registerOffset(MMIO_REGS, 'Status'),
  // admin legacy commands address the legacy IO BAR header of a member (virtio 1.3 admin-cmds-legacy-interface)
  'admin-legacy-common': registerOffset(LEGACY_PCI_HEADER, 'STATUS'),
};
