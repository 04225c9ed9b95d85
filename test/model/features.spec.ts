import { expect } from 'chai';
import {
  DEVICE_TYPES,
  FEATURE_BITS,
  deviceTypeById,
  deviceTypeByName,
  describeFeature,
  featureBit,
  featureNames,
  parseFeatureNames,
} from '../../src/model/index.js';

describe('model/device-types', () => {
  it('has unique ids and names', () => {
    expect(new Set(DEVICE_TYPES.map((d) => d.id)).size).to.equal(DEVICE_TYPES.length);
    expect(new Set(DEVICE_TYPES.map((d) => d.name)).size).to.equal(DEVICE_TYPES.length);
  });

  it('gives every type the modern PCI id 0x1040 + id', () => {
    for (const d of DEVICE_TYPES) {
      expect(d.pciModernDeviceId, d.name).to.equal(0x1040 + d.id);
    }
  });

  it('has exactly the spec transitional PCI ids', () => {
    const transitional = Object.fromEntries(
      DEVICE_TYPES.filter((d) => d.pciTransitionalDeviceId !== undefined).map((d) => [d.name, d.pciTransitionalDeviceId]),
    );
    expect(transitional).to.deep.equal({
      net: 0x1000, blk: 0x1001, balloon: 0x1002, console: 0x1003, scsi: 0x1004, rng: 0x1005, '9p': 0x1009,
    });
  });

  it('looks types up by name and id', () => {
    expect(deviceTypeByName('net')).to.include({ id: 1, specName: 'Network Device', section: '5.1' });
    expect(deviceTypeById(2)?.name).to.equal('blk');
    expect(deviceTypeById(19)?.name).to.equal('vsock');
    expect(deviceTypeByName('nope')).to.equal(undefined);
    expect(deviceTypeById(0)).to.equal(undefined);
    expect(deviceTypeById(999)).to.equal(undefined);
  });
});

describe('model/features catalog', () => {
  it('only uses known device types', () => {
    const known = new Set<string>(['transport', ...DEVICE_TYPES.map((d) => d.name)]);
    for (const f of FEATURE_BITS) expect(known.has(f.device), `${f.name}: ${f.device}`).to.equal(true);
  });

  it('has no duplicate (device, bit)', () => {
    const seen = new Set<string>();
    for (const f of FEATURE_BITS) {
      const k = `${f.device}:${f.bit}`;
      expect(seen.has(k), `duplicate ${k}`).to.equal(false);
      seen.add(k);
    }
  });

  it('has no duplicate name or alias within a device, nor across the catalog', () => {
    // Names carry a device prefix, so they must be unique globally too;
    // parseFeatureNames relies on that.
    const seen = new Set<string>();
    for (const f of FEATURE_BITS) {
      for (const n of [f.name, ...(f.aliases ?? [])]) {
        expect(seen.has(n), `duplicate name ${n}`).to.equal(false);
        seen.add(n);
      }
    }
  });

  it('has sane fields', () => {
    for (const f of FEATURE_BITS) {
      expect(Number.isInteger(f.bit) && f.bit >= 0 && f.bit < 128, f.name).to.equal(true);
      expect(f.name, f.name).to.match(/^(VIRTIO|VHOST)_[A-Z0-9_]+$/);
      expect(f.description.length, f.name).to.be.greaterThan(0);
      // Only the vhost bit is outside the spec.
      if (f.name !== 'VHOST_F_LOG_ALL') expect(f.section, f.name).to.match(/^\d+(\.\d+)*$/);
    }
  });

  it('keeps device bits out of the transport range 24..41 (virtio 1.3 layout)', () => {
    for (const f of FEATURE_BITS.filter((x) => x.device !== 'transport')) {
      expect(f.bit >= 24 && f.bit <= 41, f.name).to.equal(false);
    }
  });

  it('has the expected well-known bits', () => {
    const at = (device: string, bit: number) => FEATURE_BITS.find((f) => f.device === device && f.bit === bit)?.name;
    expect(at('transport', 32)).to.equal('VIRTIO_F_VERSION_1');
    expect(at('transport', 34)).to.equal('VIRTIO_F_RING_PACKED');
    expect(at('transport', 26)).to.equal('VHOST_F_LOG_ALL');
    expect(at('net', 63)).to.equal('VIRTIO_NET_F_SPEED_DUPLEX');
    expect(at('blk', 17)).to.equal('VIRTIO_BLK_F_ZONED');
    expect(at('iommu', 6)).to.equal('VIRTIO_IOMMU_F_BYPASS_CONFIG');
    expect(FEATURE_BITS.filter((f) => f.device === 'rng')).to.have.length(0);
    expect(FEATURE_BITS.filter((f) => f.device === 'input')).to.have.length(0);
  });
});

