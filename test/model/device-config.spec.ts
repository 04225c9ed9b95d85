// The config layouts (src/model/device-config.ts) and the decoder (src/project/device-config.ts), per device type.
import { expect } from 'chai';
import { DEVICE_CONFIG_LAYOUTS, configLayout } from '../../src/model/device-config.js';
import { deviceTypeByName, describeFeature } from '../../src/model/index.js';
import { configFieldsJson, configFieldsText, decodeDeviceConfig, type ConfigInput } from '../../src/project/device-config.js';

const bit = (...bits: number[]) => bits.reduce((m, b) => m | (1n << BigInt(b)), 0n);

/** Little-endian config bytes from [offset, width, value] triples. */
function le(size: number, ...fields: [number, number, number | bigint][]): Uint8Array {
  const b = new Uint8Array(size);
  for (const [off, width, v] of fields) {
    let x = BigInt(v);
    for (let i = 0; i < width; i++, x >>= 8n) b[off + i] = Number(x & 0xffn);
  }
  return b;
}

const modern = (bytes: Uint8Array, features: bigint | null, extra: Partial<ConfigInput> = {}): ConfigInput =>
  ({ bytes, features, legacy: false, guestByteOrder: null, ...extra });

describe('device config layouts', () => {
  for (const l of DEVICE_CONFIG_LAYOUTS) {
    it(`${l.type}: fields in order, no overlap, feature bits from the catalog, spec sections of the type`, () => {
      const type = deviceTypeByName(l.type);
      expect(type, l.type).to.not.equal(undefined);
      expect(l.section.startsWith(type!.section + '.')).to.equal(true);
      let end = 0;
      for (const f of l.fields) {
        expect(f.offset, f.name).to.be.at.least(end);
        if (f.kind === 'uint') expect([1, 2, 4, 8], f.name).to.include(f.width);
        if (f.kind === 'mac') expect(f.width).to.equal(6);
        end = f.offset + f.width;
        for (const b of f.features ?? []) expect(describeFeature(b, l.type)?.device, `${f.name} bit ${b}`).to.equal(l.type);
        expect(f.section.startsWith(type!.section), f.name).to.equal(true);
      }
      expect(new Set(l.fields.map((f) => f.name)).size).to.equal(l.fields.length);
    });
  }
});

