// Config decoded by field on the committed QEMU captures, checked against what QEMU itself reports (the qtree of
// qmp.json: mac, geometry, logical block size, queue count, discard / write-zeroes limits) and what the guest saw
// (console.log: the disk size in sectors).
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { stateJson } from '../../src/cli/commands/state.js';
import { diffStates } from '../../src/compat/diff.js';
import { configFieldsJson, decodeStateConfig } from '../../src/project/device-config.js';
import { Projector } from '../../src/project/projector.js';
import type { DeviceState } from '../../src/project/state.js';
import { importQemuTrace } from '../../src/sources/import-trace.js';
import { importQemuState } from '../../src/sources/qemu-savevm.js';
import { MemoryEventStore } from '../../src/store/memory.js';

const VARIANTS = ['pc-modern-net-blk', 'pc-legacy-msix', 'pc-legacy-intx', 'pc-packed', 'microvm-mmio-legacy', 'microvm-mmio-modern'];
const dir = (v: string) => path.resolve('streams/qemu', v);

/** QEMU's qtree properties of each virtio backend ("dev: virtio-net-device"), keyed by where devrec names it. */
function qtreeDevices(variant: string): Map<string, Record<string, string>> {
  const qtree = (JSON.parse(readFileSync(path.join(dir(variant), 'qmp.json'), 'utf8')) as { qtree: string }).qtree;
  const lines = qtree.split(/\r?\n/);
  const out = new Map<string, Record<string, string>>();
  let where = '';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const pci = /^\s+addr = ([0-9a-f]{2}\.[0-7])$/.exec(l);
    if (pci) where = `00:${pci[1]}`;
    const mmio = /^\s+mmio 0*([0-9a-f]+)\//.exec(l);
    if (mmio) where = mmio[1]!;
    const dev = /^(\s+)dev: virtio-(net|blk)-device, id "(\w*)"/.exec(l);
    if (!dev) continue;
    const props: Record<string, string> = {};
    for (let j = i + 1; j < lines.length; j++) {
      const m = /^(\s+)([\w-]+) = (.*)$/.exec(lines[j]!);
      if (!m || m[1]!.length <= dev[1]!.length) break;
      props[m[2]!] = m[3]!;
    }
    out.set(`${dev[2]}@${where}`, props);
  }
  return out;
}

const num = (prop: string | undefined) => Number(/^(-?\d+)/.exec(prop ?? '')?.[1]);

async function states(variant: string, kind: 'trace' | 'devstate'): Promise<DeviceState[]> {
  const store = new MemoryEventStore();
  const file = path.join(dir(variant), kind === 'trace' ? 'trace.log.gz' : 'devstate.bin.gz');
  const summary = kind === 'trace' ? await importQemuTrace(store, file) : await importQemuState(store, file);
  const projector = new Projector(store);
  const ids = (summary.devices as { id?: string; device?: string }[]).map((d) => (d.id ?? d.device)!);
  return Promise.all(ids.map((id) => projector.stateAt(id)));
}

