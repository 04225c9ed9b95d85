// The CLI as users run it: in process through main() (test/helpers/cli.ts), real files, real exit codes; a smoke test
// runs bin/devrec as a process.
import { expect } from 'chai';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { tmpDir } from '../helpers/tmp.js';
import { devrec, devrecProcess, type Run } from '../helpers/cli.js';


const ndjson = (...objs: unknown[]) => objs.map((o) => JSON.stringify(o)).join('\n') + '\n';

describe('CLI', function () {
  this.timeout(60000);

  it('records NDJSON, lists devices, prints the log and the state (text and JSON)', async function () {
    const store = `file:${tmpDir()}`;
    const input = ndjson(
      { kind: 'deviceFeatures', value: '0x8000000100000001', actor: 'device' },
      { kind: 'statusWritten', status: 1, time: '2099-11-21T10:00:00Z' },
      { kind: 'statusWritten', status: 3, time: '2099-11-21T10:00:01Z' },
      { kind: 'queueConfigured', index: 0, size: 256, desc: '0x7e000000', enabled: true, time: '2099-11-21T10:00:02Z' },
    );
    const rec = await devrec(['record', '--device', 'virtio-net-pci@00:02.0', '--type', 'net', '--transport', 'pci-modern', '--store', store], input);
    expect(rec.code, rec.stderr).to.equal(0);
    expect(rec.stdout).to.contain('recorded 5 event(s)');
    const devs = await devrec(['devices', '--json'], undefined, { DEVREC_STORE: store });
    expect(JSON.parse(devs.stdout)).to.deep.equal([{ id: 'virtio-net-pci@00:02.0', type: 'net', transport: 'pci-modern', revision: 4, aliases: [] }]);
    const log = await devrec(['log', 'virtio-net-pci@00:02.0', '--store', store, '--from', '1', '--to', '2']);
    expect(log.stdout.trim().split('\n')).to.have.length(2);
    expect(log.stdout).to.contain('VIRTIO_NET_F_SPEED_DUPLEX');
    const logJson = await devrec(['log', 'virtio-net-pci@00:02.0', '--store', store, '--json']);
    const lines = logJson.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.revision)).to.deep.equal([0, 1, 2, 3, 4]);
    expect(lines[1].value).to.equal('0x8000000100000001');
    const state = JSON.parse((await devrec(['state', 'virtio-net-pci@00:02.0', '--store', store, '--json'])).stdout);
    expect(state).to.deep.include({ device: 'virtio-net-pci@00:02.0', type: 'net', transport: 'pci-modern', revision: 4, status: '0x03' });
    expect(state.statusNames).to.deep.equal(['ACKNOWLEDGE', 'DRIVER']);
    expect(state.features.device).to.equal('0x8000000100000001');
    expect(state.features.deviceNames).to.deep.equal(['VIRTIO_NET_F_CSUM', 'VIRTIO_F_VERSION_1', 'VIRTIO_NET_F_SPEED_DUPLEX']);
    // no reset was recorded: the indices and the vector are unknown, not 0
    expect(state.queues[0]).to.deep.include({ index: 0, size: 256, enabled: true, desc: '0x7e000000', lastAvailIdx: null, usedIdx: null, msixVector: null });
    expect(state).to.have.keys(['device', 'type', 'transport', 'revision', 'status', 'statusNames', 'features', 'queues', 'config', 'msix',
      'virtioId', 'backend', 'timestamp', 'timestampNs', 'eventCount', 'numQueues', 'queueSelect', 'configGeneration', 'isr', 'resetPending',
      'vfioState', 'provisioned', 'pci', 'control', 'configKnown', 'guestPageSize', 'sources', 'aliases', 'configFields', 'configByteOrder', 'netControl']);
    // offered SPEED_DUPLEX but no MAC/STATUS/MTU/MQ: only speed and duplex are present, unknown until read
    expect(state.configFields).to.deep.equal({ speed: null, duplex: null });
    expect(state.netControl.rxMode.promisc).to.equal(null);
    const at = JSON.parse((await devrec(['state', 'virtio-net-pci@00:02.0', '--store', store, '--json', '--at', '2'])).stdout);
    expect(at.status).to.equal('0x01');
    const atTime = JSON.parse((await devrec(['state', 'virtio-net-pci@00:02.0', '--store', store, '--json', '--at-time', '2099-11-21T10:00:01.5Z'])).stdout);
    expect(atTime.revision).to.equal(3);
    const text = await devrec(['state', 'virtio-net-pci@00:02.0', '--store', store]);
    expect(text.stdout).to.match(/status\s+0x03\s+ACKNOWLEDGE DRIVER/);
  });

  it('rejects malformed NDJSON with line number and field, and keeps everything before it', async function () {
    const store = `file:${tmpDir()}`;
    const input = '{"kind":"statusWritten","status":1}\n\n{"kind":"statusWritten","status":3}\n{"kind":"queueConfigured","index":0,"size":"big"}\n{"kind":"statusWritten","status":7}\n';
    const r = await devrec(['record', '--device', 'd', '--store', store], input);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('stdin: line 4: field "size": expected an integer, got "big"');
    const log = (await devrec(['log', 'd', '--store', store, '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(log.map((e) => e.status)).to.deep.equal(['0x01', '0x03']);
    const broken = await devrec(['record', '--device', 'd', '--store', store], '{"kind":"statusWritten","status":15}\n{"kind": statusWritten}\n');
    expect(broken.code).to.equal(1);
    expect(broken.stderr).to.match(/stdin: line 2: not valid JSON/);
    expect((await devrec(['log', 'd', '--store', store, '--json'])).stdout.trim().split('\n')).to.have.length(3);
  });

  it('exits 1 with a clear message for unknown devices, bad revisions and bad store URLs', async function () {
    const store = `file:${tmpDir()}`;
    await devrec(['record', '--device', 'd', '--store', store], ndjson({ kind: 'statusWritten', status: 1 }));
    const cases: [string[], RegExp][] = [
      [['state', 'nope', '--store', store], /no device "nope"/],
      [['state', 'd', '--at', '5', '--store', store], /--at 5: device d has revisions 0\.\.0/],
      [['state', 'd', '--at', 'x', '--store', store], /--at "x" is not a non-negative integer/],
      [['state', 'd', '--at-time', 'soon', '--store', store], /not an ISO 8601 time/],
      [['devices', '--store', 'ftp://x'], /unknown scheme/],
      [['devices', '--store', 'file:/nonexistent/devrec'], /no devrec store at/],
    ];
    for (const [args, msg] of cases) {
      const r = await devrec(args);
      expect(r.code, args.join(' ')).to.equal(1);
      expect(r.stderr, args.join(' ')).to.match(msg);
    }
  });

  it('verify reports a flipped byte with segment and offset and exits 1', async function () {
    const dir = tmpDir();
    await devrec(['record', '--device', 'd', '--store', `file:${dir}`], ndjson(...Array.from({ length: 50 }, (_, i) => ({ kind: 'vqIndex', index: 0, lastAvailIdx: i }))));
    const ok = await devrec(['verify', '--store', `file:${dir}`]);
    expect(ok.code).to.equal(0);
    expect(ok.stdout).to.contain('ok: every record checks out');
    const seg = readdirSync(dir).find((n) => n.startsWith('seg-'))!;
    const buf = readFileSync(path.join(dir, seg));
    buf[40] ^= 0x10;
    writeFileSync(path.join(dir, seg), buf);
    const bad = await devrec(['verify', '--store', `file:${dir}`]);
    expect(bad.code).to.equal(1);
    expect(bad.stdout).to.match(new RegExp(`DAMAGE ${seg} offset 16: CRC mismatch`));
  });

  it('lint exits 2 on an error rule, bisect finds the first failure, log --explain shows the raw access', async function () {
    const store = `file:${tmpDir()}`;
    const raw = (offset: number, direction: string, value: string) => ({ kind: 'registerAccess', transport: 'pci-modern', region: 'common-cfg', bar: 4, offset, width: 1, direction, value, timestampNs: String(1000 + offset) });
    const events = ndjson(
      { kind: 'identified', type: 'net', transport: 'pci-modern', actor: 'vmm' },
      { ...raw(20, 'write', '0x0'), actor: 'guest-driver' },
      { kind: 'statusWritten', status: 0, actor: 'guest-driver', timestampNs: '1020' },
      { kind: 'statusWritten', status: 1, actor: 'guest-driver', timestampNs: '2000' },
      { kind: 'statusWritten', status: 7, actor: 'guest-driver', timestampNs: '3000' },
    );
    expect((await devrec(['record', '--device', 'n', '--store', store], events)).code).to.equal(0);
    const l = await devrec(['lint', 'n', '--store', store]);
    expect(l.code).to.equal(2);
    expect(l.stdout).to.contain('#3 error reset-not-awaited');
    expect(l.stdout).to.contain('#4 error driver-ok-without-features-ok');
    const lj = JSON.parse((await devrec(['lint', 'n', '--store', store, '--json'])).stdout);
    expect(lj.findings.map((f: { rule: string }) => f.rule)).to.deep.equal(['reset-not-awaited', 'driver-ok-without-features-ok']);
    const b = await devrec(['bisect', 'n', '--rule', 'driver-ok-without-features-ok', '--store', store]);
    expect(b.code).to.equal(2);
    expect(b.stdout).to.contain('first fails at revision 4');
    expect(b.stdout).to.contain('driver wrote status 0 (reset) through common config (BAR 4) offset 0x14');
    expect(b.stdout).to.contain('offset 0x14 (device_status)'); // names from the register map (src/model/registers.ts)
    const never = await devrec(['bisect', 'n', '--rule', 'mq-without-ctrl-vq', '--store', store]);
    expect(never.code).to.equal(0);
    expect(never.stdout).to.contain('never fails');
    const unknown = await devrec(['bisect', 'n', '--rule', 'nope', '--store', store]);
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.contain('--rule "nope" is not a rule');
  });

  it('import qemu-trace makes one stream per device; lint and state work on them', async function () {
    const store = `file:${tmpDir()}`;
    const r = await devrec(['import', 'qemu-trace', 'streams/qemu/pc-legacy-msix/trace.log.gz', '--store', store]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/virtio-net-pci@00:02\.0\s+net\s+pci-legacy\s+\d+ events/);
    const again = await devrec(['import', 'qemu-trace', 'streams/qemu/pc-legacy-msix/trace.log.gz', '--store', store]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.contain('is already in the store');
    const prefixed = await devrec(['import', 'qemu-trace', 'streams/qemu/pc-legacy-msix/trace.log.gz', '--store', store, '--prefix', 'vm2/', '--json']);
    expect(JSON.parse(prefixed.stdout).devices.map((d: { id: string }) => d.id)).to.include('vm2/virtio-blk-pci@00:04.0');
    expect((await devrec(['lint', 'virtio-net-pci@00:02.0', '--store', store])).code).to.equal(0);
    const st = JSON.parse((await devrec(['state', 'virtio-net-pci@00:02.0', '--store', store, '--json'])).stdout);
    expect(st.config.startsWith('525400de0e01')).to.equal(true);
    const missing = await devrec(['import', 'qemu-trace', 'nope.log', '--store', store]);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.contain('nope.log: no such file');
  });

  it('import qemu-state and inspect read a real QEMU device-state stream', async function () {
    const store = `file:${tmpDir()}`;
    const r = await devrec(['import', 'qemu-state', 'streams/qemu/pc-legacy-msix/devstate.bin.gz', '--store', store, '--json']);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout).devices.map((d: { id: string }) => d.id)).to.deep.equal(['virtio-net-pci@00:02.0', 'virtio-net-pci@00:03.0', 'virtio-blk-pci@00:04.0']);
    const st = JSON.parse((await devrec(['state', 'virtio-blk-pci@00:04.0', '--store', store, '--json'])).stdout);
    expect(st).to.deep.include({ status: '0x07', transport: 'pci-legacy' });
    expect(st.features.acceptedVia).to.equal('snapshot');
    const i = await devrec(['inspect', 'streams/qemu/pc-legacy-msix/devstate.bin.gz']);
    expect(i.code, i.stderr).to.equal(0);
    expect(i.stdout).to.match(/QEMU savevm stream \(QEVM v3\)/);
    expect(i.stdout).to.contain('virtio-net-pci@00:02.0  net  pci-legacy  status 0x7  3 queues');
    const bad = path.join(tmpDir(), 'bad.bin');
    writeFileSync(bad, Buffer.concat([Buffer.from('QEVM'), Buffer.from([0, 0, 0, 3, 4, 0, 0, 0])]));
    const b = await devrec(['inspect', bad]);
    expect(b.code).to.equal(1);
    expect(b.stderr).to.match(/bad\.bin: .*offset/);
  });

  it('demo runs a lifecycle end to end on the embedded store', async function () {
    const dir = tmpDir();
    const r = await devrec(['demo', '--dir', dir, '--rounds', '100']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('state at revision 28: features negotiated');
    expect(r.stdout).to.match(/verify: \d+ records, \d+ events, every CRC and revision checks out/);
    expect(r.stdout).to.contain("QEMU's own answer (x-query-virtio-queue-status): q0 last_avail 5 used 5, q1 last_avail 9 used 9, q2 last_avail 9 used 9: the same");
    const state = JSON.parse((await devrec(['state', 'sim/virtio-net-pci@00:02.0', '--store', `file:${dir}`, '--json'])).stdout);
    expect(state.statusNames).to.deep.equal(['ACKNOWLEDGE', 'DRIVER', 'DRIVER_OK', 'FEATURES_OK']);
    expect(state.queues.map((q: { lastAvailIdx: number }) => q.lastAvailIdx)).to.deep.equal([100, 200, 0]);
    const real = JSON.parse((await devrec(['devices', '--store', `file:${dir}`, '--json'])).stdout);
    expect(real.map((d: { id: string }) => d.id)).to.deep.equal(['sim/virtio-net-pci@00:02.0', 'virtio-blk-pci@00:04.0', 'virtio-net-pci@00:02.0', 'virtio-net-pci@00:03.0']);
  });

  it('smoke, as a real process: bin/devrec (compiled dist/) runs the demo with the committed capture, and --version', async function () {
    const r = await devrecProcess(['demo', '--dir', tmpDir(), '--rounds', '20'], '', { CI: '1' });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('1. A real recording').and.contain("QEMU's own answer").and.contain('the same');
    const v = await devrecProcess(['--version']);
    expect(v.code).to.equal(0);
    expect(v.stdout.trim()).to.match(/^\d+\.\d+\.\d+$/);
  });

  it('bin/devrec: short commands run from the short bundle, the rest from the full one, each with a code cache V8 takes', async function () {
    const require = createRequire(import.meta.url);
    type Pick = { bundle: string; cache: string };
    const bin = require(path.resolve('bin/devrec')) as {
      fullBundle: string; shortBundle: string; SHORT_COMMANDS: string[]; bundleFor: (args: string[]) => Pick;
      loadCli: (o: { args: string[] }) => { bundle: string; cacheRejected: boolean; cacheUsed: string | undefined; cli: { main: (argv: string[]) => Promise<number> } };
    };
    expect(bin.bundleFor(['--version'])).to.deep.equal({ bundle: bin.shortBundle, cache: `${bin.shortBundle}.program.cache` });
    expect(bin.bundleFor([])).to.deep.equal({ bundle: bin.shortBundle, cache: `${bin.shortBundle}.program.cache` });
    expect(bin.bundleFor(['devices', '--json']).cache).to.equal(`${bin.shortBundle}.devices.cache`);
    expect(bin.bundleFor(['state', 'net0@3']).cache).to.equal(`${bin.shortBundle}.state.cache`);
    expect(bin.bundleFor(['help', 'state'])).to.deep.equal({ bundle: bin.fullBundle, cache: `${bin.fullBundle}.cache` });
    expect(bin.bundleFor(['import', 'qemu-trace', 'x'])).to.deep.equal({ bundle: bin.fullBundle, cache: `${bin.fullBundle}.cache` });
    for (const args of [['import'], ...bin.SHORT_COMMANDS.map((c) => (c === 'program' ? ['--version'] : [c]))]) {
      const loaded = bin.loadCli({ args });
      expect(loaded.bundle, args.join(' ')).to.equal(bin.bundleFor(args).bundle);
      expect(loaded.cacheUsed, args.join(' ')).to.equal(bin.bundleFor(args).cache);
      expect(loaded.cacheRejected, args.join(' ')).to.equal(false);
    }
    // the short bundle refuses, in one line, a command it does not carry (bin/devrec never asks it for one)
    const short = bin.loadCli({ args: ['devices'] }).cli;
    const stderr = process.stderr.write;
    let said = '';
    process.stderr.write = ((s: string) => ((said += s), true)) as typeof process.stderr.write;
    let code: number;
    try {
      code = await short.main(['node', 'devrec', 'import', 'qemu-trace', 'x']);
    } finally {
      process.stderr.write = stderr;
    }
    expect(code).to.equal(1);
    expect(said).to.match(/^devrec: .*import.* not in the short bundle.*\n$/);
  });
});
