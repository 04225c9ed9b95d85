import { expect } from 'chai';
import type { DeviceEvent, EventBody, NewEvent } from '../../src/events/types.js';
import { Linter } from '../../src/project/rules/lint.js';
import { RULES } from '../../src/project/rules/table.js';
import type { Finding, LintOptions } from '../../src/project/rules/types.js';
import { featureNames } from '../../src/model/index.js';
import { netLifecycle } from '../../src/sim/net-lifecycle.js';

type Step = EventBody | [NewEvent['actor'], EventBody];
const ident = (transport: string, type = 'net'): EventBody => ({
  kind: 'identified', aliases: [], type, virtioId: type === 'net' ? 1 : 2, transport: transport as never, numQueues: 2, configSize: 8,
  pciVendor: 0, pciDevice: 0, pciSubsystemVendor: 0, pciSubsystem: 0, pciRevision: 0, backend: '',
});
const raw = (region: string, offset: number, direction: 'read' | 'write', value: bigint, width = 1, anomalies: string[] = []): EventBody => ({
  kind: 'registerAccess', transport: 'pci-modern', region: region as never, bar: 0, offset, width, direction, value, msixEnabled: false,
  data: new Uint8Array(0), anomalies, valueUnseen: false,
});

function lint(steps: Step[], options: LintOptions = {}): Finding[] {
  const linter = new Linter('d', options);
  const out: Finding[] = [];
  steps.forEach((s, i) => {
    const [actor, body] = Array.isArray(s) ? s : ['guest-driver' as const, s];
    const e: DeviceEvent = { revision: i, timestampNs: BigInt(i + 1), actor, path: 'mmio', source: 'api', body };
    out.push(...linter.step(e));
  });
  return out;
}
const ids = (f: Finding[]) => f.map((x) => x.rule);

/** A correct modern bring-up: reset awaited, features offered, subset written, FEATURES_OK kept, queue, DRIVER_OK. */
function modernInit(transport = 'pci-modern', offer = (1n << 32n) | (1n << 17n) | (1n << 22n) | (1n << 5n), driver = offer): Step[] {
  return [
    ident(transport),
    ['device', { kind: 'deviceFeatures', value: offer, highWords: [] }],
    { kind: 'statusWritten', status: 0 },
    raw('common-cfg', 20, 'read', 0n),
    { kind: 'statusRead', status: 0 },
    { kind: 'statusWritten', status: 1 },
    { kind: 'statusWritten', status: 3 },
    { kind: 'driverFeatures', value: driver, highWords: [] },
    { kind: 'statusWritten', status: 11 },
    ['device', { kind: 'featuresNegotiated', accepted: true, features: driver, highWords: [] }],
    { kind: 'queueConfigured', index: 0, size: 256, desc: 0x10000n, driver: 0x11000n, device: 0x12000n },
    { kind: 'queueConfigured', index: 0, enabled: true },
    { kind: 'statusWritten', status: 15 },
    ['device', { kind: 'vqIndex', index: 0, availIdx: 4, availDelta: 4, usedDelta: 3 }],
  ];
}

