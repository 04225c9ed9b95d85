// QEMU savevm import: every committed capture's devstate.bin.gz decoded, its snapshot applied by the reducer, and
// the projected state compared with QEMU's own answers at the same moment (qmp.json).
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { DeviceEvent } from '../../src/events/types.js';
import { applyInPlace } from '../../src/project/reducer.js';
import { initialState, stateToJson } from '../../src/project/state.js';
import { qmpFeatureMask, qmpStatusByte } from '../../src/sources/qemu-names.js';
import {
  QemuStreamError, importQemuState, inspectQemuStream, parseQemuStream, qemuInspectToJson, qemuStateToEvents, readQemuStreamFile,
} from '../../src/sources/qemu-savevm.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import { tmpDir } from '../helpers/tmp.js';
import { MATRIX, MATRIX_NET_MQ, guestQueuePairs } from './qemu-matrix.js';
import { deviceToState } from '../../src/sources/qemu-state/wire.js';
import { MSI_NO_VECTOR } from '../../src/model/registers.js';

const ROOT = path.resolve('streams/qemu');
/** the six first captures and the matrix (scripts/qemu/matrix.txt): QEMU 7.2 and 10.0, q35 behind pcie-root-ports */
const VARIANTS = ['pc-modern-net-blk', 'pc-legacy-msix', 'pc-legacy-intx', 'pc-packed', 'microvm-mmio-legacy', 'microvm-mmio-modern', ...MATRIX];

interface QmpQueue {
  'queue-index': number; 'vring-num': number; 'vring-num-default': number; 'vring-align': number; 'vring-desc': number;
  'vring-avail': number; 'vring-used': number; 'last-avail-idx': number; 'used-idx': number; inuse: number;
}
interface QmpDevice {
  name: string; qemuType: string; qdevId: string; pciAddress?: string; mmioBase?: string;
  status: {
    status: { statuses: string[] }; 'guest-features': Parameters<typeof qmpFeatureMask>[0]; 'host-features': Parameters<typeof qmpFeatureMask>[0];
    isr: number; 'queue-sel': number; 'num-vqs': number; started: boolean; broken: boolean; disabled: boolean; 'device-id': number;
  };
  queues: QmpQueue[];
}

const devstate = (v: string): Buffer => readFileSync(path.join(ROOT, v, 'devstate.bin.gz'));
const qmpOf = (v: string): { devices: QmpDevice[] } => JSON.parse(readFileSync(path.join(ROOT, v, 'qmp.json'), 'utf8'));
const manifestOf = (v: string): { transport: string } => JSON.parse(readFileSync(path.join(ROOT, v, 'manifest.json'), 'utf8'));
const idOf = (d: QmpDevice): string => (d.pciAddress ? `${d.qemuType}@${d.pciAddress}` : `${d.qemuType}@${BigInt(d.mmioBase!).toString(16).padStart(8, '0')}`);

function project(events: Omit<DeviceEvent, 'revision'>[], id: string): Record<string, unknown> {
  const s = initialState(id);
  events.forEach((e, i) => applyInPlace(s, { ...e, revision: i }));
  return stateToJson(s);
}

