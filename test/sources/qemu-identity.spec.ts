// One identity per device on the committed QEMU captures: the device-state stream and the trace land on the same
// stream (the guest BDF or mmio base); QEMU's names (qdev id, QOM paths from the QMP answers; the savevm idstr and
// topological path from the stream) are kept as aliases on its identified events, listed by `devices`, and each
// works as the device's ID. The NIC's control-queue state from the device-state stream is shown by `state` and
// agrees with QEMU's answers where they carry it.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { qmpFeatureMask } from '../../src/sources/qemu-names.js';
import { devrec } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { type RxFilter, expectMatchesRxFilter } from './qemu-rx-filter.js';
import { MATRIX, guestQueuePairs } from './qemu-matrix.js';

const ROOT = path.resolve('streams/qemu');
const VARIANTS = ['pc-modern-net-blk', 'pc-legacy-msix', 'pc-legacy-intx', 'pc-packed', 'microvm-mmio-legacy', 'microvm-mmio-modern', ...MATRIX];

interface QmpDevice {
  path: string; name: string; qemuType: string; qdevId: string; pciAddress?: string; mmioBase?: string;
  status: { 'guest-features': Parameters<typeof qmpFeatureMask>[0] };
}
const qmpOf = (v: string): { devices: QmpDevice[]; commandLine: string[]; rxFilter?: RxFilter[] | null } => JSON.parse(readFileSync(path.join(ROOT, v, 'qmp.json'), 'utf8'));
const idOf = (d: QmpDevice): string => (d.pciAddress ? `${d.qemuType}@${d.pciAddress}` : `${d.qemuType}@${BigInt(d.mmioBase!).toString(16).padStart(8, '0')}`);
/** virtio-net guest receive offloads (virtio 1.3 5.1.6.5.6.1): GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN, GUEST_UFO, GUEST_USO4/6 */
const OFFLOAD_BITS = [1n, 7n, 8n, 9n, 10n, 54n, 55n].reduce((m, b) => m | (1n << b), 0n);

