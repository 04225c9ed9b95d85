// The compatibility checker's rules on synthetic devices, the profile format, and the state diff.
import { expect } from 'chai';
import { checkCompatibility, COMPAT_RULES } from '../../src/compat/check.js';
import { diffStates } from '../../src/compat/diff.js';
import { type Profile, ProfileError, deriveProfile, parseProfile, profileToJson } from '../../src/compat/profile.js';
import { featureNames } from '../../src/model/index.js';
import { type DeviceState, initialQueue, initialState, wholeConfigKnown } from '../../src/project/state.js';

function netDevice(over: { device?: bigint; accepted?: bigint; transport?: DeviceState['transport'] } = {}): DeviceState {
  const s = initialState('virtio-net-pci@00:02.0');
  s.type = 'net';
  s.virtioId = 1;
  s.transport = over.transport ?? 'pci-modern';
  s.features.device = over.device ?? 0x10130bf8024n;
  s.features.accepted = over.accepted ?? 0x10130af8024n;
  s.features.driver = s.features.accepted;
  s.features.acceptedVia = s.transport.endsWith('legacy') ? 'legacy-write' : 'features-ok';
  s.pci = { config: new Uint8Array(0), ...s.pci, vendor: 0x1af4, device: s.transport === 'pci-legacy' ? 0x1000 : 0x1041, subsystemVendor: 0x1af4, subsystem: 1, revision: s.transport === 'pci-legacy' ? 0 : 1 };
  s.config = Uint8Array.from([0x52, 0x54, 0x00, 0xde, 0x0e, 0x01, 0x01, 0x00]);
  s.configKnown = wholeConfigKnown(s.config);
  s.queues = [0, 1, 2].map((i) => ({ ...initialQueue(i), size: i === 2 ? 64 : 256, maxSize: i === 2 ? 64 : 256, enabled: true, desc: 0x1000n * BigInt(i + 1) }));
  s.numQueues = 3;
  return s;
}

const rules = (r: ReturnType<typeof checkCompatibility>) => r.findings.map((f) => f.rule);
const clone = (p: Profile): Profile => parseProfile(JSON.stringify(profileToJson(p)), 'clone.json');

