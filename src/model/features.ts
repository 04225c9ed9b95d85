// Catalog of virtio feature bits, as data, plus helpers to turn feature
// masks into names and back.
//
// Source: the virtio 1.3 spec (csd01): chapter 6 "Reserved Feature Bits" for
// the transport bits and the "Feature bits" subsection of each device type in
// chapter 5. Names are the spec's own; a few well-known other spellings (from
// Linux/QEMU headers) are kept as `aliases` so they can be parsed.
// Masks are bigint because feature bits go past 63 (the spec reserves up to
// 127 for devices and more for the future).

import { DEVICE_TYPES, type DeviceTypeName } from './device-types.js';

export type FeatureDevice = 'transport' | DeviceTypeName;

export interface FeatureBit {
  readonly bit: number;
  /** Spec name, e.g. 'VIRTIO_NET_F_CSUM'. */
  readonly name: string;
  /** 'transport' for device-independent bits, else a device type name. */
  readonly device: FeatureDevice;
  /** Spec section number ('' when the virtio spec does not define the bit). */
  readonly section: string;
  readonly description: string;
  /** Only listed under the spec's "Legacy Interface" headings. */
  readonly legacy?: true;
  /** Set when the bit is newer than virtio 1.3 (section numbers still match). */
  readonly since?: string;
  /** Other spellings accepted by parseFeatureNames/featureBit. */
  readonly aliases?: readonly string[];
}

// Spec sections holding each group of bits.
const S_TRANSPORT = '6';
const S_TRANSPORT_LEGACY = '6.3';
const S_NET = '5.1.3';
const S_NET_LEGACY = '5.1.3.2';
const S_BLK = '5.2.3';
const S_BLK_LEGACY = '5.2.3.1';

