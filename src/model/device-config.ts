// Device configuration space layouts, per device type, as data: where each field sits, how wide it is, how to read
// it, and the feature bit that makes it valid. Source: virtio 1.3 (csd01), the "Device configuration layout"
// subsection of each device type in chapter 5 (section given per type and per field).
//
// Byte order (virtio 1.3 2.5 "Device Configuration Space"): through the modern interface every multi-byte field is
// little-endian. Through the legacy interface (4.1.4.10 PCI, 4.2.4 MMIO "Legacy Interface") the fields are in the
// guest's native byte order, except where a device type says otherwise (the balloon: always little-endian,
// 5.5.4 "Legacy Interface"). `legacyByteOrder` records which.

import { featureBitNumber } from './features.js';

/** How a field's bytes become a value. */
export type ConfigFieldKind =
  /** unsigned integer of `width` bytes (1, 2, 4 or 8) in the config byte order: a count, size or value */
  | 'uint'
  /** the same, holding bit flags (net status, hash types, gpu events): shown "0x..." as every register value is */
  | 'bits'
  /** 6-byte Ethernet address, shown aa:bb:cc:dd:ee:ff */
  | 'mac'
  /** UTF-8 text, NUL-padded to `width` bytes */
  | 'text';

export interface ConfigField {
  /** the spec's field name; members of a nested struct are `struct.member` (e.g. `geometry.cylinders`) */
  readonly name: string;
  readonly offset: number;
  readonly width: number;
  readonly kind: ConfigFieldKind;
  /**
   * Feature bits (any one suffices) that make the field valid; absent: always valid. A field whose feature is not
   * in effect is not present (not a value).
   */
  readonly features?: readonly number[];
  /** Spec section describing the field. */
  readonly section: string;
  /**
   * Part of what the guest driver was set up with (a difference breaks a migrated driver); false for fields that
   * move at run time or that the driver writes (link status, speed, cache mode, balloon targets).
   */
  readonly abi: boolean;
  /** Why the field is special, when it is (driver-written, legacy name, ...). */
  readonly note?: string;
}

export interface DeviceConfigLayout {
  /** devrec device type name (src/model/device-types.ts) */
  readonly type: string;
  /** spec section of the layout */
  readonly section: string;
  /** byte order of multi-byte fields through the legacy interface */
  readonly legacyByteOrder: 'guest' | 'little';
  readonly fields: readonly ConfigField[];
}

const u = (name: string, offset: number, width: number, section: string, features?: readonly number[], abi = true, note?: string): ConfigField => ({
  name, offset, width, kind: 'uint', section, abi, ...(features ? { features } : {}), ...(note ? { note } : {}),
});

/** An unsigned field of bit flags. */
const bits = (name: string, offset: number, width: number, section: string, features?: readonly number[], abi = true, note?: string): ConfigField => ({
  ...u(name, offset, width, section, features, abi, note), kind: 'bits',
});

// feature bits that make fields valid, by their spec names (numbers from the catalog, src/model/features.ts)
const bit = featureBitNumber;
const NET_F_MTU = bit('VIRTIO_NET_F_MTU');
const NET_F_MAC = bit('VIRTIO_NET_F_MAC');
const NET_F_STATUS = bit('VIRTIO_NET_F_STATUS');
const NET_F_MQ = bit('VIRTIO_NET_F_MQ');
const NET_F_HASH_REPORT = bit('VIRTIO_NET_F_HASH_REPORT');
const NET_F_RSS = bit('VIRTIO_NET_F_RSS');
const NET_F_SPEED_DUPLEX = bit('VIRTIO_NET_F_SPEED_DUPLEX');

const BLK_F_SIZE_MAX = bit('VIRTIO_BLK_F_SIZE_MAX');
const BLK_F_SEG_MAX = bit('VIRTIO_BLK_F_SEG_MAX');
const BLK_F_GEOMETRY = bit('VIRTIO_BLK_F_GEOMETRY');
const BLK_F_BLK_SIZE = bit('VIRTIO_BLK_F_BLK_SIZE');
const BLK_F_TOPOLOGY = bit('VIRTIO_BLK_F_TOPOLOGY');
const BLK_F_CONFIG_WCE = bit('VIRTIO_BLK_F_CONFIG_WCE');
const BLK_F_MQ = bit('VIRTIO_BLK_F_MQ');
const BLK_F_DISCARD = bit('VIRTIO_BLK_F_DISCARD');
const BLK_F_WRITE_ZEROES = bit('VIRTIO_BLK_F_WRITE_ZEROES');
const BLK_F_SECURE_ERASE = bit('VIRTIO_BLK_F_SECURE_ERASE');
const BLK_F_ZONED = bit('VIRTIO_BLK_F_ZONED');

