// The capture matrix (scripts/qemu/matrix.txt): traces made with other event sets, QEMU 10.0 and Linux 6.12, q35
// behind pcie-root-ports, with and without -msg timestamp=on. The per-field comparison with QMP is in
// qemu-trace.spec.ts and qemu-savevm.spec.ts (both loop over MATRIX); here: identity across sources, times,
// what an untied trace says, and that a failed import leaves nothing in the store.
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { importQemuTrace } from '../../src/sources/import-trace.js';
import { readQmpAnswers } from '../../src/compat/qmp-profile.js';
import { TraceEvidenceError, TraceFormatError } from '../../src/sources/qemu-trace.js';
import { parseQemuStream } from '../../src/sources/qemu-savevm.js';
import { guestAddressOf } from '../../src/sources/qemu-state/bridges.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import { tmpDir } from '../helpers/tmp.js';
import { WALL_CLOCK_MIN_NS, isWallClock, lastStamp, nextStamp } from '../../src/events/time.js';
import { exportDevice } from '../../src/migration/exporter.js';
import { MATRIX, MATRIX_NAMED, MATRIX_UNTIED, manifestOf } from './qemu-matrix.js';

const dir = (v: string) => path.resolve('streams/qemu', v);
interface QmpDevice { qemuType: string; pciAddress?: string; mmioBase?: string; qdevId: string; path: string }
const qmpOf = (v: string) => JSON.parse(readFileSync(path.join(dir(v), 'qmp.json'), 'utf8')) as { devices: QmpDevice[]; qemuVersion: string };
const idOf = (d: QmpDevice) => (d.pciAddress ? `${d.qemuType}@${d.pciAddress}` : `${d.qemuType}@${BigInt(d.mmioBase!).toString(16).padStart(8, '0')}`);

