// Profiles from QEMU's own QMP answers, and check / diff on QEMU streams, with the committed real captures: each
// capture's qmp.json was answered by the QEMU that wrote its devstate.bin.gz, so the profile of each device must
// accept that device.
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { checkCompatibility } from '../../src/compat/check.js';
import { ProfileError } from '../../src/compat/profile.js';
import { profileFromQmp, qmpDevices, qmpFeatureMask, readQmpAnswers } from '../../src/compat/qmp-profile.js';
import { deviceTypeById } from '../../src/model/device-types.js';
import type { DeviceEvent } from '../../src/events/types.js';
import { applyInPlace } from '../../src/project/reducer.js';
import { initialState } from '../../src/project/state.js';
import { type QemuVirtioDevice, deviceEvents, parseQemuStream } from '../../src/sources/qemu-savevm.js';
import { devrec } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

const CAP = 'streams/qemu';
const PCI_CAPTURES = ['pc-modern-net-blk', 'pc-legacy-msix', 'pc-legacy-intx', 'pc-packed'];

function stateOf(d: QemuVirtioDevice) {
  let s = initialState(d.id);
  deviceEvents(d, 0n).events.forEach((e, i) => { s = applyInPlace(s, { ...e, revision: i } as DeviceEvent); });
  return s;
}

