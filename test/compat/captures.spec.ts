// The checker and the diff on the committed QEMU captures (streams/qemu/<variant>/trace.log.gz).
import { expect } from 'chai';
import path from 'node:path';
import { checkCompatibility } from '../../src/compat/check.js';
import { diffStates } from '../../src/compat/diff.js';
import { deriveProfile, parseProfile, profileToJson } from '../../src/compat/profile.js';
import { Projector } from '../../src/project/projector.js';
import type { DeviceState } from '../../src/project/state.js';
import { importQemuTrace } from '../../src/sources/import-trace.js';
import { importQemuState } from '../../src/sources/qemu-savevm.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import { devrec } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

const VARIANTS = ['pc-modern-net-blk', 'pc-legacy-msix', 'pc-legacy-intx', 'pc-packed', 'microvm-mmio-legacy', 'microvm-mmio-modern'];

async function stateDevices(variant: string): Promise<Map<string, DeviceState>> {
  const store = new MemoryEventStore();
  const summary = await importQemuState(store, path.resolve('streams/qemu', variant, 'devstate.bin.gz'));
  const projector = new Projector(store);
  const out = new Map<string, DeviceState>();
  for (const d of summary.devices) out.set(d.id, await projector.stateAt(d.id));
  return out;
}

async function devices(variant: string): Promise<Map<string, DeviceState>> {
  const store = new MemoryEventStore();
  const summary = await importQemuTrace(store, path.resolve('streams/qemu', variant, 'trace.log.gz'));
  const projector = new Projector(store);
  const out = new Map<string, DeviceState>();
  for (const d of summary.devices) out.set(d.id, await projector.stateAt(d.id));
  return out;
}

