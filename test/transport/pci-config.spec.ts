import { expect } from 'chai';
import { PCI_CAP_ID } from '../../src/model/pci-capabilities.js';
import { PciConfigDecoder, PciDevice, createDecoder } from '../../src/transport/index.js';
import { Bus, identified, kinds, project, raw, semantic } from './util.js';

const cfg = 'pci-cfg-space' as const;

/**
 * A transitional virtio-net as QEMU lays out config space: IO BAR0, a virtio common-cfg vendor capability at
 * 0x40 pointing to BAR4, then MSI-X at 0x50 with 3 vectors. The reads are the ones Linux makes to walk it
 * (pci_find_capability reads 0x34, then the {id, next} word of each capability).
 */
function walkCapabilities(bus: Bus): void {
  bus.read(cfg, 0x06, 2, 0x0010); // status: capability list
  bus.read(cfg, 0x34, 1, 0x40);
  bus.read(cfg, 0x40, 2, 0x5009); // vendor capability, next 0x50
  bus.read(cfg, 0x43, 1, 1); // cfg_type: common config
  bus.read(cfg, 0x44, 1, 4); // in BAR 4
  bus.read(cfg, 0x50, 2, 0x0011); // MSI-X, end of chain
  bus.read(cfg, 0x52, 2, 0x0002); // message control: table size 3
}

describe('transport: PCI config space', function () {
  it('learns the capability chain from reads, and the MSI-X table size', function () {
    const dec = new PciConfigDecoder({ transport: 'pci-legacy' });
    const bus = new Bus(dec);
    walkCapabilities(bus);
    expect(dec.capabilities()).to.deep.equal([
      { offset: 0x40, id: PCI_CAP_ID.VENDOR, cfgType: 1, bar: 4 },
      { offset: 0x50, id: PCI_CAP_ID.MSIX },
    ]);
    expect(semantic(bus.events.slice(-2))).to.deep.equal([{ kind: 'msix', tableSize: 3 }]);
  });

  it('turns the MSI-X enable and function mask bits of message control into msix events', function () {
    const dev = new PciDevice({ transport: 'pci-legacy' });
    const bus = new Bus(dev);
    walkCapabilities(bus);
    expect(semantic(bus.write(cfg, 0x52, 2, 0xc002))).to.deep.equal([
      { kind: 'pciConfigWritten', offset: 0x52, width: 2, value: 0xc002 },
      { kind: 'msix', enabled: true, functionMask: true },
    ]);
    // a byte write to the high byte of message control (bit 15 = bit 7 of 0x53)
    expect(semantic(bus.write(cfg, 0x53, 1, 0x80))).to.deep.include({ kind: 'msix', enabled: true, functionMask: false });
    expect(dev.state.msixEnabled).to.equal(true);
    // the legacy IO BAR now has the vectors at 20/22
    expect(semantic(bus.write('legacy-io', 20, 2, 0))).to.deep.equal([{ kind: 'msix', configVector: 0 }]);
    const s = project([identified({ transport: 'pci-legacy' }), ...bus.events]);
    expect(s.msix).to.deep.equal({ enabled: true, functionMask: false, configVector: 0, tableSize: 3 });
    expect([...s.pci!.config.slice(0x52, 0x54)]).to.deep.equal([0x02, 0x80]);
  });

  it('flags IO BAR accesses while IO decode is off, and they change nothing', function () {
    const bus = new Bus(createDecoder({ transport: 'pci-legacy' }));
    bus.write(cfg, 0x04, 2, 0x0006); // memory + bus master, IO off
    const off = bus.write('legacy-io', 18, 1, 0);
    expect(raw(off).anomalies).to.deep.equal(['io-decode-off']);
    expect(semantic(off)).to.deep.equal([]);
    bus.write(cfg, 0x04, 2, 0x0007);
    const on = bus.write('legacy-io', 18, 1, 0);
    expect(raw(on).anomalies).to.deep.equal([]);
    expect(kinds(on)).to.deep.equal(['registerAccess', 'statusWritten', 'resetRequested']);
  });

  it('flags memory BAR accesses while memory decode is off', function () {
    const bus = new Bus(createDecoder({ transport: 'pci-modern' }));
    bus.write(cfg, 0x04, 2, 0x0001);
    const off = bus.write('common-cfg', 20, 1, 0);
    expect(raw(off).anomalies).to.deep.equal(['mem-decode-off']);
    expect(semantic(off)).to.deep.equal([]);
  });

  it('knows a BAR is IO space from its type bit, even when the region says otherwise', function () {
    const dev = new PciDevice({ transport: 'pci-modern' });
    const bus = new Bus(dev);
    bus.write(cfg, 0x14, 4, 0xffffffff); // sizing BAR1
    bus.read(cfg, 0x14, 4, 0xffffffc1); // IO space, 64 bytes
    bus.write(cfg, 0x04, 2, 0x0002); // memory on, IO off
    expect(raw(bus.write('notify', 0, 2, 0, { bar: 1 })).anomalies).to.deep.equal(['io-decode-off']);
  });

  it('records config writes as pciConfigWritten and refuses writes to read-only registers', function () {
    const bus = new Bus(createDecoder({ transport: 'pci-modern' }));
    expect(semantic(bus.write(cfg, 0x10, 4, 0xc000))).to.deep.equal([{ kind: 'pciConfigWritten', offset: 0x10, width: 4, value: 0xc000 }]);
    const ro = bus.write(cfg, 0x00, 2, 0xffff);
    expect(raw(ro).anomalies).to.deep.equal(['read-only-write']);
    expect(semantic(ro)).to.deep.equal([]);
  });
});