export const FEATURE_BITS: readonly FeatureBit[] = [
  // --- Transport / reserved range (device independent) ---------------------
  { bit: 24, name: 'VIRTIO_F_NOTIFY_ON_EMPTY', device: 'transport', section: S_TRANSPORT_LEGACY, legacy: true,
    description: 'Device notifies the driver when a queue runs out of available buffers, even with notifications suppressed' },
  // Not a virtio spec bit: vhost claims 26 in the reserved range for dirty
  // page logging, and it shows up in vhost feature masks.
  { bit: 26, name: 'VHOST_F_LOG_ALL', device: 'transport', section: '',
    description: "vhost's bit (not in the virtio spec): log all writes to guest memory, for migration dirty tracking" },
  { bit: 27, name: 'VIRTIO_F_ANY_LAYOUT', device: 'transport', section: S_TRANSPORT_LEGACY, legacy: true,
    description: 'Device accepts any split of a message across descriptors' },
  { bit: 28, name: 'VIRTIO_F_INDIRECT_DESC', device: 'transport', section: S_TRANSPORT, aliases: ['VIRTIO_RING_F_INDIRECT_DESC'],
    description: 'Driver may use indirect descriptor tables' },
  { bit: 29, name: 'VIRTIO_F_EVENT_IDX', device: 'transport', section: S_TRANSPORT, aliases: ['VIRTIO_RING_F_EVENT_IDX'],
    description: 'Notification suppression via used_event / avail_event indexes' },
  // The spec calls bit 30 just "UNUSED"; QEMU and Linux name it BAD_FEATURE.
  { bit: 30, name: 'VIRTIO_F_BAD_FEATURE', device: 'transport', section: S_TRANSPORT_LEGACY, legacy: true,
    description: 'Never to be negotiated; used by QEMU to spot broken early drivers' },
  { bit: 32, name: 'VIRTIO_F_VERSION_1', device: 'transport', section: S_TRANSPORT,
    description: 'Device or driver follows virtio 1.0 or later (not legacy-only)' },
  { bit: 33, name: 'VIRTIO_F_ACCESS_PLATFORM', device: 'transport', section: S_TRANSPORT, aliases: ['VIRTIO_F_IOMMU_PLATFORM'],
    description: 'Device memory access goes through the platform (e.g. an IOMMU) and may be limited or translated' },
  { bit: 34, name: 'VIRTIO_F_RING_PACKED', device: 'transport', section: S_TRANSPORT,
    description: 'Packed virtqueue layout is supported' },
  { bit: 35, name: 'VIRTIO_F_IN_ORDER', device: 'transport', section: S_TRANSPORT,
    description: 'Device uses buffers in the order they were made available' },
  { bit: 36, name: 'VIRTIO_F_ORDER_PLATFORM', device: 'transport', section: S_TRANSPORT,
    description: 'Memory ordering follows the platform rules for real hardware devices' },
  { bit: 37, name: 'VIRTIO_F_SR_IOV', device: 'transport', section: S_TRANSPORT,
    description: 'Device supports PCI SR-IOV virtual functions' },
  { bit: 38, name: 'VIRTIO_F_NOTIFICATION_DATA', device: 'transport', section: S_TRANSPORT,
    description: 'Driver notifications carry extra data besides the queue index' },
  { bit: 39, name: 'VIRTIO_F_NOTIF_CONFIG_DATA', device: 'transport', section: S_TRANSPORT,
    description: 'Driver notifies queues with a device-supplied value instead of the queue index' },
  { bit: 40, name: 'VIRTIO_F_RING_RESET', device: 'transport', section: S_TRANSPORT,
    description: 'Driver may reset individual queues' },
  { bit: 41, name: 'VIRTIO_F_ADMIN_VQ', device: 'transport', section: S_TRANSPORT,
    description: 'Device has one or more administration virtqueues (PCI only for now)' },
  { bit: 43, name: 'VIRTIO_F_SUSPEND', device: 'transport', section: S_TRANSPORT, since: '1.4',
    description: 'Driver may suspend the device through the SUSPEND status bit' },

  // --- Network device -------------------------------------------------------
  { bit: 0, name: 'VIRTIO_NET_F_CSUM', device: 'net', section: S_NET,
    description: 'Device accepts packets with partial checksums to complete' },
  { bit: 1, name: 'VIRTIO_NET_F_GUEST_CSUM', device: 'net', section: S_NET,
    description: 'Driver accepts received packets with partial checksums' },
  { bit: 2, name: 'VIRTIO_NET_F_CTRL_GUEST_OFFLOADS', device: 'net', section: S_NET,
    description: 'Receive offloads can be changed through the control queue' },
  { bit: 3, name: 'VIRTIO_NET_F_MTU', device: 'net', section: S_NET,
    description: 'Device reports its maximum MTU in config space' },
  { bit: 5, name: 'VIRTIO_NET_F_MAC', device: 'net', section: S_NET,
    description: 'Device provides a MAC address in config space' },
  { bit: 6, name: 'VIRTIO_NET_F_GSO', device: 'net', section: S_NET_LEGACY, legacy: true,
    description: 'Device takes any GSO type (superseded by the per-protocol bits)' },
  { bit: 7, name: 'VIRTIO_NET_F_GUEST_TSO4', device: 'net', section: S_NET,
    description: 'Driver can receive TCP segmentation offload packets over IPv4' },
  { bit: 8, name: 'VIRTIO_NET_F_GUEST_TSO6', device: 'net', section: S_NET,
    description: 'Driver can receive TCP segmentation offload packets over IPv6' },
  { bit: 9, name: 'VIRTIO_NET_F_GUEST_ECN', device: 'net', section: S_NET,
    description: 'Driver can receive TSO packets with ECN bits' },
  { bit: 10, name: 'VIRTIO_NET_F_GUEST_UFO', device: 'net', section: S_NET,
    description: 'Driver can receive UDP fragmentation offload packets' },
  { bit: 11, name: 'VIRTIO_NET_F_HOST_TSO4', device: 'net', section: S_NET,
    description: 'Device can take TCP segmentation offload packets over IPv4' },
  { bit: 12, name: 'VIRTIO_NET_F_HOST_TSO6', device: 'net', section: S_NET,
    description: 'Device can take TCP segmentation offload packets over IPv6' },
  { bit: 13, name: 'VIRTIO_NET_F_HOST_ECN', device: 'net', section: S_NET,
    description: 'Device can take TSO packets with ECN bits' },
  { bit: 14, name: 'VIRTIO_NET_F_HOST_UFO', device: 'net', section: S_NET,
    description: 'Device can take UDP fragmentation offload packets' },
  { bit: 15, name: 'VIRTIO_NET_F_MRG_RXBUF', device: 'net', section: S_NET,
    description: 'Driver can merge several receive buffers into one packet' },
  { bit: 16, name: 'VIRTIO_NET_F_STATUS', device: 'net', section: S_NET,
    description: 'Link status field in config space is valid' },
  { bit: 17, name: 'VIRTIO_NET_F_CTRL_VQ', device: 'net', section: S_NET,
    description: 'Control virtqueue is present' },
  { bit: 18, name: 'VIRTIO_NET_F_CTRL_RX', device: 'net', section: S_NET,
    description: 'Receive modes (promiscuous, all-multicast) via the control queue' },
  { bit: 19, name: 'VIRTIO_NET_F_CTRL_VLAN', device: 'net', section: S_NET,
    description: 'VLAN filtering via the control queue' },
  { bit: 20, name: 'VIRTIO_NET_F_CTRL_RX_EXTRA', device: 'net', section: S_NET,
    description: 'Extra receive modes (unicast/multicast/broadcast filtering) via the control queue' },
  { bit: 21, name: 'VIRTIO_NET_F_GUEST_ANNOUNCE', device: 'net', section: S_NET,
    description: 'Driver can send gratuitous packets when asked (e.g. after migration)' },
  { bit: 22, name: 'VIRTIO_NET_F_MQ', device: 'net', section: S_NET,
    description: 'Multiple queue pairs with automatic receive steering' },
  { bit: 23, name: 'VIRTIO_NET_F_CTRL_MAC_ADDR', device: 'net', section: S_NET,
    description: 'MAC address can be set via the control queue' },
  { bit: 50, name: 'VIRTIO_NET_F_DEVICE_STATS', device: 'net', section: S_NET, since: '1.4',
    description: 'Device-level statistics readable via the control queue' },
  { bit: 51, name: 'VIRTIO_NET_F_HASH_TUNNEL', device: 'net', section: S_NET,
    description: 'Hashing on the inner headers of encapsulated packets' },
  { bit: 52, name: 'VIRTIO_NET_F_VQ_NOTF_COAL', device: 'net', section: S_NET,
    description: 'Per-virtqueue notification coalescing' },
  { bit: 53, name: 'VIRTIO_NET_F_NOTF_COAL', device: 'net', section: S_NET,
    description: 'Device-wide notification coalescing' },
  { bit: 54, name: 'VIRTIO_NET_F_GUEST_USO4', device: 'net', section: S_NET,
    description: 'Driver can receive UDP segmentation offload packets over IPv4' },
  { bit: 55, name: 'VIRTIO_NET_F_GUEST_USO6', device: 'net', section: S_NET,
    description: 'Driver can receive UDP segmentation offload packets over IPv6' },
  { bit: 56, name: 'VIRTIO_NET_F_HOST_USO', device: 'net', section: S_NET,
    description: 'Device can take UDP segmentation offload packets' },
  { bit: 57, name: 'VIRTIO_NET_F_HASH_REPORT', device: 'net', section: S_NET,
    description: 'Device reports a hash value and hash type per received packet' },
  { bit: 59, name: 'VIRTIO_NET_F_GUEST_HDRLEN', device: 'net', section: S_NET,
    description: 'Driver fills in the exact header length' },
  { bit: 60, name: 'VIRTIO_NET_F_RSS', device: 'net', section: S_NET,
    description: 'Receive-side scaling with a configurable Toeplitz hash' },
  { bit: 61, name: 'VIRTIO_NET_F_RSC_EXT', device: 'net', section: S_NET,
    description: 'Device reports coalesced segment and duplicate ACK counts' },
  { bit: 62, name: 'VIRTIO_NET_F_STANDBY', device: 'net', section: S_NET,
    description: 'Device may be a standby for a primary device with the same MAC' },
  { bit: 63, name: 'VIRTIO_NET_F_SPEED_DUPLEX', device: 'net', section: S_NET,
    description: 'Link speed and duplex are reported in config space' },

  // --- Block device ---------------------------------------------------------
  { bit: 0, name: 'VIRTIO_BLK_F_BARRIER', device: 'blk', section: S_BLK_LEGACY, legacy: true,
    description: 'Request barriers are supported' },
  { bit: 1, name: 'VIRTIO_BLK_F_SIZE_MAX', device: 'blk', section: S_BLK,
    description: 'Maximum segment size is given in size_max' },
  { bit: 2, name: 'VIRTIO_BLK_F_SEG_MAX', device: 'blk', section: S_BLK,
    description: 'Maximum segments per request is given in seg_max' },
  { bit: 4, name: 'VIRTIO_BLK_F_GEOMETRY', device: 'blk', section: S_BLK,
    description: 'Disk geometry (cylinders/heads/sectors) is given' },
  { bit: 5, name: 'VIRTIO_BLK_F_RO', device: 'blk', section: S_BLK,
    description: 'Device is read-only' },
  { bit: 6, name: 'VIRTIO_BLK_F_BLK_SIZE', device: 'blk', section: S_BLK,
    description: 'Logical block size is given in blk_size' },
  { bit: 7, name: 'VIRTIO_BLK_F_SCSI', device: 'blk', section: S_BLK_LEGACY, legacy: true,
    description: 'SCSI packet command passthrough' },
  { bit: 9, name: 'VIRTIO_BLK_F_FLUSH', device: 'blk', section: S_BLK, aliases: ['VIRTIO_BLK_F_WCE'],
    description: 'Cache flush command is supported' },
  { bit: 10, name: 'VIRTIO_BLK_F_TOPOLOGY', device: 'blk', section: S_BLK,
    description: 'Optimal I/O alignment and size hints are given' },
  { bit: 11, name: 'VIRTIO_BLK_F_CONFIG_WCE', device: 'blk', section: S_BLK,
    description: 'Cache mode (writeback or writethrough) can be switched in config space' },
  { bit: 12, name: 'VIRTIO_BLK_F_MQ', device: 'blk', section: S_BLK,
    description: 'Multiple request queues' },
  { bit: 13, name: 'VIRTIO_BLK_F_DISCARD', device: 'blk', section: S_BLK,
    description: 'Discard command, with limits in config space' },
  { bit: 14, name: 'VIRTIO_BLK_F_WRITE_ZEROES', device: 'blk', section: S_BLK,
    description: 'Write-zeroes command, with limits in config space' },
  { bit: 15, name: 'VIRTIO_BLK_F_LIFETIME', device: 'blk', section: S_BLK,
    description: 'Device reports storage wear/lifetime information' },
  { bit: 16, name: 'VIRTIO_BLK_F_SECURE_ERASE', device: 'blk', section: S_BLK,
    description: 'Secure erase command, with limits in config space' },
  { bit: 17, name: 'VIRTIO_BLK_F_ZONED', device: 'blk', section: S_BLK,
    description: 'Device is a zoned block device' },

  // --- Console device -------------------------------------------------------
  { bit: 0, name: 'VIRTIO_CONSOLE_F_SIZE', device: 'console', section: '5.3.3',
    description: 'Console columns and rows in config space are valid' },
  { bit: 1, name: 'VIRTIO_CONSOLE_F_MULTIPORT', device: 'console', section: '5.3.3',
    description: 'Multiple ports, managed through control queues' },
  { bit: 2, name: 'VIRTIO_CONSOLE_F_EMERG_WRITE', device: 'console', section: '5.3.3',
    description: 'Emergency write register in config space' },

  // rng (5.4.3) and input (5.8.3): the spec defines no feature bits.

  // --- Traditional memory balloon -------------------------------------------
  { bit: 0, name: 'VIRTIO_BALLOON_F_MUST_TELL_HOST', device: 'balloon', section: '5.5.3',
    description: 'Driver must tell the device before reusing ballooned pages' },
  { bit: 1, name: 'VIRTIO_BALLOON_F_STATS_VQ', device: 'balloon', section: '5.5.3',
    description: 'Memory statistics virtqueue is present' },
  { bit: 2, name: 'VIRTIO_BALLOON_F_DEFLATE_ON_OOM', device: 'balloon', section: '5.5.3',
    description: 'Balloon deflates when the guest runs out of memory' },
  { bit: 3, name: 'VIRTIO_BALLOON_F_FREE_PAGE_HINT', device: 'balloon', section: '5.5.3',
    description: 'Free page hinting virtqueue is present' },
  { bit: 4, name: 'VIRTIO_BALLOON_F_PAGE_POISON', device: 'balloon', section: '5.5.3',
    description: 'Driver writes poison_val into pages after deflating them' },
  { bit: 5, name: 'VIRTIO_BALLOON_F_PAGE_REPORTING', device: 'balloon', section: '5.5.3', aliases: ['VIRTIO_BALLOON_F_REPORTING'],
    description: 'Free page reporting virtqueue is present' },

  // --- SCSI host ------------------------------------------------------------
  { bit: 0, name: 'VIRTIO_SCSI_F_INOUT', device: 'scsi', section: '5.6.3',
    description: 'A request may have both data-in and data-out buffers' },
  { bit: 1, name: 'VIRTIO_SCSI_F_HOTPLUG', device: 'scsi', section: '5.6.3',
    description: 'Hot-plug and hot-unplug events for LUNs and targets' },
  { bit: 2, name: 'VIRTIO_SCSI_F_CHANGE', device: 'scsi', section: '5.6.3',
    description: 'LUN parameter change events' },
  { bit: 3, name: 'VIRTIO_SCSI_F_T10_PI', device: 'scsi', section: '5.6.3',
    description: 'Request header carries T10 protection information fields' },

  // --- GPU ------------------------------------------------------------------
  { bit: 0, name: 'VIRTIO_GPU_F_VIRGL', device: 'gpu', section: '5.7.3',
    description: 'virgl 3D mode' },
  { bit: 1, name: 'VIRTIO_GPU_F_EDID', device: 'gpu', section: '5.7.3',
    description: 'EDID data can be queried' },
  { bit: 2, name: 'VIRTIO_GPU_F_RESOURCE_UUID', device: 'gpu', section: '5.7.3',
    description: 'Resources can get UUIDs for sharing with other virtio devices' },
  { bit: 3, name: 'VIRTIO_GPU_F_RESOURCE_BLOB', device: 'gpu', section: '5.7.3',
    description: 'Size-based blob resources' },
  { bit: 4, name: 'VIRTIO_GPU_F_CONTEXT_INIT', device: 'gpu', section: '5.7.3',
    description: 'Multiple context types and synchronization timelines' },

  // --- Crypto ---------------------------------------------------------------
  { bit: 0, name: 'VIRTIO_CRYPTO_F_REVISION_1', device: 'crypto', section: '5.9.3',
    description: 'Revision 1 request format' },
  { bit: 1, name: 'VIRTIO_CRYPTO_F_CIPHER_STATELESS_MODE', device: 'crypto', section: '5.9.3',
    description: 'Stateless requests for the cipher service' },
  { bit: 2, name: 'VIRTIO_CRYPTO_F_HASH_STATELESS_MODE', device: 'crypto', section: '5.9.3',
    description: 'Stateless requests for the hash service' },
  { bit: 3, name: 'VIRTIO_CRYPTO_F_MAC_STATELESS_MODE', device: 'crypto', section: '5.9.3',
    description: 'Stateless requests for the MAC service' },
  { bit: 4, name: 'VIRTIO_CRYPTO_F_AEAD_STATELESS_MODE', device: 'crypto', section: '5.9.3',
    description: 'Stateless requests for the AEAD service' },
  { bit: 5, name: 'VIRTIO_CRYPTO_F_AKCIPHER_STATELESS_MODE', device: 'crypto', section: '5.9.3',
    description: 'Stateless requests for the asymmetric cipher service' },

  // --- Socket (vsock) -------------------------------------------------------
  { bit: 0, name: 'VIRTIO_VSOCK_F_STREAM', device: 'vsock', section: '5.10.3',
    description: 'Stream sockets' },
  { bit: 1, name: 'VIRTIO_VSOCK_F_SEQPACKET', device: 'vsock', section: '5.10.3',
    description: 'Seqpacket sockets' },
  { bit: 2, name: 'VIRTIO_VSOCK_F_NO_IMPLIED_STREAM', device: 'vsock', section: '5.10.3',
    description: 'Stream support is not implied and must be negotiated' },

  // --- File system ----------------------------------------------------------
  { bit: 0, name: 'VIRTIO_FS_F_NOTIFICATION', device: 'fs', section: '5.11.3',
    description: 'FUSE notification queue (virtqueue 1)' },

  // rpmb (5.12.3): the spec defines no feature bits.

  // --- IOMMU ----------------------------------------------------------------
  { bit: 0, name: 'VIRTIO_IOMMU_F_INPUT_RANGE', device: 'iommu', section: '5.13.3',
    description: 'Usable virtual address range is given in config space' },
  { bit: 1, name: 'VIRTIO_IOMMU_F_DOMAIN_RANGE', device: 'iommu', section: '5.13.3',
    description: 'Supported domain id range is given in config space' },
  { bit: 2, name: 'VIRTIO_IOMMU_F_MAP_UNMAP', device: 'iommu', section: '5.13.3',
    description: 'MAP and UNMAP requests' },
  { bit: 3, name: 'VIRTIO_IOMMU_F_BYPASS', device: 'iommu', section: '5.13.3',
    description: 'Endpoints without a domain bypass translation (superseded by BYPASS_CONFIG)' },
  { bit: 4, name: 'VIRTIO_IOMMU_F_PROBE', device: 'iommu', section: '5.13.3',
    description: 'PROBE request' },
  { bit: 5, name: 'VIRTIO_IOMMU_F_MMIO', device: 'iommu', section: '5.13.3',
    description: 'MMIO flag in MAP requests' },
  { bit: 6, name: 'VIRTIO_IOMMU_F_BYPASS_CONFIG', device: 'iommu', section: '5.13.3',
    description: 'Bypass is controlled by a config field and an attach flag' },

  // --- Sound ----------------------------------------------------------------
  { bit: 0, name: 'VIRTIO_SND_F_CTLS', device: 'sound', section: '5.14.3',
    description: 'Control elements' },

  // --- Memory device --------------------------------------------------------
  { bit: 0, name: 'VIRTIO_MEM_F_ACPI_PXM', device: 'mem', section: '5.15.3',
    description: 'node_id in config space is an ACPI proximity domain' },
  { bit: 1, name: 'VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE', device: 'mem', section: '5.15.3',
    description: 'Driver must not touch unplugged memory' },

  // --- I2C adapter ----------------------------------------------------------
  { bit: 0, name: 'VIRTIO_I2C_F_ZERO_LENGTH_REQUEST', device: 'i2c', section: '5.16.3',
    description: 'Zero-length requests and the read flag (mandatory)' },

  // --- SCMI -----------------------------------------------------------------
  { bit: 0, name: 'VIRTIO_SCMI_F_P2A_CHANNELS', device: 'scmi', section: '5.17.3',
    description: 'Event queue for notifications and delayed responses' },
  { bit: 1, name: 'VIRTIO_SCMI_F_SHARED_MEMORY', device: 'scmi', section: '5.17.3',
    description: 'Statistics shared memory regions' },

  // --- GPIO -----------------------------------------------------------------
  { bit: 0, name: 'VIRTIO_GPIO_F_IRQ', device: 'gpio', section: '5.18.3',
    description: 'Interrupts on GPIO lines' },

  // --- PMEM -----------------------------------------------------------------
  { bit: 0, name: 'VIRTIO_PMEM_F_SHMEM_REGION', device: 'pmem', section: '5.19.3',
    description: 'Memory range is exposed as a shared memory region' },
];

