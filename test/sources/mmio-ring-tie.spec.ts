// virtio-mmio devices a trace shows only through virtio_mmio_* lines (no memory_region_ops): with QEMU's QMP answers
// each is tied by its rings' addresses to QEMU's device and gets the id the device-state import gives it, its type
// and QEMU's names; answers whose rings match nothing, or several devices, leave the vdev name and say why.
// Real inputs: the two "noops" captures (QEMU 7.2 modern virtio-mmio, QEMU 10.0 legacy virtio-mmio) and their qmp.json.
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { collectQmpAnswers, readQmpAnswers } from '../../src/compat/qmp-profile.js';
import { QmpClient } from '../../src/qmp/client.js';
import { qtreeMmioDevices } from '../../src/qmp/qtree.js';
import { importQemuTrace } from '../../src/sources/import-trace.js';
import { NO_ANSWERS_REASON } from '../../src/sources/mmio-ring-tie.js';
import { parseQemuStream } from '../../src/sources/qemu-savevm.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import { devrec } from '../helpers/cli.js';
import { serveQmp } from '../helpers/qmp-peer.js';
import { tmpDir } from '../helpers/tmp.js';

const NOOPS = ['microvm-mmio-modern-noops', 'qemu10-microvm-mmio-legacy-noops'];
const dir = (v: string) => path.resolve('streams/qemu', v);
const trace = (v: string) => path.join(dir(v), 'trace.log.gz');
const qmpFile = (v: string) => path.join(dir(v), 'qmp.json');
type Obj = Record<string, unknown>;
interface CaptureQmp { devices: (Obj & { path: string; qdevId: string; mmioBase?: string; queues: Obj[] })[]; qtree: string; virtioMmioTransports: Obj[] }
const captureQmp = (v: string) => JSON.parse(readFileSync(qmpFile(v), 'utf8')) as CaptureQmp;
const stateIds = (v: string) => parseQemuStream(readFileSync(path.join(dir(v), 'devstate.bin.gz')), { input: v }).devices.map((d) => d.id).sort();