async function run(args: string[]): Promise<string> {
  const r = await devrec(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
  return r.stdout;
}

describe('QEMU device identity and aliases on the committed captures', function () {
  this.timeout(120000);

  for (const v of VARIANTS) {
    it(`${v}: qdev id, QOM paths, savevm idstr are aliases; each names the device in state, log and lint`, async () => {
      const store = `file:${tmpDir()}`;
      const qmp = qmpOf(v);
      const imported = JSON.parse(await run(['import', 'qemu-state', path.join(ROOT, v, 'devstate.bin.gz'), '--qmp-answers', path.join(ROOT, v, 'qmp.json'), '--store', store, '--json']));
      expect(imported.qmp.notTied).to.deep.equal([]);
      const rows = JSON.parse(await run(['devices', '--json', '--store', store])) as { id: string; aliases: { kind: string; name: string }[] }[];
      expect(rows.map((r) => r.id).sort()).to.deep.equal(qmp.devices.map(idOf).sort());
      for (const d of qmp.devices) {
        const row = rows.find((r) => r.id === idOf(d))!;
        const proxy = d.path.replace(/\/virtio-backend$/, '');
        const kinds = (k: string) => row.aliases.filter((a) => a.kind === k).map((a) => a.name);
        expect(kinds('qdev-id'), row.id).to.deep.equal([d.qdevId]);
        expect(kinds('qom-path')).to.include(proxy).and.include(d.path);
        const [idstr] = kinds('savevm-idstr');
        expect(idstr).to.match(new RegExp(`/${d.name}$`));
        for (const name of [d.qdevId, proxy, d.path, idstr!]) {
          const s = JSON.parse(await run(['state', name, '--json', '--store', store]));
          expect(s.device, name).to.equal(row.id);
        }
        expect(await run(['log', `${d.qdevId}@1`, '--store', store])).to.contain('snapshot');
        await run(['lint', d.qdevId, '--store', store]);
      }
      const text = await run(['devices', '--store', store]);
      expect(text).to.match(/ALIASES/);
      expect(text).to.contain(`${qmp.devices[0]!.qdevId} `);
    });
  }

  it('behind pcie-root-ports: the savevm path is an alias of the device named by its guest BDF', async () => {
    const store = `file:${tmpDir()}`;
    await run(['import', 'qemu-state', path.join(ROOT, 'q35-root-port', 'devstate.bin.gz'), '--qmp-answers', path.join(ROOT, 'q35-root-port', 'qmp.json'), '--store', store]);
    const s = JSON.parse(await run(['state', '0000:00:02.0:00.0', '--json', '--store', store]));
    expect(s.device).to.equal('virtio-net-pci@01:00.0');
    expect(JSON.parse(await run(['state', 'net0', '--json', '--store', store])).device).to.equal('virtio-net-pci@01:00.0');
  });

  it('the trace import and the device-state import land on one stream; --qmp-answers on the trace names it too', async () => {
    const store = `file:${tmpDir()}`;
    const v = 'pc-modern-net-blk';
    const t = JSON.parse(await run(['import', 'qemu-trace', path.join(ROOT, v, 'trace.log.gz'), '--qmp-answers', path.join(ROOT, v, 'qmp.json'), '--store', store, '--json']));
    expect(t.qmp.named.map((n: { id: string }) => n.id).sort()).to.deep.equal(['virtio-blk-pci@00:04.0', 'virtio-net-pci@00:02.0', 'virtio-net-pci@00:03.0']);
    await run(['import', 'qemu-state', path.join(ROOT, v, 'devstate.bin.gz'), '--store', store]);
    const rows = JSON.parse(await run(['devices', '--json', '--store', store])) as { id: string; aliases: { name: string }[] }[];
    expect(rows).to.have.length(3);
    const net0 = rows.find((r) => r.id === 'virtio-net-pci@00:02.0')!;
    // QMP's names from the trace import, the stream's names from the device-state import, once each
    expect(net0.aliases.map((a) => a.name)).to.deep.equal(['net0', '/machine/peripheral/net0', '/machine/peripheral/net0/virtio-backend', '0000:00:02.0/virtio-net', '0000:00:02.0']);
  });

  it('--qmp-answers on a timestamped trace: the alias event takes the trace\'s last time and no identity numbers; the state keeps its identity', async () => {
    const store = `file:${tmpDir()}`;
    const v = 'qemu10-q35-root-port'; // -msg timestamp=on: wall-clock stamps
    await run(['import', 'qemu-trace', path.join(ROOT, v, 'trace.log.gz'), '--store', store]);
    const before = JSON.parse(await run(['state', 'virtio-net-pci@01:00.0', '--json', '--store', store]));
    const other = `file:${tmpDir()}`;
    await run(['import', 'qemu-trace', path.join(ROOT, v, 'trace.log.gz'), '--qmp-answers', path.join(ROOT, v, 'qmp.json'), '--store', other]);
    const lines = (await run(['log', 'net0', '--json', '--store', other])).trim().split('\n').map((l) => JSON.parse(l));
    const alias = lines.at(-1)!;
    expect(alias.source).to.equal('qmp');
    expect(alias.timestampNs).to.equal(lines.at(-2)!.timestampNs);
    for (const k of ['virtioId', 'numQueues', 'configSize', 'pciVendor', 'pciDevice', 'pciSubsystemVendor', 'pciSubsystem', 'pciRevision']) expect(alias, k).to.not.have.property(k);
    const after = JSON.parse(await run(['state', 'net0', '--json', '--store', other]));
    expect(after.time).to.equal(before.time);
    for (const k of ['virtioId', 'numQueues', 'pci', 'transport', 'type']) expect(after[k], k).to.deep.equal(before[k]);
  });

  it('an alias two devices share names neither: the error lists them', async () => {
    const store = `file:${tmpDir()}`;
    const v = 'pc-legacy-intx';
    for (const prefix of ['vm1/', 'vm2/']) {
      await run(['import', 'qemu-state', path.join(ROOT, v, 'devstate.bin.gz'), '--prefix', prefix, '--qmp-answers', path.join(ROOT, v, 'qmp.json'), '--store', store]);
    }
    const r = await devrec(['state', 'net0', '--store', store]);
    expect(r.code).to.equal(1);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.contain('"net0" names 2 devices (vm1/virtio-net-pci@00:02.0, vm2/virtio-net-pci@00:02.0)');
    expect(JSON.parse(await run(['state', 'vm2/virtio-net-pci@00:02.0', '--json', '--store', store])).aliases.map((a: { name: string }) => a.name)).to.include('net0');
  });

  it('bad --qmp-answers: one line naming the file, nothing imported', async () => {
    const dir = tmpDir();
    const store = `file:${dir}`;
    const r = await devrec(['import', 'qemu-state', path.join(ROOT, 'pc-legacy-intx', 'devstate.bin.gz'), '--qmp-answers', path.join(ROOT, 'pc-legacy-intx', 'manifest.json'), '--store', store]);
    expect(r.code).to.equal(1);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.contain('manifest.json: not saved QMP answers');
    expect((await devrec(['devices', '--json', '--store', store])).stdout.trim()).to.equal('[]');
  });
});

describe('net control-queue state from the device-state streams against QEMU', function () {
  this.timeout(120000);

  for (const v of VARIANTS) {
    it(`${v}: state shows each NIC's rx mode, MAC filter, whole VLAN set, queue pairs and offloads`, async () => {
      const store = `file:${tmpDir()}`;
      const qmp = qmpOf(v);
      await run(['import', 'qemu-state', path.join(ROOT, v, 'devstate.bin.gz'), '--qmp-answers', path.join(ROOT, v, 'qmp.json'), '--store', store]);
      for (const d of qmp.devices.filter((x) => x.name === 'virtio-net')) {
        const s = JSON.parse(await run(['state', d.qdevId, '--json', '--store', store]));
        const n = s.netControl;
        // the MAC QEMU was started with (-device ...,mac=): the guest never changed it
        const mac = new RegExp(`id=${d.qdevId},[^ ]*?mac=([0-9a-f:]{17})`).exec(qmp.commandLine.join(' '))![1];
        expect(n.mac).to.equal(mac);
        expect(n.rxMode).to.deep.equal({ promisc: false, allmulti: false, alluni: false, nomulti: false, nouni: false, nobcast: false });
        expect(n.macTable).to.deep.equal({
          unicast: [], multicast: ['33:33:00:00:00:01', '01:00:5e:00:00:01', `33:33:ff:${mac!.slice(9)}`], unicastOverflow: false, multicastOverflow: false,
        });
        // the whole table: the guest negotiated CTRL_VLAN and added none
        expect(n.vlans).to.deep.equal({ ids: [], complete: true });
        // curr_queue_pairs: what the guest set by VQ_PAIRS_SET (2 on the multi-queue NIC with 2 vCPUs), against the
        // TX queues the guest itself lists for the NIC
        const pairs = guestQueuePairs(v, mac!);
        expect(n.queuePairs, 'queue pairs').to.equal(pairs);
        // the offloads in use are the guest's receive offload features while it sent no GUEST_OFFLOADS_SET
        // (virtio_net_set_features): checked against QEMU's guest-features
        expect(BigInt(n.guestOffloads)).to.equal(qmpFeatureMask(d.status['guest-features']) & OFFLOAD_BITS);
        // QEMU keeps no counts of commands
        expect([n.announceAcks, n.rejected, n.other]).to.deep.equal([null, null, null]);
        // captures made since qmp-capture.py asks query-rx-filter: every item against QEMU's own receive filter
        const rx = qmp.rxFilter?.find((x) => x.name === d.qdevId);
        if (rx) expectMatchesRxFilter(n, rx, d.qdevId);
        const text = await run(['state', d.qdevId, '--store', store]);
        expect(text).to.contain('rx mode promisc off, allmulti off, alluni off, nomulti off, nouni off, nobcast off');
        expect(text).to.contain(`vlans []; queue pairs ${pairs}`);
      }
    });
  }

  it('trace and device-state imports of one capture: the control state differs only where the trace cannot see it (unknown)', async () => {
    const store = `file:${tmpDir()}`;
    const v = 'pc-modern-net-blk';
    await run(['import', 'qemu-trace', path.join(ROOT, v, 'trace.log.gz'), '--prefix', 'trace/', '--store', store]);
    await run(['import', 'qemu-state', path.join(ROOT, v, 'devstate.bin.gz'), '--prefix', 'state/', '--store', store]);
    const trace = JSON.parse(await run(['state', 'trace/virtio-net-pci@00:02.0', '--json', '--store', store])).netControl;
    // a QEMU trace has no control-queue payloads: every item unknown; the counts since the guest's reset are 0
    expect(trace.rxMode).to.deep.equal({ promisc: null, allmulti: null, alluni: null, nomulti: null, nouni: null, nobcast: null });
    expect([trace.mac, trace.macTable, trace.queuePairs, trace.guestOffloads]).to.deep.equal([null, null, null, null]);
    expect(trace.vlans).to.deep.equal({ ids: [], complete: false });
    const r = await devrec(['diff', 'trace/virtio-net-pci@00:02.0', 'state/virtio-net-pci@00:02.0', '--json', '--store', store]);
    const net = (JSON.parse(r.stdout).differences as { path: string; class: string }[]).filter((x) => x.path.startsWith('netControl'));
    expect(net.length).to.be.greaterThan(0);
    // where both know an item they agree: no difference is anything but unknown, except the VLAN table's
    // completeness (the trace saw no table; the stream holds all 4096 bits), a runtime fact of the source
    for (const x of net) if (x.path !== 'netControl.vlans.complete') expect(x.class, x.path).to.equal('unknown');
  });
});
