// Issue 15: the first mistakes users make, and inputs built to hurt, through the CLI as users run it. Every one
// must exit 1 with ONE line on stderr (input, where, reason), no stack trace, and leave the store usable.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { tmpDir } from '../helpers/tmp.js';
// a static import: a dynamic one can load a second copy of the helper (mocha loads specs through tsx's require
// hook), whose process.env and stdout routing would then hide the other copy's per-call environment
import { devrec } from '../helpers/cli.js';

interface Run { code: number; stdout: string; stderr: string }

function devrecIn(cwd: string, args: string[], input = '', env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const e: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete e['DEVREC_STORE'];
    delete e['DEVREC_DEBUG'];
    const child = spawn(process.execPath, [path.resolve('bin/devrec'), ...args], { cwd, env: e });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

function expectOneLineError(r: Run, pattern: RegExp, what: string): void {
  expect(r.code, `${what}: exit code (stderr: ${r.stderr})`).to.equal(1);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines, `${what}: one line on stderr`).to.have.length(1);
  expect(lines[0], what).to.match(/^devrec: /);
  expect(r.stderr, `${what}: no stack trace`).to.not.match(/\n\s+at |Error: .*\n.*at /);
  expect(lines[0], what).to.match(pattern);
}

describe('CLI: bad inputs give one line, exit 1, no stack trace (issue 15)', function () {
  this.timeout(300_000);
  const work = tmpDir('devrec-bad-');
  const store = path.join(work, 'store');
  const S = ['--store', `file:${store}`];
  const TRACE = path.resolve('streams/qemu/pc-modern-net-blk/trace.log.gz');

  before(async () => {
    const r = await devrecIn(work, ['record', '--device', 'ok', '--type', 'net', '--transport', 'pci-modern', ...S], '{"kind":"statusWritten","status":1}\n');
    expect(r.code, r.stderr).to.equal(0);
    writeFileSync(path.join(work, 'a-file'), 'not a store');
    mkdirSync(path.join(work, 'a-dir'));
    // 1 MB of gzip that inflates to ~1 GB of zeros
    writeFileSync(path.join(work, 'bomb.gz'), gzipSync(Buffer.alloc(1024 * 1024 * 1024, 0), { level: 9 }));
    const prof = await devrecIn(work, ['profile', 'ok', '-o', 'profile.json', ...S]);
    expect(prof.code, prof.stderr).to.equal(0);
  });

  const table: [string, string[], string, RegExp][] = [
    // item 10: the first mistakes
    ['devices without ./.devrec', ['devices'], '', /no devrec store at \.\/\.devrec \(record or import something first/],
    ['a missing --store', ['devices', '--store', 'file:/nonexistent/store'], '', /no devrec store at \/nonexistent\/store/],
    ['a --store that is a file', ['devices', '--store', 'file:a-file'], '', /a-file: not a devrec store \(a file, not a directory\)/],
    ['--store foo:bar', ['devices', '--store', 'foo:bar'], '', /store URL foo:bar: unknown scheme/],
    ['--store file:', ['devices', '--store', 'file:'], '', /store URL file:: no directory/],
    ['a store under /proc', ['devices', '--store', 'file:/proc/self'], '', /is under \/proc, a kernel pseudo file system/],
    ['record into a store under /proc', ['record', '--device', 'x', '--store', 'file:/proc/self/fd/x'], '{}', /under \/proc/],
    ['record --device ""', ['record', '--device', '', ...S], '', /a device id cannot be empty/],
    ['diff /nonexistent X', ['diff', '/nonexistent', 'X'], '', /no devrec store at|nonexistent/],
    // items 6-9: values that used to break later commands are refused where they enter, with the line
    ['a snapshot without state', ['record', '--device', 'n6', ...S], '{"kind":"snapshot"}\n', /stdin: line 1: field "state": a snapshot event needs a state/],
    ['queue index 2^31', ['record', '--device', 'n7', ...S], '{"kind":"vqIndex","index":2147483648}\n', /line 1: field "index": 2147483648 is out of range 0\.\.65535/],
    ['numQueues 2^32-1', ['record', '--device', 'n8', ...S], '{"kind":"identified","numQueues":4294967295}\n', /line 1: field "numQueues": 4294967295 is out of range 0\.\.65536/],
    ['feature select 2^32-1', ['record', '--device', 'n9', ...S], '{"kind":"driverFeatures","select":4294967295,"value":"0x1"}\n', /line 1: field "select": 4294967295 is out of range 0\.\.31/],
    ['feature select 65535', ['record', '--device', 'n9', ...S], '{"kind":"deviceFeatures","select":65535,"value":"0x1"}\n', /line 1: field "select"/],
    // item 13: sizes and time bounds
    ['inspect a gzip bomb', ['inspect', 'bomb.gz'], '', /bomb\.gz/],
    ['inspect /dev/zero', ['inspect', '/dev/zero'], '', /\/dev\/zero: is not a regular file/],
    ['check /dev/zero --target P', ['check', '/dev/zero', '--target', 'profile.json'], '', /\/dev\/zero: is not a regular file/],
    ['check S --target /dev/zero', ['check', 'ok', '--target', '/dev/zero', ...S], '', /\/dev\/zero: is not a regular file/],
    ['an NDJSON line of 2 MB', ['record', '--device', 'big', ...S], `{"kind":"annotation","message":"${'x'.repeat(2 * 1024 * 1024)}"}\n`, /stdin: line 1: longer than 1048576 bytes/],
    // item 15
    ['import qemu-trace DIR', ['import', 'qemu-trace', 'a-dir', ...S], '', /a-dir: is a directory; name the trace log file/],
    ['log --from 10 --to 5', ['log', 'ok', '--from', '10', '--to', '5', ...S], '', /--from 10 is after --to 5/],
    ['demo --rounds -1', ['demo', '--rounds', '-1'], '', /--rounds "-1": expected a whole number/],
  ];

  for (const [what, args, input, pattern] of table) {
    it(what, async () => {
      expectOneLineError(await devrecIn(work, args, input), pattern, what);
    });
  }

  it('the store still answers every read command after all of the above', async () => {
    for (const args of [['devices'], ['state', 'ok'], ['log', 'ok', '--explain'], ['verify']]) {
      const r = await devrecIn(work, [...args, ...S]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
    }
  });

  it('items 4 and 5: a trace line with an address past 2^53 fails with its line, imports nothing, and the fixed trace imports', async () => {
    const { gunzipSync } = await import('node:zlib');
    const { readFileSync } = await import('node:fs');
    const lines = gunzipSync(readFileSync(TRACE)).toString('utf8').split('\n');
    const at = lines.findIndex((l, i) => i > lines.length / 2 && / addr 0x[0-9a-f]+ value 0x/.test(l));
    const bad = [...lines];
    bad[at] = bad[at]!.replace(/ addr 0x[0-9a-f]+ /, ' addr 0xffffffffffffffff ');
    writeFileSync(path.join(work, 'bad-trace.log'), bad.join('\n'));
    const st = ['--store', `file:${path.join(work, 'trace-store')}`];
    const r = await devrecIn(work, ['import', 'qemu-trace', 'bad-trace.log', ...st]);
    expectOneLineError(r, new RegExp(`bad-trace\\.log: line ${at + 1}: memory_region_ops_(read|write) address .*out of range.*nothing was imported`), 'address 2^64-1');
    const devices = await devrecIn(work, ['devices', '--json', ...st]);
    expect(devices.code, devices.stderr).to.equal(0);
    expect(JSON.parse(devices.stdout)).to.deep.equal([]);
    const retry = await devrecIn(work, ['import', 'qemu-trace', TRACE, ...st]);
    expect(retry.code, retry.stderr).to.equal(0);
    expect((await devrecIn(work, ['verify', ...st])).code).to.equal(0);
  });

  it('item 13: a 2 MB trace line is refused with its line number', async () => {
    writeFileSync(path.join(work, 'long-trace.log'), `pci_cfg_write virtio-net-pci 00:02.0 @0x4 <- 0x7\n${'y'.repeat(2 * 1024 * 1024)}\n`);
    expectOneLineError(await devrecIn(work, ['import', 'qemu-trace', 'long-trace.log', '--store', `file:${path.join(work, 'long-store')}`]), /long-trace\.log: line 2: longer than 1048576 bytes/, 'long trace line');
  });

  it('item 11: `devices | head -1` and `log ID | head -1` end quietly (no EPIPE)', async () => {
    const many = Array.from({ length: 4000 }, (_, i) => `{"kind":"statusWritten","status":${i & 0xff}}`).join('\n') + '\n';
    expect((await devrecIn(work, ['record', '--device', 'many', ...S], many)).code).to.equal(0);
    for (const cmd of [`devices --store file:${store}`, `log many --store file:${store}`]) {
      const r = await new Promise<Run>((resolve) => {
        const c = spawn('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" "${path.resolve('bin/devrec')}" ${cmd} | head -1`], { cwd: work });
        let stdout = '';
        let stderr = '';
        c.stdout.on('data', (d) => (stdout += d));
        c.stderr.on('data', (d) => (stderr += d));
        c.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      });
      expect(r.stderr, cmd).to.equal('');
      expect(r.stdout.split('\n').filter(Boolean), cmd).to.have.length(1);
    }
  });
});

describe('CLI: more bad inputs of issue 15 (items 5, 10, 12), each on its own store', function () {
  this.timeout(300_000);
  const work = tmpDir('devrec-bad2-');
  const TRACE = path.resolve('streams/qemu/pc-modern-net-blk/trace.log.gz');

  it('item 5: a value of 2^64 in a trace fails with its line number and imports nothing', async () => {
    const { gunzipSync } = await import('node:zlib');
    const { readFileSync } = await import('node:fs');
    const lines = gunzipSync(readFileSync(TRACE)).toString('utf8').split('\n');
    const at = lines.findIndex((l, i) => i > lines.length / 3 && / value 0x[0-9a-f]+/.test(l));
    const bad = [...lines];
    bad[at] = bad[at]!.replace(/ value 0x[0-9a-f]+/, ' value 0x10000000000000000');
    writeFileSync(path.join(work, 'big-value.log'), bad.join('\n'));
    const st = ['--store', `file:${path.join(work, 'big-value-store')}`];
    expectOneLineError(await devrecIn(work, ['import', 'qemu-trace', 'big-value.log', ...st]), new RegExp(`big-value\\.log: line ${at + 1}: .*nothing was imported`), 'value 2^64');
    expect(JSON.parse((await devrecIn(work, ['devices', '--json', ...st])).stdout)).to.deep.equal([]);
  });

  it('item 12: `copy` of a store with a record whose CRC is valid but whose event length is wrong: one line naming segment and offset', async () => {
    const { readFileSync, readdirSync } = await import('node:fs');
    const { crc32 } = await import('node:zlib');
    const damaged = path.join(work, 'damaged-store');
    const rec = await devrecIn(work, ['record', '--device', 'd', '--type', 'net', '--transport', 'pci-modern', '--store', `file:${damaged}`], '{"kind":"statusWritten","status":1}\n{"kind":"statusWritten","status":3}\n');
    expect(rec.code, rec.stderr).to.equal(0);
    // in the first record (the recorder may batch the lines in one record or two), its last event's u32 length grows
    // by one and the record's CRC is made to match
    const seg = path.join(damaged, readdirSync(damaged).find((n) => n.startsWith('seg-'))!);
    const buf = readFileSync(seg);
    const payload = buf.subarray(16 + 8, 16 + 8 + buf.readUInt32LE(16));
    const count = payload.readUInt32LE(8);
    const nameLen = payload.readUInt16LE(14);
    let off = 14 + 2 + nameLen + 12 + 2 * count;
    for (let i = 0; i < count - 1; i++) off += 4 + payload.readUInt32LE(off);
    payload.writeUInt32LE(payload.readUInt32LE(off) + 1, off);
    buf.writeUInt32LE(crc32(payload), 16 + 4);
    writeFileSync(seg, buf);
    const copied = await devrecIn(work, ['copy', '--from', `file:${damaged}`, '--to', `file:${path.join(work, 'copy-target')}`]);
    expectOneLineError(copied, /seg-\d+\.log at offset \d+: event \d+ of \d+ bytes runs past the end of the record/, 'copy of damage');
  });

  it('item 10: a read-only file system and a full one: one line naming the store, exit 1', async function () {
    const { smallTmpfs } = await import('../helpers/durability.js');
    const { execFileSync } = await import('node:child_process');
    const fs = smallTmpfs(256 * 1024);
    if (!fs) this.skip(); // mount(8) refused here (not root): the store-level disk-full tests still run
    try {
      const full = `file:${path.join(fs!.dir, 'store')}`;
      const many = Array.from({ length: 3000 }, (_, i) => `{"kind":"annotation","message":"${'z'.repeat(200)}${i}"}`).join('\n') + '\n';
      const r = await devrecIn(work, ['record', '--device', 'full', '--type', 'net', '--transport', 'pci-modern', '--store', full], many);
      expectOneLineError(r, /no space left|ENOSPC|disk is full/i, 'full disk');
      expect((await devrecIn(work, ['verify', '--store', full])).code, 'verify after a full disk').to.equal(0);
      execFileSync('mount', ['-o', 'remount,ro', fs!.dir]);
      const ro = await devrecIn(work, ['record', '--device', 'ro', '--store', `file:${path.join(fs!.dir, 'other')}`], '{"kind":"statusWritten","status":1}\n');
      expectOneLineError(ro, /the file system is read-only/, 'read-only file system');
    } finally {
      fs!.unmount();
    }
  });
});

describe('CLI: usage errors are one line naming where to look next', function () {
  it('an unknown command, an unknown option, a missing argument of a nested command: one line each, exit 1', async () => {
    const cases: [string[], RegExp][] = [
      [['nonsense'], /^error: unknown command 'nonsense' \(`devrec --help` shows the usage\)\n$/],
      [['device'], /^error: unknown command 'device' \(Did you mean devices\?\) \(`devrec --help` shows the usage\)\n$/],
      [['state'], /^error: missing required argument 'id' \(`devrec state --help` shows the usage\)\n$/],
      [['devices', '--bogus'], /^error: unknown option '--bogus' \(`devrec devices --help` shows the usage\)\n$/],
      [['import', 'qemu-trace'], /^error: missing required argument 'file' \(`devrec import qemu-trace --help` shows the usage\)\n$/],
    ];
    for (const [args, want] of cases) {
      const r = await devrec(args);
      expect(r.code, args.join(' ')).to.equal(1);
      expect(r.stderr, args.join(' ')).to.match(want);
      expect(r.stdout, args.join(' ')).to.equal('');
    }
  });
});
