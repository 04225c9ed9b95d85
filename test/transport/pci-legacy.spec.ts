import { expect } from 'chai';
import { STATUS, featureBit } from '../../src/model/index.js';
import { LegacyPciDecoder, PciDevice, createDecoder } from '../../src/transport/index.js';
import { Bus, identified, kinds, project, raw, semantic } from './util.js';

const { ACKNOWLEDGE: ACK, DRIVER, DRIVER_OK } = STATUS;
const io = 'legacy-io' as const;
const MAC = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const HOST = featureBit('VIRTIO_NET_F_MAC') | featureBit('VIRTIO_NET_F_STATUS') | featureBit('VIRTIO_NET_F_CTRL_VQ');
const GUEST = featureBit('VIRTIO_NET_F_MAC') | featureBit('VIRTIO_NET_F_CTRL_VQ');

/** MSI-X capability at 0x50 (message control at 0x52), as the tests' PCI functions have it. */
const MSIX_CONTROL = 0x52;
const msix = (bus: Bus, on: boolean) => bus.write('pci-cfg-space', MSIX_CONTROL, 2, on ? 0x8002 : 0x0002);

/** Linux virtio_pci_legacy (vp_legacy_*): reset + flush read, ACK, DRIVER, features, queues, DRIVER_OK. */
function linuxLegacyProbe(bus: Bus, opts: { msix: boolean; pfns: number[] }): void {
  let last = 0;
  const status = (v: number) => {
    bus.read(io, 18, 1, last);
    bus.write(io, 18, 1, v);
    last = v;
  };
  bus.write(io, 18, 1, 0); // vp_reset: write 0, then read to flush
  bus.read(io, 18, 1, 0);
  status(ACK);
  status(ACK | DRIVER);
  bus.read(io, 0, 4, HOST);
  bus.write(io, 4, 4, GUEST);
  if (opts.msix) {
    msix(bus, true);
    bus.write(io, 20, 2, 0); // config vector
    bus.read(io, 20, 2, 0);
  }
  opts.pfns.forEach((pfn, q) => {
    bus.write(io, 14, 2, q);
    bus.read(io, 12, 2, 256);
    bus.read(io, 8, 4, 0); // not active yet
    bus.write(io, 8, 4, pfn);
    if (opts.msix) {
      bus.write(io, 22, 2, q + 1);
      bus.read(io, 22, 2, q + 1);
    }
  });
  status(ACK | DRIVER | DRIVER_OK);
  // virtio-net reads its MAC byte by byte (vp_get)
  const config = opts.msix ? 24 : 20;
  MAC.forEach((b, i) => bus.read(io, config + i, 1, b));
}