describe('compat on the QEMU captures', function () {
  this.timeout(120000);

  for (const v of VARIANTS) {
    it(`${v}: every device passes against its own derived profile`, async function () {
      const devs = await devices(v);
      expect(devs.size).to.be.greaterThan(0);
      for (const [id, s] of devs) {
        const profile = parseProfile(JSON.stringify(profileToJson(deriveProfile(s))), `${id}.json`);
        const r = checkCompatibility(s, profile);
        // no finding; what a trace cannot show (the PCI device id, the capability chain) is listed as not checked
        expect(r.findings, id).to.deep.equal([]);
        expect(r.verdict, id).to.equal('compatible');
        expect(r.allowedMoves).to.equal(3);
      }
    });
  }

  for (const v of VARIANTS) {
    it(`${v}: each device from its trace and from its device-state stream: 0 ABI-breaking differences, unknowns their own class`, async function () {
      const fromTrace = await devices(v);
      const fromState = await stateDevices(v);
      expect(fromState.size).to.be.greaterThan(0);
      for (const [id, s] of fromState) {
        const t = fromTrace.get(id);
        expect(t, `${id} in the trace`).to.not.equal(undefined);
        const d = diffStates(t!, s);
        expect(d.differences.filter((x) => x.class === 'abi').map((x) => `${x.path} ${String(x.a)} ${String(x.b)}`), id).to.deep.equal([]);
        // what the device-state stream cannot carry shows as unknown, not as a difference in value
        expect(d.differences.find((x) => x.path === 'features.offered'), id).to.deep.include({ class: 'unknown', b: null });
      }
    });

    it(`${v}: a device-state import is not incompatible with the profile derived from itself, and says what it could not check`, async function () {
      for (const [id, s] of await stateDevices(v)) {
        expect(s.features.device, `${id} offered`).to.equal(null);
        const profile = parseProfile(JSON.stringify(profileToJson(deriveProfile(s))), `${id}.json`);
        expect(profile.features.offered).to.equal(null);
        const r = checkCompatibility(s, profile);
        expect(r.verdict, `${id}: ${r.findings.map((f) => f.message).join('; ')}`).to.not.equal('incompatible');
        expect(r.notChecked.map((n) => n.rule)).to.include('features-not-offered');
        for (const n of r.notChecked) expect(n.learn.length, n.rule).to.equal(n.needs.length);
      }
    });
  }

  it('devrec diff: a trace import against the device-state import of the same NIC exits 0; --json counts per class', async function () {
    const store = `file:${path.join(tmpDir(), 'store')}`;
    const cap = (f: string) => path.resolve('streams/qemu/pc-modern-net-blk', f);
    expect((await devrec(['import', 'qemu-trace', cap('trace.log.gz'), '--store', store])).code).to.equal(0);
    expect((await devrec(['import', 'qemu-state', cap('devstate.bin.gz'), '--prefix', 'state/', '--store', store])).code).to.equal(0);
    const d = await devrec(['diff', 'virtio-net-pci@00:02.0', 'state/virtio-net-pci@00:02.0', '--store', store, '--json']);
    expect(d.code, d.stderr).to.equal(0);
    const out = JSON.parse(d.stdout);
    expect(out.counts.abi).to.equal(0);
    expect(out.counts.unknown).to.be.greaterThan(0);
    const text = await devrec(['diff', 'virtio-net-pci@00:02.0', 'state/virtio-net-pci@00:02.0', '--store', store]);
    expect(text.code).to.equal(0);
    expect(text.stdout).to.contain('unknown on one side (not compared)');
    expect(text.stdout).to.match(/features\.offered: 0x[0-9a-f]+ -> \?/);
  });

  it('modern virtio-net-pci@00:02.0 against the legacy one: transport, features and header size by name', async function () {
    const modern = (await devices('pc-modern-net-blk')).get('virtio-net-pci@00:02.0')!;
    const legacy = (await devices('pc-legacy-msix')).get('virtio-net-pci@00:02.0')!;
    const d = diffStates(modern, legacy);
    const at = (p: string) => d.differences.filter((x) => x.path === p);
    expect(at('identity.transport')[0]).to.deep.include({ class: 'abi', a: 'pci-modern', b: 'pci-legacy' });
    expect(at('identity.legacy')[0]).to.deep.include({ a: false, b: true });
    expect(at('features.accepted').map((x) => `${x.name}:${x.bit}:${x.change}`)).to.include.members([
      'VIRTIO_F_VERSION_1:32:only-in-a', 'VIRTIO_F_RING_RESET:40:only-in-a', 'VIRTIO_F_ANY_LAYOUT:27:only-in-b', 'VIRTIO_NET_F_GSO:6:only-in-b',
    ]);
    expect(at('features.offered').map((x) => x.name)).to.include.members(['VIRTIO_F_VERSION_1', 'VIRTIO_F_BAD_FEATURE', 'VIRTIO_F_NOTIFY_ON_EMPTY']);
    expect(at('identity.netHeaderDecidedBy')[0]).to.deep.include({ class: 'abi', a: 'VIRTIO_F_VERSION_1', b: 'VIRTIO_NET_F_MRG_RXBUF (legacy)' });
    expect(d.netHeader).to.deep.equal({ a: { size: 12, decidedBy: 'VIRTIO_F_VERSION_1' }, b: { size: 12, decidedBy: 'VIRTIO_NET_F_MRG_RXBUF (legacy)' } });

    // and the checker: the modern device cannot go live to the legacy target, nor the legacy one to the modern-only target
    const toLegacy = checkCompatibility(modern, deriveProfile(legacy));
    expect(toLegacy.verdict).to.equal('incompatible');
    expect(toLegacy.findings.find((f) => f.rule === 'features-not-offered')!.message).to.contain('bit 32 VIRTIO_F_VERSION_1, bit 40 VIRTIO_F_RING_RESET');
    const toModern = checkCompatibility(legacy, deriveProfile(modern));
    expect(toModern.findings.map((f) => f.rule)).to.include('legacy-onto-modern-only');
    expect(toModern.allowedMoves).to.equal(0);
  });
});
