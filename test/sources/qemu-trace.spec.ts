// Real QEMU as the peer: the state devrec rebuilds from each committed capture's trace must equal what QEMU
// itself answered over QMP at the moment the trace ended (streams/qemu/<variant>/qmp.json).
import { expect } from 'chai';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import path from 'node:path';
import { Projector } from '../../src/project/projector.js';
import { lintStream } from '../../src/project/rules/lint.js';
import { stateToJson } from '../../src/project/state.js';
import { importQemuTrace } from '../../src/sources/import-trace.js';
import { readQmpAnswers } from '../../src/compat/qmp-profile.js';
import { QemuTraceImporter, TraceEvidenceError, TraceFormatError, parseTraceLine } from '../../src/sources/qemu-trace.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import { STATUS } from '../../src/model/index.js';
import { decodeEvent, encodeEvent } from '../../src/events/codec.js';
import { describeEvent } from '../../src/events/describe.js';
import { tmpDir } from '../helpers/tmp.js';
import { MATRIX_NET_MQ, MATRIX_TIED, guestQueuePairs, manifestOf } from './qemu-matrix.js';
import { featureBitNumber } from '../../src/model/index.js';
import { MSI_NO_VECTOR } from '../../src/model/registers.js';
import { parseQemuStream } from '../../src/sources/qemu-savevm.js';

export const CAPTURES = ['pc-modern-net-blk', 'pc-legacy-msix', 'pc-legacy-intx', 'pc-packed', 'microvm-mmio-legacy', 'microvm-mmio-modern'];
/** Captures made fresh by CI (.ci/run) with the installed QEMU: absolute directories, colon-separated. */
const FRESH = (process.env['DEVREC_FRESH_CAPTURES'] ?? '').split(':').filter(Boolean);
const dir = (v: string) => (path.isAbsolute(v) ? v : path.resolve('streams/qemu', v));

interface QmpQueue { 'queue-index': number; 'vring-num': number; 'vring-desc': number; 'vring-avail': number; 'vring-used': number; 'last-avail-idx': number; 'used-idx': number; 'shadow-avail-idx': number }
interface QmpDevice { qemuType: string; pciAddress?: string; mmioBase?: string; status: { status: { statuses: string[] }; 'guest-features': unknown }; queues: QmpQueue[] }

export function qmpDevices(variant: string): { id: string; dev: QmpDevice }[] {
  const qmp = JSON.parse(readFileSync(path.join(dir(variant), 'qmp.json'), 'utf8')) as { devices: QmpDevice[] };
  return qmp.devices.map((dev) => ({ id: dev.pciAddress ? `${dev.qemuType}@${dev.pciAddress}` : `${dev.qemuType}@${dev.mmioBase!.replace(/^0x/, '')}`, dev }));
}

export function qmpStatus(d: QmpDevice): number {
  return d.status.status.statuses.reduce((acc, s) => acc | STATUS[s.split(':')[0]!.replace('VIRTIO_CONFIG_S_', '') as keyof typeof STATUS], 0);
}

async function imported(variant: string, withQmp = false) {
  const store = new MemoryEventStore();
  const summary = await importQemuTrace(store, path.join(dir(variant), 'trace.log.gz'), withQmp ? { qmpAnswers: readQmpAnswers(path.join(dir(variant), 'qmp.json')) } : {});
  return { store, summary };
}

