import { expect } from 'chai';
import { STATUS, featureBit } from '../../src/model/index.js';
import { AdminLegacyDecoder, PciDevice } from '../../src/transport/index.js';
import { Bus, identified, kinds, le, project, raw, semantic } from './util.js';

const { ACKNOWLEDGE: ACK, DRIVER, DRIVER_OK } = STATUS;
const COMMON = 'admin-legacy-common' as const;
const DEVICE = 'admin-legacy-device' as const;
const [COMMON_WRITE, COMMON_READ, DEV_WRITE, DEV_READ, NOTIFY_INFO] = [0x2, 0x3, 0x4, 0x5, 0x6];
const EINVAL = 22;
const MAC = [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef];
const HOST = featureBit('VIRTIO_NET_F_MAC') | featureBit('VIRTIO_NET_F_CTRL_VQ');

describe('transport: admin legacy commands', function () {
  it('decodes a legacy guest driven through the owner device (opcodes 0x2..0x6)', function () {
    // a VF with MSI-X enabled by the guest: the hypervisor already moved device config to DEV_CFG commands
    const bus = new Bus(new PciDevice({ transport: 'pci-legacy', numQueues: 1, configSize: 8, msixEnabled: true }));
    expect(semantic(bus.admin(COMMON_WRITE, COMMON, 18, [0]))).to.deep.equal([
      { kind: 'statusWritten', status: 0 }, { kind: 'resetRequested', scope: 'device-reset', queue: 0 },
    ]);
    expect(kinds(bus.admin(COMMON_READ, COMMON, 18, [0]))).to.deep.equal(['registerAccess', 'statusRead', 'resetCompleted']);
    bus.admin(COMMON_WRITE, COMMON, 18, [ACK | DRIVER]);
    expect(semantic(bus.admin(COMMON_READ, COMMON, 0, le(HOST, 4)))).to.deep.equal([{ kind: 'deviceFeatures', select: 0, value: HOST, highWords: [] }]);
    expect(semantic(bus.admin(COMMON_WRITE, COMMON, 4, le(HOST, 4)))).to.deep.equal([{ kind: 'driverFeatures', select: 0, value: HOST, highWords: [] }]);
    // offset 20 of the common area is the MSI config vector: no 20/24 shift on this path
    expect(semantic(bus.admin(COMMON_WRITE, COMMON, 20, le(0, 2)))).to.deep.equal([{ kind: 'msix', configVector: 0 }]);
    bus.admin(COMMON_WRITE, COMMON, 14, le(0, 2));
    bus.admin(COMMON_READ, COMMON, 12, le(256, 2));
    bus.admin(COMMON_WRITE, COMMON, 8, le(0x23456, 4));
    // the MAC is one 6-byte field, written in one command at device config offset 0
    expect(semantic(bus.admin(DEV_WRITE, DEVICE, 0, MAC))).to.deep.equal([{ kind: 'configWritten', offset: 0, data: Uint8Array.from(MAC) }]);
    expect(semantic(bus.admin(DEV_READ, DEVICE, 6, [1, 0]))).to.deep.equal([{ kind: 'configRead', offset: 6, data: Uint8Array.from([1, 0]) }]);
    // where to ring doorbells: host plumbing, kept raw
    const info = bus.admin(NOTIFY_INFO, 'unspecified', 0, [0x2, 0x2, 0, 0, 0, 0, 0, 0, ...le(0x3000, 8)], 0, 'read');
    expect(kinds(info)).to.deep.equal(['registerAccess']);
    expect(raw(info).anomalies).to.deep.equal([]);
    bus.admin(COMMON_WRITE, COMMON, 18, [ACK | DRIVER | DRIVER_OK]);

    const s = project([identified({ transport: 'pci-legacy', numQueues: 1, configSize: 8 }), ...bus.events]);
    expect(s.status).to.equal(ACK | DRIVER | DRIVER_OK);
    expect(s.features.accepted).to.equal(HOST);
    expect([...s.config]).to.deep.equal([...MAC, 1, 0]);
    expect(s.queues[0]).to.include({ size: 256, pfn: 0x23456, desc: 0x23456000n });
    const first = raw(bus.events);
    expect(first).to.include({ transport: 'pci-legacy', region: COMMON, offset: 18, width: 1 });
    expect(first.admin).to.deep.include({ opcode: COMMON_WRITE, groupType: 1, memberId: 1n, completed: true });
    expect(bus.events[0]!.path).to.equal('admin-cmd');
  });

  it('a failed command is kept, flagged admin-failed, and changes nothing', function () {
    const bus = new Bus(new AdminLegacyDecoder({ transport: 'pci-legacy' }));
    const failed = bus.admin(COMMON_WRITE, COMMON, 14, le(3, 2), EINVAL);
    expect(raw(failed).anomalies).to.deep.equal(['admin-failed']);
    expect(raw(failed).admin).to.deep.include({ status: EINVAL, statusQualifier: 3 });
    expect(semantic(failed)).to.deep.equal([]);
    expect(semantic(bus.admin(DEV_WRITE, DEVICE, 0, [1, 2], 11))).to.deep.equal([]);
  });

  it('a command not completed yet changes nothing', function () {
    const bus = new Bus(new AdminLegacyDecoder({ transport: 'pci-legacy' }));
    const admin = { opcode: COMMON_WRITE, groupType: 1, memberId: 2n, status: 0, statusQualifier: 0, completed: false };
    const pending = bus.access({ region: COMMON, offset: 18, width: 1, direction: 'write', value: 0n, data: Uint8Array.from([0]), admin });
    expect(kinds(pending)).to.deep.equal(['registerAccess']);
    expect(raw(pending).anomalies).to.deep.equal([]);
  });

  it('flags an access that is not one field (the device must fail it) and an opcode naming another region', function () {
    const bus = new Bus(new AdminLegacyDecoder({ transport: 'pci-legacy' }));
    const straddle = bus.admin(COMMON_READ, COMMON, 2, le(0, 4));
    expect(raw(straddle).anomalies).to.have.members(['wrong-width', 'straddle', 'unaligned']);
    expect(semantic(straddle)).to.deep.equal([]);
    const mismatch = bus.admin(DEV_WRITE, COMMON, 18, [0]);
    expect(raw(mismatch).anomalies).to.deep.equal(['admin-mismatch']);
    expect(semantic(mismatch)).to.deep.equal([]);
    expect(raw(bus.admin(0x11, COMMON, 0, [1])).anomalies).to.deep.equal(['unknown-register']);
  });

  it('shares the legacy register file with the IO BAR: a queue selected through one applies to the other', function () {
    const dev = new PciDevice({ transport: 'pci-legacy' });
    const bus = new Bus(dev);
    bus.write('legacy-io', 14, 2, 1);
    expect(semantic(bus.admin(COMMON_WRITE, COMMON, 8, le(0x100, 4)))).to.deep.equal([{ kind: 'queueConfigured', index: 1, pfn: 0x100 }]);
  });
});