describe('model/features featureBit', () => {
  it('returns the mask of a name', () => {
    expect(featureBit('VIRTIO_NET_F_CSUM')).to.equal(1n);
    expect(featureBit('VIRTIO_F_VERSION_1')).to.equal(1n << 32n);
    expect(featureBit('VIRTIO_NET_F_SPEED_DUPLEX')).to.equal(0x8000_0000_0000_0000n);
  });

  it('accepts aliases and bit_<n>', () => {
    expect(featureBit('VIRTIO_F_IOMMU_PLATFORM')).to.equal(featureBit('VIRTIO_F_ACCESS_PLATFORM'));
    expect(featureBit('VIRTIO_RING_F_EVENT_IDX')).to.equal(1n << 29n);
    expect(featureBit('bit_70')).to.equal(1n << 70n);
  });

  it('throws on unknown names', () => {
    expect(() => featureBit('VIRTIO_NET_F_BOGUS')).to.throw(Error, 'VIRTIO_NET_F_BOGUS');
  });
});

describe('model/features featureNames', () => {
  it('decodes a typical net mask', () => {
    expect(featureNames(0x1_30af_ffa7n, 'net')).to.deep.equal([
      'VIRTIO_NET_F_CSUM', // 0
      'VIRTIO_NET_F_GUEST_CSUM', // 1
      'VIRTIO_NET_F_CTRL_GUEST_OFFLOADS', // 2
      'VIRTIO_NET_F_MAC', // 5
      'VIRTIO_NET_F_GUEST_TSO4', // 7
      'VIRTIO_NET_F_GUEST_TSO6', // 8
      'VIRTIO_NET_F_GUEST_ECN', // 9
      'VIRTIO_NET_F_GUEST_UFO', // 10
      'VIRTIO_NET_F_HOST_TSO4', // 11
      'VIRTIO_NET_F_HOST_TSO6', // 12
      'VIRTIO_NET_F_HOST_ECN', // 13
      'VIRTIO_NET_F_HOST_UFO', // 14
      'VIRTIO_NET_F_MRG_RXBUF', // 15
      'VIRTIO_NET_F_STATUS', // 16
      'VIRTIO_NET_F_CTRL_VQ', // 17
      'VIRTIO_NET_F_CTRL_RX', // 18
      'VIRTIO_NET_F_CTRL_VLAN', // 19
      'VIRTIO_NET_F_GUEST_ANNOUNCE', // 21
      'VIRTIO_NET_F_CTRL_MAC_ADDR', // 23
      'VIRTIO_F_INDIRECT_DESC', // 28
      'VIRTIO_F_EVENT_IDX', // 29
      'VIRTIO_F_VERSION_1', // 32
    ]);
  });

  it('decodes a typical blk mask', () => {
    // SEG_MAX, BLK_SIZE, FLUSH, TOPOLOGY, MQ, INDIRECT_DESC, EVENT_IDX, VERSION_1, ACCESS_PLATFORM
    const mask = (1n << 2n) | (1n << 6n) | (1n << 9n) | (1n << 10n) | (1n << 12n)
      | (1n << 28n) | (1n << 29n) | (1n << 32n) | (1n << 33n);
    expect(featureNames(mask, 'blk')).to.deep.equal([
      'VIRTIO_BLK_F_SEG_MAX', 'VIRTIO_BLK_F_BLK_SIZE', 'VIRTIO_BLK_F_FLUSH', 'VIRTIO_BLK_F_TOPOLOGY',
      'VIRTIO_BLK_F_MQ', 'VIRTIO_F_INDIRECT_DESC', 'VIRTIO_F_EVENT_IDX', 'VIRTIO_F_VERSION_1',
      'VIRTIO_F_ACCESS_PLATFORM',
    ]);
  });

  it('keeps bit 63 (SPEED_DUPLEX) as a bigint and as a name', () => {
    const mask = parseFeatureNames(['VIRTIO_NET_F_SPEED_DUPLEX', 'VIRTIO_F_VERSION_1'], 'net');
    expect(typeof mask).to.equal('bigint');
    expect(mask).to.equal((1n << 63n) | (1n << 32n));
    expect(mask > BigInt(Number.MAX_SAFE_INTEGER)).to.equal(true);
    expect(featureNames(mask, 'net')).to.deep.equal(['VIRTIO_F_VERSION_1', 'VIRTIO_NET_F_SPEED_DUPLEX']);
  });

  it('names uncatalogued bits bit_<n>, including bits past 64', () => {
    // 4 is unassigned for net, 58 too; 42 is reserved; 100 and 200 are beyond the catalog.
    const mask = (1n << 4n) | (1n << 42n) | (1n << 58n) | (1n << 100n) | (1n << 200n);
    expect(featureNames(mask, 'net')).to.deep.equal(['bit_4', 'bit_42', 'bit_58', 'bit_100', 'bit_200']);
  });

  it('gives net and blk different names for bit 5', () => {
    expect(featureNames(1n << 5n, 'net')).to.deep.equal(['VIRTIO_NET_F_MAC']);
    expect(featureNames(1n << 5n, 'blk')).to.deep.equal(['VIRTIO_BLK_F_RO']);
  });

  it('names device bits bit_<n> when no device type is given', () => {
    expect(featureNames((1n << 5n) | (1n << 32n))).to.deep.equal(['bit_5', 'VIRTIO_F_VERSION_1']);
  });

  it('names bit 32 VIRTIO_F_VERSION_1 for every device type', () => {
    for (const d of DEVICE_TYPES) {
      expect(featureNames(1n << 32n, d.name), d.name).to.deep.equal(['VIRTIO_F_VERSION_1']);
    }
  });

  it('returns [] for 0n', () => {
    expect(featureNames(0n, 'net')).to.deep.equal([]);
  });

  it('rejects negative masks and unknown device types', () => {
    expect(() => featureNames(-1n, 'net')).to.throw(RangeError);
    expect(() => featureNames(1n, 'nett')).to.throw(Error, 'nett');
  });
});