// --- Lookup indexes, built once ---------------------------------------------

const key = (device: string, bit: number): string => `${device}:${bit}`;

const byDeviceBit = new Map<string, FeatureBit>();
const byName = new Map<string, FeatureBit>(); // names and aliases
for (const f of FEATURE_BITS) {
  byDeviceBit.set(key(f.device, f.bit), f);
  for (const n of [f.name, ...(f.aliases ?? [])]) byName.set(n, f);
}

const deviceNames = new Set<string>(DEVICE_TYPES.map((d) => d.name));

// A typo'd device type would silently turn every device bit into bit_<n>,
// so unknown names are rejected.
function checkDeviceType(deviceType: string | undefined): void {
  if (deviceType !== undefined && !deviceNames.has(deviceType)) {
    throw new Error(`unknown device type: ${deviceType}`);
  }
}

const RAW_BIT = /^bit_(\d+)$/;

// Name -> bit number. With a device type, names of other devices are
// rejected, so a mask can't silently mix e.g. blk bits into a net mask.
function bitOf(name: string, deviceType: string | undefined): number {
  const raw = RAW_BIT.exec(name);
  if (raw) return Number(raw[1]);
  const f = byName.get(name);
  if (!f) throw new Error(`unknown feature name: ${name}`);
  if (deviceType !== undefined && f.device !== 'transport' && f.device !== deviceType) {
    throw new Error(`feature ${name} belongs to ${f.device}, not ${deviceType}`);
  }
  return f.bit;
}

