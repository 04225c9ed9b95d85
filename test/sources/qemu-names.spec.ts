// QEMU's QMP feature / status names -> masks and status bytes.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { QmpNameError, qemuFeatureBit, qmpFeatureMask, qmpName, qmpStatusByte } from '../../src/sources/qemu-names.js';

const VARIANTS = ['pc-modern-net-blk', 'pc-legacy-msix', 'pc-legacy-intx', 'pc-packed', 'microvm-mmio-legacy', 'microvm-mmio-modern'];

describe('QEMU QMP names', () => {
  it('maps every name QEMU 7.2 printed in the captures; statuses are 0x7 (legacy) / 0xf (modern)', () => {
    for (const v of VARIANTS) {
      const qmp = JSON.parse(readFileSync(path.join('streams/qemu', v, 'qmp.json'), 'utf8'));
      for (const d of qmp.devices) {
        for (const k of ['host-features', 'guest-features', 'backend-features']) expect(() => qmpFeatureMask(d.status[k]), `${v} ${k}`).to.not.throw();
        expect(qmpStatusByte(d.status.status)).to.equal(v.includes('legacy') ? 0x07 : 0x0f);
      }
    }
  });

  it('spec names, aliases, QEMU-only names and unknown-dev-features all count', () => {
    expect(qmpFeatureMask({
      transports: ['VIRTIO_RING_F_EVENT_IDX: Used & avail. event fields enabled', 'VIRTIO_F_IOMMU_PLATFORM: Device can be used on IOMMU platform',
        'VIRTIO_F_VERSION_1: Device compliant for v1 spec (legacy)'],
      'dev-features': ['VHOST_USER_F_PROTOCOL_FEATURES: Vhost-user protocol features negotiation supported', 'VIRTIO_NET_F_MAC: Device has given MAC address'],
      'unknown-dev-features': 1099511627776,
    })).to.equal((1n << 29n) | (1n << 33n) | (1n << 32n) | (1n << 30n) | (1n << 5n) | (1n << 40n));
    expect(qmpFeatureMask({ 'dev-features': ['VIRTIO_NET_F_GUEST_USO4: Driver can receive USOv6'] })).to.equal(1n << 55n);
    expect(qmpFeatureMask({ 'dev-features': ['VIRTIO_NET_F_GUEST_USO4: Driver can receive USOv4'] })).to.equal(1n << 54n);
    expect(qmpFeatureMask({ 'unknown-dev-features': '0x8000000000000001' })).to.equal(0x8000000000000001n);
    expect(qmpFeatureMask({})).to.equal(0n);
    expect(qemuFeatureBit('VHOST_NET_F_VIRTIO_NET_HDR')).to.equal(27);
    expect(qemuFeatureBit('VIRTIO_BLK_F_WCE')).to.equal(9);
    expect(qmpName('  VIRTIO_F_RING_PACKED: Device supports packed VQ layout')).to.equal('VIRTIO_F_RING_PACKED');
  });

  it('unknown names are an error naming every one of them', () => {
    let err: unknown;
    try {
      qmpFeatureMask({ transports: ['VIRTIO_F_NOPE: x', 'VIRTIO_F_VERSION_1: ok'], 'dev-features': ['VIRTIO_NET_F_WHAT: y'] });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(QmpNameError);
    expect((err as QmpNameError).names).to.deep.equal(['VIRTIO_NET_F_WHAT', 'VIRTIO_F_NOPE']);
    expect((err as Error).message).to.equal('unknown QEMU feature names: VIRTIO_NET_F_WHAT, VIRTIO_F_NOPE');
    expect(() => qmpStatusByte({ statuses: ['VIRTIO_CONFIG_S_SLEEPY: z'] })).to.throw(QmpNameError, /VIRTIO_CONFIG_S_SLEEPY/);
    expect(() => qmpFeatureMask({ 'unknown-dev-features': -1 })).to.throw(QmpNameError);
  });

  it('status names: all of QEMU\'s, with or without the VIRTIO_CONFIG_S_ prefix', () => {
    expect(qmpStatusByte({ statuses: [
      'VIRTIO_CONFIG_S_DRIVER_OK: Driver setup and ready', 'VIRTIO_CONFIG_S_FEATURES_OK: Feature negotiation complete',
      'VIRTIO_CONFIG_S_DRIVER: Guest OS compatible with device', 'VIRTIO_CONFIG_S_NEEDS_RESET: Irrecoverable error, device needs reset',
      'VIRTIO_CONFIG_S_FAILED: Error in guest, device failed', 'VIRTIO_CONFIG_S_ACKNOWLEDGE: Valid virtio device found'] })).to.equal(0xcf);
    expect(qmpStatusByte({ statuses: ['DRIVER_OK', 'ACKNOWLEDGE'] })).to.equal(0x05);
    expect(qmpStatusByte({ statuses: [] })).to.equal(0);
  });
});
