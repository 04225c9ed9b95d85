// Robustness of the QEMU savevm parser: truncations, byte flips, garbage, hostile lengths, chunked input. The
// only acceptable outcomes are a decode or a QemuStreamError with an offset inside the input.
import { expect } from 'chai';
import { QemuStreamParser } from '../../src/sources/qemu-state/parser.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { QemuStreamError, parseQemuStream, qemuInspectToJson, readPositioned, readQemuStreamFile } from '../../src/sources/qemu-savevm.js';
import { captureBytes, syntheticFullStream } from './qemu-savevm-fixtures.js';
import { prng as rng } from '../helpers/prng.js';

function outcome(bytes: Uint8Array): 'ok' | QemuStreamError {
  try {
    parseQemuStream(bytes);
    return 'ok';
  } catch (e) {
    if (!(e instanceof QemuStreamError)) expect.fail(`not a QemuStreamError: ${(e as Error)?.stack ?? String(e)}`);
    if (!(e.offset >= 0 && e.offset <= bytes.length) || !e.reason) expect.fail(`bad error for ${bytes.length} bytes: offset ${e.offset}, reason "${e.reason}"`);
    return e;
  }
}

function chunked(bytes: Uint8Array, next: () => number): unknown {
  const p = new QemuStreamParser({});
  let off = 0;
  while (off < bytes.length) {
    const n = 1 + Math.floor(next() * 9000);
    p.push(bytes.slice(off, off + n)); // copies: the parser must not keep views of a caller's reused buffer
    off += n;
  }
  return qemuInspectToJson(p.finish());
}

