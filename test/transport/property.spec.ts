import { expect } from 'chai';
import type { AdminCommand, Region } from '../../src/events/types.js';
import { applyInPlace } from '../../src/project/reducer.js';
import { initialState } from '../../src/project/state.js';
import {
  AdminLegacyDecoder, LegacyPciDecoder, MmioDecoder, ModernPciDecoder, PciConfigDecoder, createDecoder,
} from '../../src/transport/index.js';
import type { RawAccess, TransportDecoder } from '../../src/transport/types.js';
import { prng } from '../helpers/prng.js';

const REGIONS: Region[] = [
  'unspecified', 'common-cfg', 'device-cfg', 'isr', 'notify', 'legacy-io', 'mmio-regs', 'pci-cfg-space',
  'msix-table', 'msix-pba', 'admin-legacy-common', 'admin-legacy-device',
];

/** Accesses anywhere, 70% of them to the decoder's own regions, values mostly small as registers hold. */
function randomAccesses(seed: number, count: number, home: readonly Region[]): RawAccess[] {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const big = (bits: number) => {
    let v = 0n;
    for (let i = 0; i < bits; i += 16) v = (v << 16n) | BigInt(int(0x10000));
    return v & ((1n << BigInt(bits)) - 1n);
  };
  const offset = (): number => {
    const r = rnd();
    if (r < 0.6) return int(0x140);
    if (r < 0.8) return int(4096);
    if (r < 0.9) return int(2 ** 32);
    return pick([-1, 1.5, Number.MAX_SAFE_INTEGER, 2 ** 60, Number.NaN]);
  };
  const width = (): number => (rnd() < 0.85 ? pick([1, 2, 4, 8]) : pick([0, 3, 5, 6, 16, 255, -2, 1e9]));
  const value = (): bigint => {
    const r = rnd();
    if (r < 0.4) return BigInt(int(16));
    if (r < 0.55) return big(8);
    if (r < 0.7) return big(16);
    if (r < 0.85) return big(32);
    if (r < 0.95) return big(64);
    return pick([() => big(80), () => -big(8) - 1n])();
  };
  const out: RawAccess[] = [];
  for (let i = 0; i < count; i++) {
    const w = width();
    const a: RawAccess = {
      timestampNs: BigInt(i), region: rnd() < 0.7 ? pick(home) : pick(REGIONS), offset: offset(), width: w, direction: rnd() < 0.5 ? 'read' : 'write', value: value(),
    };
    if (rnd() < 0.3) a.bar = int(7);
    if (rnd() < 0.1) a.valueKnown = false;
    if (rnd() < 0.15) a.data = Uint8Array.from({ length: w > 0 && w <= 16 && rnd() < 0.7 ? w : int(20) }, () => int(256));
    if (rnd() < 0.15) {
      const admin: AdminCommand = {
        opcode: int(0x13), groupType: 1, memberId: BigInt(int(8)), status: pick([0, 0, 0, 11, 22]),
        statusQualifier: 0, completed: rnd() < 0.8,
      };
      a.admin = admin;
    }
    out.push(a);
  }
  return out;
}

const PCI: Region[] = ['pci-cfg-space', 'common-cfg', 'device-cfg', 'isr', 'notify', 'legacy-io', 'admin-legacy-common', 'admin-legacy-device'];
const MODERN: Region[] = ['common-cfg', 'device-cfg', 'isr', 'notify', 'msix-table', 'msix-pba'];
const ADMIN: Region[] = ['admin-legacy-common', 'admin-legacy-device'];
const MMIO: Region[] = ['mmio-regs', 'device-cfg'];

const DECODERS: [string, Region[], () => TransportDecoder][] = [
  ['createDecoder pci-modern', PCI, () => createDecoder({ transport: 'pci-modern', numQueues: 3, configSize: 12 })],
  ['createDecoder pci-legacy', PCI, () => createDecoder({ transport: 'pci-legacy', configSize: 8, guestEndian: 'big' })],
  ['createDecoder mmio-modern', MMIO, () => createDecoder({ transport: 'mmio-modern', numQueues: 1 })],
  ['createDecoder mmio-legacy', MMIO, () => createDecoder({ transport: 'mmio-legacy', configSize: 16 })],
  ['createDecoder vfio', PCI, () => createDecoder({ transport: 'vfio', msixCapOffset: 0x98 })],
  ['ModernPciDecoder', MODERN, () => new ModernPciDecoder({ transport: 'pci-modern' })],
  ['LegacyPciDecoder', ['legacy-io'], () => new LegacyPciDecoder({ transport: 'pci-legacy', msixEnabled: true, numQueues: 2 })],
  ['AdminLegacyDecoder', ADMIN, () => new AdminLegacyDecoder({ transport: 'pci-legacy', configSize: 8 })],
  ['PciConfigDecoder', ['pci-cfg-space'], () => new PciConfigDecoder({ transport: 'pci-legacy' })],
  ['MmioDecoder', MMIO, () => new MmioDecoder({ transport: 'mmio-modern' })],
];

describe('transport: property: random accesses', function () {
  this.timeout(120_000);
  const ACCESSES = 20_000;

  DECODERS.forEach(([name, home, make], n) => {
    it(`${name}: ${ACCESSES} random accesses never throw and always give the raw access first`, function () {
      const decoder = make();
      const state = initialState('prop');
      let revision = -1;
      const failures: string[] = [];
      let semanticEvents = 0;
      for (const a of randomAccesses(0xdec0de + n, ACCESSES, home)) {
        const events = decoder.decode(a);
        const first = events[0]?.body;
        const ok =
          first?.kind === 'registerAccess' &&
          Object.is(first.offset, a.offset) && Object.is(first.width, a.width) &&
          // a value the source could not see is marked unseen, never recorded as a value
          (a.valueKnown === false ? first.valueUnseen && first.value === 0n : !first.valueUnseen && first.value === a.value) &&
          first.region === a.region && first.direction === a.direction &&
          events.slice(1).every((e) => e.body.kind !== 'registerAccess') &&
          events.every((e) => e.timestampNs === a.timestampNs);
        if (!ok && failures.length < 5) failures.push(`access ${a.timestampNs}: ${JSON.stringify(first, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}`);
        semanticEvents += events.length - 1;
        // what a decoder emits, the reducer takes
        for (const e of events) applyInPlace(state, { ...e, revision: ++revision });
      }
      expect(failures).to.deep.equal([]);
      // the accesses reach the decoders' semantics, not only their anomaly paths
      expect(semanticEvents).to.be.greaterThan(50);
      expect(state.queues.length).to.be.at.most(ACCESSES);
    });
  });
});