describe('device config decoder', () => {
  it('net: every field with its feature; fields of features not in effect are not present', () => {
    const bytes = le(24, [6, 2, 3], [8, 2, 4], [10, 2, 9000], [12, 4, 25000], [16, 1, 1], [17, 1, 40], [18, 2, 128], [20, 4, 0x1ff]);
    bytes.set([0x52, 0x54, 0, 0x12, 0x34, 0x56], 0);
    const all = decodeDeviceConfig('net', modern(bytes, bit(3, 5, 16, 22, 60, 63)))!;
    expect(configFieldsJson(all)).to.deep.equal({
      mac: '52:54:00:12:34:56', status: '0x3', max_virtqueue_pairs: 4, mtu: 9000, speed: 25000, duplex: 1,
      rss_max_key_size: 40, rss_max_indirection_table_length: 128, supported_hash_types: '0x1ff',
    });
    // HASH_REPORT alone: the key size and hash types exist, the indirection table length does not
    expect(configFieldsJson(decodeDeviceConfig('net', modern(bytes, bit(5, 57)))!)).to.deep.equal({
      mac: '52:54:00:12:34:56', rss_max_key_size: 40, supported_hash_types: '0x1ff',
    });
    expect(configFieldsJson(decodeDeviceConfig('net', modern(bytes, 0n))!)).to.deep.equal({});
  });

  it('blk: capacity always, the rest by feature; u64 past 2^53 as a decimal string', () => {
    const bytes = le(96, [0, 8, 2n ** 60n + 1n], [8, 4, 65536], [12, 4, 254], [16, 2, 1024], [18, 1, 16], [19, 1, 63], [20, 4, 4096],
      [24, 1, 3], [25, 1, 1], [26, 2, 8], [28, 4, 64], [32, 1, 1], [34, 2, 4], [36, 4, 100], [40, 4, 2], [44, 4, 8],
      [48, 4, 200], [52, 4, 3], [56, 1, 1], [60, 4, 300], [64, 4, 5], [68, 4, 16], [72, 4, 524288], [76, 4, 7], [80, 4, 9], [84, 4, 11], [88, 4, 13], [92, 1, 1]);
    const f = configFieldsJson(decodeDeviceConfig('blk', modern(bytes, bit(1, 2, 4, 6, 10, 11, 12, 13, 14, 16, 17)))!);
    expect(f).to.deep.equal({
      capacity: (2n ** 60n + 1n).toString(), size_max: 65536, seg_max: 254, 'geometry.cylinders': 1024, 'geometry.heads': 16, 'geometry.sectors': 63,
      blk_size: 4096, 'topology.physical_block_exp': 3, 'topology.alignment_offset': 1, 'topology.min_io_size': 8, 'topology.opt_io_size': 64,
      writeback: 1, num_queues: 4, max_discard_sectors: 100, max_discard_seg: 2, discard_sector_alignment: 8,
      max_write_zeroes_sectors: 200, max_write_zeroes_seg: 3, write_zeroes_may_unmap: 1,
      max_secure_erase_sectors: 300, max_secure_erase_seg: 5, secure_erase_sector_alignment: 16,
      'zoned.zone_sectors': 524288, 'zoned.max_open_zones': 7, 'zoned.max_active_zones': 9, 'zoned.max_append_sectors': 11,
      'zoned.write_granularity': 13, 'zoned.model': 1,
    });
    expect(configFieldsJson(decodeDeviceConfig('blk', modern(bytes.subarray(0, 8), 0n))!)).to.deep.equal({ capacity: (2n ** 60n + 1n).toString() });
  });

  it('console, scsi, gpu, vsock, fs, balloon', () => {
    expect(configFieldsJson(decodeDeviceConfig('console', modern(le(12, [0, 2, 80], [2, 2, 25], [4, 4, 31], [8, 4, 0]), bit(0, 1, 2)))!))
      .to.deep.equal({ cols: 80, rows: 25, max_nr_ports: 31, emerg_wr: 0 });
    expect(configFieldsJson(decodeDeviceConfig('console', modern(le(12, [4, 4, 31]), bit(1)))!)).to.deep.equal({ max_nr_ports: 31 });
    const scsi = le(36, [0, 4, 1], [4, 4, 126], [8, 4, 0xffff], [12, 4, 128], [16, 4, 0], [20, 4, 96], [24, 4, 32], [28, 2, 0], [30, 2, 255], [32, 4, 16383]);
    expect(configFieldsJson(decodeDeviceConfig('scsi', modern(scsi, 0n))!)).to.deep.equal({
      num_queues: 1, seg_max: 126, max_sectors: 0xffff, cmd_per_lun: 128, event_info_size: 0, sense_size: 96, cdb_size: 32,
      max_channel: 0, max_target: 255, max_lun: 16383,
    });
    expect(configFieldsJson(decodeDeviceConfig('gpu', modern(le(16, [8, 4, 1], [12, 4, 2]), 0n))!))
      .to.deep.equal({ events_read: '0x0', events_clear: '0x0', num_scanouts: 1, num_capsets: 2 });
    expect(configFieldsJson(decodeDeviceConfig('vsock', modern(le(8, [0, 8, 3]), 0n))!)).to.deep.equal({ guest_cid: 3 });
    const fs = le(44, [36, 4, 1], [40, 4, 4096]);
    fs.set(Buffer.from('myfs'), 0);
    expect(configFieldsJson(decodeDeviceConfig('fs', modern(fs, 0n))!)).to.deep.equal({ tag: 'myfs', num_request_queues: 1 });
    expect(configFieldsJson(decodeDeviceConfig('fs', modern(fs, bit(0)))!)).to.deep.equal({ tag: 'myfs', num_request_queues: 1, notify_buf_size: 4096 });
    // the balloon is little-endian through the legacy interface too (virtio 1.3 5.5.4)
    const balloon = decodeDeviceConfig('balloon', { bytes: le(16, [0, 4, 256], [4, 4, 128]), features: 0n, legacy: true, guestByteOrder: null })!;
    expect(balloon.byteOrder).to.equal('little');
    expect(configFieldsJson(balloon)).to.deep.equal({ num_pages: 256, actual: 128 });
    expect(decodeDeviceConfig('rng', modern(new Uint8Array(0), 0n))).to.equal(undefined);
    expect(configLayout('9p')).to.equal(undefined);
  });

  it('legacy devices: guest byte order, or null for multi-byte fields when it is not known', () => {
    const big = Uint8Array.from([0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0]);
    const b = { bytes: big, features: 0n, legacy: true } as const;
    expect(configFieldsJson(decodeDeviceConfig('blk', { ...b, guestByteOrder: 'big' })!)['capacity']).to.equal(0x8000);
    expect(configFieldsJson(decodeDeviceConfig('blk', { ...b, guestByteOrder: 'little' })!)['capacity']).to.equal((0x80n << 48n).toString());
    const unknown = decodeDeviceConfig('blk', { ...b, guestByteOrder: null })!;
    expect(unknown.byteOrder).to.equal(null);
    expect(configFieldsJson(unknown)['capacity']).to.equal(null);
  });

  it('unknown bytes and unknown features are null, never 0', () => {
    const bytes = le(8, [6, 2, 1]);
    bytes.set([1, 2, 3, 4, 5, 6], 0);
    const known = Uint8Array.from([1, 1, 1, 1, 1, 1, 0, 1]); // byte 6 never seen
    const d = decodeDeviceConfig('net', modern(bytes, bit(5, 16), { known }))!;
    expect(configFieldsJson(d)).to.deep.equal({ mac: '01:02:03:04:05:06', status: null });
    expect(configFieldsText(d)).to.equal('mac 01:02:03:04:05:06, status ?');
    // features not known: whether a field exists is not known either
    const nf = configFieldsJson(decodeDeviceConfig('net', modern(bytes, null))!);
    expect(nf['mac']).to.equal(null);
    expect(Object.values(nf).every((v) => v === null)).to.equal(true);
    expect(Object.keys(nf)).to.include.members(['mac', 'status', 'mtu', 'speed']);
    // bytes past what was recorded
    expect(configFieldsJson(decodeDeviceConfig('blk', modern(new Uint8Array(4), 0n))!)).to.deep.equal({ capacity: null });
  });
});