describe('compat: checkCompatibility', function () {
  it('QEMU 9.2 -> 8.2: negotiated 0x1c0010130afffa7 onto a target allowing 0x179bfffe7 is incompatible, naming bits 40, 54, 55, 56', function () {
    const src = netDevice({ device: 0x1c0010130afffa7n, accepted: 0x1c0010130afffa7n });
    const target = deriveProfile(src);
    target.features.offered = 0x179bfffe7n;
    const r = checkCompatibility(src, target);
    expect(r.verdict).to.equal('incompatible');
    expect(r.allowedMoves & 2).to.equal(0);
    expect(r.limitingFactors).to.include('features');
    const f = r.findings.find((x) => x.rule === 'features-not-offered')!;
    expect(f.severity).to.equal('error');
    expect(f.message).to.contain('Features 0x1c0010130afffa7 unsupported. Allowed features: 0x179bfffe7');
    for (const s of ['bit 40 VIRTIO_F_RING_RESET', 'bit 54 VIRTIO_NET_F_GUEST_USO4', 'bit 55 VIRTIO_NET_F_GUEST_USO6', 'bit 56 VIRTIO_NET_F_HOST_USO']) {
      expect(f.message).to.contain(s);
    }
    expect(f.message).not.to.match(/bit (?!40|54|55|56)\d+ /);
  });

  it('0x300020000 decodes to CTRL_VQ VERSION_1 ACCESS_PLATFORM, also when a profile gives it by name', function () {
    expect(featureNames(0x300020000n, 'net')).to.deep.equal(['VIRTIO_NET_F_CTRL_VQ', 'VIRTIO_F_VERSION_1', 'VIRTIO_F_ACCESS_PLATFORM']);
    const p = profileToJson(deriveProfile(netDevice())) as Record<string, unknown>;
    p['provisioned'] = { deviceFeatures: ['VIRTIO_NET_F_CTRL_VQ', 'VIRTIO_F_VERSION_1', 'VIRTIO_F_ACCESS_PLATFORM'], mac: null, mtu: null, maxVqp: null };
    expect(parseProfile(JSON.stringify(p), 'p.json').provisioned!.deviceFeatures).to.equal(0x300020000n);
  });

  it('mac provisioned without VIRTIO_NET_F_MAC: "Missing features 0x20 for provided attributes"', function () {
    const src = netDevice();
    const target = deriveProfile(src);
    target.provisioned = { deviceFeatures: 0x300020000n, mac: '52:54:00:12:34:56', mtu: null, maxVqp: null };
    const r = checkCompatibility(src, target);
    const f = r.findings.find((x) => x.rule === 'provisioned-attr-without-feature')!;
    expect(f.message).to.contain('Missing features 0x20 for provided attributes');
    expect(r.verdict).to.equal('incompatible');
  });

  it('MQ without CTRL_VQ warns', function () {
    const mq = (1n << 22n) | (1n << 32n) | (1n << 5n);
    const src = netDevice({ device: mq, accepted: mq & ~(1n << 22n) });
    const r = checkCompatibility(src, deriveProfile(src));
    expect(rules(r)).to.include('mq-without-ctrl-vq');
    expect(r.findings.find((f) => f.rule === 'mq-without-ctrl-vq')!.severity).to.equal('warning');
    expect(r.verdict).to.equal('compatible-with-warnings');
    expect(r.allowedMoves).to.equal(3);
  });

  it('refuses a legacy-negotiated device on a modern-only target (no move at all)', function () {
    const src = netDevice({ transport: 'pci-legacy', device: 0x79bf8064n, accepted: 0x38af8064n });
    const target = deriveProfile(src);
    expect(checkCompatibility(src, target).verdict).to.equal('compatible');
    target.legacy = { supported: false, transitional: false, access: [], guestEndian: null, guestArch: null };
    const r = checkCompatibility(src, target);
    expect(r.verdict).to.equal('incompatible');
    expect(rules(r)).to.include.members(['legacy-onto-modern-only', 'transitional-identity']);
    expect(r.allowedMoves).to.equal(0);
  });

  it('checks the legacy guest byte order and architecture limits', function () {
    const src = netDevice({ transport: 'pci-legacy', device: 0x79bf8064n, accepted: 0x38af8064n });
    const target = deriveProfile(src);
    target.legacy.guestArch = ['x86_64'];
    target.legacy.guestEndian = ['little'];
    expect(rules(checkCompatibility(src, target))).to.include('legacy-guest-unknown');
    const r = checkCompatibility(src, target, { guestArch: 's390x', guestEndian: 'big' });
    expect(r.findings.filter((f) => f.rule === 'legacy-guest-limits')).to.have.length(2);
    expect(checkCompatibility(src, target, { guestArch: 'x86_64', guestEndian: 'little' }).verdict).to.equal('compatible');
  });

  function withPasid(offset: number, width: number): DeviceState {
    const s = netDevice();
    const c = new Uint8Array(0x200);
    const dv = new DataView(c.buffer);
    dv.setUint16(0, 0x1af4, true);
    c[0x06] = 0x10; // status: capabilities list (the recorded config space holds the chain)
    if (offset !== 0x100) dv.setUint32(0x100, 0x0e | (1 << 16) | (offset << 20), true); // ARI first: the extended list starts at 0x100
    dv.setUint32(offset, 0x1b | (1 << 16), true); // PASID, version 1, last
    dv.setUint16(offset + 4, width << 8, true);
    s.pci!.config = c;
    return s;
  }

  it('refuses a PASID capability at another offset, a missing one, and a narrower one', function () {
    const src = withPasid(0x100, 20);
    const same = deriveProfile(src);
    expect(same.capabilities).to.deep.equal([{ space: 'pcie-ext', id: 0x1b, offset: 0x100, length: 8, name: 'PASID', pasidWidth: 20 }]);
    expect(checkCompatibility(src, same).verdict).to.equal('compatible');
    const moved = checkCompatibility(src, deriveProfile(withPasid(0x140, 20)));
    expect(moved.verdict).to.equal('incompatible');
    expect(moved.findings.find((f) => f.rule === 'capability-layout')!.message).to.match(/PASID .* at 0x100 on the source, at 0x140 on the target/);
    const none = deriveProfile(src);
    none.capabilities = [];
    expect(checkCompatibility(src, none).findings.find((f) => f.rule === 'capability-layout')!.message).to.contain('missing on the target');
    expect(rules(checkCompatibility(src, deriveProfile(withPasid(0x100, 16))))).to.include('capability-layout');
  });

  it('equal devices pass: a device against its own derived profile (also through the JSON form)', function () {
    const src = netDevice();
    for (const p of [deriveProfile(src), clone(deriveProfile(src))]) {
      const r = checkCompatibility(src, p);
      expect(r).to.deep.include({ verdict: 'compatible', allowedMoves: 3, errors: 0, warnings: 0, findings: [] });
    }
  });

  it('provisioned device_features: equality, not superset', function () {
    const src = netDevice({ transport: 'vdpa', device: 0x300020000n, accepted: 0x300020000n });
    src.provisioned = { mgmtdev: 'pci/0000:02:00.0', name: 'dev1', deviceFeatures: 0x300020000n, deviceFeaturesGiven: true, mac: new Uint8Array(6), macGiven: false, mtu: 0, mtuGiven: false, maxVqp: 0, maxVqpGiven: false };
    const target = deriveProfile(src);
    expect(checkCompatibility(src, target).verdict).to.equal('compatible');
    target.provisioned!.deviceFeatures = 0x300420000n;
    target.features.offered = 0x300420000n;
    const r = checkCompatibility(src, target);
    const f = r.findings.find((x) => x.rule === 'provisioned-features-differ')!;
    expect(f.message).to.contain('only the target has bit 22 VIRTIO_NET_F_MQ').and.to.contain('a superset is not compatible');
    expect(r.verdict).to.equal('incompatible');
  });

  it('passive mode (neither side provisioned) compares the actual device features, never the parent ones', function () {
    const src = netDevice({ transport: 'vdpa', device: 0x300020000n, accepted: 0x300020000n });
    src.features.parent = 0x3ffffffffn;
    const target = deriveProfile(src);
    expect(checkCompatibility(src, target).verdict).to.equal('compatible');
    target.features.offered = 0x300020020n;
    expect(rules(checkCompatibility(src, target))).to.include('passive-features-differ');
    // device features not recorded: the rule is not checked (parent features are not a stand-in), and says how to learn them
    const unknown = netDevice({ transport: 'vdpa', accepted: 0n });
    unknown.features.device = null;
    unknown.features.parent = 0x300020000n;
    const u = checkCompatibility(unknown, deriveProfile(src));
    expect(rules(u)).to.not.include('passive-features-differ');
    const nc = u.notChecked.find((n) => n.rule === 'passive-features-differ')!;
    expect(nc.needs).to.deep.equal(['features.device']);
    expect(nc.learn[0]).to.contain('vdpa dev config show');
    expect(u.verdict).to.equal('compatible');
    const parentLacks = deriveProfile(src);
    parentLacks.features.parent = 0x300000000n;
    expect(checkCompatibility(src, parentLacks).findings.find((f) => f.rule === 'parent-cannot-provision')!.message).to.contain('cannot provision a matching device');
  });

  it('provisioned attributes must match in value and presence', function () {
    const src = netDevice({ transport: 'vdpa', device: 0x300020020n, accepted: 0x300020020n });
    src.provisioned = { mgmtdev: 'vdpa_sim_net', name: 'dev1', deviceFeatures: 0x300020020n, deviceFeaturesGiven: true, mac: Uint8Array.from([0x52, 0x54, 0, 0x12, 0x34, 0x56]), macGiven: true, mtu: 1500, mtuGiven: false, maxVqp: 0, maxVqpGiven: false };
    const target = deriveProfile(src);
    expect(target.provisioned).to.deep.equal({ deviceFeatures: 0x300020020n, mac: '52:54:00:12:34:56', mtu: null, maxVqp: null });
    target.provisioned!.mac = '52:54:00:12:34:57';
    target.provisioned!.mtu = 9000;
    const msgs = checkCompatibility(src, target).findings.filter((f) => f.rule === 'provisioned-attr-mismatch').map((f) => f.message);
    expect(msgs).to.deep.equal(['provisioned mac: source 52:54:00:12:34:56, target 52:54:00:12:34:57', 'provisioned mtu: source not given, target 9000']);
  });

  it('net header size: a legacy device with MRG_RXBUF (12 bytes) onto a target without it (10 bytes)', function () {
    const src = netDevice({ transport: 'pci-legacy', device: 0x79bf8064n, accepted: 0x38af8064n });
    const target = deriveProfile(src);
    target.features.offered = src.features.device! & ~(1n << 15n);
    const r = checkCompatibility(src, target);
    expect(r.findings.find((f) => f.rule === 'net-header-size')!.message).to.contain('12-byte virtio-net headers; with the features the target offers it would use 10');
  });

  it('queues: fewer queues, smaller maximum, packed vs split; MQ pairs; VFIO STOP_COPY; persona', function () {
    const src = netDevice();
    const t1 = deriveProfile(src);
    t1.queues = { count: 2, maxSizes: [128, 256], split: true, packed: false };
    expect(rules(checkCompatibility(src, t1))).to.include.members(['queue-count', 'queue-size']);
    const packed = netDevice({ device: 0x10530bf8024n, accepted: 0x10530af8024n });
    const t2 = deriveProfile(packed);
    t2.queues.packed = false;
    expect(rules(checkCompatibility(packed, t2))).to.include('ring-layout');
    const mqBits = 0x100006a0000n | (1n << 22n);
    const mq = netDevice({ device: mqBits, accepted: mqBits });
    mq.config = Uint8Array.from([0x52, 0x54, 0, 0xde, 0x0e, 0x01, 1, 0, 2, 0]);
    mq.queues = [0, 1, 2, 3, 4].map((i) => ({ ...initialQueue(i), size: 256, maxSize: 256, enabled: true }));
    expect(checkCompatibility(mq, deriveProfile(mq)).verdict).to.equal('compatible');
    const t3 = deriveProfile(mq);
    t3.queues = { count: 7, maxSizes: [256, 256, 256, 256, 256, 256, 256], split: true, packed: false };
    expect(checkCompatibility(mq, t3).findings.find((f) => f.rule === 'net-max-vqp')!.message).to.contain('max_virtqueue_pairs 2 on the source, 3 on the target');
    const t4 = deriveProfile(src, { vfioFlags: 7 });
    t4.transport = 'vfio';
    t4.vfio = { migrationFlags: 2 };
    expect(rules(checkCompatibility(src, t4, { vfioFlags: 7 }))).to.include('vfio-stop-copy');
    const t5 = deriveProfile(src, { persona: { id: 'acme-net', version: '1' } });
    expect(checkCompatibility(src, t5, { persona: { id: 'acme-net', version: '1' } }).verdict).to.equal('compatible');
    t5.persona = { id: 'acme-net', version: '2' };
    expect(checkCompatibility(src, t5, { persona: { id: 'acme-net', version: '1' } }).findings.find((f) => f.rule === 'persona-mismatch')!.message)
      .to.equal('persona mismatch: source acme-net 1, target acme-net 2');
  });

  it('every rule has an id, a reference and a fix hint; ids are unique', function () {
    const ids = COMPAT_RULES.map((r) => r.id);
    expect(new Set(ids).size).to.equal(ids.length);
    for (const r of COMPAT_RULES) expect(r.reference && r.fix && r.summary, r.id).to.be.ok;
  });
});

