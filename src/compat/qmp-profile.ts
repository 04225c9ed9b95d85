// A target's profile from a running QEMU's own answers (QMP): what its device offers before anything is loaded
// into it. Works the same from a live QMP socket (collectQmpAnswers) and from saved answers (readQmpAnswers: the
// file `devrec profile --qmp ... --save-qmp FILE` writes, or scripts/qemu/qmp-capture.py's qmp.json).
//
// What QMP tells and how it maps (docs/compat.md "Profiles from QMP"):
//  - offered features: x-query-virtio-status host-features, as QEMU's descriptions (transports, dev-features) plus
//    the bits it has no description for (unknown-dev-features); each description maps back to its bit through
//    src/model/qemu-feature-descriptions.ts, an unknown description is an error;
//  - PCI identity: query-pci (vendor, device, subsystem vendor, subsystem; the revision is not in query-pci:
//    unknown); legacy / transitional / modern-only from the device id and VIRTIO_F_VERSION_1;
//  - queues: num-vqs and each queue's vring-num-default (x-query-virtio-queue-status);
//  - MSI-X vectors: qom-get "vectors" of the PCI proxy (unknown from a qmp-capture.py file);
//  - machine type: qom-get /machine "type"; QEMU version from the greeting; architecture from query-target.
// Config size, capability chain and PCI revision are not in any QMP answer: unknown (null).
import { readFileSync } from 'node:fs';
import { deviceTypeById, featureBit, isTransitionalPciId } from '../model/index.js';
import { QEMU_FEATURE_DESCRIPTIONS } from '../model/qemu-feature-descriptions.js';
import type { QmpClient } from '../qmp/client.js';
import { parseQemuJson, qmpBigInt } from '../qmp/json.js';
import { qtreeMmioDevices } from '../qmp/qtree.js';
import { PROFILE_VERSION, type Profile, ProfileError } from './profile.js';

type Obj = Record<string, unknown>;

/** Everything devrec asks a QEMU for a profile, each value exactly as QEMU returned it. */
export interface QmpAnswers {
  devrecQmpAnswers: 1;
  /** the greeting's QMP.version */
  version: { qemu: { major: number; minor: number; micro: number }; package?: string };
  /** query-target (null: not asked) */
  'query-target': Obj | null;
  /** qom-get path=/machine property=type, e.g. "pc-i440fx-7.2-machine" (null: not asked) */
  machineType: string | null;
  'query-pci': unknown[];
  /**
   * mmioBase: a virtio-mmio device's base address, "0x..." (QMP has no query for it: collectQmpAnswers and the
   * capture script read it from `info qtree` through human-monitor-command)
   */
  'x-query-virtio': { path: string; name: string; mmioBase?: string }[];
  'x-query-virtio-status': Record<string, Obj>;
  'x-query-virtio-queue-status': Record<string, Obj[]>;
  /** qom-get answers per PCI proxy path: {vectors, ...} */
  'qom-get': Record<string, Obj>;
}

const PROXY_PROPS = ['vectors'] as const;

/** Asks a connected QEMU everything a profile needs, for every virtio device it has. */
export async function collectQmpAnswers(qmp: QmpClient): Promise<QmpAnswers> {
  const g = qmp.greeting.version;
  const answers: QmpAnswers = {
    devrecQmpAnswers: 1,
    version: { qemu: { major: g.major, minor: g.minor, micro: g.micro }, package: g.package },
    'query-target': (await qmp.execute('query-target')) as Obj,
    machineType: String(await qmp.execute('qom-get', { path: '/machine', property: 'type' })),
    'query-pci': (await qmp.execute('query-pci')) as unknown[],
    'x-query-virtio': (await qmp.execute('x-query-virtio')) as { path: string; name: string }[],
    'x-query-virtio-status': {},
    'x-query-virtio-queue-status': {},
    'qom-get': {},
  };
  if (!Array.isArray(answers['x-query-virtio'])) throw new ProfileError(`QMP ${qmp.peer}: x-query-virtio did not answer a list`);
  await addMmioBases(qmp, answers['x-query-virtio']);
  for (const d of answers['x-query-virtio']) {
    const status = (await qmp.execute('x-query-virtio-status', { path: d.path })) as Obj;
    answers['x-query-virtio-status'][d.path] = status;
    const n = typeof status['num-vqs'] === 'number' ? status['num-vqs'] : 0;
    const queues: Obj[] = [];
    for (let i = 0; i < n; i++) queues.push((await qmp.execute('x-query-virtio-queue-status', { path: d.path, queue: i })) as Obj);
    answers['x-query-virtio-queue-status'][d.path] = queues;
    const proxy = proxyPath(d.path);
    const props: Obj = {};
    for (const p of PROXY_PROPS) {
      try {
        props[p] = await qmp.execute('qom-get', { path: proxy, property: p });
      } catch {
        // a transport without the property (virtio-mmio has no vectors): unknown
      }
    }
    answers['qom-get'][proxy] = props;
  }
  return answers;
}

