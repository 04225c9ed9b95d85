import { expect } from 'chai';
import { STATUS, featureBit, featureNames } from '../../src/model/index.js';
import { createDecoder, ModernPciDecoder, PciDevice } from '../../src/transport/index.js';
import { Bus, identified, kinds, project, raw, semantic } from './util.js';

const { ACKNOWLEDGE: ACK, DRIVER, FEATURES_OK, DRIVER_OK } = STATUS;

const OFFER =
  featureBit('VIRTIO_F_VERSION_1') | featureBit('VIRTIO_F_ACCESS_PLATFORM') | featureBit('VIRTIO_F_RING_RESET') |
  featureBit('VIRTIO_NET_F_MAC') | featureBit('VIRTIO_NET_F_STATUS') | featureBit('VIRTIO_NET_F_CTRL_VQ') |
  featureBit('VIRTIO_NET_F_MRG_RXBUF');
const DRIVER_FEATURES = OFFER & ~featureBit('VIRTIO_F_RING_RESET');
const lo = (v: bigint): bigint => v & 0xffffffffn;
const hi = (v: bigint): bigint => v >> 32n;

/** Rings above 4 GiB, so both halves of every address matter. */
const RINGS = [
  { desc: 0x1_2345_0000n, driver: 0x1_2345_1000n, device: 0x1_2345_2000n, vector: 1 },
  { desc: 0x2_0000_8000n, driver: 0x2_0000_9000n, device: 0x2_0000_a000n, vector: 2 },
];

/**
 * What Linux's virtio_pci_modern + virtio core do to probe a virtio-net device (drivers/virtio/virtio.c,
 * virtio_pci_modern.c, virtio_pci_modern_dev.c): reset and wait for 0, ACKNOWLEDGE, DRIVER, both device
 * feature words, both driver feature words, FEATURES_OK and read back, MSI-X on, config vector, then per
 * queue: select, size (read max, write), addresses lo/hi, notify_off, vector (write, read back); enable each
 * queue; DRIVER_OK. Each virtio_add_status reads the status before writing it.
 */
function linuxModernProbe(bus: Bus): void {
  const cc = 'common-cfg' as const;
  let lastStatus = 0;
  const status = (value: number) => {
    bus.read(cc, 20, 1, lastStatus);
    bus.write(cc, 20, 1, value);
    lastStatus = value;
  };
  bus.write('pci-cfg-space', 0x04, 2, 0x0007); // pci_enable_device + set_master
  bus.write(cc, 20, 1, 0); // vp_reset
  bus.read(cc, 20, 1, 0); // ...until status reads 0
  status(ACK);
  status(ACK | DRIVER);
  for (const word of [0, 1]) {
    bus.write(cc, 0, 4, word);
    bus.read(cc, 4, 4, (OFFER >> BigInt(32 * word)) & 0xffffffffn);
  }
  for (const word of [0, 1]) {
    bus.write(cc, 8, 4, word);
    bus.write(cc, 12, 4, (DRIVER_FEATURES >> BigInt(32 * word)) & 0xffffffffn);
  }
  status(ACK | DRIVER | FEATURES_OK);
  bus.read(cc, 20, 1, ACK | DRIVER | FEATURES_OK); // virtio_features_ok: the device kept it
  bus.read('pci-cfg-space', 0x52, 2, 0x0002); // pci_msix_vec_count: table size 3
  bus.write('pci-cfg-space', 0x52, 2, 0xc002); // MSI-X on, function masked
  bus.write('pci-cfg-space', 0x52, 2, 0x8002); // unmask
  bus.write(cc, 16, 2, 0); // config vector 0
  bus.read(cc, 16, 2, 0);
  RINGS.forEach((r, q) => {
    bus.write(cc, 22, 2, q);
    bus.read(cc, 24, 2, 256); // maximum
    bus.read(cc, 28, 2, 0); // not enabled yet
    bus.write(cc, 24, 2, 256);
    bus.write(cc, 32, 4, lo(r.desc));
    bus.write(cc, 36, 4, hi(r.desc));
    bus.write(cc, 40, 4, lo(r.driver));
    bus.write(cc, 44, 4, hi(r.driver));
    bus.write(cc, 48, 4, lo(r.device));
    bus.write(cc, 52, 4, hi(r.device));
    bus.read(cc, 30, 2, q);
    bus.write(cc, 26, 2, r.vector);
    bus.read(cc, 26, 2, r.vector);
  });
  RINGS.forEach((_, q) => {
    bus.write(cc, 22, 2, q);
    bus.write(cc, 28, 2, 1);
  });
  status(ACK | DRIVER | FEATURES_OK | DRIVER_OK);
}