describe('QEMU savevm parser: robustness', function () {
  this.timeout(120_000);
  const small = captureBytes('pc-legacy-intx');
  const full = syntheticFullStream();

  it('the synthetic full stream decodes: configuration, RAM records, command, vmdesc walk, virtio device', () => {
    const r = parseQemuStream(full);
    expect(r.configuration).to.include({ machine: 'pc-i440fx-7.2', targetPageBits: 12 });
    expect(r.commands.map((c) => c.name)).to.deep.equal(['PING']);
    expect(r.sections.map((s) => `${s.type}:${s.idstr}:${s.walk}`)).to.deep.equal([
      'start:ram:ram', 'part:ram:ram', 'end:ram:ram', 'full:timer:vmdesc', 'full:0000:00:02.0/virtio-net:decoded',
    ]);
    expect(r.sections[1]!.decoded).to.deep.include({ kind: 'ram', pages: 4, zeroPages: 2 });
    expect(r.vmdescUsed).to.equal('tail');
    expect(r.devices.map((d) => d.id)).to.deep.equal(['virtio-net-pci@00:02.0']);
  });

  for (const [name, bytes] of [['pc-legacy-intx capture', small], ['synthetic full stream', full]] as const) {
    it(`${name}: every truncation is a QemuStreamError (${bytes.length} prefixes)`, () => {
      // ... except the one that ends right after QEMU_VM_EOF: the vmdesc after it is optional
      const eof = parseQemuStream(bytes).eof!.offset;
      for (let n = 0; n < bytes.length; n++) {
        const r = outcome(bytes.subarray(0, n));
        if (r === 'ok' && n !== eof + 1) expect.fail(`prefix of ${n} bytes decoded`);
      }
    });

    it(`${name}: 3000 seeded single-byte flips decode or give a QemuStreamError`, () => {
      const next = rng(0x5eed);
      const counts = { ok: 0, error: 0 };
      for (let i = 0; i < 3000; i++) {
        const b = Uint8Array.from(bytes);
        const at = Math.floor(next() * b.length);
        b[at]! ^= 1 + Math.floor(next() * 255);
        counts[outcome(b) === 'ok' ? 'ok' : 'error']++;
      }
      expect(counts.ok + counts.error).to.equal(3000);
      expect(counts.error).to.be.greaterThan(0);
    });

    it(`${name}: fed in random chunks, the result is the same as in one piece`, () => {
      const next = rng(42);
      const whole = qemuInspectToJson(parseQemuStream(bytes, { useVmdesc: false }));
      for (let i = 0; i < 20; i++) expect(chunked(bytes, next)).to.deep.equal(whole);
    });
  }

  it('random garbage, with and without a valid header, gives QemuStreamError', () => {
    const next = rng(7);
    for (let i = 0; i < 2000; i++) {
      const n = Math.floor(next() * 4000);
      const b = new Uint8Array(n);
      for (let j = 0; j < n; j++) b[j] = Math.floor(next() * 256);
      if (i % 2 && n >= 8) b.set([0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3]);
      if (i % 4 === 3 && n >= 9) b[8] = [0x04, 0x01, 0x08, 0x07, 0x00][i % 5]!;
      expect(outcome(b)).to.not.equal('ok');
    }
  });

  it('a length field pointing past the end is refused before anything is allocated', () => {
    const head = [0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3];
    const cases: [number[], RegExp][] = [
      // vmdesc of 0xfffffff0 bytes
      [[...head, 0x00, 0x06, 0xff, 0xff, 0xff, 0xf0, 0x7b], /over the limit/],
      // vmdesc of 64 MiB exactly: under the cap, past the end
      [[...head, 0x00, 0x06, 0x04, 0x00, 0x00, 0x00, 0x7b], /points past the end/],
      // configuration machine name of 200 bytes in a 20-byte stream
      [[...head, 0x07, 0, 0, 0, 200, 0x41], /points past the end/],
      // command with 0xffff bytes of data
      [[...head, 0x08, 0x00, 0x03, 0xff, 0xff], /points past the end/],
    ];
    for (const [bytes, re] of cases) {
      const before = process.memoryUsage().arrayBuffers;
      const e = outcome(Uint8Array.from(bytes));
      expect(e).to.be.instanceOf(QemuStreamError);
      expect((e as QemuStreamError).reason).to.match(re);
      expect(process.memoryUsage().arrayBuffers - before).to.be.below(16 * 1024 * 1024);
    }
    // a virtio section whose config_len says 0x7ffffff0
    const sec = parseQemuStream(small).sections.find((s) => s.idstr === '0000:00:04.0/virtio-blk')!;
    const b = Uint8Array.from(small);
    const configLenAt = sec.bodyOffset + 4 + 256 + 16 + 1 + 1 + 2 + 4;
    new DataView(b.buffer).setUint32(configLenAt, 0x7ffffff0);
    const r = parseQemuStream(b); // the virtio decode fails, the section is walked by footer search instead
    const walked = r.sections.find((s) => s.idstr === sec.idstr)!;
    expect(walked.walk).to.equal('footer-search');
    expect(walked.notes?.[0]).to.match(/config: length 2147483632 is over the limit/);
    expect(r.devices.map((d) => d.id)).to.not.include('virtio-blk-pci@00:04.0');
  });

  /** Parses `bytes` as a positioned reader of a file would, counting the bytes it reads. */
  function positioned(bytes: Uint8Array): { json: unknown; read: number; reads: number } {
    const p = new QemuStreamParser({ totalSize: bytes.length, positioned: true });
    let reads = 0;
    const read = readPositioned((into, length, position) => {
      reads++;
      const part = bytes.subarray(position, position + length);
      into.set(part);
      return part.length;
    }, bytes.length, p);
    return { json: qemuInspectToJson(p.finish()), read, reads };
  }

  it('positioned reads skip RAM page data without reading it, and give the same result as the whole input', () => {
    for (const pages of [6, 60]) {
      const bytes = syntheticFullStream(pages);
      const whole = parseQemuStream(bytes, { useVmdesc: false });
      const ram = whole.sections.filter((s) => s.decoded?.kind === 'ram').reduce((n, s) => n + (s.decoded as { pageBytes: number }).pageBytes, 0);
      const r = positioned(bytes);
      expect(r.json).to.deep.equal(qemuInspectToJson(whole));
      // all but the page data, plus at most one small read past each skipped page
      expect(r.read, `${pages} pages`).to.be.at.most(bytes.length - ram + 512 * (pages + 1));
      if (pages === 60) expect(r.read).to.be.below(bytes.length / 4);
    }
  });

  it('positioned reads of a truncated file give a QemuStreamError inside the input (every 61st prefix)', () => {
    const bytes = syntheticFullStream(40);
    const eof = parseQemuStream(bytes).eof!.offset;
    for (let n = 0; n < bytes.length; n += 61) {
      if (n === eof + 1) continue;
      try {
        positioned(bytes.subarray(0, n));
        expect.fail(`prefix of ${n} bytes decoded`);
      } catch (e) {
        if (!(e instanceof QemuStreamError)) throw e;
        expect(e.offset, `prefix ${n}: ${e.message}`).to.be.within(0, n);
      }
    }
  });

  it('a raw file is read with positioned reads: same result as the bytes in memory', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'devrec-positioned-'));
    try {
      const bytes = syntheticFullStream(60);
      const file = path.join(dir, 'migration.bin');
      writeFileSync(file, bytes);
      expect(qemuInspectToJson(await readQemuStreamFile(file))).to.deep.equal(qemuInspectToJson(parseQemuStream(bytes)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a streaming parser with the size unknown waits for bytes, and refuses a unit over the section limit', () => {
    const p = new QemuStreamParser({ maxSectionBytes: 1 << 16 });
    p.push(Uint8Array.from([0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3, 0x04, 0, 0, 0, 9, 3, 0x61, 0x62, 0x63, 0, 0, 0, 0, 0, 0, 0, 1]));
    let err: unknown;
    try {
      for (let i = 0; i < 40; i++) p.push(new Uint8Array(8192)); // no footer ever comes
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(QemuStreamError);
    expect((err as QemuStreamError).section).to.equal('abc');
    expect((err as Error).message).to.match(/limit/);
  });
});