const NET = '5.1.4';
const BLK = '5.2.4';

export const DEVICE_CONFIG_LAYOUTS: readonly DeviceConfigLayout[] = [
  {
    type: 'net', section: NET, legacyByteOrder: 'guest',
    fields: [
      { name: 'mac', offset: 0, width: 6, kind: 'mac', features: [NET_F_MAC], section: NET, abi: true },
      bits('status', 6, 2, NET, [NET_F_STATUS], false, 'link state (VIRTIO_NET_S_LINK_UP 1, VIRTIO_NET_S_ANNOUNCE 2); moves at run time'),
      u('max_virtqueue_pairs', 8, 2, NET, [NET_F_MQ, NET_F_RSS]),
      u('mtu', 10, 2, NET, [NET_F_MTU]),
      u('speed', 12, 4, NET, [NET_F_SPEED_DUPLEX], false, 'Mbit/s; 0xffffffff = unknown'),
      u('duplex', 16, 1, NET, [NET_F_SPEED_DUPLEX], false, '0x00 half, 0x01 full, 0xff unknown'),
      u('rss_max_key_size', 17, 1, NET, [NET_F_RSS, NET_F_HASH_REPORT]),
      u('rss_max_indirection_table_length', 18, 2, NET, [NET_F_RSS]),
      bits('supported_hash_types', 20, 4, NET, [NET_F_RSS, NET_F_HASH_REPORT]),
    ],
  },
  {
    type: 'blk', section: BLK, legacyByteOrder: 'guest',
    fields: [
      u('capacity', 0, 8, BLK, undefined, true, '512-byte sectors'),
      u('size_max', 8, 4, BLK, [BLK_F_SIZE_MAX]),
      u('seg_max', 12, 4, BLK, [BLK_F_SEG_MAX]),
      u('geometry.cylinders', 16, 2, BLK, [BLK_F_GEOMETRY]),
      u('geometry.heads', 18, 1, BLK, [BLK_F_GEOMETRY]),
      u('geometry.sectors', 19, 1, BLK, [BLK_F_GEOMETRY]),
      u('blk_size', 20, 4, BLK, [BLK_F_BLK_SIZE]),
      u('topology.physical_block_exp', 24, 1, BLK, [BLK_F_TOPOLOGY]),
      u('topology.alignment_offset', 25, 1, BLK, [BLK_F_TOPOLOGY]),
      u('topology.min_io_size', 26, 2, BLK, [BLK_F_TOPOLOGY]),
      u('topology.opt_io_size', 28, 4, BLK, [BLK_F_TOPOLOGY]),
      u('writeback', 32, 1, BLK, [BLK_F_CONFIG_WCE], false, 'cache mode the driver writes: 0 writethrough, 1 writeback'),
      u('num_queues', 34, 2, BLK, [BLK_F_MQ]),
      u('max_discard_sectors', 36, 4, BLK, [BLK_F_DISCARD]),
      u('max_discard_seg', 40, 4, BLK, [BLK_F_DISCARD]),
      u('discard_sector_alignment', 44, 4, BLK, [BLK_F_DISCARD]),
      u('max_write_zeroes_sectors', 48, 4, BLK, [BLK_F_WRITE_ZEROES]),
      u('max_write_zeroes_seg', 52, 4, BLK, [BLK_F_WRITE_ZEROES]),
      u('write_zeroes_may_unmap', 56, 1, BLK, [BLK_F_WRITE_ZEROES]),
      u('max_secure_erase_sectors', 60, 4, BLK, [BLK_F_SECURE_ERASE]),
      u('max_secure_erase_seg', 64, 4, BLK, [BLK_F_SECURE_ERASE]),
      u('secure_erase_sector_alignment', 68, 4, BLK, [BLK_F_SECURE_ERASE]),
      u('zoned.zone_sectors', 72, 4, BLK, [BLK_F_ZONED]),
      u('zoned.max_open_zones', 76, 4, BLK, [BLK_F_ZONED]),
      u('zoned.max_active_zones', 80, 4, BLK, [BLK_F_ZONED]),
      u('zoned.max_append_sectors', 84, 4, BLK, [BLK_F_ZONED]),
      u('zoned.write_granularity', 88, 4, BLK, [BLK_F_ZONED]),
      u('zoned.model', 92, 1, BLK, [BLK_F_ZONED], true, '0 none, 1 host-managed, 2 host-aware'),
    ],
  },
  {
    type: 'console', section: '5.3.4', legacyByteOrder: 'guest',
    fields: [
      u('cols', 0, 2, '5.3.4', [bit('VIRTIO_CONSOLE_F_SIZE')], false, 'the console size moves at run time'),
      u('rows', 2, 2, '5.3.4', [bit('VIRTIO_CONSOLE_F_SIZE')], false, 'the console size moves at run time'),
      u('max_nr_ports', 4, 4, '5.3.4', [bit('VIRTIO_CONSOLE_F_MULTIPORT')]),
      u('emerg_wr', 8, 4, '5.3.4', [bit('VIRTIO_CONSOLE_F_EMERG_WRITE')], false, 'written by the driver (one character); reads give no device value'),
    ],
  },
  {
    type: 'balloon', section: '5.5.4', legacyByteOrder: 'little',
    fields: [
      u('num_pages', 0, 4, '5.5.4', undefined, false, 'the device\'s target, moves at run time'),
      u('actual', 4, 4, '5.5.4', undefined, false, 'written by the driver'),
      u('free_page_hint_cmd_id', 8, 4, '5.5.4', [bit('VIRTIO_BALLOON_F_FREE_PAGE_HINT')], false),
      u('poison_val', 12, 4, '5.5.4', [bit('VIRTIO_BALLOON_F_PAGE_POISON')]),
    ],
  },
  {
    type: 'scsi', section: '5.6.4', legacyByteOrder: 'guest',
    fields: [
      u('num_queues', 0, 4, '5.6.4'),
      u('seg_max', 4, 4, '5.6.4'),
      u('max_sectors', 8, 4, '5.6.4'),
      u('cmd_per_lun', 12, 4, '5.6.4'),
      u('event_info_size', 16, 4, '5.6.4'),
      u('sense_size', 20, 4, '5.6.4', undefined, true, 'the driver may write it'),
      u('cdb_size', 24, 4, '5.6.4', undefined, true, 'the driver may write it'),
      u('max_channel', 28, 2, '5.6.4'),
      u('max_target', 30, 2, '5.6.4'),
      u('max_lun', 32, 4, '5.6.4'),
    ],
  },
  {
    type: 'gpu', section: '5.7.4', legacyByteOrder: 'guest',
    fields: [
      bits('events_read', 0, 4, '5.7.4', undefined, false),
      bits('events_clear', 4, 4, '5.7.4', undefined, false, 'written by the driver'),
      u('num_scanouts', 8, 4, '5.7.4'),
      u('num_capsets', 12, 4, '5.7.4'),
    ],
  },
  {
    type: 'vsock', section: '5.10.4', legacyByteOrder: 'guest',
    fields: [u('guest_cid', 0, 8, '5.10.4', undefined, true, 'only the low 32 bits are used')],
  },
  {
    type: 'fs', section: '5.11.4', legacyByteOrder: 'guest',
    fields: [
      { name: 'tag', offset: 0, width: 36, kind: 'text', section: '5.11.4', abi: true, note: 'UTF-8, NUL-padded' },
      u('num_request_queues', 36, 4, '5.11.4'),
      u('notify_buf_size', 40, 4, '5.11.4', [bit('VIRTIO_FS_F_NOTIFICATION')]),
    ],
  },
];

const byType = new Map(DEVICE_CONFIG_LAYOUTS.map((l) => [l.type, l]));

export function configLayout(type: string): DeviceConfigLayout | undefined {
  return byType.get(type);
}

/** One field of a device type's layout, by its spec name; throws when the table has no such field. */
export function configField(type: string, name: string): ConfigField {
  const f = byType.get(type)?.fields.find((x) => x.name === name);
  if (!f) throw new Error(`no config field ${name} for device type ${type}`);
  return f;
}