describe('import qemu-trace: real captures against QEMU\'s own view', function () {
  this.timeout(60000);
  for (const variant of [...CAPTURES, ...MATRIX_TIED, ...FRESH]) {
    it(`${variant}: status, features and every queue equal QEMU's answers${FRESH.includes(variant) ? ' (captured fresh in this run)' : ''}`, async function () {
      // virtio_mmio_* lines without memory_region_ops carry no transport address: alone they name devices by QEMU's
      // vdev pointer; with the capture's QMP answers each is tied by its rings' addresses to QEMU's device and named
      // by its mmio base (src/sources/mmio-ring-tie.ts)
      const byVdev = manifestOf(variant).matrix?.traceEvents === 'mmio';
      const { store, summary } = await imported(variant, byVdev);
      const expected = qmpDevices(variant);
      const projector = new Projector(store);
      expect(summary.devices.map((d) => d.id).sort()).to.deep.equal(expected.map((e) => e.id).sort());
      const pairs = expected;
      if (byVdev) expect(summary.mmioRings?.untied).to.deep.equal([]);
      expect(summary.unattributedQueueLines).to.equal(0);
      let names: { qmpFeatureMask(x: unknown): bigint } | undefined;
      try {
        names = await import('../../src/sources/qemu-names.js');
      } catch {
        names = undefined;
      }
      for (const { id, dev } of pairs) {
        const s = await projector.stateAt(id);
        expect(s.status, `${id} status`).to.equal(qmpStatus(dev));
        const guest = names?.qmpFeatureMask(dev.status['guest-features']);
        if (byVdev) {
          // what the driver wrote is in the trace; what the device offered and answered (read values) is not
          expect(s.features.driver, `${id} driver features`).to.equal(guest);
          expect(s.features.device, `${id} offered features`).to.equal(null);
          expect(s.features.accepted, `${id} accepted features`).to.equal(s.transport === 'mmio-legacy' ? guest : null);
          // the type is QEMU's (the trace has no DeviceID value), the rest of the identity unknown
          expect(s.type, `${id} type`).to.equal(dev.qemuType.replace(/^virtio-|-device$/g, ''));
          expect(s.transport, `${id} transport`).to.equal(manifestOf(variant).transport);
          for (const q of s.queues) expect(q.maxSize, `${id} queue ${q.index} max size`).to.equal(null);
        } else if (names) expect(s.features.accepted, `${id} features`).to.equal(guest);
        for (const q of dev.queues) {
          if (q['vring-desc'] === 0) continue;
          const mine = s.queues.find((x) => x.index === q['queue-index']);
          expect(mine, `${id} queue ${q['queue-index']}`).to.not.equal(undefined);
          expect({ size: mine!.size, desc: mine!.desc, driver: mine!.driver, device: mine!.device, lastAvailIdx: mine!.lastAvailIdx, usedIdx: mine!.usedIdx }, `${id} queue ${q['queue-index']}`).to.deep.equal({
            size: q['vring-num'], desc: BigInt(q['vring-desc']), driver: BigInt(q['vring-avail']), device: BigInt(q['vring-used']),
            lastAvailIdx: q['last-avail-idx'], usedIdx: q['used-idx'],
          });
          // the driver's avail->idx lives in guest memory, which no trace line shows: unknown, not its reset value 0
          expect(mine!.availIdx, `${id} queue ${q['queue-index']} avail index (QEMU's shadow: ${q['shadow-avail-idx']})`).to.equal(null);
        }
      }
    });
  }

  it('every capture: each stream\'s stamps never go back (identified takes its device\'s first access)', async function () {
    for (const variant of [...CAPTURES, ...MATRIX_TIED]) {
      const { store, summary } = await imported(variant);
      for (const d of summary.devices) {
        let last = -1n;
        let first: bigint | undefined;
        for await (const e of store.read(d.id)) {
          first ??= e.event.timestampNs;
          expect(e.event.timestampNs >= last, `${variant} ${d.id} #${e.revision}`).to.equal(true);
          last = e.event.timestampNs;
        }
        expect(first, `${variant} ${d.id}`).to.not.equal(undefined);
      }
    }
  });

  it('a trace without virtqueue_* lines leaves every enabled queue\'s indices unknown, not 0', async function () {
    for (const variant of ['pc-modern-net-blk', 'pc-legacy-msix', 'microvm-mmio-modern-noops']) {
      const lines = gunzipSync(readFileSync(path.join(dir(variant), 'trace.log.gz'))).toString('utf8').split('\n');
      const file = path.join(tmpDir(), `${variant}-no-virtqueue.log.gz`);
      writeFileSync(file, gzipSync(lines.filter((l) => !/^(\d+@[\d.]+:)?virtqueue_/.test(l)).join('\n')));
      const store = new MemoryEventStore();
      const summary = await importQemuTrace(store, file);
      let enabled = 0;
      for (const d of summary.devices) {
        const s = await new Projector(store).stateAt(d.id);
        for (const q of s.queues) {
          if (!q.desc) continue;
          enabled++;
          expect({ lastAvailIdx: q.lastAvailIdx, usedIdx: q.usedIdx }, `${variant} ${d.id} queue ${q.index}`).to.deep.equal({ lastAvailIdx: null, usedIdx: null });
        }
      }
      expect(enabled, variant).to.be.greaterThan(2);
    }
  });

  it('virtqueue lines before their queue is tied make that queue\'s indices unknown', async function () {
    const lines = gunzipSync(readFileSync(path.join(dir('pc-modern-net-blk'), 'trace.log.gz'))).toString('utf8').split('\n');
    // drop the first notify of one vq (the write and QEMU's virtio_queue_notify): its first pops are not tied
    const at = lines.findIndex((l, i) => /^virtio_queue_notify /.test(l) && /virtqueue_pop/.test(lines[i + 1] ?? ''));
    const vq = / vq (0x[0-9a-f]+)/.exec(lines[at]!)![1]!;
    let write = at - 1;
    while (!/^memory_region_ops_write /.test(lines[write]!)) write--;
    expect(lines[write]).to.match(/name 'virtio-pci-notify-/);
    const file = path.join(tmpDir(), 'late-tie.log.gz');
    writeFileSync(file, gzipSync([...lines.slice(0, write), ...lines.slice(at + 1)].join('\n')));
    const store = new MemoryEventStore();
    const summary = await importQemuTrace(store, file);
    expect(summary.unattributedQueueLines).to.be.greaterThan(0);
    const full = await imported('pc-modern-net-blk');
    let unknown = 0;
    for (const d of summary.devices) {
      const s = await new Projector(store).stateAt(d.id);
      const ref = await new Projector(full.store).stateAt(d.id);
      for (const q of s.queues) {
        const r = ref.queues.find((x) => x.index === q.index)!;
        // a queue is either right (as from the whole trace) or unknown: never a wrong number
        if (q.lastAvailIdx === null) unknown++;
        else expect({ a: q.lastAvailIdx, u: q.usedIdx }, `${d.id} queue ${q.index} (vq ${vq})`).to.deep.equal({ a: r.lastAvailIdx, u: r.usedIdx });
      }
    }
    expect(unknown).to.be.greaterThan(0);
  });

  it('the identified event leaves out what the trace never showed (unknown, not 0), through the codec too', async function () {
    const { store, summary } = await imported('pc-modern-net-blk');
    const mmio = await imported('microvm-mmio-modern-noops');
    const firsts = [];
    for (const d of summary.devices) for await (const e of store.read(d.id, { to: 0 })) firsts.push(e.event);
    for (const d of mmio.summary.devices) for await (const e of mmio.store.read(d.id, { to: 0 })) firsts.push(e.event);
    expect(firsts).to.have.length(6);
    for (const e of firsts) {
      const back = decodeEvent(encodeEvent(e, 0));
      for (const ev of [e, back]) {
        const b = ev.body;
        expect(b.kind).to.equal('identified');
        if (b.kind !== 'identified') continue;
        // the trace shows no queue count, config size, PCI device/subsystem ids or revision
        for (const k of ['numQueues', 'configSize', 'pciDevice', 'pciSubsystemVendor', 'pciSubsystem', 'pciRevision'] as const) expect(b[k], k).to.equal(undefined);
        if (b.transport.startsWith('pci')) {
          expect(b.pciVendor).to.equal(0x1af4);
          expect(b.virtioId).to.be.oneOf([1, 2]);
        }
        else expect([b.type, b.virtioId, b.pciVendor]).to.deep.equal(['', undefined, undefined]); // virtio_mmio_read has no values
      }
      expect(describeEvent({ ...e, revision: 0 })).to.not.match(/virtio id 0\b|, 0 queues/);
    }
  });

  it('legacy config sits at IO offset 24 with MSI-X and at 20 without, and both decode to the MAC', async function () {
    for (const [variant, offset] of [['pc-legacy-msix', 24], ['pc-legacy-intx', 20]] as const) {
      const { store } = await imported(variant);
      const reads: number[] = [];
      for await (const e of store.read('virtio-net-pci@00:02.0')) {
        const b = e.event.body;
        if (b.kind === 'registerAccess' && b.region === 'legacy-io' && b.direction === 'read' && b.offset >= 20 && e.event.actor === 'guest-driver') reads.push(b.offset);
      }
      expect(Math.min(...reads.filter((o) => o >= offset)), variant).to.equal(offset);
      const json = stateToJson(await new Projector(store).stateAt('virtio-net-pci@00:02.0')) as { config: string; msix: { enabled: boolean } };
      expect(json.config.startsWith('525400de0e01'), variant).to.equal(true);
      // with MSI-X the driver's enable write is in the trace; without, nothing says it: unknown, not "false"
      expect(json.msix.enabled, variant).to.equal(offset === 24 ? true : null);
    }
  });

  it('lint finds no error in Linux driver traffic; the one finding is SeaBIOS\'s virtio-blk reset', async function () {
    for (const variant of CAPTURES) {
      const { store, summary } = await imported(variant);
      for (const d of summary.devices) {
        const r = await lintStream(store, d.id);
        const errors = r.findings.filter((f) => f.severity === 'error');
        if (d.id === 'virtio-blk-pci@00:04.0' && (variant === 'pc-modern-net-blk' || variant === 'pc-packed')) {
          // SeaBIOS (which drives virtio-blk before Linux does) flushes its reset write by reading ISR and never
          // waits for status to read 0: a real deviation from virtio 1.x 2.1.2 by the firmware, before the OS.
          expect(errors.map((f) => f.rule), `${variant} ${d.id}`).to.deep.equal(['reset-not-awaited']);
          expect(errors[0]!.revision).to.be.lessThan(60);
          // in SeaBIOS's session, not in the Linux driver's that a later reset starts
          let resets = 0;
          for await (const e of store.read(d.id)) if (e.event.body.kind === 'statusWritten' && e.event.body.status === 0) resets++;
          expect(errors[0]!.session, `${variant} session`).to.be.lessThan(resets);
          expect(errors[0]!.sessionStart, `${variant} session start`).to.be.a('number');
          // named from its own signs: ACKNOWLEDGE|DRIVER in one write, no ring feature, then reset by the next driver
          expect(errors[0]!.sessionDriver, `${variant} session driver`).to.equal('SeaBIOS');
          const sessions = (await lintStream(store, d.id)).sessions;
          expect(sessions.map((x) => x.driver), `${variant} sessions`).to.deep.equal([null, 'SeaBIOS', null]);
        } else {
          expect(errors, `${variant} ${d.id}`).to.deep.equal([]);
        }
      }
    }
  });

  it('removing the FEATURES_OK write of a modern device from a real trace is caught', async function () {
    const lines = gunzipSync(readFileSync(path.join(dir('pc-modern-net-blk'), 'trace.log.gz'))).toString('utf8').split('\n');
    // drop the status write of 0xb (ACKNOWLEDGE|DRIVER|FEATURES_OK) of both NICs
    const doctored = lines.filter((l) => !/memory_region_ops_write .* value 0xb size 1 name 'virtio-pci-common-virtio-net'/.test(l));
    expect(doctored.length).to.be.lessThan(lines.length);
    const file = path.join(tmpDir(), 'no-features-ok.log.gz');
    writeFileSync(file, gzipSync(doctored.join('\n')));
    const store = new MemoryEventStore();
    await importQemuTrace(store, file);
    const r = await lintStream(store, 'virtio-net-pci@00:02.0');
    expect(r.findings.map((f) => f.rule)).to.include('driver-ok-without-features-ok');
  });

  it('reads lines with and without the pid@time prefix', function () {
    expect(parseTraceLine('virtio_set_status vdev 0x1 val 3')).to.deep.equal({ name: 'virtio_set_status', args: 'vdev 0x1 val 3' });
    expect(parseTraceLine('4242@1700000000.123456:virtqueue_flush vq 0x7 count 2')).to.deep.equal({ name: 'virtqueue_flush', args: 'vq 0x7 count 2', timestampNs: 1700000000123456000n });
    expect(parseTraceLine('qemu-system-x86_64: warning: hub 0 is not connected to host network')).to.equal(undefined);
  });

  it('rejects a malformed line of a known event with the input, line and reason, keeping nothing half-done', async function () {
    const importer = new QemuTraceImporter('t.log', async () => undefined);
    await importer.line('pci_cfg_write virtio-net-pci 00:02.0 @0x10 <- 0xc001');
    let err: unknown;
    try {
      await importer.line('memory_region_ops_write cpu 0 mr 0x1 addr zz value 0x0 size 1 name \'virtio-pci\'');
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(TraceFormatError);
    expect((err as Error).message).to.equal('t.log: line 2: memory_region_ops_write: cannot read "cpu 0 mr 0x1 addr zz value 0x0 size 1 name \'virtio-pci\'"');
  });

  it('virtio_mmio_* lines: a damaged one fails naming the line; with memory_region_ops in the trace they are not used', async function () {
    const importer = new QemuTraceImporter('m.log', async () => undefined);
    importer.line('virtio_mmio_read virtio_mmio_read offset 0x0');
    let err: unknown;
    try {
      importer.line('virtio_mmio_write_offset virtio_mmio_write offset 0x7g value 0x0');
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).to.equal('m.log: line 2: virtio_mmio_write_offset: cannot read "virtio_mmio_write offset 0x7g value 0x0"');
    // the full microvm capture has both: devices are named by transport base, the virtio_mmio_* lines only counted
    const { summary } = await imported('microvm-mmio-modern');
    expect(summary.devices.map((d) => d.id).sort()).to.deep.equal(['virtio-blk-device@feb02a00', 'virtio-net-device@feb02c00', 'virtio-net-device@feb02e00']);
    expect(summary.unusedLines['virtio_mmio_write_offset']).to.be.greaterThan(300);
  });

  it('a truncated gzip trace is an error naming the file; a missing file too', async function () {
    const gz = readFileSync(path.join(dir('pc-legacy-intx'), 'trace.log.gz'));
    const file = path.join(tmpDir(), 'cut.log.gz');
    writeFileSync(file, gz.subarray(0, Math.floor(gz.length / 2)));
    let err: unknown;
    try {
      await importQemuTrace(new MemoryEventStore(), file);
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/cut\.log\.gz: not a readable gzip stream/);
    err = undefined;
    try {
      await importQemuTrace(new MemoryEventStore(), '/nonexistent/trace.log');
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.contain('/nonexistent/trace.log: no such file');
  });

  it('random and shuffled lines never crash the importer (seeded)', async function () {
    // the PCI capture, and the virtio-mmio one without memory_region_ops (ties by vdev pointer)
    const lines = ['pc-modern-net-blk', 'microvm-mmio-modern-noops'].flatMap((v) => gunzipSync(readFileSync(path.join(dir(v), 'trace.log.gz'))).toString('utf8').split('\n'));
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let round = 0; round < 30; round++) {
      const importer = new QemuTraceImporter('fuzz', async () => undefined);
      for (let i = 0; i < 400; i++) {
        let l = lines[Math.floor(rnd() * lines.length)]!;
        if (rnd() < 0.3) {
          const at = Math.floor(rnd() * l.length);
          l = l.slice(0, at) + String.fromCharCode(32 + Math.floor(rnd() * 90)) + l.slice(at + 1);
        }
        try {
          await importer.line(l);
        } catch (e) {
          expect(e, l).to.be.instanceOf(TraceFormatError);
        }
      }
      try {
        await importer.finish();
      } catch (e) {
        expect(e).to.be.instanceOf(TraceEvidenceError);
      }
    }
  });
});

describe('import qemu-trace: a multi-queue virtio-net (mq=on, 2 queue pairs) against QEMU\'s own view', function () {
  this.timeout(60000);
  const MQ = featureBitNumber('VIRTIO_NET_F_MQ');
  const CTRL_VQ = featureBitNumber('VIRTIO_NET_F_CTRL_VQ');
  it('the matrix has a QEMU 7.2 and a QEMU 10.0 multi-queue NIC capture', () => {
    expect(MATRIX_NET_MQ.map((v) => manifestOf(v).qemu.version.split('.')[0]).sort()).to.deep.equal(['10', '7']);
  });
  for (const v of MATRIX_NET_MQ) {
    it(`${v}: all 5 queues (rx0 tx0 rx1 tx1 ctrl) equal QMP, MQ and CTRL_VQ accepted, vectors as QEMU saved them`, async () => {
      const { store, summary } = await imported(v);
      const [{ id, dev }] = qmpDevices(v) as [{ id: string; dev: QmpDevice }];
      expect(summary.devices.map((d) => d.id)).to.deep.equal([id]);
      expect(summary.unattributedQueueLines).to.equal(0);
      const s = await new Projector(store).stateAt(id);
      const accepted = s.features.accepted!;
      expect([(accepted >> BigInt(MQ)) & 1n, (accepted >> BigInt(CTRL_VQ)) & 1n], 'MQ, CTRL_VQ accepted').to.deep.equal([1n, 1n]);
      // max_virtqueue_pairs (device config offset 8, little-endian on a modern device) as the driver read it: the
      // control queue is the one after the 2 pairs (virtio 1.3 5.1.2), index 4
      expect(Buffer.from(s.config).readUInt16LE(8), 'max_virtqueue_pairs').to.equal(2);
      expect(dev.queues.map((q) => q['queue-index'])).to.deep.equal([0, 1, 2, 3, 4]);
      const mine = (i: number) => s.queues.find((q) => q.index === i)!;
      const got = dev.queues.map((q) => ({
        index: mine(q['queue-index']).index, size: mine(q['queue-index']).size, enabled: mine(q['queue-index']).enabled,
        desc: mine(q['queue-index']).desc, driver: mine(q['queue-index']).driver, device: mine(q['queue-index']).device,
        lastAvailIdx: mine(q['queue-index']).lastAvailIdx, usedIdx: mine(q['queue-index']).usedIdx,
      }));
      expect(got).to.deep.equal(dev.queues.map((q) => ({
        index: q['queue-index'], size: q['vring-num'], enabled: true, desc: BigInt(q['vring-desc']), driver: BigInt(q['vring-avail']),
        device: BigInt(q['vring-used']), lastAvailIdx: q['last-avail-idx'], usedIdx: q['used-idx'],
      })));
      // the workload sent from both vCPUs: both transmit queues (1 and 3) took packets; the control queue took the
      // driver's commands (rx mode, MAC table, VQ_PAIRS_SET, ...)
      for (const i of [1, 3, 4]) expect(mine(i).usedIdx, `queue ${i} used`).to.be.greaterThan(0);
      // MSI-X: the trace's vectors are the ones QEMU saved in the device-state stream of the same moment; Linux gives
      // config and each rx/tx queue a vector of its own (vp_find_vqs_msix) and the control queue none
      const saved = parseQemuStream(readFileSync(path.join(dir(v), 'devstate.bin.gz')), { input: v }).devices[0]!;
      expect(s.queues.map((q) => q.msixVector), 'queue vectors').to.deep.equal(saved.queues.map((q) => q.vector));
      expect(s.queues.map((q) => q.msixVector)).to.deep.equal([1, 2, 3, 4, MSI_NO_VECTOR]);
      expect(s.msix?.configVector).to.equal(saved.pci!.configVector);
      expect(s.msix?.enabled).to.equal(true);
      const guestIrqs = (JSON.parse(readFileSync(path.join(dir(v), 'manifest.json'), 'utf8')) as { guestReport: string[] }).guestReport
        .filter((l) => /virtio0-(config|input\.\d|output\.\d)$/.test(l));
      expect(guestIrqs, 'vectors the guest requested').to.have.length(5);
      // what a trace cannot carry: the queue count and MSI-X table size (never read), the control commands'
      // payloads (VQ_PAIRS_SET's 2 is in QEMU's saved state, not in the trace)
      expect(s.numQueues).to.equal(null);
      expect(s.msix?.tableSize).to.equal(null);
      expect(s.netControl?.queuePairs ?? null, 'queue pairs: no payloads in a trace').to.equal(null);
      expect(guestQueuePairs(v, '52:54:00:de:0e:01'), 'queue pairs the guest uses').to.equal(2);
    });
  }
});

describe('import qemu-trace: what fuzzing the whole import (with QMP answers) found', function () {
  it('a time prefix past what an event can hold fails with its line, before anything reaches the store', async function () {
    const dir = tmpDir();
    const file = path.join(dir, 'far.log');
    const good = gunzipSync(readFileSync('streams/qemu/q35-root-port-usual-ts/trace.log.gz')).toString('utf8').split('\n');
    const at = good.findIndex((l) => /^\d+@\d+\.\d+:/.test(l));
    expect(at).to.be.greaterThan(-1);
    good[at] = good[at]!.replace(/^(\d+)@\d+\./, '$1@179601796015399105711.');
    writeFileSync(file, good.join('\n'));
    const store = new MemoryEventStore();
    const err = await importQemuTrace(store, file).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(TraceFormatError);
    expect((err as TraceFormatError).line).to.equal(at + 1);
    expect((err as Error).message).to.contain('past what an event\'s time can hold');
    expect(await store.streams()).to.deep.equal([]);
  });

  it('an import that stops at a bad line closes the file (no descriptor left open per failed import)', async function () {
    const dir = tmpDir();
    const file = path.join(dir, 'bad.log');
    writeFileSync(file, '1@99999999999999999999.5:virtio_set_status vdev 0x1 val 0\n'.repeat(3));
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    for (let i = 0; i < 40; i++) expect(await importQemuTrace(new MemoryEventStore(), file).catch((e: unknown) => e)).to.be.instanceOf(TraceFormatError);
    await new Promise((r) => setTimeout(r, 20));
    expect(fds()).to.be.below(before + 5);
  });
});
