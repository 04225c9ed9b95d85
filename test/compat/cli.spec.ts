// devrec profile / check / diff as users run them: bin/devrec in a child process, real files, real exit codes.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tmpDir } from '../helpers/tmp.js';
import { devrec, type Run } from '../helpers/cli.js';


const NET = 'virtio-net-pci@00:02.0';
const noStack = (r: Run) => expect(r.stderr).not.to.match(/\n\s+at /);

describe('CLI: profile, check, diff', function () {
  this.timeout(120000);
  let dir: string;
  let store: string;

  before(async function () {
    dir = tmpDir();
    store = `file:${path.join(dir, 'store')}`;
    for (const [variant, prefix] of [['pc-modern-net-blk', ''], ['pc-legacy-msix', 'legacy/']] as const) {
      const r = await devrec(['import', 'qemu-trace', path.resolve('streams/qemu', variant, 'trace.log.gz'), '--store', store, ...(prefix ? ['--prefix', prefix] : [])]);
      expect(r.code, r.stderr).to.equal(0);
    }
  });

  it('a device recorded without --transport: profile writes the transport as unknown (null, named), check reads it and lists the transport rules as not checked (issue 15)', async function () {
    const own = `file:${path.join(dir, 'no-transport')}`;
    const rec = await devrec(['record', '--device', 'nt0', '--type', 'net', '--store', own], '{"kind":"deviceFeatures","value":"0x130000020"}\n');
    expect(rec.code, rec.stderr).to.equal(0);
    const file = path.join(dir, 'no-transport.json');
    const p = await devrec(['profile', 'nt0', '-o', file, '--store', own]);
    expect(p.code, p.stderr).to.equal(0);
    expect(p.stdout).to.contain('(net, transport unknown, revision 1)');
    const written = JSON.parse(readFileSync(file, 'utf8'));
    expect(written.transport).to.equal(null);
    expect(written.transportUnknown).to.match(/recorded without --transport\): rules that need it are not checked/);
    const c = await devrec(['check', 'nt0', '--target', file, '--store', own, '--json']);
    expect(c.code, c.stderr).to.equal(0);
    const result = JSON.parse(c.stdout);
    expect(result.verdict).to.equal('compatible');
    expect(result.notChecked.find((n: { rule: string }) => n.rule === 'transport-family').needs).to.deep.equal(['transport']);
    // a known source against this profile: the target's transport is what is unknown, never taken for another bus
    const modern = await devrec(['check', NET, '--target', file, '--store', store, '--json']);
    const m = JSON.parse(modern.stdout);
    expect(m.notChecked.find((n: { rule: string }) => n.rule === 'transport-family').needs).to.deep.equal(['target.transport']);
    expect(m.findings.map((f: { rule: string }) => f.rule)).not.to.include('transport-family');
    noStack(c);
  });

  it('profile -o, export, check against its own profile: exit 0; against the legacy profile: exit 2 naming the bits', async function () {
    const own = path.join(dir, 'modern.json');
    const legacy = path.join(dir, 'legacy.json');
    const stream = path.join(dir, 'net.bin');
    expect((await devrec(['profile', NET, '-o', own, '--store', store])).code).to.equal(0);
    expect(JSON.parse(readFileSync(own, 'utf8'))).to.deep.include({ profileVersion: 1, deviceType: 'net', transport: 'pci-modern' });
    expect((await devrec(['profile', `legacy/${NET}`, '-o', legacy, '--store', store])).code).to.equal(0);
    const ex = await devrec(['export', NET, '-o', stream, '--store', store]);
    expect(ex.code, ex.stderr).to.equal(0);

    const ok = await devrec(['check', stream, '--target', own]);
    expect(ok.code, ok.stderr + ok.stdout).to.equal(0);
    expect(ok.stdout).to.contain('COMPATIBLE');

    const bad = await devrec(['check', stream, '--target', legacy], '', { NO_COLOR: '1' });
    expect(bad.code).to.equal(2);
    expect(bad.stdout).to.contain('INCOMPATIBLE').and.to.contain('bit 32 VIRTIO_F_VERSION_1').and.to.contain('Allowed features: 0x79bf8064');
    expect(bad.stdout).not.to.contain('\x1b[');

    const json = await devrec(['check', stream, '--target', legacy, '--json']);
    expect(json.code).to.equal(2);
    const r = JSON.parse(json.stdout);
    expect(r).to.deep.include({ verdict: 'incompatible', allowedMoves: '0x1', moves: ['cold'] });
    expect(r.findings.map((f: { rule: string }) => f.rule)).to.include('features-not-offered');
    expect(Object.keys(r)).to.deep.equal([...Object.keys(r)].sort());

    const dev = await devrec(['check', '--device', `legacy/${NET}`, '--target', own, '--store', store, '--json']);
    expect(dev.code).to.equal(2);
    expect(JSON.parse(dev.stdout).findings.map((f: { rule: string }) => f.rule)).to.include('legacy-onto-modern-only');
  });

  it('diff: the modern net device against the legacy one, by name; --json sorted and without colour', async function () {
    const d = await devrec(['diff', NET, `legacy/${NET}`, '--store', store], '', { FORCE_COLOR: '1' });
    expect(d.code, 'ABI-breaking differences: exit 2').to.equal(2);
    const plain = d.stdout.replace(/\x1b\[[0-9;]*m/g, '');
    expect(plain).to.contain('identity.transport: pci-modern -> pci-legacy');
    expect(plain).to.contain('features.accepted: VIRTIO_F_VERSION_1 (bit 32) only in A');
    expect(plain).to.contain('net header: A 12 bytes (VIRTIO_F_VERSION_1), B 12 bytes (VIRTIO_NET_F_MRG_RXBUF (legacy))');
    expect(plain).to.match(/event logs: diverge at revision \d+/);
    expect(d.stdout).to.contain('\x1b['); // FORCE_COLOR

    const j = await devrec(['diff', NET, `legacy/${NET}@100`, '--store', store, '--json'], '', { FORCE_COLOR: '1' });
    expect(j.code).to.equal(2);
    expect(j.stdout).not.to.contain('\x1b[');
    const out = JSON.parse(j.stdout);
    expect(out.counts.abi).to.be.greaterThan(0);
    expect(Object.keys(out.counts)).to.deep.equal(['abi', 'provenance', 'runtime', 'unknown']);
    expect(out.b).to.equal(`legacy/${NET}@100`);
    expect(out.differences.find((x: { path: string }) => x.path === 'identity.transport')).to.deep.equal({ a: 'pci-modern', b: 'pci-legacy', change: 'changed', class: 'abi', path: 'identity.transport' });
    expect(typeof out.divergence.revision).to.equal('number');
    const again = await devrec(['diff', NET, `legacy/${NET}@100`, '--store', store, '--json']);
    expect(again.stdout).to.equal(j.stdout);
  });

  it('malformed profile, stream or operand: exit 1 with a clear message, no stack trace', async function () {
    const stream = path.join(dir, 'net2.bin');
    expect((await devrec(['export', `legacy/${NET}`, '-o', stream, '--store', store])).code).to.equal(0);
    const broken = path.join(dir, 'broken.json');
    writeFileSync(broken, JSON.stringify({ profileVersion: 1, deviceType: 'net', transport: 'pci-modern', legacy: { supported: false }, features: { offered: 'lots' }, queues: { count: 1, maxSizes: [256] } }));
    const p = await devrec(['check', stream, '--target', broken]);
    expect(p.code).to.equal(1);
    expect(p.stderr).to.contain(`${broken}: field "features.offered": expected a "0x..." hex mask`);
    noStack(p);

    const notJson = path.join(dir, 'nojson.json');
    writeFileSync(notJson, '{"profileVersion": 1,');
    const nj = await devrec(['check', stream, '--target', notJson]);
    expect(nj.code).to.equal(1);
    expect(nj.stderr).to.contain(`${notJson}: line 1, column 22: not valid JSON`);
    noStack(nj);

    const damaged = path.join(dir, 'damaged.bin');
    const bytes = readFileSync(stream);
    bytes[bytes.length - 40] ^= 0xff;
    writeFileSync(damaged, bytes);
    const own = path.join(dir, 'own.json');
    expect((await devrec(['profile', `legacy/${NET}`, '-o', own, '--store', store])).code).to.equal(0);
    const s = await devrec(['check', damaged, '--target', own]);
    expect(s.code).to.equal(1);
    expect(s.stderr).to.contain(`${damaged}: not a devrec migration stream: offset`);
    noStack(s);

    const junk = path.join(dir, 'junk.bin');
    writeFileSync(junk, 'hello');
    const dj = await devrec(['diff', junk, stream]);
    expect(dj.code).to.equal(1);
    expect(dj.stderr).to.contain(`${junk}: not a devrec migration stream`);
    noStack(dj);

    const missing = await devrec(['diff', 'nope', stream, '--store', store]);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.contain(`A "nope": no such file, and no device "nope" in ${store}`);
    noStack(missing);

    const noTarget = await devrec(['check', stream, '--target', path.join(dir, 'absent.json')]);
    expect(noTarget.code).to.equal(1);
    expect(noTarget.stderr).to.contain('absent.json: cannot read: no such file');
  });
});
