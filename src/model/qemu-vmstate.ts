// The fixed layouts of QEMU's virtio device sections, as vmsd-style field tables: per (section or subsection,
// version) the fields in stream order, each with its name, type (which gives its size) and the condition under which
// QEMU writes it. Sources: QEMU 7.2 / 10.0 hw/virtio/virtio.c (virtio_save, vmstate_virtio and its subsections),
// hw/virtio/virtio-pci.c (virtio_pci_save_config, vmstate_virtio_pci_modern_state), hw/virtio/virtio-mmio.c
// (virtio_mmio_save_config, vmstate_virtio_mmio_state), hw/net/virtio-net.c (vmstate_virtio_net_device and its
// rss subsection), hw/block/virtio-blk.c (virtio_blk_save_device). Checked against the committed captures
// (streams/qemu/). Multi-byte integers are big-endian (QEMU's qemu_put_be*), except where a table says `le`.
//
// The reader is src/sources/qemu-state/vmsd-fields.ts; the parts of a section that are not fixed (the PCI config
// space, whose length depends on its capabilities, and the MSI-X table) are read by src/sources/qemu-state/virtio.ts.

export type VmsdScalar = 'u8' | 'bool' | 'be16' | 'be32' | 'be64' | 'le32';

/** What decides whether QEMU writes a field: a fact of the device being read (see VmsdFlags). */
export type VmsdCondition = 'mmio' | 'msix' | 'multiQueue' | 'ctrlGuestOffloads';
export type VmsdFlags = Readonly<Partial<Record<VmsdCondition, boolean>>>;

export type VmsdFieldType =
  | VmsdScalar
  /** a fixed number of raw bytes */
  | { bytes: number }
  /** raw bytes, `per` x the value of an earlier field of the same table, at most `max` */
  | { bytesPer: number; countField: string; max: number }
  /** an array of one scalar, as many as an earlier field of the same table says (at most `max`) */
  | { array: VmsdScalar; countField: string; max: number };

export interface VmsdField {
  readonly name: string;
  readonly type: VmsdFieldType;
  /** written only when this flag of the device is set */
  readonly when?: VmsdCondition;
}

export interface VmsdTable {
  /** the vmsd (or save function) name and version the layout belongs to */
  readonly name: string;
  readonly version: number;
  readonly fields: readonly VmsdField[];
  /** tables of per-queue entries: written for this many queues (VIRTIO_QUEUE_MAX), whether the device has them or not */
  readonly entries?: number;
}

export const SCALAR_SIZE: Readonly<Record<VmsdScalar, number>> = { u8: 1, bool: 1, be16: 2, be32: 4, be64: 8, le32: 4 };

/** VIRTIO_QUEUE_MAX in QEMU 7.2 and 10.0: the per-queue subsections always hold this many entries. */
export const VIRTIO_QUEUE_MAX = 1024;

/** virtio_mmio_save_config */
export const VIRTIO_MMIO_SAVE_CONFIG: VmsdTable = {
  name: 'virtio-mmio save_config', version: 1,
  fields: [
    { name: 'host_features_sel', type: 'be32' },
    { name: 'guest_features_sel', type: 'be32' },
    { name: 'guest_page_shift', type: 'be32' },
  ],
};

/** virtio_save after the bus config: the core registers and the device config */
export const VIRTIO_CORE: VmsdTable = {
  name: 'virtio core', version: 1,
  fields: [
    { name: 'status', type: 'u8' },
    { name: 'isr', type: 'u8' },
    { name: 'queue_sel', type: 'be16' },
    { name: 'guest_features', type: 'be32' },
    { name: 'config_len', type: 'be32' },
    { name: 'config', type: { bytesPer: 1, countField: 'config_len', max: 64 * 1024 } },
    { name: 'num', type: 'be32' },
  ],
};

/** virtio_save, per queue before the first with vring.num == 0 (the vector: virtio_pci_save_queue) */
export const VIRTIO_QUEUE: VmsdTable = {
  name: 'virtio queue', version: 1,
  fields: [
    { name: 'num', type: 'be32' },
    { name: 'align', type: 'be32', when: 'mmio' },
    { name: 'desc', type: 'be64' },
    { name: 'last_avail_idx', type: 'be16' },
    { name: 'vector', type: 'be16', when: 'msix' },
  ],
};

