// A real passthrough device as the peer: a virtio device passed through with vfio-pci to a guest (nested QEMU
// 10.0 inside a QEMU 7.2 q35 + intel-iommu guest, scripts/vfio/capture.sh). The state devrec rebuilds from the
// nested QEMU's vfio trace must equal what the inner guest's driver shows in sysfs and what the outer QEMU, which
// emulates the real device, answers over QMP, at the moment the trace ends (streams/vfio/<variant>/).
import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { checkCompatibility } from '../../src/compat/check.js';
import { deriveProfile } from '../../src/compat/profile.js';
import { qemuVfioMigrationBlocker } from '../../src/model/vfio.js';
import { Projector } from '../../src/project/projector.js';
import { importQemuTrace } from '../../src/sources/import-trace.js';
import { qmpFeatureMask, qmpStatusByte } from '../../src/sources/qemu-names.js';
import { QemuTraceImporter, TraceFormatError } from '../../src/sources/qemu-trace.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import { tmpDir } from '../helpers/tmp.js';

const VARIANTS = ['virtio-blk', 'virtio-net', 'virtio-net-transitional'].filter((v) => existsSync(path.resolve('streams/vfio', v, 'trace.log.gz')));
const dir = (v: string) => path.resolve('streams/vfio', v);
const ID = 'vfio-pci@0000:00:03.0';

interface Sysfs { features: bigint; status: number; deviceId: number }
/** sysfs-features.txt: the inner guest's /sys/bus/virtio/devices/virtio0 (features: bit i at character i). */
function sysfs(v: string): Sysfs {
  const kv = new Map<string, string>();
  for (const l of readFileSync(path.join(dir(v), 'sysfs-features.txt'), 'utf8').split('\n')) {
    const m = /^([a-z-]+): (.*)$/.exec(l);
    if (m) kv.set(m[1]!, m[2]!);
  }
  const bits = kv.get('features')!;
  let features = 0n;
  for (let i = 0; i < bits.length; i++) if (bits[i] === '1') features |= 1n << BigInt(i);
  return { features, status: Number(kv.get('status')), deviceId: Number(kv.get('device-id')) };
}

interface QmpQueue { 'queue-index': number; 'vring-num': number; 'vring-desc': number; 'vring-avail': number; 'vring-used': number; 'last-avail-idx': number; 'used-idx': number }
interface OuterQmp {
  'x-query-virtio-status': { return: { status: { statuses: string[] }; 'guest-features': Parameters<typeof qmpFeatureMask>[0]; 'num-vqs': number; 'queue-sel': number } };
  'x-query-virtio-queue-status': QmpQueue[];
}
const outer = (v: string) => JSON.parse(readFileSync(path.join(dir(v), 'qmp.json'), 'utf8')) as OuterQmp;

async function imported(file: string) {
  const store = new MemoryEventStore();
  const summary = await importQemuTrace(store, file);
  return { store, summary };
}