describe('device config by field on the QEMU captures', function () {
  this.timeout(120000);

  for (const v of VARIANTS) {
    for (const kind of ['trace', 'devstate'] as const) {
      it(`${v} ${kind}: mac and disk geometry/limits are what QEMU reports`, async () => {
        const qemu = qtreeDevices(v);
        const sectors = Number(/blk vda: (\d+) sectors/.exec(readFileSync(path.join(dir(v), 'console.log'), 'utf8'))![1]);
        const seen = new Set<string>();
        for (const s of await states(v, kind)) {
          const where = s.device.slice(s.device.indexOf('@') + 1);
          const props = qemu.get(`${s.type}@${where}`);
          expect(props, `${s.device} in the qtree`).to.not.equal(undefined);
          seen.add(s.type);
          // x86 guests: little-endian, also through the legacy interface
          const f = configFieldsJson(decodeStateConfig(s, 'little')!);
          if (s.type === 'net') {
            expect(f['mac']).to.equal(JSON.parse(props!['mac']!));
            expect(f['status']).to.equal('0x1'); // VIRTIO_NET_S_LINK_UP
            // QEMU offered neither MQ/RSS, MTU nor SPEED_DUPLEX here: those fields are not present
            expect(f).to.not.have.any.keys('max_virtqueue_pairs', 'mtu', 'speed', 'duplex', 'rss_max_key_size');
          } else {
            expect(f['capacity']).to.equal(sectors);
            expect(f['blk_size']).to.equal(num(props!['logical_block_size']));
            expect(f['max_discard_sectors']).to.equal(num(props!['max-discard-sectors']));
            expect(f['max_write_zeroes_sectors']).to.equal(num(props!['max-write-zeroes-sectors']));
            // the trace only holds the config bytes the driver read (52 of 60): the rest is unknown, not 0
            if (kind === 'trace' && s.config.length <= 52) expect(f['write_zeroes_may_unmap']).to.equal(null);
            if (kind === 'devstate') {
              expect([f['geometry.cylinders'], f['geometry.heads'], f['geometry.sectors']]).to.deep.equal([num(props!['cyls']), num(props!['heads']), num(props!['secs'])]);
              expect(f['write_zeroes_may_unmap']).to.equal(1);
            }
            // num_queues exists only where VIRTIO_BLK_F_MQ was negotiated (a modern driver; legacy ones did not)
            if ('num_queues' in f) expect(f['num_queues']).to.equal(num(props!['num-queues']));
          }
        }
        expect([...seen].sort()).to.deep.equal(['blk', 'net']);
      });
    }
  }

  it('a legacy device whose guest byte order is not given: multi-byte fields null, bytes and MACs decoded', async () => {
    const blk = (await states('pc-legacy-msix', 'devstate')).find((s) => s.type === 'blk')!;
    const d = decodeStateConfig(blk)!;
    expect(d.byteOrder).to.equal(null);
    const f = configFieldsJson(d);
    expect(f['capacity']).to.equal(null);
    expect(f['geometry.heads']).to.equal(16);
    const net = (await states('pc-legacy-msix', 'devstate')).find((s) => s.type === 'net')!;
    expect(configFieldsJson(decodeStateConfig(net)!)['mac']).to.match(/^52:54:00:de:0e:0[12]$/);
  });

  it('diff compares config by field: two NICs differ in config.mac (ABI), trace and device-state agree on the NIC config', async () => {
    const trace = await states('pc-modern-net-blk', 'trace');
    const [n2, n3] = ['00:02.0', '00:03.0'].map((a) => trace.find((s) => s.device === `virtio-net-pci@${a}`)!);
    const d = diffStates(n2!, n3!).differences.filter((x) => x.path.startsWith('config.'));
    expect(d).to.deep.equal([{ path: 'config.mac', class: 'abi', change: 'changed', a: '52:54:00:de:0e:01', b: '52:54:00:de:0e:02' }]);
    const dev = (await states('pc-modern-net-blk', 'devstate')).find((s) => s.device === 'virtio-net-pci@00:02.0')!;
    expect(diffStates(n2!, dev).differences.filter((x) => x.path.startsWith('config.'))).to.deep.equal([]);
    // the blk device: the trace holds 52 config bytes (what the driver read), the device-state stream all 60
    const bt = trace.find((s) => s.type === 'blk')!;
    const bd = (await states('pc-modern-net-blk', 'devstate')).find((s) => s.type === 'blk')!;
    const cfg = diffStates(bt, bd).differences.filter((x) => x.path.startsWith('config.')).map((x) => `${x.path}:${String(x.a)}:${String(x.b)}`);
    expect(cfg).to.include.members(['config.max_write_zeroes_seg:null:1', 'config.write_zeroes_may_unmap:null:1']);
  });

  it('state --json shows configFields and, for a NIC, netControl', async () => {
    const net = (await states('pc-modern-net-blk', 'trace')).find((s) => s.type === 'net')!;
    const j = stateJson(net, null);
    expect(Object.keys(j).indexOf('configFields')).to.equal(Object.keys(j).indexOf('config') + 1);
    expect(j['configFields']).to.deep.equal({ mac: '52:54:00:de:0e:01', status: '0x1' });
    expect(j['configByteOrder']).to.equal('little');
    expect(j).to.have.property('netControl');
  });
});