/** The subsections of vmstate "virtio" (and of its bus's extra state), by name; all version 1. */
export const VIRTIO_SUBSECTIONS: Readonly<Record<string, VmsdTable>> = {
  'virtio/device_endian': { name: 'virtio/device_endian', version: 1, fields: [{ name: 'device_endian', type: 'u8' }] },
  'virtio/64bit_features': { name: 'virtio/64bit_features', version: 1, fields: [{ name: 'guest_features', type: 'be64' }] },
  'virtio/virtqueues': {
    name: 'virtio/virtqueues', version: 1, entries: VIRTIO_QUEUE_MAX,
    fields: [{ name: 'avail', type: 'be64' }, { name: 'used', type: 'be64' }],
  },
  'virtio/ringsize': { name: 'virtio/ringsize', version: 1, entries: VIRTIO_QUEUE_MAX, fields: [{ name: 'num_default', type: 'be32' }] },
  'virtio/broken': { name: 'virtio/broken', version: 1, fields: [{ name: 'broken', type: 'bool' }] },
  // no fields of its own: the bus's subsections follow (virtio_pci/..., virtio_mmio/...)
  'virtio/extra_state': { name: 'virtio/extra_state', version: 1, fields: [] },
  'virtio/started': { name: 'virtio/started', version: 1, fields: [{ name: 'started', type: 'bool' }] },
  'virtio/packed_virtqueues': {
    name: 'virtio/packed_virtqueues', version: 1, entries: VIRTIO_QUEUE_MAX,
    fields: [
      { name: 'last_avail_idx', type: 'be16' },
      { name: 'last_avail_wrap_counter', type: 'bool' },
      { name: 'used_idx', type: 'be16' },
      { name: 'used_wrap_counter', type: 'bool' },
      { name: 'inuse', type: 'be32' },
    ],
  },
  'virtio/disabled': { name: 'virtio/disabled', version: 1, fields: [{ name: 'disabled', type: 'bool' }] },
};

/** The bus's own state inside virtio/extra_state: its header fields, then per-queue entries for every possible queue. */
export interface TransportStateLayout {
  readonly head: VmsdTable;
  readonly queue: VmsdTable;
}

const TRANSPORT_QUEUE_ADDRESSES: readonly VmsdField[] = [
  { name: 'desc_lo', type: 'be32' }, { name: 'desc_hi', type: 'be32' },
  { name: 'avail_lo', type: 'be32' }, { name: 'avail_hi', type: 'be32' },
  { name: 'used_lo', type: 'be32' }, { name: 'used_hi', type: 'be32' },
];

export const TRANSPORT_SUBSECTIONS: Readonly<Record<string, TransportStateLayout>> = {
  'virtio_pci/modern_state': {
    head: {
      name: 'virtio_pci/modern_state', version: 1,
      fields: [{ name: 'dfselect', type: 'be32' }, { name: 'gfselect', type: 'be32' }, { name: 'guest_features_lo', type: 'be32' }, { name: 'guest_features_hi', type: 'be32' }],
    },
    // vmstate_virtio_pci_modern_queue_state: num, an unused byte, enabled
    queue: {
      name: 'virtio_pci/modern_queue_state', version: 1, entries: VIRTIO_QUEUE_MAX,
      fields: [{ name: 'num', type: 'be16' }, { name: 'unused', type: 'u8' }, { name: 'enabled', type: 'bool' }, ...TRANSPORT_QUEUE_ADDRESSES],
    },
  },
  'virtio_mmio/state': {
    head: { name: 'virtio_mmio/state', version: 1, fields: [{ name: 'guest_features_lo', type: 'be32' }, { name: 'guest_features_hi', type: 'be32' }] },
    queue: {
      name: 'virtio_mmio/queue_state', version: 1, entries: VIRTIO_QUEUE_MAX,
      fields: [{ name: 'num', type: 'be16' }, { name: 'enabled', type: 'bool' }, ...TRANSPORT_QUEUE_ADDRESSES],
    },
  },
};