async function run(args: string[]): Promise<string> {
  const r = await devrec(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
  return r.stdout;
}

/** A copy of a capture's qmp.json, changed by `edit`. */
function editedQmp(v: string, edit: (q: CaptureQmp) => void): string {
  const q = captureQmp(v);
  edit(q);
  const file = path.join(tmpDir(), 'qmp.json');
  writeFileSync(file, JSON.stringify(q));
  return file;
}

interface Imported {
  devices: { id: string; type: string; vdev?: string }[];
  mmioRings: { tied: { from: string; id: string; qmpPath: string; queues: number[] }[]; untied: { id: string; reason: string }[] };
  qmp?: { named: { id: string }[]; notTied: { path: string; reason: string }[] };
}

describe('import qemu-trace --qmp-answers: virtio-mmio devices tied by their rings', function () {
  this.timeout(60000);

  for (const v of NOOPS) {
    it(`${v}: the trace's ids are the device-state import's; type and QEMU's names come with them`, async () => {
      const store = `file:${tmpDir()}`;
      const t = JSON.parse(await run(['import', 'qemu-trace', trace(v), '--qmp-answers', qmpFile(v), '--store', store, '--json'])) as Imported;
      expect(t.devices.map((d) => d.id).sort()).to.deep.equal(stateIds(v));
      expect(t.mmioRings.untied).to.deep.equal([]);
      expect(t.mmioRings.tied.map((x) => x.from).every((f) => /^virtio-mmio@vdev-[0-9a-f]+$/.test(f))).to.equal(true);
      // net devices have 3 queues (rx, tx, ctrl), all enabled and compared; the disk 1
      for (const x of t.mmioRings.tied) expect(x.queues, x.id).to.deep.equal(x.id.startsWith('virtio-net') ? [0, 1, 2] : [0]);
      expect(t.qmp!.notTied).to.deep.equal([]);
      for (const d of captureQmp(v).devices) {
        const s = JSON.parse(await run(['state', d.qdevId, '--json', '--store', store]));
        expect(s.device, d.qdevId).to.equal(`${d['qemuType'] as string}@${d.mmioBase!.slice(2)}`);
        expect(s.type).to.equal((d['qemuType'] as string).replace(/^virtio-|-device$/g, ''));
        expect(s.aliases.map((a: { name: string }) => a.name)).to.deep.equal([d.qdevId, d.path]);
      }
      // the device-state import continues the same three streams
      const st = JSON.parse(await run(['import', 'qemu-state', path.join(dir(v), 'devstate.bin.gz'), '--store', store, '--json']));
      expect(st.devices.every((d: { continued: boolean }) => d.continued)).to.equal(true);
      expect(JSON.parse(await run(['devices', '--json', '--store', store]))).to.have.length(3);
    });
  }

  it('without --qmp-answers nothing changes: vdev ids, no type, and the message says what would name them', async () => {
    for (const v of NOOPS) {
      const bare = new MemoryEventStore();
      const plain = await importQemuTrace(bare, trace(v));
      const tiedStore = new MemoryEventStore();
      const tied = await importQemuTrace(tiedStore, trace(v), { qmpAnswers: readQmpAnswers(qmpFile(v)) });
      expect(plain.devices.every((d) => /^virtio-mmio@vdev-/.test(d.id) && d.type === '')).to.equal(true);
      expect(plain.mmioRings!.untied.map((u) => u.reason)).to.deep.equal(plain.devices.map(() => NO_ANSWERS_REASON));
      // the same events either way, but for the identified event's type, virtio id and backend
      for (const t of tied.mmioRings!.tied) {
        const a = []; const b = [];
        for await (const e of bare.read(t.from)) a.push(e.event);
        for await (const e of tiedStore.read(t.id)) b.push(e.event);
        expect(b).to.have.length(a.length);
        expect(b.slice(1)).to.deep.equal(a.slice(1));
        expect({ ...b[0], body: { ...b[0]!.body, type: '', virtioId: undefined, backend: '' } }).to.deep.equal({ ...a[0], body: { ...a[0]!.body, virtioId: undefined, backend: '' } });
      }
    }
    const r = await devrec(['import', 'qemu-trace', trace(NOOPS[0]!), '--store', `file:${tmpDir()}`]);
    expect(r.code).to.equal(0);
    const line = r.stdout.split('\n').find((l) => l.includes('not by mmio base'))!;
    expect(line).to.match(/^ {2}virtio-mmio@vdev-\w+, virtio-mmio@vdev-\w+, virtio-mmio@vdev-\w+: named by QEMU's vdev pointer/);
    expect(line).to.contain('--qmp-answers FILE (devrec profile --qmp ADDRESS --save-qmp FILE');
  });

  it('answers whose rings are elsewhere tie nothing: vdev ids kept, the reason in one line per device and in --json', async () => {
    const v = NOOPS[1]!;
    const moved = editedQmp(v, (q) => {
      for (const d of q.devices) for (const x of d.queues) x['vring-desc'] = Number(x['vring-desc']) + 0x100000;
    });
    const store = `file:${tmpDir()}`;
    const r = await devrec(['import', 'qemu-trace', trace(v), '--qmp-answers', moved, '--store', store]);
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.split('\n').filter((l) => l.includes('not by mmio base'));
    expect(lines).to.have.length(3);
    for (const l of lines) expect(l).to.match(/^ {2}virtio-mmio@vdev-\w+: named by QEMU's vdev pointer, not by mmio base: its rings \(queue 0 desc 0x[0-9a-f]+ avail 0x[0-9a-f]+ used 0x[0-9a-f]+.*\) are those of no device in the QMP answers/);
    const again = JSON.parse(await run(['import', 'qemu-trace', trace(v), '--qmp-answers', moved, '--store', `file:${tmpDir()}`, '--json'])) as Imported;
    expect(again.devices.every((d) => /^virtio-mmio@vdev-/.test(d.id))).to.equal(true);
    expect(again.mmioRings.tied).to.deep.equal([]);
    expect(again.mmioRings.untied.map((u) => u.id).sort()).to.deep.equal(again.devices.map((d) => d.id).sort());
    // QEMU's devices are then named by no device of the import either
    expect(again.qmp!.notTied).to.have.length(3);
    expect(JSON.parse(await run(['state', again.devices[0]!.id, '--json', '--store', store])).type).to.equal(null);
  });

  it('rings that match two QEMU devices tie neither; the others are still tied', async () => {
    const v = NOOPS[0]!;
    const twice = editedQmp(v, (q) => {
      const net0 = q.devices.find((d) => d.qdevId === 'net0')!;
      q.devices.push({ ...net0, path: '/machine/peripheral/net9', qdevId: 'net9', mmioBase: '0xfeb02000' });
    });
    const t = JSON.parse(await run(['import', 'qemu-trace', trace(v), '--qmp-answers', twice, '--store', `file:${tmpDir()}`, '--json'])) as Imported;
    expect(t.mmioRings.tied.map((x) => x.id).sort()).to.deep.equal(['virtio-blk-device@feb02a00', 'virtio-net-device@feb02c00']);
    expect(t.mmioRings.untied).to.have.length(1);
    expect(t.mmioRings.untied[0]!.id).to.match(/^virtio-mmio@vdev-/);
    expect(t.mmioRings.untied[0]!.reason).to.match(/match 2 devices in the QMP answers \(\/machine\/peripheral\/net0, \/machine\/peripheral\/net9\)$/);
  });

  it('answers without mmio bases (no info qtree): the match is named, the base it lacks too', async () => {
    const v = NOOPS[0]!;
    const noBase = editedQmp(v, (q) => {
      for (const d of q.devices) delete d.mmioBase;
    });
    const t = JSON.parse(await run(['import', 'qemu-trace', trace(v), '--qmp-answers', noBase, '--store', `file:${tmpDir()}`, '--json'])) as Imported;
    expect(t.mmioRings.tied).to.deep.equal([]);
    const reasons = t.mmioRings.untied.map((u) => u.reason).sort();
    expect(reasons).to.have.length(3);
    expect(reasons[0]).to.equal('its rings match QMP device /machine/peripheral/blk0, but the answers give no mmio base for it (info qtree, by qdev id: devrec profile --save-qmp keeps it for devices given an id)');
  });

  it('info qtree: each virtio-mmio device with its transport\'s base, as the capture script read them', () => {
    for (const v of NOOPS) {
      const q = captureQmp(v);
      const mine = qtreeMmioDevices(q.qtree).map((d) => ({ bus: d.bus, type: d.type, id: d.id, mmioBase: `0x${d.mmioBase.toString(16)}` }));
      expect(mine).to.deep.equal(q.virtioMmioTransports.map((t) => ({ bus: t['bus'], type: t['type'], id: t['id'], mmioBase: t['mmioBase'] })));
    }
    const text = [
      'bus: main-system-bus', '  type System', '  dev: virtio-mmio, id ""', '    mmio 00000000feb00000/0000000000000200',
      '    bus: virtio-mmio-bus.0', '      type virtio-mmio-bus', '      dev: virtio-rng-device, id ""', '        max-bytes = 1',
      '  dev: virtio-mmio, id ""', '    mmio 00000000feb00200/0000000000000200', '    bus: virtio-mmio-bus.1', '      type virtio-mmio-bus',
      '  dev: isa-serial, id ""', '    mmio 00000000fee00000/0000000000000010',
    ].join('\n');
    // a device without an id has no QOM path the tree names; an empty transport holds no device
    expect(qtreeMmioDevices(text)).to.deep.equal([{ bus: 'virtio-mmio-bus.0', type: 'virtio-rng-device', id: null, mmioBase: 0xfeb00000n }]);
  });

  it('--save-qmp against a QMP peer: the answers keep the mmio bases (info qtree) and name the trace\'s devices', async () => {
    const v = NOOPS[0]!;
    const q = captureQmp(v);
    const asked: string[] = [];
    const { server, address } = await serveQmp((sock, on) => {
      sock.write('{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}\r\n');
      on((m) => {
        const args = (m['arguments'] ?? {}) as Obj;
        const dev = q.devices.find((d) => d.path === args['path']);
        asked.push(m['execute'] === 'human-monitor-command' ? String(args['command-line']) : String(m['execute']));
        let ret: unknown;
        switch (m['execute']) {
          case 'qmp_capabilities': ret = {}; break;
          case 'query-target': ret = { arch: 'x86_64' }; break;
          case 'query-pci': ret = q['queryPci' as keyof CaptureQmp]; break;
          // QEMU's x-query-virtio: path and name only
          case 'x-query-virtio': ret = q.devices.map((d) => ({ path: d.path, name: d['name'] })); break;
          case 'x-query-virtio-status': ret = dev?.['status']; break;
          case 'x-query-virtio-queue-status': ret = dev?.queues[Number(args['queue'])]; break;
          case 'qom-get': ret = args['path'] === '/machine' ? 'microvm-machine' : undefined; break;
          case 'human-monitor-command': ret = args['command-line'] === 'info qtree' ? q.qtree : undefined; break;
        }
        sock.write(JSON.stringify(ret === undefined ? { error: { class: 'GenericError', desc: 'no' }, id: m['id'] } : { return: ret, id: m['id'] }) + '\r\n');
      });
    });
    try {
      const saved = path.join(tmpDir(), 'answers.json');
      const r = await devrec(['profile', '--qmp', address, '--device', 'net0', '--save-qmp', saved]);
      // a virtio-mmio device has no profile (PCI identity), but the answers are saved: one line says both
      expect(r.code).to.equal(1);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.contain('a virtio-mmio device (at 0xfeb02e00)').and.contain(`QEMU's answers were saved to ${saved}`);
      expect(asked).to.include('info qtree');
      const answers = JSON.parse(readFileSync(saved, 'utf8')) as { 'x-query-virtio': { path: string; mmioBase?: string }[] };
      expect(answers['x-query-virtio'].map((d) => [d.path, d.mmioBase])).to.deep.equal(q.devices.map((d) => [d.path, d.mmioBase]));
      const t = JSON.parse(await run(['import', 'qemu-trace', trace(v), '--qmp-answers', saved, '--store', `file:${tmpDir()}`, '--json'])) as Imported;
      expect(t.devices.map((d) => d.id).sort()).to.deep.equal(stateIds(v));
      // in-process too, on the client directly
      const client = await QmpClient.connect(address);
      try {
        const a = await collectQmpAnswers(client);
        expect(a['x-query-virtio'].map((d) => d.mmioBase)).to.deep.equal(q.devices.map((d) => d.mmioBase));
      } finally {
        client.close();
      }
    } finally {
      server.close();
    }
  });

  it('a monitor that refuses info qtree: the answers are saved without mmio bases (unknown), nothing fails', async () => {
    const { server, address } = await serveQmp((sock, on) => {
      sock.write('{"QMP": {"version": {"qemu": {"micro": 0, "minor": 0, "major": 10}, "package": ""}, "capabilities": []}}\r\n');
      on((m) => {
        const ret = m['execute'] === 'x-query-virtio' ? [{ path: '/machine/peripheral/net0', name: 'virtio-net' }]
          : m['execute'] === 'x-query-virtio-status' ? { 'num-vqs': 0 } : m['execute'] === 'human-monitor-command' ? undefined : m['execute'] === 'query-pci' ? [] : {};
        sock.write(JSON.stringify(ret === undefined ? { error: { class: 'CommandNotFound', desc: 'no' }, id: m['id'] } : { return: ret, id: m['id'] }) + '\r\n');
      });
    });
    try {
      const client = await QmpClient.connect(address);
      try {
        const a = await collectQmpAnswers(client);
        expect(a['x-query-virtio']).to.deep.equal([{ path: '/machine/peripheral/net0', name: 'virtio-net' }]);
      } finally {
        client.close();
      }
    } finally {
      server.close();
    }
  });
});
