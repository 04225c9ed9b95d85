// One interface across commands, as a table: every command that prints a result takes --json and its JSON keeps
// the radix policy (docs/state.md, "Numbers in JSON"); every command that names a device takes ID@N; export
// leaves the recording as it was; `vfio resume` takes back a source that `export --record` left in STOP.
// Inputs: the real QEMU 7.2 capture pc-modern-net-blk (trace and device-state stream).
import { expect } from 'chai';
import path from 'node:path';
import { devrec, type Run } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

const CAPTURE = 'streams/qemu/pc-modern-net-blk';
const NET = 'virtio-net-pci@00:02.0';

/** Keys whose values are register values, masks, addresses or ids: "0x..." strings (or null when unknown). */
const HEX_KEYS = new Set(['status', 'features', 'accepted', 'offered', 'mask', 'allowedMoves', 'flags', 'vfioFlags',
  'pciVendor', 'pciDevice', 'pciSubsystemVendor', 'pciSubsystem', 'pciRevision', 'desc', 'pfn', 'deviceFeatures']);
/** Keys whose values are counts, indices, sizes or revisions: numbers (or null when unknown). */
const COUNT_KEYS = new Set(['revision', 'events', 'bytes', 'size', 'index', 'offset', 'length', 'rounds', 'copied', 'lines',
  'sections', 'numQueues', 'firstRevision', 'lastRevision', 'snapshotRevision', 'precopyBytes', 'stopCopyBytes', 'errors', 'warnings',
  'findings', 'recorded', 'records', 'segments', 'streams', 'points', 'bucketWidth', 'from', 'to', 'targetRevision', 'sourceRevision']);

/** Keys whose values are byte strings (hex bytes, no 0x): digits only is fine there. */
const BYTE_KEYS = new Set(['data', 'config', 'vlans', 'pba', 'table', 'mac', 'sha256', 'computed', 'bytesHex', 'written', 'configKnown']);
/** Objects that map names to counts (report's markers per class). */
const COUNT_MAPS = new Set(['markers']);

/** Every way a JSON value breaks the radix policy, with its path. */
export function radixViolations(v: unknown, at = '$', key = ''): string[] {
  if (v === null || typeof v === 'boolean') return [];
  if (Array.isArray(v)) return v.flatMap((x, i) => radixViolations(x, `${at}[${i}]`, key));
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    // a diff record {path, a, b}: the values are those of the field the path names (`provenance.timestampNs`)
    const leaf = typeof o['path'] === 'string' && ('a' in o || 'b' in o) ? (o['path'] as string).split('.').at(-1)! : undefined;
    return Object.entries(o).flatMap(([k, x]) => radixViolations(x, `${at}.${k}`, COUNT_MAPS.has(key) ? 'count' : leaf !== undefined && (k === 'a' || k === 'b') ? leaf : k));
  }
  if (BYTE_KEYS.has(key) && typeof v === 'string' && /^([0-9a-f]{2})*$/.test(v)) return [];
  const bad = (why: string) => [`${at} = ${JSON.stringify(v)}: ${why}`];
  if (key === 'timestampNs') return typeof v === 'string' && /^\d+$/.test(v) ? [] : bad('timestampNs is the integer ns as a decimal string');
  if (key === 'time' || key === 'timestamp') return typeof v === 'string' && !Number.isNaN(Date.parse(v)) && /^\d{4}-\d\d-\d\dT/.test(v) ? [] : bad('times are ISO 8601');
  if (typeof v === 'string') {
    if (/^-?\d+$/.test(v) && v.length > 0) return bad('a number written as a decimal string');
    if (/^0[xX]/.test(v) && !/^0x[0-9a-f]+$/.test(v)) return bad('hex is lower-case 0x...');
    if (COUNT_KEYS.has(key) && /^0x/.test(v)) return bad(`${key} is a count: a number`);
    return [];
  }
  if (typeof v === 'number') {
    if (HEX_KEYS.has(key)) return bad(`${key} is a register value, mask or id: "0x..."`);
    if (!Number.isSafeInteger(v) && !COUNT_KEYS.has(key) && !Number.isFinite(v)) return bad('not a finite number');
    return [];
  }
  return [];
}

const json = (r: Run, what: string): unknown => {
  expect(r.code, `${what}: ${r.stderr}`).to.be.oneOf([0, 2]);
  const text = r.stdout.trim();
  try {
    // pretty JSON starts "{\n" or "["; NDJSON (log, tail) is one compact object a line
    return text.startsWith('[') || text.startsWith('{\n') ? JSON.parse(text) : text.split('\n').map((l) => JSON.parse(l));
  } catch (e) {
    throw new Error(`${what}: stdout is not JSON: ${text.slice(0, 200)}`);
  }
};