describe('compat: profile format', function () {
  const good = () => profileToJson(deriveProfile(netDevice())) as Record<string, any>;
  const err = (obj: unknown) => {
    try {
      parseProfile(typeof obj === 'string' ? obj : JSON.stringify(obj), 'target.json');
    } catch (e) {
      expect(e).to.be.instanceOf(ProfileError);
      return (e as Error).message;
    }
    throw new Error('parsed');
  };

  it('names the file and the field', function () {
    expect(err('{')).to.equal('target.json: line 1, column 2: not valid JSON: "}" expected');
    // every syntax error has a line and column, also where JSON.parse names no position
    expect(err('{\n  "profileVersion": 1,\n  "deviceType": x\n}')).to.equal('target.json: line 3, column 17: not valid JSON: unexpected character');
    expect(err({ ...good(), profileVersion: 9 })).to.contain('target.json: field "profileVersion": profile version 9');
    const { features: _f, ...noFeatures } = good();
    expect(err(noFeatures)).to.equal('target.json: field "features": missing');
    expect(err({ ...good(), queues: { count: 3, maxSizes: [256, 'big', 64] } })).to.equal('target.json: field "queues.maxSizes[1]": expected an integer 0..32768, got "big"');
    expect(err({ ...good(), features: { offered: '12g' } })).to.contain('field "features.offered": expected a "0x..." hex mask');
    expect(err({ ...good(), features: { offered: ['VIRTIO_BLK_F_RO'] } })).to.contain('field "features.offered": feature VIRTIO_BLK_F_RO belongs to blk, not net');
    expect(err({ ...good(), transport: 'usb' })).to.contain('field "transport": expected one of');
    expect(err({ ...good(), colour: 'red' })).to.contain('field "colour": unknown field');
    expect(err({ ...good(), provisioned: { mac: '52:54:00' } })).to.contain('field "provisioned.mac"');
  });

  it('accepts hand-written profiles with hex strings and one size for all queues', function () {
    const p = parseProfile(JSON.stringify({
      profileVersion: 1, deviceType: 'net', transport: 'pci-modern',
      legacy: { supported: true, transitional: true, access: ['admin-cmd'], guestEndian: ['little'], guestArch: ['x86_64'] },
      pci: { vendor: '0x1af4', device: '0x1000', subsystemVendor: '0x1af4', subsystem: 1, revision: 0 },
      capabilities: [{ space: 'pcie-ext', id: '0x1b', offset: '0x100', length: 8, pasidWidth: 20 }],
      persona: { id: 'acme-virtio-net', version: '2' },
      features: { offered: '0x300020000', parent: ['VIRTIO_NET_F_CTRL_VQ', 'VIRTIO_NET_F_MQ', 'VIRTIO_F_VERSION_1', 'VIRTIO_F_ACCESS_PLATFORM'] },
      provisioned: { deviceFeatures: '0x300020000', mac: null, mtu: null, maxVqp: null },
      queues: { count: 3, maxSizes: 256 }, msixVectors: 4, configSize: 12, vfio: { migrationFlags: 7 },
    }), 'hand.json');
    expect(p.pci).to.deep.equal({ vendor: 0x1af4, device: 0x1000, subsystemVendor: 0x1af4, subsystem: 1, revision: 0 });
    expect(p.queues).to.deep.equal({ count: 3, maxSizes: [256, 256, 256], split: true, packed: false });
    expect(p.features.parent).to.equal(0x300420000n);
  });
});