describe('compat: profiles from QMP answers', function () {
  it('every feature list QEMU printed in the captures (host, guest and backend features) maps to bits, the guest\'s inside the host\'s', function () {
    const variants = ['pc-modern-net-blk', 'pc-legacy-msix', 'pc-legacy-intx', 'pc-packed', 'microvm-mmio-legacy', 'microvm-mmio-modern'];
    for (const v of variants) {
      const qmp = JSON.parse(readFileSync(path.join(CAP, v, 'qmp.json'), 'utf8')) as { devices: { path: string; status: Record<string, unknown> }[] };
      expect(qmp.devices.length, v).to.be.greaterThan(0);
      for (const d of qmp.devices) {
        const type = deviceTypeById(Number(d.status['device-id']))!.name;
        const [host, guest] = ['host-features', 'guest-features', 'backend-features'].map((k) => qmpFeatureMask(d.status[k], type, `${v} ${d.path} ${k}`));
        expect(guest! & ~host!, `${v} ${d.path}`).to.equal(0n);
      }
    }
  });

  for (const cap of PCI_CAPTURES) {
    it(`${cap}: the profile of each device, from the same QEMU's answers, accepts that device's stream`, function () {
      const answers = readQmpAnswers(path.join(CAP, cap, 'qmp.json'));
      const stream = parseQemuStream(readFileSync(path.join(CAP, cap, 'devstate.bin.gz')));
      const devs = qmpDevices(answers);
      expect(devs.length).to.equal(3);
      for (const d of devs) {
        const { profile } = profileFromQmp(answers, d.qdevId!, cap);
        const src = stream.devices.find((x) => x.pciAddress === profile.qemu!.pciAddress)!;
        expect(src, d.qdevId!).to.not.equal(undefined);
        // what the device offered is what the guest saw: the accepted set is inside it
        expect(src.guestFeatures & ~profile.features.offered!, d.qdevId!).to.equal(0n);
        const r = checkCompatibility(stateOf(src), profile, { qemu: { device: src } });
        expect(r.verdict, `${cap} ${d.qdevId}: ${r.findings.map((f) => f.message).join('; ')}`).to.not.equal('incompatible');
        expect(profile.transport).to.equal(cap.startsWith('pc-legacy') ? 'pci-legacy' : 'pci-modern');
        expect(profile.legacy.supported).to.equal(cap.startsWith('pc-legacy'));
        expect(profile.pci!.revision).to.equal(null);
        expect(profile.capabilities).to.equal(null);
        expect(profile.configSize).to.equal(null);
      }
    });
  }

  it('maps descriptions back to bits, transport bits and unknown bits included', function () {
    const answers = readQmpAnswers(path.join(CAP, 'pc-modern-net-blk', 'qmp.json'));
    expect(profileFromQmp(answers, 'net0', 'x').profile.features.offered).to.equal(0x10179bf8064n);
    // bit 40 (VIRTIO_F_RING_RESET) has no description in QEMU 7.2: it comes as unknown-dev-features
    expect(profileFromQmp(answers, 'blk0', 'x').profile.features.offered! & (1n << 40n)).to.equal(1n << 40n);
    expect(qmpFeatureMask({ transports: ['VIRTIO_F_RING_RESET: Driver can reset a queue individually'], 'dev-features': ['VIRTIO_NET_F_GUEST_USO6: Driver can receive USOv6'], 'unknown-dev-features': '9223372036854775808' }, 'net', 'x'))
      .to.equal((1n << 40n) | (1n << 55n) | (1n << 63n));
  });

  it('an unknown description is an error naming it, not a silent 0', function () {
    expect(() => qmpFeatureMask({ transports: [], 'dev-features': ['VIRTIO_NET_F_WARP: Device goes faster'] }, 'net', 'answers.json: host-features'))
      .to.throw(ProfileError, 'answers.json: host-features.dev-features: unknown QEMU feature description "VIRTIO_NET_F_WARP: Device goes faster"');
    expect(() => qmpFeatureMask({ transports: [], 'dev-features': ['VIRTIO_BLK_F_MQ: Multiqueue supported'] }, 'net', 'h'))
      .to.throw(ProfileError, 'is a blk feature, the device is net');
    expect(() => qmpFeatureMask({ transports: [], 'unknown-dev-features': -1 }, 'net', 'h')).to.throw(ProfileError, 'expected an unsigned integer');
  });

  it('--device takes the qdev id, the QOM path (backend or proxy) or the PCI address', function () {
    const answers = readQmpAnswers(path.join(CAP, 'pc-modern-net-blk', 'qmp.json'));
    for (const spec of ['net1', '/machine/peripheral/net1/virtio-backend', '/machine/peripheral/net1', '00:03.0', '0000:00:03.0']) {
      expect(profileFromQmp(answers, spec, 'x').device.qdevId, spec).to.equal('net1');
    }
    expect(() => profileFromQmp(answers, 'net9', 'qmp.json')).to.throw(ProfileError, 'qmp.json: no virtio device "net9" (devices: ');
    expect(() => profileFromQmp(answers, undefined, 'qmp.json')).to.throw(ProfileError, '3 virtio devices');
  });

  it('saved answers that are not answers are refused in one line', function () {
    const dir = tmpDir();
    const f = path.join(dir, 'a.json');
    writeFileSync(f, '{"hello": 1}');
    expect(() => readQmpAnswers(f)).to.throw(ProfileError, `${f}: not saved QMP answers`);
    writeFileSync(f, '{"devrec');
    expect(() => readQmpAnswers(f)).to.throw(ProfileError, `${f}: not JSON`);
  });

  it('saved answers of the wrong shape are refused in one line naming the field, in both file forms (a real file, damaged)', function () {
    const dir = tmpDir();
    const f = path.join(dir, 'a.json');
    const good = { devrecQmpAnswers: 1, version: { qemu: { major: 7, minor: 2, micro: 0 } }, 'query-target': null, machineType: null, 'query-pci': [], 'x-query-virtio': [{ path: '/machine/peripheral/net0/virtio-backend', name: 'virtio-net' }], 'x-query-virtio-status': {}, 'x-query-virtio-queue-status': {}, 'qom-get': {} };
    writeFileSync(f, JSON.stringify(good));
    expect(readQmpAnswers(f)['x-query-virtio']).to.have.length(1);
    const damaged: [Record<string, unknown>, string][] = [
      [{ version: {} }, 'version.qemu: expected {major, minor, micro} numbers'],
      [{ 'x-query-virtio': 5 }, 'x-query-virtio: expected a list, got 5'],
      [{ 'x-query-virtio': [null] }, 'x-query-virtio[0]: expected an object, got null'],
      [{ 'x-query-virtio': [{ path: 3, name: 'virtio-net' }] }, 'x-query-virtio[0].path: expected a string, got 3'],
      [{ 'x-query-virtio': [{ path: '/p', name: 'virtio-net', mmioBase: [] }] }, 'x-query-virtio[0].mmioBase: expected a "0x..." string, got []'],
      [{ 'x-query-virtio-queue-status': { '/p': [null] } }, 'x-query-virtio-queue-status["/p"][0]: expected an object, got null'],
      [{ 'x-query-virtio-status': { '/p': 'x' } }, 'x-query-virtio-status["/p"]: expected an object, got "x"'],
    ];
    for (const [patch, want] of damaged) {
      writeFileSync(f, JSON.stringify({ ...good, ...patch }));
      expect(() => readQmpAnswers(f), want).to.throw(ProfileError, `${f}: ${want}`);
    }
    // a capture's qmp.json with a queue list that is not one
    const capture = JSON.parse(readFileSync(path.join(CAP, 'microvm-mmio-modern-noops', 'qmp.json'), 'utf8')) as { devices: Record<string, unknown>[] };
    capture.devices[0]!['queues'] = 5;
    writeFileSync(f, JSON.stringify(capture));
    expect(() => readQmpAnswers(f)).to.throw(ProfileError, 'x-query-virtio-queue-status["/machine/peripheral/blk0"]: expected a list, got 5');
  });
});