/** vmstate_virtio_net_device v11 (the device part of "virtio-net" v11) */
export const VIRTIO_NET_DEVICE_V11: VmsdTable = {
  name: 'virtio-net-device', version: 11,
  fields: [
    { name: 'mac', type: { bytes: 6 } },
    { name: 'tx_waiting', type: 'be32' },
    { name: 'mergeable_rx_bufs', type: 'be32' },
    { name: 'status', type: 'be16' },
    { name: 'promisc', type: 'u8' },
    { name: 'allmulti', type: 'u8' },
    { name: 'mac_table.in_use', type: 'be32' },
    // MAC_TABLE_ENTRIES is 64, but the load side reads whatever in_use says (and drops an over-long table)
    { name: 'mac_table.macs', type: { bytesPer: 6, countField: 'mac_table.in_use', max: 0x10000 } },
    { name: 'vlans', type: { bytes: 4096 >> 3 } },
    { name: 'has_vnet_hdr', type: 'be32' },
    { name: 'mac_table.multi_overflow', type: 'u8' },
    { name: 'mac_table.uni_overflow', type: 'u8' },
    { name: 'alluni', type: 'u8' },
    { name: 'nomulti', type: 'u8' },
    { name: 'nouni', type: 'u8' },
    { name: 'nobcast', type: 'u8' },
    { name: 'has_ufo', type: 'u8' },
    // only when max_queue_pairs > 1, which the stream itself does not say (see virtio-net.ts)
    { name: 'max_queue_pairs', type: 'be16', when: 'multiQueue' },
    { name: 'curr_queue_pairs', type: 'be16', when: 'multiQueue' },
  ],
};

/** after the queue pairs' tx_waiting: only when the guest features have VIRTIO_NET_F_CTRL_GUEST_OFFLOADS */
export const VIRTIO_NET_OFFLOADS: VmsdTable = {
  name: 'virtio-net-device offloads', version: 11, fields: [{ name: 'curr_guest_offloads', type: 'be64', when: 'ctrlGuestOffloads' }],
};

/** VIRTIO_NET_RSS_MAX_KEY_SIZE */
export const VIRTIO_NET_RSS_MAX_KEY_SIZE = 40;

export const VIRTIO_NET_RSS: VmsdTable = {
  name: 'virtio-net-device/rss', version: 1,
  fields: [
    { name: 'enabled', type: 'bool' },
    { name: 'redirect', type: 'bool' },
    { name: 'populate_hash', type: 'bool' },
    { name: 'hash_types', type: 'be32' },
    { name: 'indirections_len', type: 'be16' },
    { name: 'default_queue', type: 'be16' },
    { name: 'key', type: { bytes: VIRTIO_NET_RSS_MAX_KEY_SIZE } },
    { name: 'indirections_table', type: { array: 'be16', countField: 'indirections_len', max: 0x10000 } },
  ],
};

/** vmstate_virtio_balloon_device v1 (the device part of "virtio-balloon" v1; its subsections, written only with
 *  free-page-hint or page-poison on, are not decoded) */
export const VIRTIO_BALLOON_DEVICE_V1: VmsdTable = {
  name: 'virtio-balloon-device', version: 1,
  fields: [
    { name: 'num_pages', type: 'be32' },
    { name: 'actual', type: 'be32' },
  ],
};

/** Sections whose vmsd holds VMSTATE_VIRTIO_DEVICE and whose device has no part of its own (no vdc->vmsd, no
 *  vdc->save): virtio-rng, virtio-scsi (its in-flight requests travel with the SCSI bus) */
export const VIRTIO_EMPTY_DEVICE_PARTS: readonly { vmsd: string; version: number }[] = [
  { vmsd: 'virtio-rng', version: 1 },
  { vmsd: 'virtio-scsi', version: 1 },
];

/** x86-64 sizeof(VirtQueueElementOld), written raw in the host's byte order */
export const VQ_ELEMENT_OLD_SIZE = 49168;

/** virtio_blk_save_device, per in-flight request after its marker byte 1 (the list ends with 0) */
export const VIRTIO_BLK_REQUEST_V2: VmsdTable = {
  name: 'virtio-blk request', version: 2,
  fields: [
    { name: 'queue', type: 'be32', when: 'multiQueue' },
    { name: 'element', type: { bytes: VQ_ELEMENT_OLD_SIZE } },
  ],
};

/** Leading fields of VirtQueueElementOld (x86-64 host byte order): index, out_num, in_num */
export const VQ_ELEMENT_OLD_HEAD: VmsdTable = {
  name: 'VirtQueueElementOld', version: 1,
  fields: [{ name: 'index', type: 'le32' }, { name: 'out_num', type: 'le32' }, { name: 'in_num', type: 'le32' }],
};