describe('compat: diffStates', function () {
  it('classes differences: features by name and bit, queues, config fields, provenance', function () {
    const a = netDevice();
    const b = netDevice({ device: 0x10130bf8024n | (1n << 3n), accepted: 0x10130af8024n });
    b.device = 'other';
    b.config = Uint8Array.from([0x52, 0x54, 0x00, 0xde, 0x0e, 0x02, 0x00, 0x00]);
    b.configKnown = wholeConfigKnown(b.config);
    b.queues[0]!.maxSize = 1024;
    a.queues[1]!.lastAvailIdx = 3;
    b.queues[1]!.lastAvailIdx = 7;
    b.queues[2]!.usedIdx = 5; // unknown on A
    const d = diffStates(a, b).differences;
    const find = (p: string) => d.filter((x) => x.path === p);
    expect(find('features.offered')).to.deep.equal([{ path: 'features.offered', class: 'abi', change: 'only-in-b', a: false, b: true, bit: 3, name: 'VIRTIO_NET_F_MTU' }]);
    expect(find('config.mac')[0]).to.deep.include({ class: 'abi', a: '52:54:00:de:0e:01', b: '52:54:00:de:0e:02' });
    expect(find('config.status')[0]).to.deep.include({ class: 'runtime', a: '0x1', b: '0x0' });
    expect(find('queues.0.maxSize')[0]).to.deep.include({ class: 'abi', a: 256, b: 1024 });
    expect(find('queues.1.lastAvailIdx')[0]).to.deep.include({ class: 'runtime', a: 3, b: 7 });
    expect(find('queues.2.usedIdx')[0]).to.deep.include({ class: 'unknown', a: null, b: 5 });
    expect(find('provenance.device')[0]).to.deep.include({ class: 'provenance', a: 'virtio-net-pci@00:02.0', b: 'other' });
    expect(diffStates(netDevice(), netDevice()).differences).to.deep.equal([]);
  });

  it('decodes blk config fields', function () {
    const a = initialState('blk');
    a.type = 'blk';
    a.config = Uint8Array.from(Buffer.from('008000000000000000000000fe0000002000103f00020000', 'hex'));
    a.configKnown = wholeConfigKnown(a.config);
    const b = { ...a, config: Uint8Array.from(Buffer.from('004000000000000000000000800000002000103f00100000', 'hex')) };
    // offered features not known: only capacity (no feature needed) is a value; the others are null on both sides
    expect(diffStates(a, b).differences.map((x) => [x.path, x.a, x.b])).to.deep.equal([['config.capacity', 32768, 16384]]);
    // offered SEG_MAX, GEOMETRY, BLK_SIZE (bits 2, 4, 6)
    const offered = { ...a.features, device: (1n << 2n) | (1n << 4n) | (1n << 6n) };
    const d = diffStates({ ...a, features: offered }, { ...b, features: offered }).differences.map((x) => [x.path, x.a, x.b]);
    expect(d).to.deep.equal([['config.blk_size', 512, 4096], ['config.capacity', 32768, 16384], ['config.seg_max', 254, 128]]);
  });
});