describe('QEMU savevm streams: committed captures against QMP', () => {
  for (const variant of VARIANTS) {
    describe(variant, () => {
      const qmp = qmpOf(variant);
      const perDevice = qemuStateToEvents(devstate(variant), { source: variant, timestampNs: 1_700_000_000_000_000_000n });
      const parsed = parseQemuStream(devstate(variant), { input: variant });

      it('finds one device per QMP device, with the documented ids, and nothing else', () => {
        expect(perDevice.map((d) => d.device).sort()).to.deep.equal(qmp.devices.map(idOf).sort());
        expect(parsed.header).to.include({ magic: 0x5145564d, version: 3 });
        expect(parsed.configuration).to.equal(undefined); // xen-save-devices-state writes none
        expect(parsed.vmdesc).to.equal(undefined);
        expect(parsed.eof?.offset).to.equal(parsed.size - 1);
        for (const s of parsed.sections) expect(s.type).to.equal('full');
        // sections tile the stream: header, sections back to back, EOF
        let at = 8;
        for (const s of parsed.sections) {
          expect(s.offset, s.idstr).to.equal(at);
          at += s.length;
        }
        expect(at).to.equal(parsed.eof!.offset);
      });

      for (const d of qmp.devices) {
        const id = idOf(d);
        it(`${id}: state from the snapshot event equals QEMU's answers`, () => {
          const ev = perDevice.find((p) => p.device === id)!;
          expect(ev.events.map((e) => e.body.kind)).to.deep.equal(['identified', 'snapshot']);
          for (const e of ev.events) expect(e).to.include({ source: 'qemu-state', actor: 'vmm', path: 'internal' });
          const j = project(ev.events, id) as {
            type: string; transport: string; status: string; numQueues: number; queueSelect: number; isr: number; config: string;
            features: { driver: string; accepted: string; device: string; acceptedVia: string };
            queues: { index: number; size: number; maxSize: number; desc: string; driver: string; device: string; lastAvailIdx: number; usedIdx: number; enabled: boolean; availWrap: boolean; usedWrap: boolean }[];
          };
          expect(j.type).to.equal(d.name.replace('virtio-', ''));
          expect(j.transport).to.equal(manifestOf(variant).transport);
          expect(j.status, 'status byte').to.equal(`0x${qmpStatusByte(d.status.status).toString(16).padStart(2, '0')}`);
          const guest = qmpFeatureMask(d.status['guest-features']);
          expect(BigInt(j.features.driver), 'driver features').to.equal(guest);
          expect(BigInt(j.features.accepted), 'accepted features').to.equal(guest);
          expect(j.features.acceptedVia).to.equal('snapshot');
          expect(j.features.device, 'offered features are not in the stream: unknown').to.equal(null);
          const jj = j as unknown as { pci: { vendor: string } | null; msix: { tableSize: number } | null; virtioId: number };
          if (j.transport.startsWith('mmio')) {
            expect(jj.pci, 'no PCI identity on virtio-mmio').to.equal(null);
            expect(jj.msix, 'no MSI-X on virtio-mmio').to.equal(null);
          } else {
            expect(jj.pci!.vendor).to.equal('0x1af4');
          }
          expect(jj.virtioId).to.equal(d.name === 'virtio-net' ? 1 : 2);
          expect(j.queueSelect).to.equal(d.status['queue-sel']);
          expect(j.isr).to.equal(d.status.isr);
          expect(j.numQueues).to.equal(d.status['num-vqs']);
          expect(j.queues).to.have.length(d.queues.length);
          const packed = (guest >> 34n) & 1n;
          for (const q of d.queues) {
            const s = j.queues[q['queue-index']]!;
            const where = `${id} queue ${q['queue-index']}`;
            expect(s.size, `${where} vring-num`).to.equal(q['vring-num']);
            // the maximum is in the stream only in the virtio/ringsize subsection: else unknown
            // virtio-mmio: the maximum the driver sees is QueueNumMax, which QEMU answers with 1024 (virtio_mmio_read)
            if (j.transport.startsWith('mmio')) expect(s.maxSize, `${where} QueueNumMax`).to.equal(1024);
            else if (s.maxSize !== null) expect(s.maxSize, `${where} vring-num-default`).to.equal(q['vring-num-default']);
            expect(BigInt(s.desc), `${where} vring-desc`).to.equal(BigInt(q['vring-desc']));
            expect(BigInt(s.driver), `${where} vring-avail`).to.equal(BigInt(q['vring-avail']));
            expect(BigInt(s.device), `${where} vring-used`).to.equal(BigInt(q['vring-used']));
            expect(s.lastAvailIdx, `${where} last-avail-idx`).to.equal(q['last-avail-idx']);
            expect(s.enabled).to.equal(true);
            // split rings: QEMU does not save used_idx (virtio_load reads it from guest memory): unknown
            if (packed) expect(s.usedIdx, `${where} used-idx`).to.equal(q['used-idx']);
            else expect(s.usedIdx, `${where} used-idx`).to.equal(null);
          }
        });

        it(`${id}: what the stream says about the offered features agrees with QMP's host features`, () => {
          const dev = parsed.devices.find((x) => x.id === id)!;
          const host = qmpFeatureMask(d.status['host-features']);
          expect(dev.hostFeatureHints.version1).to.equal(((host >> 32n) & 1n) === 1n);
          expect(dev.hostFeatureHints.above32).to.equal(host >> 32n !== 0n);
          expect(dev.hostFeatureHints.ringPacked).to.equal(((host >> 34n) & 1n) === 1n);
          expect(dev.guestFeatures & ~host, 'guest features offered').to.equal(0n);
          expect(dev.started ?? false).to.equal(d.status.started);
          expect(dev.broken ?? false).to.equal(d.status.broken);
          expect(dev.disabled ?? false).to.equal(d.status.disabled);
          expect(dev.virtioId).to.equal(d.status['device-id']);
          expect(dev.notes).to.deep.equal([]);
          expect(dev.device.kind).to.equal(dev.type); // own part decoded, not walked
          for (const q of dev.queues) if (!dev.hostFeatureHints.ringPacked) expect(q.usedIdx).to.equal(null);
        });
      }

      it('device config bytes decode (MACs 52:54:00:de:0e:01 / :02, blk capacity 16 MiB)', () => {
        for (const d of qmp.devices) {
          const ev = perDevice.find((p) => p.device === idOf(d))!;
          const config = (project(ev.events, idOf(d)) as { config: string }).config;
          if (d.name === 'virtio-net') expect(config.slice(0, 12)).to.equal(d.qdevId === 'net0' ? '525400de0e01' : '525400de0e02');
          else expect(Buffer.from(config, 'hex').readBigUInt64LE(0)).to.equal(16n * 1024n * 1024n / 512n);
        }
        const dev = parsed.devices.find((x) => x.type === 'net' && x.config[5] === 0x01)!;
        expect(dev.device.kind === 'net' && Buffer.from(dev.device.mac).toString('hex')).to.equal('525400de0e01');
      });
    });
  }

  it('PCI parts: MSI-X table size, enable and config vector from the stream; INTx devices have none', () => {
    const msix = parseQemuStream(devstate('pc-legacy-msix'));
    for (const d of msix.devices) {
      expect(d.pci!.msix!.enabled).to.equal(true);
      expect(d.pci!.configVector).to.equal(0);
      expect(d.pci!.config.length).to.equal(256);
      expect(d.queues.map((q) => q.vector)).to.have.length(d.numQueues);
    }
    const intx = parseQemuStream(devstate('pc-legacy-intx'));
    for (const d of intx.devices) {
      expect(d.pci!.msix).to.equal(undefined);
      expect(d.queues.every((q) => q.vector === undefined)).to.equal(true);
    }
  });

  describe('a multi-queue virtio-net (mq=on, queues=2 tap, 2 vCPUs): what QEMU saved', () => {
    for (const v of MATRIX_NET_MQ) {
      it(`${v}: max and current queue pairs, one tx_waiting per current pair, 5 queues with their vectors`, () => {
        const qmp = qmpOf(v).devices[0]!;
        const d = parseQemuStream(devstate(v), { input: v }).devices[0]!;
        expect(d.notes).to.deep.equal([]);
        // curr_queue_pairs is what the guest's VQ_PAIRS_SET asked for: the TX queues the guest lists for its NIC
        expect(d.device).to.deep.include({ kind: 'net', maxQueuePairs: 2, currQueuePairs: guestQueuePairs(v, '52:54:00:de:0e:01') });
        expect(d.device.kind === 'net' && d.device.txWaiting).to.have.length(2);
        expect(d.numQueues).to.equal(qmp.status['num-vqs']).and.to.equal(5);
        expect(deviceToState(d).netControl!.queuePairs, 'netControl.queuePairs').to.equal(2);
        // vectors=6 on the command line: the table QEMU saved; Linux programmed config + 4 rx/tx queues and left the
        // control queue without a vector (VIRTIO_MSI_NO_VECTOR), the last entry masked
        const msix = d.pci!.msix!;
        expect(msix.tableSize).to.equal(6);
        expect(d.pci!.configVector, 'config vector').to.equal(0);
        expect(d.queues.map((q) => q.vector)).to.deep.equal([1, 2, 3, 4, MSI_NO_VECTOR]);
        const unmasked = Array.from({ length: msix.tableSize }, (_, i) => Buffer.from(msix.table).readUInt32LE(i * 16 + 12) & 1).filter((m) => m === 0);
        expect(unmasked, 'MSI-X entries the guest unmasked').to.have.length(5);
      });
    }

    // the same stream with the guest using one pair of two (curr_queue_pairs 1: one tx_waiting), and with a current
    // count over the maximum
    const v = 'pc-net-mq';
    const raw = gunzipSync(devstate(v));
    const sec = parseQemuStream(raw).sections.find((s) => s.idstr === '0000:00:02.0/virtio-net')!;
    // the device part starts with the MAC in use (the core's config bytes, earlier, hold it too: take the last one)
    const mac = raw.subarray(sec.bodyOffset, sec.offset + sec.length).lastIndexOf(Buffer.from('525400de0e01', 'hex')) + sec.bodyOffset;
    // mac 6, tx_waiting 4, mergeable_rx_bufs 4, status 2, promisc 1, allmulti 1, in_use 4, 3 MACs, vlans 512,
    // has_vnet_hdr 4, the 7 one-byte flags: then be16 max_queue_pairs, be16 curr_queue_pairs, tx_waiting[1]
    const pairsAt = mac + 6 + 4 + 4 + 2 + 1 + 1 + 4 + 3 * 6 + 512 + 4 + 7;
    it('pc-net-mq: the pair counts sit where the layout says (be16 2, be16 2)', () => {
      expect([...raw.subarray(pairsAt, pairsAt + 4)]).to.deep.equal([0, 2, 0, 2]);
    });
    it('one current pair of two: one tx_waiting, queuePairs 1, the queues as before', () => {
      const one = Buffer.concat([raw.subarray(0, pairsAt + 2), Buffer.from([0, 1]), raw.subarray(pairsAt + 8)]);
      const d = parseQemuStream(one).devices[0]!;
      const ref = parseQemuStream(raw).devices[0]!;
      expect(d.notes).to.deep.equal([]);
      expect(d.device).to.deep.include({ kind: 'net', maxQueuePairs: 2, currQueuePairs: 1 });
      expect(d.device.kind === 'net' && d.device.txWaiting).to.have.length(1);
      expect(deviceToState(d).netControl!.queuePairs).to.equal(1);
      expect(d.queues.map((q) => [q.desc, q.lastAvailIdx, q.vector])).to.deep.equal(ref.queues.map((q) => [q.desc, q.lastAvailIdx, q.vector]));
    });
    it('current pairs over the maximum: the device part is not decoded (named in a note), no queue pairs invented', () => {
      const bad = Buffer.from(raw);
      bad.writeUInt16BE(3, pairsAt + 2);
      const d = parseQemuStream(bad).devices[0]!;
      expect(d.device.kind).to.equal('walked');
      expect(d.notes.join(' ')).to.match(/device part not decoded/);
      expect(deviceToState(d).netControl?.queuePairs ?? null).to.equal(null);
    });
  });

  it('walks every other section by footer search, and the vmdesc (when appended) gives the same boundaries', () => {
    const raw = gunzipSync(devstate('pc-modern-net-blk'));
    const json = gunzipSync(readFileSync(path.join(ROOT, 'pc-modern-net-blk', 'migration-vmdesc.json.gz')));
    const head = Buffer.alloc(5);
    head[0] = 0x06;
    head.writeUInt32BE(json.length, 1);
    const withDesc = parseQemuStream(Buffer.concat([raw, head, json]));
    const plain = parseQemuStream(raw);
    expect(withDesc.vmdescUsed).to.equal('tail');
    expect(withDesc.vmdesc?.devices).to.equal(37);
    expect(plain.vmdescUsed).to.equal('none');
    const walks = (r: typeof plain) => r.sections.map((s) => s.walk);
    expect(walks(plain).filter((w) => w === 'footer-search')).to.have.length(33);
    expect(walks(withDesc).filter((w) => w === 'vmdesc')).to.have.length(33);
    expect(withDesc.sections.map((s) => [s.idstr, s.offset, s.length])).to.deep.equal(plain.sections.map((s) => [s.idstr, s.offset, s.length]));
    // the decoder read exactly as many bytes as QEMU's description of the "virtio" field says
    for (const s of withDesc.sections) expect(s.notes ?? [], s.idstr).to.deep.equal([]);
    expect(withDesc.sections.find((s) => s.idstr === 'globalstate')?.decoded).to.deep.equal({ kind: 'globalstate', runstate: 'running' }); // qmp_xen_save_devices_state stores "running" for the target
  });

  it('inspectQemuStream lists sections with offsets and the devices; the JSON form has no bigint', () => {
    const r = inspectQemuStream(devstate('pc-packed'));
    expect(r.header).to.deep.equal({ offset: 0, length: 8, magic: 0x5145564d, version: 3 });
    const net = r.sections.find((s) => s.idstr === '0000:00:02.0/virtio-net')!;
    expect(net).to.include({ type: 'full', instance: 0, version: 11, walk: 'decoded' });
    expect(net.decoded).to.deep.equal({ kind: 'virtio', device: 'virtio-net-pci@00:02.0' });
    expect(r.walks).to.deep.equal({ 'footer-search': 30, decoded: 4 });
    const text = JSON.stringify(qemuInspectToJson(r));
    expect(JSON.parse(text).devices[0].guestFeatures).to.equal('0x10530af8024');
  });

  it('reads .gz and raw files in chunks (same result), and importQemuState appends or continues streams', async () => {
    const dir = tmpDir();
    const gz = path.join(ROOT, 'microvm-mmio-modern', 'devstate.bin.gz');
    const rawFile = path.join(dir, 'devstate.bin');
    (await import('node:fs')).writeFileSync(rawFile, gunzipSync(readFileSync(gz)));
    const a = await readQemuStreamFile(gz);
    const b = await readQemuStreamFile(rawFile);
    expect(qemuInspectToJson(a)).to.deep.equal(qemuInspectToJson(b));

    const store = new MemoryEventStore();
    const first = await importQemuState(store, gz, { timestampNs: 1n });
    expect(first.devices.map((d) => [d.id, d.transport, d.firstRevision, d.lastRevision, d.continued])).to.deep.equal([
      ['virtio-net-device@feb02e00', 'mmio-modern', 0, 1, false],
      ['virtio-net-device@feb02c00', 'mmio-modern', 0, 1, false],
      ['virtio-blk-device@feb02a00', 'mmio-modern', 0, 1, false],
    ]);
    const again = await importQemuState(store, rawFile, { timestampNs: 2n });
    expect(again.devices.map((d) => [d.firstRevision, d.continued])).to.deep.equal([[2, true], [2, true], [2, true]]);
    const kinds: string[] = [];
    for await (const e of store.read('virtio-blk-device@feb02a00')) kinds.push(`${e.revision}:${e.event.body.kind}:${e.event.source}`);
    expect(kinds).to.deep.equal(['0:identified:qemu-state', '1:snapshot:qemu-state', '2:identified:qemu-state', '3:snapshot:qemu-state']);
    await store.close();
  });

  describe('device parts not decoded are walked to the virtio subsections (bounded search)', () => {
    const raw = gunzipSync(devstate('pc-legacy-intx'));
    const sec = parseQemuStream(raw).sections.find((s) => s.idstr === '0000:00:02.0/virtio-net')!;
    // pc-legacy-intx, INTx: PCI part 4 + 256 + 16, core 12 + 8 config bytes, 4 + 3 queues x 14
    const partStart = sec.bodyOffset + 276 + 20 + 4 + 42;
    const reference = parseQemuStream(raw).devices[0]!;
    const same = (d: typeof reference) => {
      expect(d.queues.map((q) => [q.size, q.desc, q.avail, q.used, q.lastAvailIdx])).to.deep.equal(reference.queues.map((q) => [q.size, q.desc, q.avail, q.used, q.lastAvailIdx]));
      expect(d.guestFeatures).to.equal(reference.guestFeatures);
      expect(d.subsections).to.deep.equal(reference.subsections);
      expect(d.started).to.equal(true);
      expect(d.complete).to.equal(true);
    };

    it('a device type devrec has no decoder for (idstr renamed to virtio-rng)', () => {
      const b = Buffer.from(raw);
      b.write('virtio-rng', sec.offset + 6 + '0000:00:02.0/'.length, 'latin1');
      const r = parseQemuStream(b);
      const d = r.devices.find((x) => x.id === 'virtio-rng-pci@00:02.0')!;
      expect(d.type).to.equal('rng');
      expect(d.device).to.deep.include({ kind: 'walked', offset: partStart, how: 'bounded search for the virtio/ subsection chain' });
      expect(d.notes[0]).to.match(/virtio-rng version 11: devrec decodes virtio-net v11, virtio-blk v2, .* device parts only/);
      same(d);
    });

    it('a virtio-net section of another version', () => {
      const b = Buffer.from(raw);
      b.writeUInt32BE(12, sec.bodyOffset - 4);
      const d = parseQemuStream(b).devices.find((x) => x.id === 'virtio-net-pci@00:02.0')!;
      expect(d.device.kind).to.equal('walked');
      same(d);
    });

    it('a virtio-net device part that does not parse (mac_table.in_use damaged)', () => {
      const b = Buffer.from(raw);
      b.writeUInt32BE(0x00ffffff, partStart + 18);
      const d = parseQemuStream(b).devices.find((x) => x.id === 'virtio-net-pci@00:02.0')!;
      expect(d.device.kind).to.equal('walked');
      expect(d.notes[0]).to.match(/^device part not decoded \(.*mac_table/);
      same(d);
    });

    it('the multi-queue-pair layout (max_queue_pairs 2, curr 2: an extra tx_waiting) is recognised', () => {
      const hasUfoEnd = partStart + 22 + 3 * 6 + 512 + 4 + 6 + 1;
      const extra = Buffer.from([0, 2, 0, 2, 0, 0, 0, 1]);
      const b = Buffer.concat([raw.subarray(0, hasUfoEnd), extra, raw.subarray(hasUfoEnd)]);
      const d = parseQemuStream(b).devices.find((x) => x.id === 'virtio-net-pci@00:02.0')!;
      expect(d.device).to.deep.include({ kind: 'net', maxQueuePairs: 2, currQueuePairs: 2, txWaiting: [0, 1] });
      expect(d.notes).to.deep.equal([]);
      same(d);
    });
  });

  it('errors name the input, the section and the offset', async () => {
    const raw = gunzipSync(devstate('pc-legacy-intx'));
    const bad = Buffer.from(raw);
    const net = parseQemuStream(raw).sections.find((s) => s.idstr === '0000:00:02.0/virtio-net')!;
    bad.fill(0xee, net.bodyOffset, net.offset + net.length); // the whole body and footer
    let err: unknown;
    try {
      parseQemuStream(bad, { input: 'x.bin' });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(QemuStreamError);
    const q = err as QemuStreamError;
    expect(q.section).to.equal('0000:00:02.0/virtio-net');
    expect(q.message).to.match(/^x\.bin: section "0000:00:02\.0\/virtio-net" at offset \d+: /);
    const dir = tmpDir();
    const file = path.join(dir, 'cut.bin');
    (await import('node:fs')).writeFileSync(file, raw.subarray(0, 5000));
    let err2: unknown;
    try {
      await readQemuStreamFile(file);
    } catch (e) {
      err2 = e;
    }
    expect(err2).to.be.instanceOf(QemuStreamError);
    expect((err2 as Error).message).to.contain(file);
    // a .gz cut short: the gzip error, with the offset in the decompressed stream reached so far
    const gzFile = path.join(dir, 'cut.bin.gz');
    const gz = readFileSync(path.join(ROOT, 'pc-modern-net-blk', 'devstate.bin.gz'));
    (await import('node:fs')).writeFileSync(gzFile, gz.subarray(0, gz.length - 100));
    let err3: unknown;
    try {
      await readQemuStreamFile(gzFile);
    } catch (e) {
      err3 = e;
    }
    expect(err3).to.be.instanceOf(QemuStreamError);
    expect((err3 as Error).message).to.match(/cut\.bin\.gz: .*(gzip|truncated|ends)/);
  });
});