describe('capture matrix: QEMU 7.2 and 10.0, Linux 6.1 and 6.12, pc / q35 / microvm, event sets', function () {
  this.timeout(60000);

  it('holds QEMU 7.2 and 10.0 captures, with and without timestamps, and q35 behind root ports', () => {
    const versions = new Set(MATRIX.map((v) => qmpOf(v).qemuVersion.split('.').slice(0, 2).join('.')));
    expect([...versions].sort()).to.deep.equal(['10.0', '7.2']);
    expect(MATRIX.some((v) => manifestOf(v).matrix?.timestamps)).to.equal(true);
    expect(MATRIX.some((v) => manifestOf(v).machine === 'q35')).to.equal(true);
  });

  for (const v of MATRIX) {
    it(`${v}: every device has the same id in the trace (named by address, or by rings with QMP's answers), the device-state stream and QMP`, async () => {
      const qmp = qmpOf(v).devices.map(idOf).sort();
      const stream = parseQemuStream(readFileSync(path.join(dir(v), 'devstate.bin.gz')), { input: v });
      expect(stream.devices.map((d) => d.id).sort(), 'device-state stream').to.deep.equal(qmp);
      for (const d of stream.devices) {
        const q = qmpOf(v).devices.find((x) => idOf(x) === d.id)!;
        if (q.pciAddress) expect(d.pciAddress, `${d.id} guest address`).to.equal(q.pciAddress);
      }
      // virtio_mmio_* lines alone name no device by address: with QMP's answers the rings' addresses do
      const byRings = manifestOf(v).matrix?.traceEvents === 'mmio';
      if (!MATRIX_NAMED.includes(v) && !byRings) return;
      const summary = await importQemuTrace(new MemoryEventStore(), path.join(dir(v), 'trace.log.gz'), byRings ? { qmpAnswers: readQmpAnswers(path.join(dir(v), 'qmp.json')) } : {});
      expect(summary.devices.map((d) => d.id).sort(), 'trace').to.deep.equal(qmp);
      expect(summary.clock, 'times').to.equal(manifestOf(v).matrix?.timestamps ? 'wall-clock' : 'none');
      // what the importer did not use is counted per event, never silently dropped
      expect(Object.values(summary.unusedLines).every((n) => n > 0)).to.equal(true);
    });
  }

  it('behind a pcie-root-port the stream names the device by QEMU path and devrec by the bus the guest programmed', () => {
    for (const v of MATRIX.filter((x) => manifestOf(x).machine === 'q35')) {
      const stream = parseQemuStream(readFileSync(path.join(dir(v), 'devstate.bin.gz')), { input: v });
      const net0 = stream.devices.find((d) => d.qemuPath === '0000:00:02.0:00.0')!;
      expect(net0.id, v).to.equal('virtio-net-pci@01:00.0');
      expect(stream.devices.map((d) => d.qemuPath).sort(), v).to.deep.equal(['0000:00:02.0:00.0', '0000:00:03.0:00.0', '0000:00:04.0:00.0']);
    }
  });

  it('with ioeventfd=on (QEMU\'s default) no notify write is traced, and queues are tied through the vdev pointer', async () => {
    const text = gunzipSync(readFileSync(path.join(dir('q35-root-port-ioeventfd'), 'trace.log.gz'))).toString('utf8');
    expect(text).to.not.match(/memory_region_ops_write .* name 'virtio-pci-notify-/);
    expect(text).to.match(/^virtio_queue_notify /m);
    const summary = await importQemuTrace(new MemoryEventStore(), path.join(dir('q35-root-port-ioeventfd'), 'trace.log.gz'));
    expect(summary.unattributedQueueLines).to.equal(0);
    expect(summary.unusedLines['virtio_queue_notify'] ?? 0).to.equal(0);
  });

  it('guestAddressOf: nested bridges, unprogrammed and unknown bridges', () => {
    const buses = new Map([['0000:00:02.0', 1], ['0000:00:02.0:00.0', 5], ['0000:00:03.0', 0]]);
    expect(guestAddressOf('0000:00:05.0', buses)).to.equal('00:05.0');
    expect(guestAddressOf('0000:00:02.0:00.0', buses)).to.equal('01:00.0');
    expect(guestAddressOf('0000:00:02.0:00.0:01.0', buses)).to.equal('05:01.0');
    expect(guestAddressOf('0000:00:03.0:00.0', buses)).to.equal(undefined); // bus 0 behind a bridge: never programmed
    expect(guestAddressOf('0000:00:04.0:00.0', buses)).to.equal(undefined); // bridge not in the stream
    expect(guestAddressOf('0001:00:02.0', buses)).to.equal('0001:00:02.0');
  });

  for (const v of MATRIX_UNTIED) {
    it(`${v}: a trace without register accesses fails (exit 1), naming the events to enable, and stores nothing`, async () => {
      const store = new MemoryEventStore();
      let err: unknown;
      try {
        await importQemuTrace(store, path.join(dir(v), 'trace.log.gz'));
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(TraceEvidenceError);
      expect((err as Error).message).to.match(/no virtio device can be tied .* trace with pci_cfg_write and memory_region_ops_read/);
      expect((err as Error).message).to.match(/unused: \d+ virtio_/);
      expect(await store.streams()).to.deep.equal([]);
    });
  }

  it('lines of unrelated devices never stop an import: empty names, hex slots, damaged non-virtio lines', async () => {
    const lines = gunzipSync(readFileSync(path.join(dir('q35-root-port'), 'trace.log.gz'))).toString('utf8').split('\n');
    const extra = [
      'pci_cfg_write  00:1f.0 @0x44 <- 0x80', // QEMU 10.0 prints some ICH9 functions with an empty name
      'pci_cfg_write ICH9-LPC 00:1f.0 @0x60 <- 0x0b',
      'pci_cfg_write mch 00:00.0 @0x9? <- junk',
      "memory_region_ops_write cpu 0 mr 0x1 addr 0x?? value 0x0 size 1 name 'pcspk'",
      'virtio_pci_notify_write 0x0 = 0x0 (2) extra-field 7',
      'qemu-system-x86_64: warning: hub 0 is not connected to host network',
    ];
    const file = path.join(tmpDir(), 'mixed.log.gz');
    writeFileSync(file, gzipSync([...extra, ...lines].join('\n')));
    const summary = await importQemuTrace(new MemoryEventStore(), file);
    expect(summary.devices).to.have.length(3);
    expect(summary.unusedLines['pci_cfg_write']).to.be.greaterThan(3);
    expect(summary.unusedLines['(not a trace line)']).to.equal(1);
    expect(summary.unusedLines['memory_region_ops_write']).to.equal(1);
  });

  it('a bad line of a virtio device fails the whole import and leaves nothing in the store', async () => {
    const lines = gunzipSync(readFileSync(path.join(dir('q35-root-port'), 'trace.log.gz'))).toString('utf8').split('\n');
    const file = path.join(tmpDir(), 'bad-at-end.log.gz');
    writeFileSync(file, gzipSync([...lines.slice(0, -2), 'virtqueue_pop vq zz elem 0x1 in_num 1 out_num 0', ...lines.slice(-2)].join('\n')));
    const store = new MemoryEventStore();
    let err: unknown;
    try {
      await importQemuTrace(store, file);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(TraceFormatError);
    expect((err as Error).message).to.contain('virtqueue_pop: cannot read');
    expect(await store.streams()).to.deep.equal([]);
  });

  it('times: a trace without prefixes has ordinals, and later appends (an export) keep ordinals; a stamped trace keeps wall-clock', async () => {
    for (const [v, wall] of [['q35-root-port', false], ['q35-root-port-usual-ts', true]] as const) {
      const store = new MemoryEventStore();
      await importQemuTrace(store, path.join(dir(v), 'trace.log.gz'));
      const id = 'virtio-net-pci@01:00.0';
      const before = (await lastStamp(store, id))!;
      expect(isWallClock(before), v).to.equal(wall);
      await exportDevice(store, id, { format: 'devrec', record: true });
      const after = (await lastStamp(store, id))!;
      expect(await store.head(id)).to.be.greaterThan(0);
      expect(isWallClock(after), `${v} after export`).to.equal(wall);
      if (!wall) expect(after > before).to.equal(true);
    }
    expect(nextStamp(undefined, 5n * WALL_CLOCK_MIN_NS)).to.equal(5n * WALL_CLOCK_MIN_NS);
    expect(nextStamp(41n, 5n * WALL_CLOCK_MIN_NS)).to.equal(42n);
  });

  it('a stamped trace with unstamped lines in it never mixes ordinals into wall-clock times', async () => {
    const lines = gunzipSync(readFileSync(path.join(dir('q35-root-port-usual-ts'), 'trace.log.gz'))).toString('utf8').split('\n');
    const file = path.join(tmpDir(), 'half-stamped.log.gz');
    writeFileSync(file, gzipSync(lines.map((l, i) => (i > 0 && i % 2 ? l.replace(/^\d+@\d+\.\d+:/, '') : l)).join('\n')));
    const store = new MemoryEventStore();
    const summary = await importQemuTrace(store, file);
    expect(summary.clock).to.equal('mixed');
    for (const d of summary.devices) for await (const e of store.read(d.id)) expect(isWallClock(e.event.timestampNs), `${d.id} #${e.revision}`).to.equal(true);
  });

  it('random bytes do not import as success', async () => {
    let seed = 11;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const bytes = Buffer.alloc(20000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rnd() * 256);
    const file = path.join(tmpDir(), 'random.bin');
    writeFileSync(file, bytes);
    const store = new MemoryEventStore();
    let err: unknown;
    try {
      await importQemuTrace(store, file);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(TraceEvidenceError);
    expect(await store.streams()).to.deep.equal([]);
  });
});