describe('CLI: check and diff on QEMU streams (raw and .gz)', function () {
  this.timeout(180000);
  it('profile --qmp-answers, then check a raw and a gzipped QEMU stream (exit 0), diff two QEMU streams', async function () {
    const dir = tmpDir();
    const gz = path.join(CAP, 'pc-modern-net-blk', 'devstate.bin.gz');
    const raw = path.join(dir, 'devstate.bin');
    writeFileSync(raw, gunzipSync(readFileSync(gz)));
    const prof = path.join(dir, 'blk0.json');
    const p = await devrec(['profile', '--qmp-answers', path.join(CAP, 'pc-modern-net-blk', 'qmp.json'), '--device', 'blk0', '-o', prof]);
    expect(p.code, p.stderr).to.equal(0);
    for (const f of [raw, gz]) {
      const r = await devrec(['check', f, '--target', prof], '', { NO_COLOR: '1' });
      expect(r.code, r.stderr + r.stdout).to.equal(0);
      expect(r.stdout).to.contain('virtio-blk-pci@00:04.0').and.contain('COMPATIBLE');
    }
    // the legacy capture's net0 profile: another device kind, refused in QEMU's words (device id byte first)
    const legacy = path.join(dir, 'legacy-net0.json');
    expect((await devrec(['profile', '--qmp-answers', path.join(CAP, 'pc-legacy-msix', 'qmp.json'), '--device', 'net0', '-o', legacy])).code).to.equal(0);
    const bad = await devrec(['check', gz, '--target', legacy], '', { NO_COLOR: '1' });
    expect(bad.code, bad.stderr).to.equal(2);
    expect(bad.stdout).to.contain('qemu-system-x86_64: get_pci_config_device: Bad config data: i=0x2 read: 41 device: 0 cmask: ff wmask: 0 w1cmask:0');
    const noDev = await devrec(['check', gz, '--target', legacy, '--device', 'net7']);
    expect(noDev.code).to.equal(1);
    expect(noDev.stderr.trim().split('\n')).to.have.length(1);
    expect(noDev.stderr).to.contain('no virtio device "net7" in this QEMU stream');

    const d = await devrec(['diff', gz, path.join(CAP, 'pc-packed', 'devstate.bin.gz'), '--device', '00:02.0', '--json']);
    expect(d.code, 'ABI-breaking differences: exit 2').to.equal(2);
    const j = JSON.parse(d.stdout) as { differences: { path: string; class: string }[] };
    expect(j.differences.some((x) => x.class === 'abi' && x.path.startsWith('features.'))).to.equal(true);
  });
});
