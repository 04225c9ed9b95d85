import { expect } from 'chai';
import type { NewEvent } from '../../src/events/types.js';
import { AdminLegacyDecoder, PciDevice, createDecoder } from '../../src/transport/index.js';
import type { Anomaly } from '../../src/transport/types.js';
import { Bus, le, raw, semantic } from './util.js';

/** Every anomaly kind, each from a real-looking access; all are kept as one raw access, none is dropped. */
const CASES: { kind: Anomaly; what: string; run: () => NewEvent[]; applied: boolean }[] = [
  {
    kind: 'wrong-width', what: '2-byte read of the 1-byte device_status', applied: true,
    run: () => new Bus(createDecoder({ transport: 'pci-modern' })).read('common-cfg', 20, 2, 0x0f),
  },
  {
    kind: 'straddle', what: '2-byte write at legacy STATUS covering ISR (QEMU sets status from the low byte)', applied: true,
    run: () => new Bus(createDecoder({ transport: 'pci-legacy' })).write('legacy-io', 18, 2, 0x0007),
  },
  {
    kind: 'read-only-write', what: 'write to num_queues', applied: false,
    run: () => new Bus(createDecoder({ transport: 'pci-modern' })).write('common-cfg', 18, 2, 8),
  },
  {
    kind: 'write-only-read', what: 'read of mmio QueueNum', applied: false,
    run: () => new Bus(createDecoder({ transport: 'mmio-modern' })).read('mmio-regs', 0x038, 4, 0),
  },
  {
    kind: 'io-decode-off', what: 'legacy QUEUE_SEL write with IO space disabled', applied: false,
    run: () => {
      const bus = new Bus(createDecoder({ transport: 'pci-legacy' }));
      bus.write('pci-cfg-space', 0x04, 2, 0x0002);
      return bus.write('legacy-io', 14, 2, 1);
    },
  },
  {
    kind: 'mem-decode-off', what: 'device config read with memory space disabled', applied: false,
    run: () => {
      const bus = new Bus(createDecoder({ transport: 'pci-modern' }));
      bus.write('pci-cfg-space', 0x04, 2, 0x0000);
      return bus.read('device-cfg', 0, 1, 0x52);
    },
  },
  {
    kind: 'unknown-register', what: 'common config offset past admin_queue_num', applied: false,
    run: () => new Bus(createDecoder({ transport: 'pci-modern' })).read('common-cfg', 64, 4, 0),
  },
  {
    kind: 'out-of-range', what: 'read past the 8-byte device config', applied: false,
    run: () => new Bus(createDecoder({ transport: 'pci-modern', configSize: 8 })).read('device-cfg', 8, 4, 0),
  },
  {
    kind: 'queue-out-of-range', what: 'queue_size read with queue 3 selected on a 2-queue device', applied: false,
    run: () => {
      const bus = new Bus(createDecoder({ transport: 'pci-modern', numQueues: 2 }));
      bus.write('common-cfg', 22, 2, 3);
      return bus.read('common-cfg', 24, 2, 0);
    },
  },
  {
    kind: 'admin-failed', what: 'LEGACY_COMMON_CFG_WRITE completed with EAGAIN', applied: false,
    run: () => new Bus(new AdminLegacyDecoder({ transport: 'pci-legacy' })).admin(0x2, 'admin-legacy-common', 4, le(1, 4), 11),
  },
  {
    kind: 'unaligned', what: '2-byte device config write at an odd offset', applied: false,
    run: () => new Bus(createDecoder({ transport: 'pci-modern' })).write('device-cfg', 1, 2, 0xffff),
  },
  {
    kind: 'admin-mismatch', what: 'LEGACY_DEV_CFG_READ naming the common region', applied: false,
    run: () => new Bus(new PciDevice({ transport: 'pci-legacy' })).admin(0x5, 'admin-legacy-common', 0, [0, 0, 0, 0]),
  },
];

describe('transport: anomalies', function () {
  for (const c of CASES) {
    it(`${c.kind}: ${c.what}`, function () {
      const events = c.run();
      const r = raw(events);
      expect(r.anomalies).to.include(c.kind);
      expect(semantic(events).length > 0, 'semantic effect').to.equal(c.applied);
    });
  }

  it('covers every anomaly kind', function () {
    const all: Record<Anomaly, true> = {
      'wrong-width': true, straddle: true, 'read-only-write': true, 'write-only-read': true, 'io-decode-off': true,
      'mem-decode-off': true, 'unknown-register': true, 'out-of-range': true, 'queue-out-of-range': true,
      'admin-failed': true, unaligned: true, 'admin-mismatch': true,
    };
    expect(CASES.map((c) => c.kind)).to.have.members(Object.keys(all));
  });

  it('an unknown region is kept with unknown-register', function () {
    for (const transport of ['pci-modern', 'pci-legacy', 'mmio-modern', 'mmio-legacy'] as const) {
      const events = new Bus(createDecoder({ transport })).read('unspecified', 0, 4, 0);
      expect(events).to.have.length(1);
      expect(raw(events).anomalies, transport).to.deep.equal(['unknown-register']);
    }
  });

  it('never splits an access: a straddling access is one raw event with its own offset and width', function () {
    const events = new Bus(createDecoder({ transport: 'pci-legacy' })).read('legacy-io', 2, 4, 0x1234_5678);
    expect(events.filter((e) => e.body.kind === 'registerAccess')).to.have.length(1);
    expect(raw(events)).to.include({ offset: 2, width: 4, value: 0x1234_5678n });
    expect(raw(events).anomalies).to.have.members(['wrong-width', 'straddle', 'unaligned']);
  });
});