/** Bit number of a feature name, alias or `bit_<n>`. Throws if unknown. */
export function featureBitNumber(name: string): number {
  return bitOf(name, undefined);
}

/** Mask (1n << bit) for a feature name, alias or `bit_<n>`. Throws if unknown. */
export function featureBit(name: string): bigint {
  return 1n << BigInt(bitOf(name, undefined));
}

/**
 * The catalog entry that names `bit` for this device type: the device's own
 * entry if it has one, else the transport entry, else undefined.
 */
export function describeFeature(bit: number, deviceType?: string): FeatureBit | undefined {
  checkDeviceType(deviceType);
  return (deviceType !== undefined ? byDeviceBit.get(key(deviceType, bit)) : undefined)
    ?? byDeviceBit.get(key('transport', bit));
}

/** Names of the set bits of `mask`, lowest bit first; uncatalogued bits are `bit_<n>`. */
export function featureNames(mask: bigint, deviceType?: string): string[] {
  if (mask < 0n) throw new RangeError(`feature mask must not be negative: ${mask}`);
  checkDeviceType(deviceType);
  const names: string[] = [];
  for (let bit = 0; mask >> BigInt(bit) !== 0n; bit++) {
    if ((mask >> BigInt(bit)) & 1n) {
      names.push(describeFeature(bit, deviceType)?.name ?? `bit_${bit}`);
    }
  }
  return names;
}

/** Inverse of featureNames: OR of the named bits. Throws an Error naming any unknown name. */
export function parseFeatureNames(names: readonly string[], deviceType?: string): bigint {
  checkDeviceType(deviceType);
  let mask = 0n;
  for (const name of names) mask |= 1n << BigInt(bitOf(name, deviceType));
  return mask;
}