describe('model/features parseFeatureNames', () => {
  it('round-trips every catalog entry by itself', () => {
    for (const f of FEATURE_BITS) {
      const dt = f.device === 'transport' ? undefined : f.device;
      const mask = parseFeatureNames([f.name], dt);
      expect(mask, f.name).to.equal(1n << BigInt(f.bit));
      expect(featureNames(mask, dt), f.name).to.deep.equal([f.name]);
    }
  });

  it('round-trips all bits of each device type at once', () => {
    const transport = FEATURE_BITS.filter((f) => f.device === 'transport');
    for (const d of DEVICE_TYPES) {
      const entries = [...transport, ...FEATURE_BITS.filter((f) => f.device === d.name)]
        .sort((a, b) => a.bit - b.bit);
      const names = entries.map((f) => f.name);
      const mask = parseFeatureNames(names, d.name);
      expect(featureNames(mask, d.name), d.name).to.deep.equal(names);
    }
  });

  it('round-trips masks with uncatalogued bits', () => {
    const mask = (1n << 0n) | (1n << 4n) | (1n << 32n) | (1n << 63n) | (1n << 99n);
    const names = featureNames(mask, 'net');
    expect(names).to.deep.equal(['VIRTIO_NET_F_CSUM', 'bit_4', 'VIRTIO_F_VERSION_1', 'VIRTIO_NET_F_SPEED_DUPLEX', 'bit_99']);
    expect(parseFeatureNames(names, 'net')).to.equal(mask);
  });

  it('accepts aliases and an empty list', () => {
    expect(parseFeatureNames(['VIRTIO_BLK_F_WCE'], 'blk')).to.equal(1n << 9n);
    expect(parseFeatureNames(['VIRTIO_BALLOON_F_REPORTING'], 'balloon')).to.equal(1n << 5n);
    expect(parseFeatureNames([])).to.equal(0n);
  });

  it('throws an error naming an unknown name', () => {
    expect(() => parseFeatureNames(['VIRTIO_NET_F_CSUM', 'VIRTIO_NET_F_WARP_DRIVE'], 'net'))
      .to.throw(Error, 'VIRTIO_NET_F_WARP_DRIVE');
    expect(() => parseFeatureNames(['bit_x'])).to.throw(Error, 'bit_x');
  });

  it("rejects another device's name when a device type is given", () => {
    expect(() => parseFeatureNames(['VIRTIO_BLK_F_RO'], 'net')).to.throw(Error, 'VIRTIO_BLK_F_RO');
    // Without a device type any catalogued name is fine.
    expect(parseFeatureNames(['VIRTIO_BLK_F_RO'])).to.equal(1n << 5n);
  });
});

describe('model/features describeFeature', () => {
  it('prefers the device entry, then the transport entry', () => {
    expect(describeFeature(5, 'blk')?.name).to.equal('VIRTIO_BLK_F_RO');
    expect(describeFeature(32, 'blk')?.name).to.equal('VIRTIO_F_VERSION_1');
    expect(describeFeature(32)?.section).to.equal('6');
    expect(describeFeature(6, 'net')).to.include({ name: 'VIRTIO_NET_F_GSO', legacy: true, section: '5.1.3.2' });
  });

  it('returns undefined for uncatalogued bits', () => {
    expect(describeFeature(5)).to.equal(undefined);
    expect(describeFeature(4, 'net')).to.equal(undefined);
    expect(describeFeature(0, 'rng')).to.equal(undefined);
    expect(describeFeature(64, 'net')).to.equal(undefined);
  });
});
