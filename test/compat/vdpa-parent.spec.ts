// The kernel's real refusals of `vdpa dev add` (streams/vdpa/blk/refusal-*.txt, Linux 6.12, VDUSE parent), each
// predicted by devrec from the target's `vdpa -jp mgmtdev show` / `dev show` before the command is tried.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildParentProfile, predictDevAdd, readParentProfile, type VdpaParentProfile } from '../../src/compat/vdpa-parent.js';
import { parseDevAdd, readDevShow, readMgmtdevShow, VdpaInputError } from '../../src/sources/vdpa-cli.js';
import { devrec } from '../helpers/cli.js';

const DIR = 'streams/vdpa/blk';
const json = (f: string) => JSON.parse(readFileSync(path.join(DIR, f), 'utf8'));

/** The target as the capture saw it at its end: the management device, vduse0 added, VDUSE device vduse0. */
function target(): VdpaParentProfile {
  const vduse = readFileSync(path.join(DIR, 'vduse-devices.txt'), 'utf8').trim().split('\n');
  return buildParentProfile(readMgmtdevShow(json('mgmtdev.json')), readDevShow(json('dev.json')), vduse);
}

interface Refusal { file: string; words: string[]; message: string; errno: string }

function refusals(): Refusal[] {
  return readdirSync(DIR).filter((f) => f.startsWith('refusal-')).map((file) => {
    const text = readFileSync(path.join(DIR, file), 'utf8');
    const command = /^command: (.*)$/m.exec(text)![1]!;
    const error = /^stderr: Error: (.*)$/m.exec(text)?.[1] ?? '';
    const errno = /^stderr: kernel answers: (.*)$/m.exec(text)![1]!;
    return { file, words: command.split(' '), message: error, errno };
  }).filter((r) => r.words.slice(0, 3).join(' ') === 'vdpa dev add');
}

