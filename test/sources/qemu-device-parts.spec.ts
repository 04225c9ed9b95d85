// Device parts beyond net and blk, on real QEMU 7.2 and 10.0 device-state streams of a VM that never ran
// (test/fixtures/qemu-devices/, made by scripts/qemu/devstate-unbooted.py with virtio-rng-pci, virtio-scsi-pci,
// virtio-balloon-pci): each part is decoded by its registered parser, and the bounded search, made to walk the same
// section (its version changed so no parser claims it), finds the subsection chain exactly where the parser ended.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { parseQemuStream } from '../../src/sources/qemu-savevm.js';

const FIXTURES = ['qemu72-rng-scsi-balloon', 'qemu10-rng-scsi-balloon'];
const bytes = (f: string): Buffer => gunzipSync(readFileSync(`test/fixtures/qemu-devices/${f}.bin.gz`));

describe('QEMU device parts: virtio-rng, virtio-scsi (empty), virtio-balloon v1', () => {
  for (const f of FIXTURES) {
    it(`${f}: every part decoded, none walked`, () => {
      const r = parseQemuStream(bytes(f));
      const parts = Object.fromEntries(r.devices.map((d) => [d.id, d.device]));
      expect(parts).to.deep.equal({
        'virtio-rng-pci@00:02.0': { kind: 'empty' },
        'virtio-scsi-pci@00:03.0': { kind: 'empty' },
        // the VM never ran: no balloon target, no pages given
        'virtio-balloon-pci@00:04.0': { kind: 'balloon', numPages: 0, actual: 0 },
      });
      for (const d of r.devices) {
        expect(d.complete).to.equal(true);
        expect(d.notes.filter((n) => n.includes('walked'))).to.deep.equal([]);
        expect(d.subsections).to.include('virtio/virtqueues');
      }
      expect(r.devices.map((d) => [d.type, d.numQueues])).to.deep.equal([['rng', 1], ['scsi', 3], ['balloon', 3]]);
    });

    it(`${f}: the bounded search over the same sections ends where each parser ended`, () => {
      const raw = bytes(f);
      const decoded = parseQemuStream(raw);
      const b = Buffer.from(raw);
      // version 1 -> 99: no parser is registered for it, so the part is walked
      for (const s of decoded.sections.filter((x) => x.decoded?.kind === 'virtio')) b.writeUInt32BE(99, s.offset + 6 + s.idstr.length + 4);
      const walked = parseQemuStream(b);
      for (const d of decoded.devices) {
        const w = walked.devices.find((x) => x.id === d.id)!;
        const partLength = d.device.kind === 'balloon' ? 8 : 0;
        expect(w.device, d.id).to.deep.include({ kind: 'walked', length: partLength });
        expect([w.subsections, w.queues, w.guestFeatures]).to.deep.equal([d.subsections, d.queues, d.guestFeatures]);
      }
    });
  }
});
