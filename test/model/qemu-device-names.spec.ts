// One device id per device whichever QEMU source saw it: a trace names the virtio-pci proxy (pci_cfg_write),
// a device-state stream the vmsd (section idstr); both must lead to the same `<name>@<address>`.
import { expect } from 'chai';
import { QEMU_VIRTIO_DEVICE_NAMES, qemuDeviceByVmsd, qemuDeviceTypeOfPci, qemuIdName } from '../../src/model/qemu-names.js';
import { deviceIdOf } from '../../src/sources/qemu-savevm.js';

describe('QEMU device names -> device ids', () => {
  for (const d of QEMU_VIRTIO_DEVICE_NAMES) {
    it(`${d.type}: every proxy type and every vmsd name give one id (pci and mmio)`, () => {
      for (const proxy of [d.pci, `${d.pci}-transitional`, `${d.pci}-non-transitional`, ...(d.pciAlso ?? [])]) {
        expect(qemuDeviceTypeOfPci(proxy), proxy).to.equal(d.type);
      }
      for (const vmsd of d.vmsd) {
        expect(qemuDeviceByVmsd(vmsd)?.type).to.equal(d.type);
        expect(deviceIdOf({ bus: 'pci', vmsdName: vmsd, pciAddress: '00:03.0' })).to.equal(`${d.pci}@00:03.0`);
        expect(deviceIdOf({ bus: 'mmio', vmsdName: vmsd, mmioBase: 0xfeb02e00n }))
          .to.equal(`${qemuIdName(d.type, 'mmio')}@feb02e00`);
      }
    });
  }

  it('the console is virtio-serial-pci / virtio-serial-device, as QEMU names its proxies, not its vmsd', () => {
    expect(deviceIdOf({ bus: 'pci', vmsdName: 'virtio-console', pciAddress: '00:05.0' })).to.equal('virtio-serial-pci@00:05.0');
    expect(qemuIdName('console', 'mmio')).to.equal('virtio-serial-device');
  });
});
