import { expect } from 'chai';
import { promises as fsp, readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { FileEventStore } from '../../src/store/file-store.js';
import { verifyFileStore } from '../../src/store/file-verify.js';
import { StoreCorruptError, StoreLockedError } from '../../src/store/types.js';
import { SEGMENT_HEADER_BYTES } from '../../src/store/file-format.js';
import { eventStoreContract, expectRejected } from './contract.js';
import { collect, statusEv, vqEv } from '../helpers/events.js';
import { tmpDir } from '../helpers/tmp.js';

const dirs = new WeakMap<object, string>();
eventStoreContract({
  name: 'file (embedded log)',
  create: async () => {
    const dir = tmpDir();
    const s = await FileEventStore.open(dir);
    dirs.set(s, dir);
    return s;
  },
  reopen: async (s) => {
    await s.close();
    const dir = dirs.get(s)!;
    const again = await FileEventStore.open(dir);
    dirs.set(again, dir);
    return again;
  },
});

function segments(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith('seg-')).sort();
}

describe('file store: durability, recovery and damage', function () {
  it('rolls segments and reads across them, before and after reopen', async () => {
    const dir = tmpDir();
    let s = await FileEventStore.open(dir, { segmentBytes: 4096 });
    for (let i = 0; i < 200; i++) await s.appendMany([{ stream: 'a', events: [vqEv(0, 1)] }, { stream: 'b', events: [statusEv(i & 0xff)] }]);
    expect(segments(dir).length).to.be.greaterThan(3);
    await s.close();
    s = await FileEventStore.open(dir, { segmentBytes: 4096 });
    const a = await collect(s.read('a'));
    expect(a.map((e) => e.revision)).to.deep.equal([...Array(200).keys()]);
    expect((await collect(s.read('b', { from: 150, to: 152 }))).map((e) => (e.event.body as { status: number }).status)).to.deep.equal([150, 151, 152]);
    expect((await collect(s.readAll(395))).map((e) => e.position)).to.deep.equal([395, 396, 397, 398, 399]);
    await s.close();
    const report = await verifyFileStore(dir);
    expect(report.problems).to.deep.equal([]);
    expect(report.events).to.equal(400);
    expect(report.streams).to.equal(2);
  });

  it('cuts a torn tail on open, reports it, and keeps every whole record', async () => {
    const dir = tmpDir();
    let s = await FileEventStore.open(dir);
    await s.append('d', [statusEv(1), statusEv(3)]);
    await s.append('d', [statusEv(7)]);
    await s.close();
    const seg = path.join(dir, segments(dir)[0]!);
    const whole = statSync(seg).size;
    // A crash in the middle of writing the next record: half a record at the end.
    const half = Buffer.alloc(30, 0xab);
    half.writeUInt32LE(200, 0);
    await fsp.appendFile(seg, half);
    const before = await verifyFileStore(dir);
    expect(before.problems).to.have.length(1);
    expect(before.problems[0]).to.deep.include({ segment: path.basename(seg), offset: whole });
    expect(before.problems[0]!.reason).to.match(/cut short.*torn tail/);
    s = await FileEventStore.open(dir);
    expect(s.recovery).to.deep.include({ segment: path.basename(seg), offset: whole, droppedBytes: 30 });
    expect(statSync(seg).size).to.equal(whole);
    expect((await collect(s.read('d'))).map((e) => (e.event.body as { status: number }).status)).to.deep.equal([1, 3, 7]);
    await s.append('d', [statusEv(15)]);
    await s.close();
    expect((await verifyFileStore(dir)).problems).to.deep.equal([]);
  });

  it('treats a last record with a bad CRC and nothing after it as torn', async () => {
    const dir = tmpDir();
    let s = await FileEventStore.open(dir);
    await s.append('d', [statusEv(1)]);
    const end1 = statSync(path.join(dir, segments(dir)[0]!)).size;
    await s.append('d', [statusEv(2)]);
    await s.close();
    const seg = path.join(dir, segments(dir)[0]!);
    const buf = readFileSync(seg);
    buf[buf.length - 1] ^= 0xff; // the last write never fully reached the disk
    writeFileSync(seg, buf);
    s = await FileEventStore.open(dir);
    expect(s.recovery?.offset).to.equal(end1);
    expect(s.recovery?.reason).to.equal('CRC mismatch');
    expect(await s.head('d')).to.equal(0);
    await s.close();
  });

  it('a flipped byte in the middle is damage: verify names segment and offset, open refuses to write over it', async () => {
    const dir = tmpDir();
    let s = await FileEventStore.open(dir);
    for (let i = 0; i < 5; i++) await s.append('d', [statusEv(i + 1), vqEv(1, 3)]);
    await s.close();
    const seg = path.join(dir, segments(dir)[0]!);
    const buf = readFileSync(seg);
    // find the third record's offset by walking the framing
    let off = SEGMENT_HEADER_BYTES;
    for (let i = 0; i < 2; i++) off += 8 + buf.readUInt32LE(off);
    buf[off + 8 + 20] ^= 0x01;
    writeFileSync(seg, buf);
    const report = await verifyFileStore(dir);
    expect(report.problems).to.have.length(1);
    expect(report.problems[0]).to.deep.equal({ segment: path.basename(seg), offset: off, reason: 'CRC mismatch: damage, not a torn tail (an intact record follows at offset 305; 97 bytes unreadable)' });
    const err = await expectRejected(FileEventStore.open(dir), StoreCorruptError);
    expect(err.message).to.contain(path.basename(seg)).and.contain(`offset ${off}`);
    // read-only opens of sealed damage still fail loudly on the damaged record, never return wrong data
    s = await FileEventStore.open(dir, { readOnly: true }).catch(() => undefined as unknown as FileEventStore);
    if (s) {
      await expectRejected(collect(s.read('d')), StoreCorruptError);
      await s.close();
    }
  });

  it('a damaged sealed segment is reported by verify with its name', async () => {
    const dir = tmpDir();
    const s = await FileEventStore.open(dir, { segmentBytes: 256 });
    for (let i = 0; i < 30; i++) await s.append('d', [statusEv(i)]);
    await s.close();
    const first = path.join(dir, segments(dir)[0]!);
    const buf = readFileSync(first);
    buf[buf.length - 3] ^= 0x40;
    writeFileSync(first, buf);
    const report = await verifyFileStore(dir);
    expect(report.problems.map((p) => p.segment)).to.deep.equal([path.basename(first)]);
  });

  it('lets only one process write a store', async () => {
    const dir = tmpDir();
    const s = await FileEventStore.open(dir);
    await expectRejected(FileEventStore.open(dir), StoreLockedError);
    // another process, same result
    const child = spawn(process.execPath, ['--import', 'tsx', '-e',
      `import('${path.resolve('src/store/file-store.ts')}').then(m => m.FileEventStore.open(${JSON.stringify(dir)})).then(() => process.exit(0), (e) => { console.error(e.name); process.exit(3); })`]);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).to.equal(3);
    expect(stderr).to.contain('StoreLockedError');
    await s.close();
    const again = await FileEventStore.open(dir);
    await again.close();
  });

  it('takes over the lock of a dead process', async () => {
    const dir = tmpDir();
    const s = await FileEventStore.open(dir);
    await s.close();
    const { hostname } = await import('node:os');
    writeFileSync(path.join(dir, 'LOCK'), `999999999@${hostname()}`);
    const again = await FileEventStore.open(dir);
    await again.append('d', [statusEv(1)]);
    await again.close();
  });

  it('a read-only opener sees appends made by the writer', async () => {
    const dir = tmpDir();
    const writer = await FileEventStore.open(dir, { segmentBytes: 512 });
    await writer.append('d', [statusEv(1)]);
    const reader = await FileEventStore.open(dir, { readOnly: true });
    expect(await reader.head('d')).to.equal(0);
    for (let i = 0; i < 20; i++) await writer.append('d', [statusEv(2)]);
    expect(await reader.refresh()).to.equal(20);
    expect(await reader.head('d')).to.equal(20);
    expect((await collect(reader.read('d'))).length).to.equal(21);
    await expectRejected(reader.append('d', [statusEv(1)]), Error);
    await reader.close();
    await writer.close();
  });
});