describe('transport: virtio-pci legacy', function () {
  it('decodes the Linux legacy probe with MSI-X; QUEUE_PFN gives the 4096-aligned rings', function () {
    const bus = new Bus(new PciDevice({ transport: 'pci-legacy', numQueues: 2, configSize: 8, msixCapOffset: 0x50 }));
    linuxLegacyProbe(bus, { msix: true, pfns: [0x12345, 0x12350] });
    const s = project([identified({ transport: 'pci-legacy', pciDevice: 0x1000, pciRevision: 0, configSize: 8 }), ...bus.events]);

    expect(s.status).to.equal(ACK | DRIVER | DRIVER_OK);
    expect(s.features.device).to.equal(HOST);
    expect(s.features.accepted).to.equal(GUEST);
    expect(s.features.acceptedVia).to.equal('legacy-write');
    expect(s.msix).to.include({ enabled: true, configVector: 0 });
    expect([...s.config.slice(0, 6)]).to.deep.equal(MAC);
    // vring layout for 256 entries: desc at pfn << 12, avail right after (16 * 256), used 4096-aligned
    expect(s.queues[0]).to.include({
      size: 256, maxSize: 256, pfn: 0x12345, enabled: true, msixVector: 1,
      desc: 0x12345000n, driver: 0x12346000n, device: 0x12347000n,
    });
    expect(s.queues[1]).to.include({ pfn: 0x12350, desc: 0x12350000n, driver: 0x12351000n, device: 0x12352000n, msixVector: 2 });
  });

  it('decides offset 20 per access: MSI config vector with MSI-X, device config byte 0 without', function () {
    const bus = new Bus(new PciDevice({ transport: 'pci-legacy', configSize: 8, msixCapOffset: 0x50 }));
    const before = bus.write(io, 20, 1, 0x52);
    expect(raw(before).msixEnabled).to.equal(false);
    expect(semantic(before)).to.deep.equal([{ kind: 'configWritten', offset: 0, data: Uint8Array.from([0x52]) }]);

    msix(bus, true);
    const during = bus.write(io, 20, 2, 3);
    expect(raw(during).msixEnabled).to.equal(true);
    expect(semantic(during)).to.deep.equal([{ kind: 'msix', configVector: 3 }]);
    expect(semantic(bus.read(io, 24, 1, 0x52))).to.deep.equal([{ kind: 'configRead', offset: 0, data: Uint8Array.from([0x52]) }]);

    msix(bus, false);
    const after = bus.read(io, 20, 1, 0x52);
    expect(raw(after)).to.include({ offset: 20, msixEnabled: false });
    expect(semantic(after)).to.deep.equal([{ kind: 'configRead', offset: 0, data: Uint8Array.from([0x52]) }]);
  });

  it('an INTx-only device has its config at 20 and no vector registers', function () {
    const bus = new Bus(createDecoder({ transport: 'pci-legacy', numQueues: 2, configSize: 8 }));
    linuxLegacyProbe(bus, { msix: false, pfns: [0x40000, 0x40010] });
    const s = project([identified({ transport: 'pci-legacy', configSize: 8 }), ...bus.events]);
    expect([...s.config.slice(0, 6)]).to.deep.equal(MAC);
    expect(s.msix!.enabled).to.equal(null); // never written: unknown
    expect(s.queues.map((q) => q.msixVector)).to.deep.equal([0xffff, 0xffff]);
    // status (offset 26 = config byte 6) reads as config, not as a register
    expect(semantic(bus.read(io, 26, 2, 1))).to.deep.equal([{ kind: 'configRead', offset: 6, data: Uint8Array.from([1, 0]) }]);
    // ISR is raw only
    expect(kinds(bus.read(io, 19, 1, 1))).to.deep.equal(['registerAccess']);
  });

  it('has no FEATURES_OK: status writes and reads never negotiate', function () {
    const bus = new Bus(new LegacyPciDecoder({ transport: 'pci-legacy' }));
    bus.write(io, 4, 4, 1);
    bus.write(io, 18, 1, 0x0b);
    expect(kinds(bus.read(io, 18, 1, 0x0b))).to.deep.equal(['registerAccess', 'statusRead']);
  });

  it('writes legacy device config in the guest byte order', function () {
    const be = new Bus(new LegacyPciDecoder({ transport: 'pci-legacy', guestEndian: 'big' }));
    expect(semantic(be.write(io, 20, 2, 0x05dc))).to.deep.equal([{ kind: 'configWritten', offset: 0, data: Uint8Array.from([0x05, 0xdc]) }]);
    const lePath = new Bus(new LegacyPciDecoder({ transport: 'pci-legacy' }));
    expect(semantic(lePath.write(io, 20, 2, 0x05dc))).to.deep.equal([{ kind: 'configWritten', offset: 0, data: Uint8Array.from([0xdc, 0x05]) }]);
  });

  it('starts from the msixEnabled option when the PCI config writes were not recorded', function () {
    const bus = new Bus(new LegacyPciDecoder({ transport: 'pci-legacy', msixEnabled: true }));
    expect(semantic(bus.write(io, 22, 2, 4))).to.deep.equal([{ kind: 'queueConfigured', index: 0, msixVector: 4 }]);
  });

  it('QUEUE_NUM 0 means the queue does not exist: no phantom queue', function () {
    const bus = new Bus(new LegacyPciDecoder({ transport: 'pci-legacy' }));
    bus.write(io, 14, 2, 5);
    expect(semantic(bus.read(io, 12, 2, 0))).to.deep.equal([]);
  });
});