describe('vdpa dev add: the kernel\'s refusals, predicted', () => {
  it('the capture holds the refusals this suite predicts', () => {
    expect(refusals().map((r) => r.file).sort()).to.deep.equal([
      'refusal-device-features.txt', 'refusal-duplicate.txt', 'refusal-mac-without-feature.txt', 'refusal-mac.txt',
      'refusal-max-vqp-without-mq.txt', 'refusal-max-vqp-zero.txt', 'refusal-max-vqp.txt', 'refusal-mgmtdev.txt',
      'refusal-mtu.txt', 'refusal-no-vduse-device.txt',
    ]);
  });

  for (const r of refusals()) {
    it(`${r.file}: ${r.words.slice(3).join(' ')}`, () => {
      const p = predictDevAdd(parseDevAdd(r.words), target());
      expect(p.verdict).to.equal('refused');
      expect(p.message).to.equal(r.message);
      expect(p.errno).to.equal(r.errno);
      expect(p.source).to.match(/drivers\/vdpa\//);
    });
  }

  it('net (DPDK over VDUSE): mac refused the same way, and the device the kernel took is accepted beforehand', () => {
    const d = 'streams/vdpa/net';
    const j = (f: string) => JSON.parse(readFileSync(path.join(d, f), 'utf8'));
    const t = buildParentProfile(readMgmtdevShow(j('mgmtdev.json')), [], ['net0']);
    const text = readFileSync(path.join(d, 'refusal-mac.txt'), 'utf8');
    const p = predictDevAdd(parseDevAdd(/^command: (.*)$/m.exec(text)![1]!.split(' ')), t);
    expect(`Error: ${p.message}\n${p.errno}`).to.equal(`${/^stderr: (Error: .*)$/m.exec(text)![1]}\n${/^stderr: kernel answers: (.*)$/m.exec(text)![1]}`);
    expect(predictDevAdd(parseDevAdd(['name', 'net0', 'mgmtdev', 'vduse']), t).verdict).to.equal('accepted');
  });

  it('the add the kernel took is predicted accepted on the target as it was before (no vduse0 yet)', () => {
    const before = { ...target(), devices: [] };
    const add = readFileSync(path.join(DIR, 'commands.txt'), 'utf8').split('\n').find((l) => l.split('\t')[1] === 'dev-add.txt')!;
    const p = predictDevAdd(parseDevAdd(add.split('\t')[2]!.split(' ')), before);
    expect(p).to.deep.include({ verdict: 'accepted', notes: [] });
  });

  it('a parent whose attribute mask devrec does not know: cannot tell, and says why', () => {
    const t = target();
    t.mgmtdevs.push({ name: 'pci/0000:02:00.0', supportedClasses: ['net'], maxSupportedVqs: 16, devFeatureNames: [], configAttrMask: null, configAttrMaskSource: null });
    const p = predictDevAdd(parseDevAdd(['name', 'dev1', 'mgmtdev', 'pci/0000:02:00.0', 'device_features', '0x300020020', 'mac', '52:54:00:12:34:56']), t);
    expect(p.verdict).to.equal('unknown');
    expect(p.notes.join(' ')).to.match(/config_attr_mask.*mac, device_features may be refused/);
  });

  it('several attributes without their feature bits: one mask of every missing bit', () => {
    const p = predictDevAdd(parseDevAdd(['name', 'x', 'mgmtdev', 'vduse', 'device_features', '0x300000000', 'mac', '52:54:00:12:34:56', 'mtu', '1500']), target());
    expect(p.message).to.equal('vdpa: Missing features 0x28 for provided attributes.');
  });

  it('bad command lines: one line naming the word', () => {
    const bad: [string[], RegExp][] = [
      [['name', 'x'], /no "mgmtdev MGMTDEV" given/],
      [['mgmtdev', 'vduse'], /no "name NAME" given/],
      [['name', 'x', 'mgmtdev', 'a/b/c'], /not NAME or BUS\/NAME/],
      [['name', 'x', 'mgmtdev', 'vduse', 'device_features', '0xzz'], /not a 64-bit hex mask/],
      [['name', 'x', 'mgmtdev', 'vduse', 'mtu', '65536'], /mtu "65536" is not a number from 0 to 65535/],
      [['name', 'x', 'mgmtdev', 'vduse', 'mac', '52:54:00:12:34'], /not six hex bytes/],
      [['name', 'x', 'mgmtdev', 'vduse', 'speed', '1'], /unknown option "speed"/],
      [['name', 'x', 'mgmtdev', 'vduse', 'mac'], /"mac" needs a value/],
    ];
    for (const [words, re] of bad) expect(() => parseDevAdd(words), words.join(' ')).to.throw(VdpaInputError, re);
    // iproute2's argument-consumption regression (device_features then mac): both are taken
    const ok = parseDevAdd(['name', 'x', 'mgmtdev', 'vduse', 'device_features', '0xdeadbeef', 'mac', '00:11:22:33:44:55']);
    expect([ok.deviceFeatures, ok.macGiven]).to.deep.equal([0xdeadbeefn, true]);
  });

  it('a parent profile that is not one is refused with the next step', () => {
    expect(() => readParentProfile({ kind: 'x' })).to.throw(/make one with `devrec vdpa profile`/);
    expect(() => readParentProfile({ ...target(), mgmtdevs: [{ name: 'm', configAttrMask: 'lots' }] })).to.throw(/configAttrMask "lots" is not a hex mask or null/);
  });
});

describe('devrec vdpa profile / check-add / import vdpa (CLI)', function () {
  this.timeout(120000);
  it('profile from the capture, check-add exits 2 with the kernel\'s text on a refusal, 0 when accepted', async () => {
    const d = mkdtempSync(path.join(tmpdir(), 'devrec-vdpa-cli-'));
    const prof = path.join(d, 'target.json');
    const p = await devrec(['vdpa', 'profile', DIR, '-o', prof]);
    expect(p.code, p.stderr).to.equal(0);
    const r = await devrec(['vdpa', 'check-add', '--target', prof, '--', 'vdpa', 'dev', 'add', 'name', 'vduse0', 'mgmtdev', 'vduse', 'mac', '52:54:00:12:34:56']);
    expect(r.code).to.equal(2);
    expect(r.stdout).to.include('Error: vdpa: Some provided attributes are not supported: 0x400.\n  kernel answers: Operation not supported');
    const t = JSON.parse(readFileSync(prof, 'utf8'));
    writeFileSync(prof, JSON.stringify({ ...t, devices: [] }));
    const ok = await devrec(['vdpa', 'check-add', '--target', prof, '--json', 'name', 'vduse0', 'mgmtdev', 'vduse']);
    expect(ok.code).to.equal(0);
    expect(JSON.parse(ok.stdout).verdict).to.equal('accepted');
    const bad = await devrec(['vdpa', 'check-add', '--target', prof, 'name', 'vduse0', 'mgmtdev', 'vduse', 'mtu', 'big']);
    expect(bad.code).to.equal(1);
    expect(bad.stderr.trim().split('\n')).to.have.length(1);
    const store = `file:${path.join(d, 'store')}`;
    const imp = await devrec(['import', 'vdpa', 'streams/vdpa/blk-mq2', '--store', store]);
    expect(imp.code, imp.stderr).to.equal(0);
    expect(imp.stdout).to.match(/vdpa-blk@vduse0 .* provisioning recorded/);
    const st = await devrec(['state', 'vdpa-blk@vduse1', '--json', '--store', store]);
    expect(JSON.parse(st.stdout)).to.deep.include({ transport: 'vdpa', status: '0x0f' });
    // check/profile on the real records: a device takes its own profile; vduse1 (1 queue of 256, no MQ) cannot move
    // onto vduse0 (2 queues of 128): passive mode (nothing provisioned) wants equal device features
    const prof0 = path.join(d, 'vduse0.json');
    expect((await devrec(['profile', 'vdpa-blk@vduse0', '--store', store, '-o', prof0])).code).to.equal(0);
    for (const id of ['vdpa-blk@vduse0', 'vdpa-blk@vduse1']) expect((await devrec(['export', id, '--store', store, '-o', path.join(d, `${id}.bin`)])).code).to.equal(0);
    const self = await devrec(['check', path.join(d, 'vdpa-blk@vduse0.bin'), '--target', prof0, '--json']);
    expect(self.code, self.stdout).to.equal(0);
    const other = await devrec(['check', path.join(d, 'vdpa-blk@vduse1.bin'), '--target', prof0, '--json']);
    expect(other.code).to.equal(2);
    const rules = JSON.parse(other.stdout).findings.map((f: { rule: string }) => f.rule);
    expect(rules).to.include.members(['passive-features-differ', 'queue-size']);
    expect(rules).to.not.include('parent-cannot-provision');
    const again = await devrec(['import', 'vdpa', 'streams/vdpa/blk-mq2', '--store', store]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/already in the store; import into another store or give a --prefix/);
  });
});
