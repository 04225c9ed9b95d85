// devrec export / inspect / import stream as users run them: bin/devrec in a child process, real files and
// stores, real exit codes.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { eventToJson } from '../../src/events/json.js';
import { netLifecycle } from '../../src/sim/net-lifecycle.js';
import { tmpDir } from '../helpers/tmp.js';
import { devrec, type Run } from '../helpers/cli.js';


const DEV = 'virtio-net-pci@00:02.0';

/** A file store holding the simulated virtio-net lifecycle, recorded through `devrec record` (NDJSON). */
async function recordNet(dir: string, rounds: number): Promise<string> {
  const input = path.join(dir, 'net.ndjson');
  writeFileSync(input, [...netLifecycle({ trafficRounds: rounds })].map((s) => JSON.stringify(eventToJson(s.event))).join('\n') + '\n');
  const store = `file:${path.join(dir, 'src')}`;
  const r = await devrec(['record', '--device', DEV, '--input', input, '--store', store]);
  expect(r.code, r.stderr).to.equal(0);
  return store;
}
const bookkeeping = (s: Record<string, unknown>) => {
  const { revision: _r, eventCount: _e, timestamp: _t, timestampNs: _tn, vfioState: _v, sources: _s, ...rest } = s;
  return rest;
};

describe('CLI: export, inspect, import stream', function () {
  this.timeout(120000);

  it('exports, inspects and imports a device, in both formats, with exit codes 0', async function () {
    const dir = tmpDir();
    const src = await recordNet(dir, 30);
    const before = JSON.parse((await devrec(['state', DEV, '--store', src, '--json', '--at', '100'])).stdout);

    const file = path.join(dir, 'net.devrec');
    const head = JSON.parse((await devrec(['devices', '--store', src, '--json'])).stdout)[0].revision;
    const readOnly = await devrec(['export', DEV, '--at', '100', '-o', file, '--store', src]);
    expect(readOnly.code, readOnly.stderr).to.equal(0);
    expect(readOnly.stdout).to.contain('(walked, not recorded: the store is unchanged)');
    expect(JSON.parse((await devrec(['devices', '--store', src, '--json'])).stdout)[0].revision).to.equal(head);
    const ex = await devrec(['export', DEV, '--at', '100', '-o', file, '--store', src, '--record']);
    expect(ex.code, ex.stderr).to.equal(0);
    expect(ex.stdout).to.contain('devrec vfio resume');
    expect(ex.stdout).to.match(new RegExp(`exported ${DEV.replace(/[.]/g, '\\.')} at revision 100 to .*: \\d+ bytes, devrec format 1\\.1`));
    expect(ex.stdout).to.contain('VFIO: RUNNING -> PRE_COPY -> PRE_COPY_P2P -> STOP_COPY -> STOP');
    const log = (await devrec(['log', DEV, '--store', src, '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(log.slice(-4).map((e) => `${e.kind} ${e.from}>${e.to} ${e.actor} ${e.path}`)).to.deep.equal([
      'vfioState RUNNING>PRE_COPY vmm vfio-ioctl', 'vfioState PRE_COPY>PRE_COPY_P2P vmm vfio-ioctl',
      'vfioState PRE_COPY_P2P>STOP_COPY vmm vfio-ioctl', 'vfioState STOP_COPY>STOP vmm vfio-ioctl',
    ]);

    const ins = await devrec(['inspect', file]);
    expect(ins.code, ins.stderr).to.equal(0);
    expect(ins.stdout).to.contain('devrec migration stream');
    expect(ins.stdout).to.match(/^ {2}0 +0x44560001 mandatory +\d+ +SCHEMA_HEADER$/m);
    expect(ins.stdout).to.contain('VIRTIO_DEV_PART_VQ_CFG');
    expect(ins.stdout).to.contain('VIRTIO_NET_DEV_PART_CVQ_CFG_PART');
    expect(ins.stdout).to.match(/STOP_COPY_SIZE/);
    expect(ins.stdout).to.contain('integrity: ok');
    expect(ins.stdout).to.contain('verdict: ok');
    const json = JSON.parse((await devrec(['inspect', file, '--json'])).stdout);
    expect(json).to.deep.include({ format: 'devrec', ok: true, integrity: 'ok', schemaMatches: true, version: { major: 1, minor: 1 } });
    expect(json.records[0]).to.deep.include({ offset: 0, tag: '0x44560001', name: 'SCHEMA_HEADER', flags: '0x0', optional: false });
    expect(json.records[0].decoded.provenance).to.deep.include({ sourceStream: DEV, sourceRevision: 100, backend: 'simulation', recorder: 'devrec' });
    expect(json.records.at(-1)).to.deep.include({ name: 'INTEGRITY', size: 32 });

    const dst = `file:${path.join(dir, 'dst')}`;
    const im = await devrec(['import', 'stream', file, '--store', dst]);
    expect(im.code, im.stderr).to.equal(0);
    expect(im.stdout).to.contain(`imported ${file} as ${DEV}: revisions 0..4`);
    expect(im.stdout).to.contain('VFIO: STOP -> RESUMING -> STOP -> RUNNING_P2P -> RUNNING');
    const after = JSON.parse((await devrec(['state', DEV, '--store', dst, '--json'])).stdout);
    expect(after.vfioState).to.equal('running');
    expect(bookkeeping(after)).to.deep.equal(bookkeeping(before));
    const devs = JSON.parse((await devrec(['devices', '--store', dst, '--json'])).stdout);
    expect(devs).to.deep.equal([{ id: DEV, type: 'net', transport: 'pci-modern', revision: 4, aliases: [] }]);

    // the same through the QEMU VFIO framing
    const qfile = path.join(dir, 'net.qemu');
    const qex = await devrec(['export', DEV, '--at', '100', '-o', qfile, '--format', 'qemu-vfio', '--store', src]);
    expect(qex.code, qex.stderr).to.equal(0);
    const qins = await devrec(['inspect', qfile]);
    expect(qins.code).to.equal(0);
    expect(qins.stdout).to.contain('qemu-vfio migration stream');
    expect(qins.stdout).to.match(/@0 +setup +DEV_SETUP_STATE END_OF_STATE/);
    expect(qins.stdout).to.match(/config DEV_CONFIG_STATE\(256\) END_OF_STATE/);
    const qim = await devrec(['import', 'stream', qfile, '--as', 'net-from-qemu', '--store', dst]);
    expect(qim.code, qim.stderr).to.equal(0);
    const q = JSON.parse((await devrec(['state', 'net-from-qemu', '--store', dst, '--json'])).stdout);
    expect({ ...bookkeeping(q), device: DEV }).to.deep.equal(bookkeeping(before));
  });

  it('exits 1 with the file, offset and reason for damaged streams and refused imports; inspect still shows the records', async function () {
    const dir = tmpDir();
    const src = await recordNet(dir, 5);
    const file = path.join(dir, 'net.devrec');
    expect((await devrec(['export', DEV, '-o', file, '--store', src])).code).to.equal(0);
    const bad = path.join(dir, 'bad.devrec');
    const bytes = readFileSync(file);
    bytes[200] ^= 0x40;
    writeFileSync(bad, bytes);
    const ins = await devrec(['inspect', bad]);
    expect(ins.code).to.equal(1);
    expect(ins.stdout).to.contain('integrity: bad');
    expect(ins.stdout).to.contain('SCHEMA_HEADER');
    expect(ins.stderr).to.match(new RegExp(`devrec: ${bad.replace(/[.]/g, '\\.')}: offset ${bytes.length - 32} \\(record tag 0x4456ffff INTEGRITY\\): integrity check failed`));
    const im = await devrec(['import', 'stream', bad, '--store', `file:${path.join(dir, 'dst')}`]);
    expect(im.code).to.equal(1);
    expect(im.stderr).to.match(/offset \d+ .*integrity check failed/);

    const cut = path.join(dir, 'cut.devrec');
    writeFileSync(cut, readFileSync(file).subarray(0, 300));
    const c = await devrec(['inspect', cut, '--json']);
    expect(c.code).to.equal(1);
    expect(JSON.parse(c.stdout)).to.deep.include({ ok: false, integrity: 'missing' });
    expect(c.stderr).to.match(/offset \d+: (truncated record header|record_size \d+ runs past the end)/);

    const again = await devrec(['import', 'stream', file, '--store', src]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.contain(`stream "${DEV}" already exists in the target store: import it under another id with --as ID`);

    const cases: [string[], RegExp][] = [
      [['export', 'nope', '-o', path.join(dir, 'x'), '--store', src], /no device "nope" in file:.*`devrec devices` lists the recorded ones/],
      [['export', DEV, '--at', '99999', '-o', path.join(dir, 'x'), '--store', src], /--at 99999: device .* has revisions/],
      [['export', DEV, '-o', path.join(dir, 'x'), '--format', 'xml', '--store', src], /argument 'xml' is invalid/],
      [['export', DEV, '--store', src], /required option '-o, --output <file>'/],
      [['inspect', path.join(dir, 'missing')], /missing: cannot read: no such file/],
      [['import', 'stream', path.join(dir, 'missing'), '--store', src], /missing: cannot read: no such file/],
    ];
    for (const [args, msg] of cases) {
      const r = await devrec(args);   // one at a time: export takes the store's writer lock
      expect(r.code, args.join(' ')).to.equal(1);
      expect(r.stderr, args.join(' ')).to.match(msg);
    }
  });

  it('inspect shows what the stream leaves unknown as null: PCI ids a trace never showed, the time of a source without times', async function () {
    const store = `file:${tmpDir()}`;
    expect((await devrec(['import', 'qemu-trace', 'streams/qemu/pc-modern-net-blk/trace.log.gz', '--store', store])).code).to.equal(0);
    const file = path.join(tmpDir(), 'net.devrec');
    expect((await devrec(['export', 'virtio-net-pci@00:02.0', '-o', file, '--store', store])).code).to.equal(0);
    const shown = JSON.parse((await devrec(['inspect', file, '--json'])).stdout) as { records: { name: string; decoded: Record<string, Record<string, unknown>> }[] };
    const header = shown.records.find((r) => r.name === 'SCHEMA_HEADER')!.decoded;
    // the vendor is virtio's own (every virtio PCI device has it); the device and subsystem ids the trace never showed
    expect(header['pci']).to.deep.equal({ vendor: '0x1af4', device: null, subsystemVendor: null, subsystem: null, revision: null });
    expect(header['provenance']!['sourceTime']).to.equal(null);
    expect(header['provenance']!['exportedAt']).to.match(/^20\d\d-/);
  });
});