/**
 * Each virtio-mmio device's base (its id on microvm) from `info qtree`, tied to x-query-virtio's entry by qdev id
 * (the device is /machine/peripheral/<id>). A QEMU whose monitor refuses the command, or a device without an id,
 * leaves the base out: unknown.
 */
async function addMmioBases(qmp: QmpClient, devices: QmpAnswers['x-query-virtio']): Promise<void> {
  let text: unknown;
  try {
    text = await qmp.execute('human-monitor-command', { 'command-line': 'info qtree' });
  } catch {
    return;
  }
  if (typeof text !== 'string') return;
  const byId = new Map(qtreeMmioDevices(text).filter((m) => m.id !== null).map((m) => [`/machine/peripheral/${m.id}`, m.mmioBase]));
  for (const d of devices) {
    const base = byId.get(proxyPath(d.path));
    if (base !== undefined) d.mmioBase = `0x${base.toString(16)}`;
  }
}

export function proxyPath(backend: string): string {
  return backend.replace(/\/virtio-backend$/, '');
}

/** Saved answers: devrec's own file, or scripts/qemu/qmp-capture.py's qmp.json. */
export function readQmpAnswers(file: string): QmpAnswers {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ProfileError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  let v: unknown;
  try {
    v = parseQemuJson(text);
  } catch (e) {
    throw new ProfileError(`${file}: not JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ProfileError(`${file}: expected a JSON object of QMP answers`);
  const o = v as Obj;
  if (o['devrecQmpAnswers'] === 1) return checkedAnswers(o, file);
  if (Array.isArray(o['devices']) && Array.isArray(o['queryPci']) && typeof o['qemuVersion'] === 'string') return checkedAnswers(fromCaptureFile(o, file) as unknown as Obj, file);
  throw new ProfileError(`${file}: not saved QMP answers (expected "devrecQmpAnswers": 1 from devrec profile --save-qmp, or a qmp.json of scripts/qemu/qmp-capture.py)`);
}

/**
 * The answers when they have the shape devrec reads (a hand-edited or damaged file otherwise fails here, in one line
 * naming the field, not later inside the code that reads it).
 */
function checkedAnswers(a: Obj, file: string): QmpAnswers {
  const fail = (where: string, want: string, got: unknown): never => {
    const shown = JSON.stringify(got) ?? String(got);
    throw new ProfileError(`${file}: ${where}: expected ${want}, got ${shown.length > 60 ? `${shown.slice(0, 60)}...` : shown} (save the answers again: devrec profile --qmp ADDRESS --save-qmp FILE)`);
  };
  const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
  const version = (a['version'] as Obj | undefined)?.['qemu'];
  if (!isObj(version) || !['major', 'minor', 'micro'].every((k) => Number.isInteger(version[k]))) fail('version.qemu', '{major, minor, micro} numbers', version);
  if (!Array.isArray(a['query-pci'])) fail('query-pci', 'a list', a['query-pci']);
  const devices = a['x-query-virtio'];
  if (!Array.isArray(devices)) fail('x-query-virtio', 'a list', devices);
  (devices as unknown[]).forEach((d, i) => {
    if (!isObj(d)) return fail(`x-query-virtio[${i}]`, 'an object', d);
    if (typeof d['path'] !== 'string') fail(`x-query-virtio[${i}].path`, 'a string', d['path']);
    if (typeof d['name'] !== 'string') fail(`x-query-virtio[${i}].name`, 'a string', d['name']);
    if (d['mmioBase'] !== undefined && typeof d['mmioBase'] !== 'string') fail(`x-query-virtio[${i}].mmioBase`, 'a "0x..." string', d['mmioBase']);
  });
  for (const key of ['x-query-virtio-status', 'qom-get'] as const) {
    const m = a[key];
    if (!isObj(m)) fail(key, 'an object', m);
    for (const [k, x] of Object.entries(m as Obj)) if (x !== null && x !== undefined && !isObj(x)) fail(`${key}[${JSON.stringify(k)}]`, 'an object', x);
  }
  const queues = a['x-query-virtio-queue-status'];
  if (!isObj(queues)) fail('x-query-virtio-queue-status', 'an object', queues);
  for (const [k, list] of Object.entries(queues as Obj)) {
    if (!Array.isArray(list)) fail(`x-query-virtio-queue-status[${JSON.stringify(k)}]`, 'a list', list);
    (list as unknown[]).forEach((q, i) => isObj(q) || fail(`x-query-virtio-queue-status[${JSON.stringify(k)}][${i}]`, 'an object', q));
  }
  return a as unknown as QmpAnswers;
}

function fromCaptureFile(o: Obj, file: string): QmpAnswers {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(String(o['qemuVersion']));
  if (!m) throw new ProfileError(`${file}: field "qemuVersion": expected N.N.N, got ${JSON.stringify(o['qemuVersion'])}`);
  const devices = o['devices'] as Obj[];
  devices.forEach((d, i) => {
    if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new ProfileError(`${file}: devices[${i}]: expected an object, got ${JSON.stringify(d)}`);
  });
  const cmd = Array.isArray(o['commandLine']) ? String((o['commandLine'] as unknown[])[0] ?? '') : '';
  const arch = /qemu-system-(\w+)$/.exec(cmd)?.[1];
  const a: QmpAnswers = {
    devrecQmpAnswers: 1,
    version: { qemu: { major: Number(m[1]), minor: Number(m[2]), micro: Number(m[3]) }, package: typeof o['qemuPackage'] === 'string' ? o['qemuPackage'] : '' },
    'query-target': arch ? { arch } : null,
    machineType: typeof o['machine'] === 'string' ? `${o['machine']}-machine` : null,
    'query-pci': o['queryPci'] as unknown[],
    'x-query-virtio': devices.map((d) => ({ path: String(d['path']), name: String(d['name']), ...(typeof d['mmioBase'] === 'string' ? { mmioBase: d['mmioBase'] } : {}) })),
    'x-query-virtio-status': {},
    'x-query-virtio-queue-status': {},
    'qom-get': {},
  };
  for (const d of devices) {
    a['x-query-virtio-status'][String(d['path'])] = d['status'] as Obj;
    a['x-query-virtio-queue-status'][String(d['path'])] = (d['queues'] as Obj[]) ?? [];
  }
  return a;
}

// ---- devices ----

export interface QmpDevice {
  /** the backend's QOM path (x-query-virtio), e.g. /machine/peripheral/net0/virtio-backend */
  path: string;
  /** the PCI proxy's QOM path */
  proxy: string;
  name: string;
  qdevId: string | null;
  pci: Obj | null;
  /** bb:ss.f of the proxy (bus number as query-pci gives it) */
  pciAddress: string | null;
}

function pciDevices(list: unknown[]): Obj[] {
  const out: Obj[] = [];
  const walk = (buses: unknown[]) => {
    for (const b of buses) {
      for (const d of ((b as Obj)['devices'] as Obj[] | undefined) ?? []) {
        out.push(d);
        const bridge = d['pci_bridge'] as Obj | undefined;
        if (bridge && Array.isArray(bridge['devices'])) walk([{ devices: bridge['devices'] }]);
      }
    }
  };
  walk(list);
  return out;
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

export function qmpDevices(a: QmpAnswers): QmpDevice[] {
  const pci = pciDevices(a['query-pci'] ?? []);
  return (a['x-query-virtio'] ?? []).map((d) => {
    const proxy = proxyPath(d.path);
    const qdevId = /^\/machine\/peripheral\/([^/]+)$/.exec(proxy)?.[1] ?? null;
    const p = qdevId ? pci.find((x) => x['qdev_id'] === qdevId) ?? null : null;
    const pciAddress = p ? `${hex2(Number(p['bus']))}:${hex2(Number(p['slot']))}.${Number(p['function'])}` : null;
    return { path: d.path, proxy, name: d.name, qdevId, pci: p, pciAddress };
  });
}

/** `--device`: the qdev id (net0), a QOM path (backend or proxy), or the PCI address (00:02.0, 0000:00:02.0). */
export function selectQmpDevice(a: QmpAnswers, spec: string | undefined, input: string): QmpDevice {
  const all = qmpDevices(a);
  const names = all.map((d) => d.qdevId ?? d.path).join(', ') || 'none';
  if (spec === undefined) {
    if (all.length === 1) return all[0]!;
    throw new ProfileError(`${input}: ${all.length} virtio devices (${names}): say which with --device ID (qdev id, QOM path or PCI address)`);
  }
  const addr = spec.replace(/^0000:/, '').toLowerCase();
  const hit = all.find((d) => d.qdevId === spec || d.path === spec || d.proxy === spec || (d.pciAddress !== null && d.pciAddress === addr));
  if (!hit) throw new ProfileError(`${input}: no virtio device "${spec}" (devices: ${names})`);
  return hit;
}

// ---- features ----

const BY_DESCRIPTION = new Map(QEMU_FEATURE_DESCRIPTIONS.map(([group, bit, text]) => [text, { group, bit }]));

/** A feature list of x-query-virtio-status ({transports, dev-features, unknown-dev-features}) as a bit mask. */
export function qmpFeatureMask(list: unknown, deviceType: string, where: string): bigint {
  if (!list || typeof list !== 'object') throw new ProfileError(`${where}: expected {transports, dev-features}, got ${JSON.stringify(list)}`);
  const o = list as Obj;
  let mask = 0n;
  for (const key of ['transports', 'dev-features'] as const) {
    const texts = o[key] ?? [];
    if (!Array.isArray(texts)) throw new ProfileError(`${where}.${key}: expected a list of feature descriptions`);
    for (const t of texts) {
      const f = BY_DESCRIPTION.get(String(t));
      if (!f) throw new ProfileError(`${where}.${key}: unknown QEMU feature description ${JSON.stringify(t)} (devrec knows QEMU 7.2 and 10.0 spellings, src/model/qemu-feature-descriptions.ts)`);
      if (f.group !== 'transport' && f.group !== deviceType) throw new ProfileError(`${where}.${key}: ${JSON.stringify(t)} is a ${f.group} feature, the device is ${deviceType}`);
      mask |= 1n << BigInt(f.bit);
    }
  }
  if (o['unknown-dev-features'] !== undefined) {
    const u = qmpBigInt(o['unknown-dev-features']);
    if (u === undefined) throw new ProfileError(`${where}.unknown-dev-features: expected an unsigned integer, got ${JSON.stringify(o['unknown-dev-features'])}`);
    mask |= u;
  }
  return mask;
}

// ---- the profile ----

const VERSION_1 = featureBit('VIRTIO_F_VERSION_1');
const RING_PACKED = featureBit('VIRTIO_F_RING_PACKED');

export interface QmpProfileResult {
  profile: Profile;
  device: QmpDevice;
}

export function profileFromQmp(a: QmpAnswers, spec: string | undefined, input: string): QmpProfileResult {
  const dev = selectQmpDevice(a, spec, input);
  const where = `${input}: x-query-virtio-status ${dev.path}`;
  const status = a['x-query-virtio-status'][dev.path];
  if (!status) throw new ProfileError(`${where}: no answer saved for this device`);
  const virtioId = Number(status['device-id']);
  const type = deviceTypeById(virtioId);
  if (!type) throw new ProfileError(`${where}: device-id ${JSON.stringify(status['device-id'])} is not a virtio device type devrec knows`);
  const offered = qmpFeatureMask(status['host-features'], type.name, `${where}: host-features`);
  const queues = a['x-query-virtio-queue-status'][dev.path] ?? [];
  const numVqs = Number(status['num-vqs']);
  if (!Number.isInteger(numVqs) || numVqs < 0 || numVqs > 1024) throw new ProfileError(`${where}: num-vqs ${JSON.stringify(status['num-vqs'])} is not 0..1024`);
  if (queues.length !== numVqs) throw new ProfileError(`${input}: x-query-virtio-queue-status ${dev.path}: ${queues.length} answers for ${numVqs} queues`);
  const maxSizes = queues.map((q, i) => {
    const n = Number(q['vring-num-default'] ?? q['vring-num']);
    if (!Number.isInteger(n) || n < 0 || n > 32768) throw new ProfileError(`${input}: x-query-virtio-queue-status ${dev.path} queue ${i}: vring-num-default ${JSON.stringify(q['vring-num-default'])} is not 0..32768`);
    return n;
  });
  const id = dev.pci?.['id'] as Obj | undefined;
  const pciId = (k: string) => {
    const n = Number(id?.[k]);
    if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new ProfileError(`${input}: query-pci ${dev.qdevId}: id.${k} ${JSON.stringify(id?.[k])} is not 0..0xffff`);
    return n;
  };
  const pci = dev.pci ? { vendor: pciId('vendor'), device: pciId('device'), subsystemVendor: pciId('subsystem-vendor'), subsystem: pciId('subsystem'), revision: null } : null;
  const modern = (offered & VERSION_1) !== 0n;
  const legacyId = pci !== null && isTransitionalPciId(pci.device);
  const vectors = a['qom-get'][dev.proxy]?.['vectors'];
  const machine = a.machineType?.replace(/-machine$/, '') ?? null;
  const arch = typeof a['query-target']?.['arch'] === 'string' ? (a['query-target']['arch'] as string) : null;
  const v = a.version.qemu;
  const mmioBase = a['x-query-virtio'].find((x) => x.path === dev.path)?.mmioBase;
  if (!pci && mmioBase !== undefined) throw new ProfileError(`${where}: a virtio-mmio device (at ${mmioBase}): profiles from QMP are of virtio-pci devices (PCI identity from query-pci)`);
  if (!pci) throw new ProfileError(`${where}: no query-pci entry for this device (devrec reads virtio-pci devices with a qdev id over QMP; give the device an id=)`);
  const profile: Profile = {
    profileVersion: PROFILE_VERSION,
    deviceType: type.name,
    transport: modern ? 'pci-modern' : 'pci-legacy',
    legacy: { supported: legacyId, transitional: legacyId, access: legacyId ? ['io-bar'] : [], guestEndian: null, guestArch: null },
    pci,
    capabilities: null,
    persona: null,
    features: { offered, parent: null },
    provisioned: null,
    queues: { count: numVqs, maxSizes, split: true, packed: (offered & RING_PACKED) !== 0n },
    msixVectors: typeof vectors === 'number' ? vectors : null,
    configSize: null,
    vfio: null,
    qemu: {
      version: `${v.major}.${v.minor}.${v.micro}`,
      machine,
      arch,
      qdevId: dev.qdevId,
      path: dev.path,
      pciAddress: dev.pciAddress,
      pciClass: typeof (dev.pci?.['class_info'] as Obj | undefined)?.['class'] === 'number' ? ((dev.pci!['class_info'] as Obj)['class'] as number) : null,
    },
  };
  return { profile, device: dev };
}
