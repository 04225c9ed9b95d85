// `devrec copy` as users run it (bin/devrec in a child process), between embedded stores: the CLI cannot reach
// the in-process KurrentDB test double, so the KurrentDB side of copying is tested through the library
// (copy.spec.ts); here the command's own behaviour: summary, --json, resume, refusal, errors, exit codes.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { tmpDir } from '../helpers/tmp.js';
import { devrec, type Run } from '../helpers/cli.js';


const DEV = 'virtio-net-pci@00:02.0';

describe('CLI: devrec copy (embedded -> embedded through bin/devrec)', function () {
  this.timeout(120000);

  it('copies, prints a summary or --json, resumes as up to date, and the state is the same on both sides', async () => {
    const a = tmpDir();
    const demo = await devrec(['demo', '--dir', a, '--rounds', '30']);
    expect(demo.code, demo.stderr).to.equal(0);
    const b = tmpDir();
    const first = await devrec(['copy', '--from', `file:${a}`, '--to', `file:${b}`, '--batch', '64']);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stderr).to.equal(''); // not a terminal: no progress
    // the demo's devices, whatever they are
    const devices = JSON.parse((await devrec(['devices', '--store', `file:${a}`, '--json'])).stdout) as { id: string; revision: number }[];
    const total = devices.reduce((n, d) => n + d.revision + 1, 0);
    expect(first.stdout.split('\n')[0]).to.equal(`copied file:${a} -> file:${b}: ${devices.length} device(s), ${total} event(s) appended, ${total} event(s) verified`);
    const dev = devices.find((d) => d.id === DEV)!;
    expect(first.stdout).to.match(new RegExp(`\\n  virtio-net-pci@00:02\\.0\\s+copied ${dev.revision + 1} \\(target had 0 of ${dev.revision + 1}\\)\\s+sha256 [0-9a-f]{16}\\s+ok\\n`));
    const again = await devrec(['copy', DEV, '--from', `file:${a}`, '--to', `file:${b}`, '--json']);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stderr).to.equal('');
    const report = JSON.parse(again.stdout);
    expect(report).to.include({ from: `file:${a}`, to: `file:${b}`, copied: 0, verified: true });
    expect(report.streams).to.have.length(1);
    expect(report.streams[0]).to.include({ stream: DEV, status: 'up-to-date', copied: 0 });
    expect(report.streams[0].sha256).to.match(/^[0-9a-f]{64}$/);
    expect(report.events).to.equal(dev.revision + 1);
    expect(report.streams[0].sourceRevision).to.equal(dev.revision);
    const devicesB = JSON.parse((await devrec(['devices', '--store', `file:${b}`, '--json'])).stdout);
    expect(devicesB).to.deep.equal(devices);
    const stateA = JSON.parse((await devrec(['state', DEV, '--store', `file:${a}`, '--json'])).stdout);
    const stateB = JSON.parse((await devrec(['state', DEV, '--store', `file:${b}`, '--json'])).stdout);
    expect(stateB).to.deep.equal(stateA);
    const logA = (await devrec(['log', DEV, '--store', `file:${a}`, '--json'])).stdout;
    expect((await devrec(['log', DEV, '--store', `file:${b}`, '--json'])).stdout).to.equal(logA);
    expect((await devrec(['verify', '--store', `file:${b}`])).code).to.equal(0);
  });

  it('refuses a target that differs, the same store twice, an unknown device and an unreachable KurrentDB, with exit 1 and one line', async () => {
    const a = tmpDir();
    expect((await devrec(['demo', '--dir', a, '--rounds', '5'])).code).to.equal(0);
    const b = tmpDir();
    const rec = await devrec(['record', '--device', DEV, '--store', `file:${b}`], '{"kind":"statusWritten","status":1}\n');
    expect(rec.code, rec.stderr).to.equal(0);
    const cases: [string[], RegExp][] = [
      [['copy', DEV, '--from', `file:${a}`, '--to', `file:${b}`], new RegExp(`device "${DEV.replace(/\./g, '\\.')}" at revision 0: the event bytes differ between source and target; refusing to copy over it`)],
      [['copy', '--from', `file:${a}`, '--to', `file:${a}/`], /--from and --to name the same store/],
      [['copy', 'nope', '--from', `file:${a}`, '--to', `file:${tmpDir()}`], /no device "nope" in file:/],
      [['copy', '--from', `file:${a}`, '--to', 'kurrentdb://127.0.0.1:1?tls=false'], /^devrec: --to KurrentDB store kurrentdb:\/\/127\.0\.0\.1:1\?tls=false: no KurrentDB node answered/],
      [['copy', '--from', 'file:/nonexistent/devrec', '--to', `file:${tmpDir()}`], /--from file:\/nonexistent\/devrec: no devrec store at/],
      [['copy', '--to', `file:${b}`], /required option '--from <url>' not specified/],
    ];
    for (const [args, msg] of cases) {
      const r = await devrec(args);
      expect(r.code, args.join(' ')).to.equal(1);
      expect(r.stderr, args.join(' ')).to.match(msg);
      expect(r.stderr, args.join(' ')).to.not.match(/\n\s+at /);
      expect(r.stdout, args.join(' ')).to.equal('');
    }
    // the refused target is untouched
    const log = (await devrec(['log', DEV, '--store', `file:${b}`, '--json'])).stdout.trim().split('\n');
    expect(log).to.have.length(1);
  });
});
