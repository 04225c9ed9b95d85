// Bounds on the values devrec accepts into a device stream. Each is a protocol fact (or the size of what devrec
// models) and is checked where values enter: NDJSON, traces, migration streams, profiles, frames, and by the event
// codec both ways, so nothing in a store can make a reader allocate without limit or loop for ever.

/** Queue indices are 16 bits: queue_select is le16 in struct virtio_pci_common_cfg (virtio 1.2 §4.1.4.3). */
export const MAX_QUEUE_INDEX = 0xffff;
/** num_queues is le16 in the same structure, so a device has at most 65536 queues. */
export const MAX_NUM_QUEUES = 0x10000;
/**
 * Feature words devrec models: selects 0..31 (1024 feature bits). The virtio spec defines bits below 128 today;
 * a device returns 0 for words it does not have (virtio 1.2 §4.1.4.3, device_feature_select).
 */
export const MAX_FEATURE_SELECT = 31;
/** 64-bit feature words after the first one (event highWords): bits 64..1023. */
export const MAX_FEATURE_HIGH_WORDS = 15;
/** Device-specific configuration space devrec keeps (bytes). */
export const MAX_CONFIG_BYTES = 64 * 1024;
/** PCI Express extended configuration space (bytes). */
export const MAX_PCI_CONFIG_BYTES = 4096;
/** Control-queue commands a snapshot may carry. */
export const MAX_CONTROL_COMMANDS = 4096;
/** entries of a NIC's MAC filter tables kept in a state (a control command's le32 count could ask for more) */
export const MAX_NET_FILTER_ENTRIES = 65536;
/** One input line (NDJSON event, QEMU trace line): far above any real line, far below memory trouble. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Decompressed bytes of one gzip input before devrec stops reading (a gzip bomb ends here). */
export const MAX_DECOMPRESSED_BYTES = 4 * 1024 * 1024 * 1024;
/** Bytes of one file read whole (migration streams, profiles): larger is not an input devrec makes or reads. */
export const MAX_WHOLE_FILE_BYTES = 1024 * 1024 * 1024;

/** The latest event time an event can carry: timestamp_ns is a fixed64 (events.proto), nanoseconds since 1970. */
export const MAX_TIMESTAMP_NS = (1n << 64n) - 1n;