describe('transport: virtio-pci modern', function () {
  it('decodes the Linux probe sequence into the state the device ends in', function () {
    const dev = new PciDevice({ transport: 'pci-modern', numQueues: 2, msixCapOffset: 0x50 });
    const bus = new Bus(dev);
    linuxModernProbe(bus);
    const s = project([identified({ transport: 'pci-modern' }), ...bus.events]);

    expect(s.status).to.equal(ACK | DRIVER | FEATURES_OK | DRIVER_OK);
    expect(s.resetPending).to.equal(false);
    expect(s.features.device).to.equal(OFFER);
    expect(s.features.driver).to.equal(DRIVER_FEATURES);
    expect(s.features.accepted).to.equal(DRIVER_FEATURES);
    expect(s.features.acceptedVia).to.equal('features-ok');
    expect(s.features.negotiation).to.equal('accepted');
    expect(s.msix).to.deep.equal({ enabled: true, functionMask: false, configVector: 0, tableSize: 3 });
    expect(s.queueSelect).to.equal(1);
    expect(s.queues).to.have.length(2);
    RINGS.forEach((r, q) => {
      expect(s.queues[q], `queue ${q}`).to.include({
        index: q, size: 256, maxSize: 256, enabled: true, desc: r.desc, driver: r.driver, device: r.device,
        msixVector: r.vector, notifyOff: q, resetPending: false,
      });
    });
  });

  it('keeps every access raw first, with the context it was decoded in', function () {
    const bus = new Bus(new PciDevice({ transport: 'pci-modern', numQueues: 2, msixCapOffset: 0x50 }));
    linuxModernProbe(bus);
    expect(bus.events[0]!.body.kind).to.equal('registerAccess');
    for (const e of bus.events) if (e.body.kind === 'registerAccess') expect(e.body.anomalies).to.deep.equal([]);
    const desc = bus.events.find((e) => e.body.kind === 'registerAccess' && e.body.offset === 36 && e.body.selectedQueue === 1);
    expect(desc?.body).to.include({ transport: 'pci-modern', region: 'common-cfg', width: 4, direction: 'write', msixEnabled: true });
    expect(desc?.path).to.equal('mmio');
  });

  it('assembles 64-bit addresses from halves, emitting the full address at each half', function () {
    const bus = new Bus(new ModernPciDecoder({ transport: 'pci-modern' }));
    expect(semantic(bus.write('common-cfg', 32, 4, 0x5000))).to.deep.equal([{ kind: 'queueConfigured', index: 0, desc: 0x5000n }]);
    expect(semantic(bus.write('common-cfg', 36, 4, 0x1))).to.deep.equal([{ kind: 'queueConfigured', index: 0, desc: 0x1_0000_5000n }]);
    expect(semantic(bus.write('common-cfg', 32, 4, 0x6000))).to.deep.equal([{ kind: 'queueConfigured', index: 0, desc: 0x1_0000_6000n }]);
    // one 8-byte access sets the whole address
    expect(semantic(bus.write('common-cfg', 40, 8, 0x3_0000_7000n))).to.deep.equal([{ kind: 'queueConfigured', index: 0, driver: 0x3_0000_7000n }]);
    expect(raw(bus.events.slice(-2)).anomalies).to.deep.equal([]);
  });

  it('reports FEATURES_OK refused when the device clears it', function () {
    const bus = new Bus(createDecoder({ transport: 'pci-modern' }));
    bus.write('common-cfg', 8, 4, 1);
    bus.write('common-cfg', 12, 4, 1);
    bus.write('common-cfg', 20, 1, ACK | DRIVER | FEATURES_OK);
    const back = bus.read('common-cfg', 20, 1, ACK | DRIVER);
    expect(semantic(back)).to.deep.equal([
      { kind: 'statusRead', status: ACK | DRIVER },
      { kind: 'featuresNegotiated', accepted: false, features: 1n << 32n, highWords: [] },
    ]);
    expect(back[2]!.actor).to.equal('device');
    // the next status read asks nothing
    expect(kinds(bus.read('common-cfg', 20, 1, ACK | DRIVER))).to.deep.equal(['registerAccess', 'statusRead']);
  });

  it('turns a reset into resetRequested and the read of 0 into resetCompleted', function () {
    const bus = new Bus(createDecoder({ transport: 'pci-modern' }));
    expect(semantic(bus.write('common-cfg', 20, 1, 0))).to.deep.equal([
      { kind: 'statusWritten', status: 0 }, { kind: 'resetRequested', scope: 'device-reset', queue: 0 },
    ]);
    expect(kinds(bus.read('common-cfg', 20, 1, 0))).to.deep.equal(['registerAccess', 'statusRead', 'resetCompleted']);
    expect(kinds(bus.read('common-cfg', 20, 1, 0))).to.deep.equal(['registerAccess', 'statusRead']);
  });

  it('decodes a queue reset and its completion', function () {
    const bus = new Bus(createDecoder({ transport: 'pci-modern', numQueues: 2 }));
    bus.write('common-cfg', 22, 2, 1);
    expect(semantic(bus.write('common-cfg', 58, 2, 1))).to.deep.equal([{ kind: 'resetRequested', scope: 'queue-reset', queue: 1 }]);
    expect(semantic(bus.read('common-cfg', 58, 2, 1))).to.deep.equal([]);
    expect(semantic(bus.read('common-cfg', 58, 2, 0))).to.deep.equal([{ kind: 'resetCompleted', scope: 'queue-reset', queue: 1 }]);
  });

  it('decodes 0x300020000 written as driver features to CTRL_VQ, VERSION_1 and ACCESS_PLATFORM', function () {
    const bus = new Bus(createDecoder({ transport: 'pci-modern', deviceType: 'net' }));
    const value = 0x300020000n;
    bus.write('common-cfg', 8, 4, 0);
    bus.write('common-cfg', 12, 4, lo(value));
    bus.write('common-cfg', 8, 4, 1);
    bus.write('common-cfg', 12, 4, hi(value));
    const s = project([identified({ transport: 'pci-modern' }), ...bus.events]);
    expect(s.features.driver).to.equal(value);
    expect(featureNames(s.features.driver!, 'net')).to.deep.equal(['VIRTIO_NET_F_CTRL_VQ', 'VIRTIO_F_VERSION_1', 'VIRTIO_F_ACCESS_PLATFORM']);
  });

  it('reads of config, vectors and notify_off report what the device holds', function () {
    const bus = new Bus(createDecoder({ transport: 'pci-modern', configSize: 12 }));
    expect(semantic(bus.read('device-cfg', 0, 4, 0x00545452))).to.deep.equal([{ kind: 'configRead', offset: 0, data: Uint8Array.from([0x52, 0x54, 0x54, 0]) }]);
    expect(semantic(bus.write('device-cfg', 10, 2, 1500))).to.deep.equal([{ kind: 'configWritten', offset: 10, data: Uint8Array.from([0xdc, 0x05]) }]);
    bus.write('common-cfg', 26, 2, 5);
    // the device could not take vector 5: it reads back NO_VECTOR
    const back = bus.read('common-cfg', 26, 2, 0xffff);
    expect(semantic(back)).to.deep.equal([{ kind: 'queueConfigured', index: 0, msixVector: 0xffff }]);
    expect(back[1]!.actor).to.equal('device');
  });

  it('applies a wrong-width access at a register start the way QEMU does, and ignores one inside a register', function () {
    const bus = new Bus(createDecoder({ transport: 'pci-modern' }));
    // QEMU switches on the start offset: a 4-byte write at 20 sets device_status to the low byte
    const wide = bus.write('common-cfg', 20, 4, 0x0001_0003);
    expect(raw(wide).anomalies).to.have.members(['wrong-width', 'straddle']);
    expect(semantic(wide)).to.deep.equal([{ kind: 'statusWritten', status: 3 }]);
    // a write starting at byte 2 of driver_feature matches no register start: no effect
    const inside = bus.write('common-cfg', 14, 2, 0xffff);
    expect(raw(inside).anomalies).to.deep.equal(['wrong-width']);
    expect(semantic(inside)).to.deep.equal([]);
    // an 8-byte write at 8 is two 4-byte writes for QEMU: select word 1, then write it
    const pair = bus.write('common-cfg', 8, 8, (0x2n << 32n) | 1n);
    expect(semantic(pair)).to.deep.equal([{ kind: 'driverFeatures', select: 1, value: 2n, highWords: [] }]);
  });

  it('ignores writes to feature words past 128 bits, like QEMU', function () {
    const bus = new Bus(createDecoder({ transport: 'pci-modern' }));
    bus.write('common-cfg', 8, 4, 0xffff_ffff);
    expect(semantic(bus.write('common-cfg', 12, 4, 1))).to.deep.equal([]);
    bus.write('common-cfg', 0, 4, 3);
    expect(semantic(bus.read('common-cfg', 4, 4, 7))).to.deep.equal([{ kind: 'deviceFeatures', select: 3, value: 7n, highWords: [] }]);
  });

  it('makes no value-dependent event from a read whose value the source did not see', function () {
    const bus = new Bus(createDecoder({ transport: 'pci-modern' }));
    bus.write('common-cfg', 20, 1, 0);
    const unseen = bus.read('common-cfg', 20, 1, 0, { valueKnown: false });
    expect(kinds(unseen)).to.deep.equal(['registerAccess']);
    expect(raw(unseen).anomalies).to.deep.equal([]);
  });
});
