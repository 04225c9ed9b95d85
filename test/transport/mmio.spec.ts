import { expect } from 'chai';
import { STATUS, featureBit } from '../../src/model/index.js';
import { MMIO_MAGIC } from '../../src/model/registers.js';
import { MmioDecoder, createDecoder } from '../../src/transport/index.js';
import { Bus, identified, kinds, project, raw, semantic } from './util.js';

const { ACKNOWLEDGE: ACK, DRIVER, FEATURES_OK, DRIVER_OK } = STATUS;
const m = 'mmio-regs' as const;
const BLK = featureBit('VIRTIO_BLK_F_SEG_MAX') | featureBit('VIRTIO_F_INDIRECT_DESC');

function setStatus(bus: Bus, from: number, to: number): void {
  bus.read(m, 0x070, 4, from);
  bus.write(m, 0x070, 4, to);
}

describe('transport: virtio-mmio', function () {
  it('v1 (legacy): GuestPageSize, QueueAlign and QueuePFN place the ring', function () {
    const bus = new Bus(createDecoder({ transport: 'mmio-legacy', numQueues: 1 }));
    // Linux virtio_mmio probe (legacy): magic, version, ids, guest page size
    bus.read(m, 0x000, 4, MMIO_MAGIC);
    bus.read(m, 0x004, 4, 1);
    bus.read(m, 0x008, 4, 2);
    bus.read(m, 0x00c, 4, 0x554d4551);
    bus.write(m, 0x028, 4, 4096);
    bus.write(m, 0x070, 4, 0);
    setStatus(bus, 0, ACK);
    setStatus(bus, ACK, ACK | DRIVER);
    for (const word of [1, 0]) {
      bus.write(m, 0x014, 4, word);
      bus.read(m, 0x010, 4, (BLK >> BigInt(32 * word)) & 0xffffffffn);
    }
    for (const word of [1, 0]) {
      bus.write(m, 0x024, 4, word);
      bus.write(m, 0x020, 4, (BLK >> BigInt(32 * word)) & 0xffffffffn);
    }
    bus.write(m, 0x030, 4, 0);
    bus.read(m, 0x040, 4, 0); // queue not in use
    bus.read(m, 0x034, 4, 128);
    bus.write(m, 0x038, 4, 128);
    bus.write(m, 0x03c, 4, 4096);
    bus.write(m, 0x040, 4, 0x7f000); // ring at 0x7f000000
    setStatus(bus, ACK | DRIVER, ACK | DRIVER | DRIVER_OK);

    const s = project([identified({ transport: 'mmio-legacy', type: 'blk', virtioId: 2, numQueues: 1 }), ...bus.events]);
    expect(s.guestPageSize).to.equal(4096);
    expect(s.features.device).to.equal(BLK);
    expect(s.features.accepted).to.equal(BLK);
    expect(s.features.acceptedVia).to.equal('legacy-write');
    expect(s.status).to.equal(ACK | DRIVER | DRIVER_OK);
    // 128 entries: avail at desc + 2048, used aligned up to QueueAlign
    expect(s.queues[0]).to.include({
      size: 128, maxSize: 128, align: 4096, pfn: 0x7f000, enabled: true,
      desc: 0x7f000000n, driver: 0x7f000800n, device: 0x7f001000n,
    });
    expect(bus.events.every((e) => e.body.kind !== 'registerAccess' || e.body.transport === 'mmio-legacy')).to.equal(true);
  });

  it('v2 (modern): QueueReady and desc/driver/device written in halves, FEATURES_OK read back', function () {
    const bus = new Bus(createDecoder({ transport: 'mmio-modern', numQueues: 1 }));
    bus.read(m, 0x004, 4, 2);
    bus.write(m, 0x070, 4, 0);
    bus.read(m, 0x070, 4, 0);
    setStatus(bus, 0, ACK);
    setStatus(bus, ACK, ACK | DRIVER);
    const offer = BLK | featureBit('VIRTIO_F_VERSION_1');
    for (const word of [1, 0]) {
      bus.write(m, 0x014, 4, word);
      bus.read(m, 0x010, 4, (offer >> BigInt(32 * word)) & 0xffffffffn);
      bus.write(m, 0x024, 4, word);
      bus.write(m, 0x020, 4, (offer >> BigInt(32 * word)) & 0xffffffffn);
    }
    setStatus(bus, ACK | DRIVER, ACK | DRIVER | FEATURES_OK);
    const back = bus.read(m, 0x070, 4, ACK | DRIVER | FEATURES_OK);
    expect(kinds(back)).to.deep.equal(['registerAccess', 'statusRead', 'featuresNegotiated']);
    bus.write(m, 0x030, 4, 0);
    bus.read(m, 0x044, 4, 0);
    bus.read(m, 0x034, 4, 1024);
    bus.write(m, 0x038, 4, 256);
    const halves: [number, bigint][] = [
      [0x080, 0x4000_0000n], [0x084, 0x1n], [0x090, 0x4000_1000n], [0x094, 0x1n], [0x0a0, 0x4000_2000n], [0x0a4, 0x1n],
    ];
    for (const [offset, v] of halves) bus.write(m, offset, 4, v);
    bus.write(m, 0x044, 4, 1);
    setStatus(bus, ACK | DRIVER | FEATURES_OK, ACK | DRIVER | FEATURES_OK | DRIVER_OK);

    const s = project([identified({ transport: 'mmio-modern', type: 'blk', virtioId: 2, numQueues: 1 }), ...bus.events]);
    expect(s.features.accepted).to.equal(offer);
    expect(s.features.acceptedVia).to.equal('features-ok');
    expect(s.queues[0]).to.include({
      size: 256, maxSize: 1024, enabled: true, desc: 0x1_4000_0000n, driver: 0x1_4000_1000n, device: 0x1_4000_2000n,
    });
    expect(s.status).to.equal(ACK | DRIVER | FEATURES_OK | DRIVER_OK);
  });

  it('follows the Version register: a v2 register is unknown on a v1 device', function () {
    const dec = new MmioDecoder({ transport: 'mmio-modern' });
    const bus = new Bus(dec);
    bus.read(m, 0x004, 4, 1);
    expect(dec.transport).to.equal('mmio-legacy');
    const ready = bus.write(m, 0x044, 4, 1);
    expect(raw(ready)).to.include({ transport: 'mmio-legacy' });
    expect(raw(ready).anomalies).to.deep.equal(['unknown-register']);
    expect(semantic(ready)).to.deep.equal([]);
    // and QueuePFN is unknown on a v2 device
    const v2 = new Bus(createDecoder({ transport: 'mmio-modern' }));
    expect(raw(v2.write(m, 0x040, 4, 1)).anomalies).to.deep.equal(['unknown-register']);
  });

  it('ignores register accesses that are not 32 bits wide, as QEMU does', function () {
    const bus = new Bus(createDecoder({ transport: 'mmio-modern' }));
    const narrow = bus.write(m, 0x070, 1, 0);
    expect(raw(narrow).anomalies).to.deep.equal(['wrong-width']);
    expect(semantic(narrow)).to.deep.equal([]);
  });

  it('decodes device config at 0x100: little-endian for v2, guest order for v1', function () {
    const v2 = new Bus(createDecoder({ transport: 'mmio-modern', configSize: 8 }));
    expect(semantic(v2.read(m, 0x100, 4, 0x01020304))).to.deep.equal([{ kind: 'configRead', offset: 0, data: Uint8Array.from([4, 3, 2, 1]) }]);
    const v1be = new Bus(createDecoder({ transport: 'mmio-legacy', guestEndian: 'big' }));
    expect(semantic(v1be.read(m, 0x104, 2, 0x0102))).to.deep.equal([{ kind: 'configRead', offset: 4, data: Uint8Array.from([1, 2]) }]);
    expect(raw(v2.read(m, 0x106, 4, 0)).anomalies).to.have.members(['unaligned', 'out-of-range']);
  });

  it('decodes a QEMU 7.2 read whose value the trace did not show as raw only', function () {
    const bus = new Bus(createDecoder({ transport: 'mmio-modern' }));
    const r = bus.read(m, 0x034, 4, 0, { valueKnown: false });
    expect(kinds(r)).to.deep.equal(['registerAccess']);
    expect(raw(r).anomalies).to.deep.equal([]);
  });
});