describe('import qemu-trace: vfio passthrough captures against the guest\'s and the device\'s own views', function () {
  this.timeout(60000);
  it('every variant is committed', function () {
    expect(VARIANTS).to.include.members(['virtio-blk', 'virtio-net', 'virtio-net-transitional']);
  });

  for (const v of VARIANTS) {
    it(`${v}: one vfio stream whose status, features and queues equal the inner guest's sysfs and the outer QEMU's QMP`, async function () {
      const { store, summary } = await imported(path.join(dir(v), 'trace.log.gz'));
      const legacy = v.endsWith('-transitional');
      expect(summary.devices.map((d) => [d.id, d.transport])).to.deep.equal([[ID, 'vfio']]);
      expect(summary.vfio!.unmappedAccesses).to.deep.equal({});
      const s = await new Projector(store).stateAt(ID);
      expect(s.backend).to.equal(`vfio-pci host=0000:00:03.0 virtio=${legacy ? 'pci-legacy' : 'pci-modern'}`);
      // the inner guest's view: what its driver accepted, and the status it set
      const guest = sysfs(v);
      expect(s.virtioId).to.equal(guest.deviceId);
      expect(s.features.accepted, 'accepted features vs sysfs').to.equal(guest.features);
      expect(s.status, 'status vs sysfs').to.equal(guest.status);
      // the device's view (outer QEMU emulates the real device)
      const q = outer(v);
      const st = q['x-query-virtio-status'].return;
      expect(s.status, 'status vs outer QMP').to.equal(qmpStatusByte(st.status));
      expect(s.features.accepted, 'features vs outer QMP').to.equal(qmpFeatureMask(st['guest-features']));
      expect(q['x-query-virtio-queue-status'].length).to.equal(st['num-vqs']);
      // what it does not: ring indices live in guest memory, which no vfio event shows; nothing may claim them, and
      // once a queue is enabled its indices are unknown (not left at the reset's 0 while QEMU says otherwise)
      for await (const e of store.read(ID)) {
        if (e.event.body.kind !== 'vqIndex') continue;
        expect(e.event.body, 'a vfio trace only says that it cannot see a ring').to.deep.equal({ kind: 'vqIndex', index: e.event.body.index, indicesUnseen: true });
      }
      expect(s.queueSelect, 'queue_select vs outer QMP queue-sel').to.equal(st['queue-sel']);
      for (const qq of q['x-query-virtio-queue-status']) {
        const mine = s.queues.find((x) => x.index === qq['queue-index']);
        if (mine === undefined) {
          // a queue the driver never selected is absent (unknown), never invented; the device must agree that
          // nobody set it up (QEMU's virtio-net has a control queue whether or not CTRL_VQ is negotiated)
          expect({ desc: qq['vring-desc'], avail: qq['vring-avail'], used: qq['vring-used'] }, `queue ${qq['queue-index']} is absent from the trace`).to.deep.equal({ desc: 0, avail: 0, used: 0 });
          continue;
        }
        // what the trace carries: the register writes of the guest driver
        if (mine!.enabled) expect({ lastAvailIdx: mine!.lastAvailIdx, usedIdx: mine!.usedIdx }, `queue ${qq['queue-index']} indices`).to.deep.equal({ lastAvailIdx: null, usedIdx: null });
        expect({ size: mine!.size, desc: mine!.desc, driver: mine!.driver, device: mine!.device }, `queue ${qq['queue-index']}`).to.deep.equal({
          size: qq['vring-num'], desc: BigInt(qq['vring-desc']), driver: BigInt(qq['vring-avail']), device: BigInt(qq['vring-used']),
        });
        // the modern variants ran I/O; the transitional one only probes (its DMA would bypass the IOMMU)
        if (!legacy && qq['vring-num'] > 0 && qq['queue-index'] < 2) expect(qq['used-idx'], 'the workload moved the ring').to.be.greaterThan(0);
      }
    });

    it(`${v}: every vfio register access of the trace is kept raw`, async function () {
      const text = gunzipSync(readFileSync(path.join(dir(v), 'trace.log.gz'))).toString('utf8');
      const lines = text.split('\n').filter((l) => /^vfio_(region_(read|write)|pci_(read|write)_config) /.test(l));
      const { store } = await imported(path.join(dir(v), 'trace.log.gz'));
      let raw = 0;
      const regions = new Set<string>();
      for await (const e of store.read(ID)) {
        if (e.event.body.kind === 'registerAccess') {
          raw++;
          regions.add(e.event.body.region);
        }
      }
      expect(raw).to.equal(lines.length);
      expect([...regions]).to.include(v.endsWith('-transitional') ? 'legacy-io' : 'common-cfg');
    });
  }

  it('virtio-net-transitional: the legacy IO BAR is read by MSI-X state, and the vectors it names are the ones the VMM wired', async function () {
    if (!VARIANTS.includes('virtio-net-transitional')) this.skip();
    const v = 'virtio-net-transitional';
    const { store } = await imported(path.join(dir(v), 'trace.log.gz'));
    // virtio_net read the MAC (device config) through offsets 20..25 before it enabled MSI-X; with MSI-X on,
    // offsets 20 and 22 are the config and queue vector registers (virtio 0.9.5 2.2.2, VIRTIO_PCI_CONFIG_OFF)
    const accesses: { offset: number; direction: string; msixEnabled: boolean }[] = [];
    for await (const e of store.read(ID)) {
      const b = e.event.body;
      if (b.kind === 'registerAccess' && b.region === 'legacy-io') accesses.push({ offset: b.offset, direction: b.direction, msixEnabled: b.msixEnabled === true });
    }
    const at20 = accesses.filter((a) => a.offset === 20);
    expect(at20.map((a) => a.msixEnabled)).to.include.members([false, true]);
    const s = await new Projector(store).stateAt(ID);
    expect(Object.keys(s.config).map(Number).sort((a, b) => a - b), 'device config bytes read').to.deep.equal([0, 1, 2, 3, 4, 5]);
    // the nested QEMU's own MSI-X bookkeeping (vfio_msix_vector_do_use) names the vectors the guest driver wrote
    const text = gunzipSync(readFileSync(path.join(dir(v), 'trace.log.gz'))).toString('utf8');
    const used = [...text.matchAll(/^vfio_msix_vector_do_use .* vector (\d+) used$/gm)].map((m) => Number(m[1]));
    expect(s.msix?.enabled).to.equal(true);
    // (a queue without an interrupt callback, like virtio-net's control queue, keeps VIRTIO_MSI_NO_VECTOR)
    const NO_VECTOR = 0xffff;
    const wired = [s.msix!.configVector, ...s.queues.map((q) => q.msixVector)].filter((x) => x !== NO_VECTOR);
    expect(wired.sort()).to.deep.equal([...new Set(used)].sort());
    // legacy: no VERSION_1, no FEATURES_OK; the queues went live by their page frame numbers
    expect(s.features.accepted! & (1n << 32n)).to.equal(0n);
    expect(s.status! & 8).to.equal(0);
    expect(s.queues.length).to.be.greaterThan(1);
    for (const q of s.queues) expect({ index: q.index, live: q.pfn > 0 && q.enabled === true }).to.deep.equal({ index: q.index, live: true });
  });

  it('check: a passthrough device without VFIO migration flags cannot migrate live, in the words QEMU used in the capture', async function () {
    for (const v of VARIANTS) {
      const { store } = await imported(path.join(dir(v), 'trace.log.gz'));
      const s = await new Projector(store).stateAt(ID);
      const r = checkCompatibility(s, deriveProfile(s), {});
      const f = r.findings.find((x) => x.rule === 'vfio-no-migration');
      expect(f, v).to.not.equal(undefined);
      expect(r.verdict).to.equal('incompatible');
      expect(r.moves).to.not.include('live');
      const words = qemuVfioMigrationBlocker('0000:00:03.0');
      expect(f!.message).to.include(`"${words}"`);
      // the nested QEMU said exactly that, both in query-migrate and as the error of migrate
      const nested = JSON.parse(readFileSync(path.join(dir(v), 'nested-qmp.json'), 'utf8')) as Record<string, unknown>[];
      const blocked = nested.flatMap((a) => ((a['return'] as { 'blocked-reasons'?: string[] } | undefined)?.['blocked-reasons'] ?? []));
      const errors = nested.flatMap((a) => (a['error'] ? [(a['error'] as { desc: string }).desc] : []));
      expect(blocked, v).to.include(words);
      expect(errors, v).to.include(words);
      // with recorded flags (a VFIO variant driver that can migrate) the rule is quiet
      expect(checkCompatibility(s, deriveProfile(s), { vfioFlags: 7 }).findings.map((x) => x.rule)).to.not.include('vfio-no-migration');
    }
  });

  it('a malformed vfio line is an error naming the input, the line and what could not be read', async function () {
    const importer = new QemuTraceImporter('t.log', async () => undefined);
    importer.line('vfio_pci_read_config  (0000:00:03.0, @0x0, len=0x2) 0x1af4');
    expect(() => importer.line('vfio_region_write  (0000:00:03.0:region4+0x14, zz, 1)')).to.throw(TraceFormatError, 't.log: line 2: vfio_region_write: cannot read "(0000:00:03.0:region4+0x14, zz, 1)"');
    expect(() => importer.line('vfio_pci_read_config  (0000:00:03.0, @0xfff, len=0x4) 0x0')).to.throw(TraceFormatError, 'line 3: vfio_pci_read_config: access @0xfff len 4 is outside PCI config space');
  });

  it('BAR accesses without the config reads that place them fail the import, saying which event to trace', async function () {
    const text = gunzipSync(readFileSync(path.join(dir('virtio-blk'), 'trace.log.gz'))).toString('utf8');
    const file = path.join(tmpDir(), 'no-config.log.gz');
    writeFileSync(file, gzipSync(text.split('\n').filter((l) => !l.startsWith('vfio_pci_read_config')).join('\n')));
    let err: unknown;
    try {
      await imported(file);
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).to.match(/vfio-pci@0000:00:03\.0: \d+ BAR accesses but the trace has no config space reads of its virtio capabilities; record with -trace vfio_pci_read_config$/);
  });

  it('a passed-through function that is not a virtio device is counted, not imported', async function () {
    const text = gunzipSync(readFileSync(path.join(dir('virtio-blk'), 'trace.log.gz'))).toString('utf8');
    const file = path.join(tmpDir(), 'with-a-nic.log.gz');
    // an Intel 82599 VF's config read and BAR write beside the virtio device
    writeFileSync(file, gzipSync(['vfio_pci_read_config  (0000:00:05.0, @0x0, len=0x4) 0x10ed8086', 'vfio_region_write  (0000:00:05.0:region0+0x0, 0x1, 4)', text].join('\n')));
    const { summary } = await imported(file);
    expect(summary.devices.map((d) => d.id)).to.deep.equal([ID]);
    expect(summary.vfio!.notVirtio).to.deep.equal(['0000:00:05.0']);
  });
});