describe('lint rules', function () {
  it('every rule has an id, a severity, a reference and a summary, and ids are unique', function () {
    expect(new Set(RULES.map((r) => r.id)).size).to.equal(RULES.length);
    for (const r of RULES) {
      expect(r.reference.length, r.id).to.be.greaterThan(10);
      expect(['error', 'warning', 'info']).to.include(r.severity);
    }
  });

  it('correct traffic is clean: a modern bring-up and the whole simulated net lifecycle', function () {
    expect(lint(modernInit())).to.deep.equal([]);
    const linter = new Linter('net');
    const findings: Finding[] = [];
    let rev = 0;
    for (const { event } of netLifecycle({ trafficRounds: 300 })) findings.push(...linter.step({ ...event, revision: rev++ }));
    expect(findings).to.deep.equal([]);
  });

  it('reset-not-awaited: modern driver goes on before status reads 0; legacy is only tolerated', function () {
    const modern = lint([ident('pci-modern'), { kind: 'statusWritten', status: 0 }, raw('common-cfg', 22, 'write', 0n, 2), { kind: 'statusWritten', status: 1 }]);
    expect(ids(modern)).to.deep.equal(['reset-not-awaited']);
    expect(modern[0]!.revision).to.equal(2);
    const legacy = lint([ident('pci-legacy'), { kind: 'statusWritten', status: 0 }, { kind: 'statusWritten', status: 1 }]);
    expect(legacy.map((f) => [f.rule, f.severity])).to.deep.equal([['legacy-reset-not-awaited', 'info']]);
    // the device finishing the reset on its own does not count as the driver going on
    expect(lint([ident('pci-modern'), { kind: 'statusWritten', status: 0 }, raw('common-cfg', 20, 'read', 0n), { kind: 'statusRead', status: 0 }, { kind: 'statusWritten', status: 1 }])).to.deep.equal([]);
  });

  it('driver-ok-without-features-ok on modern, not on legacy', function () {
    expect(ids(lint([ident('pci-modern'), { kind: 'statusWritten', status: 3 }, { kind: 'statusWritten', status: 7 }]))).to.deep.equal(['driver-ok-without-features-ok']);
    expect(lint([ident('pci-legacy'), { kind: 'statusWritten', status: 3 }, { kind: 'statusWritten', status: 7 }])).to.deep.equal([]);
  });

  it('features-ok-refused', function () {
    const f = lint([ident('pci-modern'), { kind: 'statusWritten', status: 11 }, ['device', { kind: 'featuresNegotiated', accepted: false, features: 0n, highWords: [] }]]);
    expect(ids(f)).to.deep.equal(['features-ok-refused']);
  });

  it('driver-features-not-offered names the bits, and judges only the words of the offer seen', function () {
    const f = lint(modernInit('pci-modern', 1n << 32n, (1n << 32n) | (1n << 33n)));
    expect(ids(f)).to.include('driver-features-not-offered');
    expect(f.find((x) => x.rule === 'driver-features-not-offered')!.message).to.contain('VIRTIO_F_ACCESS_PLATFORM');
    const partial = lint([ident('pci-modern'), ['device', { kind: 'deviceFeatures', select: 1, value: 1n, highWords: [] }], { kind: 'driverFeatures', select: 1, value: 1n, highWords: [] }, { kind: 'driverFeatures', select: 0, value: 0x20n, highWords: [] }]);
    expect(partial).to.deep.equal([]);
  });

  it('legacy-driver-high-bits', function () {
    expect(ids(lint([ident('pci-legacy'), { kind: 'driverFeatures', select: 1, value: 1n, highWords: [] }]))).to.include('legacy-driver-high-bits');
    expect(ids(lint([ident('pci-legacy'), { kind: 'driverFeatures', value: 0x20n, highWords: [] }]))).to.not.include('legacy-driver-high-bits');
  });

  it('set-features-zero is an info, not an error', function () {
    const f = lint([ident('vdpa'), { kind: 'driverFeatures', value: 0n, highWords: [] }]);
    expect(f.map((x) => [x.rule, x.severity])).to.deep.equal([['set-features-zero', 'info']]);
  });

  it('config-before-features (implicit legacy)', function () {
    const f = lint([ident('vdpa'), { kind: 'statusWritten', status: 3 }, { kind: 'configRead', offset: 0, data: Uint8Array.from([0x52]) }]);
    expect(ids(f)).to.deep.equal(['config-before-features']);
    expect(lint([ident('vdpa'), { kind: 'statusWritten', status: 3 }, { kind: 'driverFeatures', value: 1n << 32n, highWords: [] }, { kind: 'configRead', offset: 0, data: Uint8Array.from([0x52]) }])).to.deep.equal([]);
  });

  it('mq-without-ctrl-vq', function () {
    const offer = (1n << 32n) | (1n << 22n);
    expect(ids(lint(modernInit('pci-modern', offer, offer)))).to.include('mq-without-ctrl-vq');
  });

  it('provisioned-attr-without-feature prints what the kernel prints', function () {
    const f = lint([{ kind: 'provisioned', mgmtdev: 'pci/0000:02:00.0', name: 'dev1', deviceFeatures: 0x300020000n, deviceFeaturesGiven: true,
      mac: Uint8Array.from([0x52, 0x54, 0, 0x12, 0x34, 0x56]), macGiven: true, mtu: 0, mtuGiven: false, maxVqp: 0, maxVqpGiven: false }]);
    expect(f.map((x) => x.message)).to.deep.equal(['Missing features 0x20 for provided attributes']);
    // the seed's example mask
    expect(featureNames(0x300020000n, 'net')).to.deep.equal(['VIRTIO_NET_F_CTRL_VQ', 'VIRTIO_F_VERSION_1', 'VIRTIO_F_ACCESS_PLATFORM']);
  });

  it('negotiated-not-in-provisioned', function () {
    const steps = modernInit('vdpa', (1n << 32n) | (1n << 17n), (1n << 32n) | (1n << 17n));
    steps.splice(1, 0, { kind: 'provisioned', mgmtdev: 'm', name: 'n', deviceFeatures: 1n << 32n, deviceFeaturesGiven: true, mac: new Uint8Array(0), macGiven: false, mtu: 0, mtuGiven: false, maxVqp: 0, maxVqpGiven: false });
    expect(ids(lint(steps))).to.include('negotiated-not-in-provisioned');
  });

  it('queue-size-invalid: size 0 or not a power of two on a split ring', function () {
    // after a reset (awaited) the ring layout is known: split
    const reset: Step[] = [{ kind: 'statusWritten', status: 0 }, ['device', { kind: 'statusRead', status: 0 }]];
    expect(ids(lint([ident('pci-modern'), ...reset, { kind: 'queueConfigured', index: 0, size: 0, enabled: true }]))).to.deep.equal(['queue-size-invalid']);
    expect(ids(lint([ident('pci-modern'), ...reset, { kind: 'queueConfigured', index: 0, size: 100, enabled: true }]))).to.deep.equal(['queue-size-invalid']);
    // packed rings may have any size
    expect(lint([ident('pci-modern'), ['device', { kind: 'featuresNegotiated', accepted: true, features: (1n << 32n) | (1n << 34n), highWords: [] }], { kind: 'queueConfigured', index: 0, size: 100, enabled: true }])).to.deep.equal([]);
  });

  it('a rule that needs an unknown value does not fire, and is listed as not checked with the field', function () {
    // no reset seen, no negotiation: whether the ring is split or packed is unknown
    const linter = new Linter('d');
    const steps: EventBody[] = [ident('pci-modern'), { kind: 'queueConfigured', index: 0, size: 100, enabled: true }];
    const found = steps.flatMap((body, i) => linter.step({ revision: i, timestampNs: 1n, actor: 'guest-driver', path: 'mmio', source: 'api', body }));
    expect(found).to.deep.equal([]);
    expect(linter.notChecked).to.deep.include({ rule: 'queue-size-invalid', fields: ['features.accepted'], events: 1, firstRevision: 1, why: 'it needs features.accepted, which no source had recorded at that point (unknown, not 0)' });
  });

  it('legacy-ring-misaligned', function () {
    expect(ids(lint([ident('mmio-legacy'), { kind: 'queueConfigured', index: 0, size: 8, desc: 0x10800n, enabled: true }]))).to.deep.equal(['legacy-ring-misaligned']);
    expect(lint([ident('pci-legacy'), { kind: 'queueConfigured', index: 0, size: 8 }, { kind: 'queueConfigured', index: 0, pfn: 0x10 }])).to.deep.equal([]);
  });

  it("vq-guest-index-inconsistent and vq-inuse-exceeds-size print QEMU's messages", function () {
    const base = modernInit();
    const guest = lint([...base, ['device', { kind: 'vqIndex', index: 0, availIdx: 0x200 }]]);
    expect(guest.map((f) => f.message)).to.deep.equal(['VQ 0 size 0x100 Guest index 0x200 inconsistent with Host index 0x4: delta 0x1fc']);
    const inuse = lint([...base, ['device', { kind: 'vqIndex', index: 0, availDelta: 300 }]]);
    expect(inuse.map((f) => f.rule)).to.deep.equal(['vq-inuse-exceeds-size']);
    expect(inuse[0]!.message).to.equal('VQ 0 size 0x100 < last_avail_idx 0x130 - used_idx 0x3');
  });

  it('used-index-backwards', function () {
    expect(ids(lint([...modernInit(), ['device', { kind: 'vqIndex', index: 0, usedIdx: 1 }]]))).to.deep.equal(['used-index-backwards']);
    // wrapping at 2^16 is forward
    const step = (d: number): Step => ['device', { kind: 'vqIndex', index: 0, availDelta: d, usedDelta: d }];
    expect(lint([...modernInit(), step(30000), step(30000), step(5531), ['device', { kind: 'vqIndex', index: 0, availDelta: 2, usedDelta: 3 }]])).to.deep.equal([]);
  });

  it('dma-after-reset', function () {
    const f = lint([...modernInit(), { kind: 'statusWritten', status: 0 }, raw('common-cfg', 20, 'read', 0n), { kind: 'statusRead', status: 0 }, ['device', { kind: 'vqIndex', index: 0, usedDelta: 1 }]]);
    expect(ids(f)).to.deep.equal(['dma-after-reset']);
    // the recorder stating the reset values at a queue's enable (a trace importer: the driver's avail index unseen)
    const reset: Step[] = [...modernInit(), { kind: 'statusWritten', status: 0 }, { kind: 'statusRead', status: 0 }];
    expect(lint([...reset, ['recorder', { kind: 'vqIndex', index: 0, indicesUnseen: true, lastAvailIdx: 0, usedIdx: 0 }]])).to.deep.equal([]);
    expect(ids(lint([...reset, ['device', { kind: 'vqIndex', index: 0, lastAvailIdx: 0, usedIdx: 0 }]]))).to.deep.equal(['dma-after-reset']);
  });

  it('mac-torn-read on a legacy net device', function () {
    const legacy = ident('pci-legacy');
    const read = (offset: number, n: number): Step => ({ kind: 'configRead', offset, data: new Uint8Array(n) });
    const torn = lint([legacy, read(0, 2), ['device', { kind: 'configWritten', offset: 0, data: new Uint8Array(6) }], read(2, 2), read(4, 2)]);
    expect(ids(torn)).to.deep.equal(['mac-torn-read']);
    expect(lint([legacy, read(0, 2), read(2, 2), read(4, 2), ['device', { kind: 'configWritten', offset: 0, data: new Uint8Array(6) }], read(0, 6)])).to.deep.equal([]);
  });

  it('exclusive-features: empty by default, fires for a configured pair', function () {
    const offer = (1n << 32n) | (1n << 17n) | (1n << 22n) | (1n << 5n);
    expect(lint(modernInit('pci-modern', offer, offer))).to.deep.equal([]);
    const f = lint(modernInit('pci-modern', offer, offer), { exclusive: [{ a: 5, b: 22, device: 'net', why: 'test pair' }] });
    expect(ids(f)).to.deep.equal(['exclusive-features']);
  });

  it('access-anomaly and admin-command-failed report what the decoders flagged', function () {
    expect(ids(lint([ident('pci-legacy'), raw('legacy-io', 18, 'write', 0n, 4, ['straddle'])]))).to.deep.equal(['access-anomaly']);
    const admin: EventBody = { ...(raw('admin-legacy-common', 18, 'write', 1n) as Extract<EventBody, { kind: 'registerAccess' }>),
      admin: { opcode: 2, groupType: 1, memberId: 3n, status: 22, statusQualifier: 3, completed: true }, anomalies: ['admin-failed'] };
    expect(ids(lint([ident('pci-legacy'), admin]))).to.deep.equal(['admin-command-failed']);
  });
});