describe('CLI: one interface (ID@N, --json, radix policy, read-only export)', function () {
  this.timeout(120000);
  let dir: string;
  let store: string;
  let head: number;

  before(async function () {
    dir = tmpDir();
    store = `file:${path.join(dir, 'store')}`;
    const imp = await devrec(['import', 'qemu-trace', `${CAPTURE}/trace.log.gz`, '--store', store, '--json']);
    expect(imp.code, imp.stderr).to.equal(0);
    head = (json(await devrec(['devices', '--store', store, '--json']), 'devices') as { id: string; revision: number }[]).find((d) => d.id === NET)!.revision;
  });

  it('export leaves the revision unchanged; export --record moves it and leaves STOP; vfio resume goes back to RUNNING', async function () {
    const file = path.join(dir, 'ro.devrec');
    for (const args of [['export', NET, '-o', file], ['export', `${NET}@300`, '-o', file, '--format', 'qemu-vfio'], ['export', NET, '--at', '300', '-o', file, '--json']]) {
      const r = await devrec([...args, '--store', store]);
      expect(r.code, r.stderr).to.equal(0);
      const now = (json(await devrec(['devices', '--store', store, '--json']), 'devices') as { id: string; revision: number }[]).find((d) => d.id === NET)!.revision;
      expect(now, args.join(' ')).to.equal(head);
    }
    const other = `file:${path.join(dir, 'record')}`;
    expect((await devrec(['import', 'qemu-trace', `${CAPTURE}/trace.log.gz`, '--store', other])).code).to.equal(0);
    const rec = json(await devrec(['export', NET, '-o', file, '--record', '--json', '--store', other]), 'export --record') as { vfio: string[]; recorded: boolean };
    expect(rec.vfio).to.deep.equal(['RUNNING', 'PRE_COPY', 'PRE_COPY_P2P', 'STOP_COPY', 'STOP']);
    expect(rec.recorded).to.equal(true);
    expect((json(await devrec(['vfio', 'show', NET, '--json', '--store', other]), 'vfio show') as { vfioState: string }).vfioState).to.equal('STOP');
    const refused = await devrec(['migrate', 'send', NET, '--to', '127.0.0.1:9', '--store', other]);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/in VFIO STOP/);
    const resumed = json(await devrec(['vfio', 'resume', NET, '--json', '--store', other]), 'vfio resume') as { vfio: string[]; recorded: number };
    expect(resumed.vfio).to.deep.equal(['STOP', 'RUNNING_P2P', 'RUNNING']);
    expect((json(await devrec(['vfio', 'show', NET, '--json', '--store', other]), 'vfio show') as { vfioState: string }).vfioState).to.equal('RUNNING');
    const again = await devrec(['vfio', 'resume', NET, '--store', other]);
    expect(again.stdout).to.contain('already RUNNING: nothing recorded');
    // the kernel's names in the event log too, and `record` takes them back
    const log = json(await devrec(['log', NET, '--json', '--store', other]), 'log') as { kind: string; from?: string; to?: string }[];
    expect(log.filter((e) => e.kind === 'vfioState').map((e) => e.to)).to.deep.equal(['PRE_COPY', 'PRE_COPY_P2P', 'STOP_COPY', 'STOP', 'RUNNING_P2P', 'RUNNING']);
    const copy = await devrec(['record', '--device', 'again', '--store', other], log.map((e) => JSON.stringify(e)).join('\n') + '\n');
    expect(copy.code, copy.stderr).to.equal(0);
  });

  it('ID@N in every command that names a device, the same state as --at N', async function () {
    const at = 300; // after the driver's reset: before it the status is unknown and export refuses
    const spec = `${NET}@${at}`;
    const want = json(await devrec(['state', NET, '--at', String(at), '--json', '--store', store]), 'state --at') as { revision: number };
    expect(want.revision).to.equal(at);
    const profileFile = path.join(dir, 'profile.json');
    expect((await devrec(['profile', NET, '-o', profileFile, '--store', store])).code).to.equal(0);
    const cases: [string, string[], (out: unknown, r: Run) => void][] = [
      ['state', ['state', spec, '--json'], (o) => expect(o).to.deep.equal(want)],
      ['log', ['log', spec, '--json'], (o) => expect((o as { revision: number }[]).at(-1)!.revision).to.equal(at)],
      ['lint', ['lint', spec, '--json'], (o) => expect(o).to.include({ revision: at, events: at + 1 })],
      ['bisect', ['bisect', spec, '--rule', 'reset-not-awaited', '--json'], (o) => expect((o as { events?: number; failsAt: number | null }).failsAt === null ? (o as { events: number }).events : 0).to.be.at.most(at + 1)],
      ['profile', ['profile', spec], (o) => expect(o).to.be.an('object')],
      ['check', ['check', '--device', spec, '--target', profileFile, '--json'], (o) => expect((o as { source: { revision: number } }).source.revision).to.equal(at)],
      ['diff', ['diff', spec, `${NET}@${at}`, '--json'], (o) => expect((o as { differences: unknown[] }).differences).to.deep.equal([])],
      ['export', ['export', spec, '-o', path.join(dir, 'at.devrec'), '--json'], (o) => expect(o).to.include({ revision: at })],
      ['report', ['report', spec, '--html', path.join(dir, 'r.html'), '--json'], (o) => expect(o).to.include({ to: at })],
      ['vfio show', ['vfio', 'show', spec, '--json'], (o) => expect(o).to.include({ revision: at })],
      ['tail', ['tail', spec, '--json', '--count', '2'], (o) => expect((o as { revision: number }[]).map((e) => e.revision)).to.deep.equal([at, at + 1])],
    ];
    for (const [name, args, check] of cases) {
      const r = await devrec([...args, '--store', store], '', { CI: '1' });
      check(json(r, name), r);
    }
    // the address alone is an alias when one device has it
    expect(json(await devrec(['state', '00:02.0@300', '--json', '--store', store]), 'alias')).to.deep.equal(want);
    expect(json(await devrec(['lint', '00:02.0', '--json', '--store', store]), 'alias lint')).to.include({ device: NET });
    // past the head, and both forms at once: one line each
    for (const args of [['state', `${NET}@99999`], ['state', spec, '--at', '3'], ['log', `${NET}@99999`], ['lint', `nope@3`]]) {
      const r = await devrec([...args, '--store', store]);
      expect(r.code, args.join(' ')).to.equal(1);
      expect(r.stderr.trim().split('\n'), args.join(' ')).to.have.length(1);
    }
    // the two commands that act on the device as it is now take the id or its alias, and refuse @N in one line
    for (const args of [['vfio', 'resume', spec], ['migrate', 'send', spec, '--to', '127.0.0.1:9'], ['migrate', 'send', '00:02.0@300', '--to', '127.0.0.1:9']]) {
      const r = await devrec([...args, '--store', store]);
      expect(r.code, args.join(' ')).to.equal(1);
      expect(r.stderr.trim().split('\n'), args.join(' ')).to.have.length(1);
      expect(r.stderr, args.join(' ')).to.contain(`give ${NET} without @N`);
    }
  });

  it('--json on every command that prints a result, each keeping the radix policy', async function () {
    const ro = `file:${path.join(dir, 'json')}`;
    const file = path.join(dir, 'j.devrec');
    const profileFile = path.join(dir, 'jprofile.json');
    const ndjson = JSON.stringify({ kind: 'statusWritten', status: 1, time: '2099-11-21T10:00:00Z' }) + '\n';
    const commands: string[][] = [
      ['import', 'qemu-trace', `${CAPTURE}/trace.log.gz`, '--store', ro, '--json'],
      ['import', 'qemu-state', `${CAPTURE}/devstate.bin.gz`, '--prefix', 'state/', '--store', ro, '--json'],
      ['record', '--device', 'rec', '--store', ro, '--json'],
      ['devices', '--store', ro, '--json'],
      ['log', NET, '--store', ro, '--json'],
      ['log', `state/${NET}`, '--store', ro, '--json'],
      ['state', NET, '--store', ro, '--json'],
      ['lint', NET, '--store', ro, '--json'],
      ['lint', '--rules', '--json'],
      ['bisect', NET, '--rule', 'reset-not-awaited', '--store', ro, '--json'],
      ['verify', '--store', ro, '--json'],
      ['profile', NET, '-o', profileFile, '--store', ro, '--json'],
      ['check', '--device', NET, '--target', profileFile, '--store', ro, '--json'],
      ['diff', NET, `${NET}@10`, '--store', ro, '--json'],
      ['export', NET, '-o', file, '--store', ro, '--json'],
      ['inspect', file, '--json'],
      ['inspect', `${CAPTURE}/devstate.bin.gz`, '--json'],
      ['check', file, '--target', profileFile, '--json'],
      ['import', 'stream', file, '--as', 'imported', '--store', ro, '--json'],
      ['report', NET, '--html', path.join(dir, 'j.html'), '--store', ro, '--json'],
      ['copy', '--from', ro, '--to', `file:${path.join(dir, 'copy')}`, '--json'],
      ['vfio', 'show', NET, '--store', ro, '--json'],
      ['vfio', 'resume', NET, '--store', ro, '--json'],
      ['tail', NET, '--from', '0', '--count', '3', '--store', ro, '--json'],
    ];
    const problems: string[] = [];
    for (const args of commands) {
      const r = await devrec(args, args[0] === 'record' ? ndjson : '', { CI: '1' });
      const out = json(r, args.join(' '));
      problems.push(...radixViolations(out).map((p) => `${args.slice(0, 2).join(' ')}: ${p}`));
    }
    expect(problems).to.deep.equal([]);
  });

  it('--json on the vDPA and migration commands too (listen is a real process: send needs its port), each keeping the radix policy', async function () {
    const src = `file:${path.join(dir, 'mig-src')}`;
    const dst = `file:${path.join(dir, 'mig-dst')}`;
    const prof = path.join(dir, 'vdpa-target.json');
    expect((await devrec(['import', 'qemu-trace', `${CAPTURE}/trace.log.gz`, '--store', src])).code).to.equal(0);
    const outputs: [string, unknown][] = [];
    const vdpaProfile = await devrec(['vdpa', 'profile', 'streams/vdpa/blk']);
    outputs.push(['vdpa profile', json(vdpaProfile, 'vdpa profile')]);
    (await import('node:fs')).writeFileSync(prof, vdpaProfile.stdout);
    for (const args of [
      ['vdpa', 'check-add', '--target', prof, '--json', 'name', 'vduse0', 'mgmtdev', 'vduse'],
      ['import', 'vdpa', 'streams/vdpa/blk-mq2', '--store', `file:${path.join(dir, 'vdpa-store')}`, '--json'],
    ]) outputs.push([args.slice(0, 2).join(' '), json(await devrec(args, '', { CI: '1' }), args.join(' '))]);
    // migrate listen --json --once in a child process; its first line gives the port, then migrate send --json
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [path.resolve('bin/devrec'), 'migrate', 'listen', '--port', '0', '--json', '--once', '--store', dst], { env: { ...process.env, CI: '1' } });
    let listenOut = '';
    let listenErr = '';
    child.stderr.on('data', (d) => (listenErr += d));
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        listenOut += d;
        if (listenOut.includes('\n')) resolve((JSON.parse(listenOut.split('\n')[0]!) as { port: number }).port);
      });
      void exited.then(() => reject(new Error(`listen exited early: ${listenOut} ${listenErr}`)));
    });
    outputs.push(['migrate send', json(await devrec(['migrate', 'send', NET, '--to', `127.0.0.1:${port}`, '--store', src, '--json'], '', { CI: '1' }), 'migrate send')]);
    expect(await exited, listenErr).to.equal(0);
    outputs.push(['migrate listen', listenOut.trim().split('\n').map((l) => JSON.parse(l))]);
    expect(outputs.map(([name, out]) => radixViolations(out).map((p) => `${name}: ${p}`)).flat()).to.deep.equal([]);
  });

  it('the radix check fails on what the policy forbids', function () {
    expect(radixViolations({ status: 15 })).to.have.length(1);
    expect(radixViolations({ features: '4294967296' })).to.have.length(1);
    expect(radixViolations({ revision: '0x10' })).to.have.length(1);
    expect(radixViolations({ timestampNs: '0x10' })).to.have.length(1);
    expect(radixViolations({ pciVendor: '0x1AF4' })).to.have.length(1);
    expect(radixViolations({ status: '0x0f', revision: 16, timestampNs: '16', time: null, pciVendor: '0x1af4' })).to.deep.equal([]);
    // a diff record's values are checked as the field its path names
    expect(radixViolations({ path: 'queues.0.pfn', a: 0, b: '0x10' })).to.have.length(1);
    expect(radixViolations({ path: 'provenance.timestampNs', a: '1712', b: '235' })).to.deep.equal([]);
    expect(radixViolations({ configFields: { status: 1 } })).to.have.length(1);
  });

  it('lint --rules lists every rule with its reference; findings cite each reference once', async function () {
    const rules = await devrec(['lint', '--rules']);
    expect(rules.code).to.equal(0);
    expect(rules.stdout).to.contain('reset-not-awaited').and.contain('ref: virtio 1.3');
    expect(rules.stdout).to.not.match(/seed-|anchors|reference\//);
    const l = await devrec(['lint', NET, '--store', store]);
    const refs = l.stdout.split('\n').filter((x) => x.trim().startsWith('ref: '));
    expect(new Set(refs).size).to.equal(refs.length);
  });
});
