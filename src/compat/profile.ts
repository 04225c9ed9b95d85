// Device profiles: what a migration target offers (docs/compat.md). A profile is JSON with a `profileVersion`;
// `deriveProfile` makes one from a recorded device (what that device offered), operators can write one by hand.
// `parseProfile` validates every field and names the file and the field in its errors.
import type { Transport } from '../events/types.js';
import { hex64 } from '../events/json.js';
import { ENUMS } from '../events/event-spec.js';
import { LEGACY_TRANSPORTS, deviceTypeByName, featureBit, featureNames, isTransitionalPciId, parseFeatureNames } from '../model/index.js';
import { type DeviceState, pciIdHex } from '../project/state.js';
import type { Capability } from './caps.js';
import { recordedCaps } from './check.js';
import type { QemuStreamSource } from './qemu-load.js';
import { locateJsonSyntaxError } from '../sources/json-syntax.js';

export const PROFILE_VERSION = 1;

export type LegacyAccess = 'io-bar' | 'admin-cmd' | 'mmio';
export const LEGACY_ACCESS: readonly LegacyAccess[] = ['io-bar', 'admin-cmd', 'mmio'];
/** The transports a profile may name: the schema's, less 'unspecified'. */
export const TRANSPORTS: readonly Transport[] = [...ENUMS.transport.numbers.keys()].filter((t) => t !== 'unspecified') as Transport[];
export type Endian = 'little' | 'big';

export interface ProfileLegacy {
  /** the target accepts a driver on the legacy (0.9.5) interface */
  supported: boolean;
  /** the target is a transitional device (legacy and modern interfaces, transitional PCI device id) */
  transitional: boolean;
  /** how legacy access reaches the device: a real IO BAR, admin legacy commands (virtio-vfio), virtio-mmio v1 */
  access: LegacyAccess[];
  /** guest byte orders the legacy interface works for (null: no limit declared) */
  guestEndian: Endian[] | null;
  /** guest architectures the legacy interface works for, e.g. ["x86_64"] (null: no limit declared) */
  guestArch: string[] | null;
}

/** PCI identity; a field is null when the profile's source did not show it (not compared; query-pci gives no revision). */
export interface ProfilePci { vendor: number | null; device: number | null; subsystemVendor: number | null; subsystem: number | null; revision: number | null }

/** Where a profile read over QMP came from: the QEMU that answered, and the device in it. */
export interface ProfileQemu {
  /** QEMU version, e.g. "7.2.22" */
  version: string;
  /** machine type, e.g. "pc-i440fx-7.2" (null: not known) */
  machine: string | null;
  /** query-target arch, e.g. "x86_64": QEMU prints its messages as qemu-system-<arch> */
  arch: string | null;
  qdevId: string | null;
  /** the backend's QOM path */
  path: string | null;
  /** bb:ss.f as query-pci gives it */
  pciAddress: string | null;
  /** query-pci class_info.class (class and subclass, e.g. 0x200) */
  pciClass: number | null;
}

export interface ProfileProvisioned {
  /** each null when not given at `vdpa dev add` */
  deviceFeatures: bigint | null;
  mac: string | null;
  mtu: number | null;
  maxVqp: number | null;
}

export interface Profile {
  profileVersion: number;
  deviceType: string;
  /** null: the profile's source did not say the transport (a device recorded without --transport) */
  transport: Transport | null;
  legacy: ProfileLegacy;
  pci: ProfilePci | null;
  /** config-space capability chain; null: not declared (no layout check) */
  capabilities: Capability[] | null;
  persona: { id: string; version: string } | null;
  /** offered null: the profile's source did not show the offer (a device-state stream does not carry it) */
  features: { offered: bigint | null; parent: bigint | null };
  provisioned: ProfileProvisioned | null;
  /** maxSizes: one per queue, null where the source did not show the maximum */
  queues: { count: number; maxSizes: (number | null)[]; split: boolean; packed: boolean };
  msixVectors: number | null;
  configSize: number | null;
  vfio: { migrationFlags: number } | null;
  /** a target read over QMP (devrec profile --qmp): its QEMU and device; absent or null otherwise */
  qemu?: ProfileQemu | null;
  /** where a derived profile came from (informational) */
  derivedFrom?: { device: string; revision: number; backend: string };
}

export class ProfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProfileError';
  }
}

const RING_PACKED = featureBit('VIRTIO_F_RING_PACKED');

export interface SourceInfo {
  persona?: { id: string; version: string };
  /** VFIO_MIGRATION_* flags the source ran with */
  vfioFlags?: number;
  guestEndian?: Endian;
  guestArch?: string;
  /** the source is a QEMU savevm / migration stream: its device as QEMU wrote it, and the stream's configuration */
  qemu?: QemuStreamSource;
}

function macText(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The profile of a recorded device: what it offered. A target with this profile can take the device. */
export function deriveProfile(s: DeviceState, info: SourceInfo = {}): Profile {
  const legacy = LEGACY_TRANSPORTS.has(s.transport);
  const pciDevice = s.pci?.device ?? null;
  const p = s.provisioned;
  // accepted is a subset of offered: a packed ring in use says the offer had it, even when the offer is unknown
  const packedKnown = s.features.device ?? s.features.accepted ?? 0n;
  return {
    profileVersion: PROFILE_VERSION,
    deviceType: s.type,
    // 'unspecified' in a state is unknown: a profile says so (null, named), never a transport check cannot read
    transport: s.transport === 'unspecified' ? null : s.transport,
    legacy: {
      supported: legacy,
      transitional: s.transport === 'pci-legacy' || (pciDevice !== null && isTransitionalPciId(pciDevice)),
      access: legacy ? [s.transport === 'mmio-legacy' ? 'mmio' : 'io-bar'] : [],
      guestEndian: null,
      guestArch: null,
    },
    pci: s.pci ? { vendor: s.pci.vendor, device: s.pci.device, subsystemVendor: s.pci.subsystemVendor, subsystem: s.pci.subsystem, revision: s.pci.revision } : null,
    capabilities: recordedCaps(s),
    persona: info.persona ?? null,
    features: { offered: s.features.device, parent: s.features.parent },
    provisioned: p
      ? {
          deviceFeatures: p.deviceFeaturesGiven ? p.deviceFeatures : null,
          mac: p.macGiven ? macText(p.mac) : null,
          mtu: p.mtuGiven ? p.mtu : null,
          maxVqp: p.maxVqpGiven ? p.maxVqp : null,
        }
      : null,
    queues: {
      count: queueCount(s),
      maxSizes: fillSizes(s),
      split: true,
      packed: (packedKnown & RING_PACKED) !== 0n,
    },
    msixVectors: s.msix?.tableSize || null,
    configSize: s.config.length,
    // only flags a source recorded are known: a passed-through device says nothing about VFIO migration
    vfio: info.vfioFlags !== undefined ? { migrationFlags: info.vfioFlags } : null,
    derivedFrom: { device: s.device, revision: s.revision, backend: s.backend },
  };
}

function queueCount(s: DeviceState): number {
  return Math.max(s.numQueues ?? 0, s.queues.length ? s.queues[s.queues.length - 1]!.index + 1 : 0);
}

function fillSizes(s: DeviceState): (number | null)[] {
  const out = new Array<number | null>(queueCount(s)).fill(null);
  for (const q of s.queues) out[q.index] = q.maxSize || q.size;
  return out;
}

const typeOf = (t: string) => (deviceTypeByName(t) ? t : undefined);

/** The JSON form written by `devrec profile` (features as hex with their names beside, informational). */
export function profileToJson(p: Profile): Record<string, unknown> {
  const t = typeOf(p.deviceType);
  return {
    profileVersion: p.profileVersion,
    deviceType: p.deviceType,
    transport: p.transport,
    ...(p.transport === null ? { transportUnknown: TRANSPORT_UNKNOWN } : {}),
    legacy: p.legacy,
    pci: p.pci
      ? { vendor: pciIdHex(p.pci.vendor), device: pciIdHex(p.pci.device), subsystemVendor: pciIdHex(p.pci.subsystemVendor), subsystem: pciIdHex(p.pci.subsystem), revision: p.pci.revision }
      : null,
    capabilities: p.capabilities,
    persona: p.persona,
    features: {
      offered: p.features.offered === null ? null : hex64(p.features.offered),
      offeredNames: p.features.offered === null ? null : featureNames(p.features.offered, t),
      ...(p.features.offered === null ? { offeredUnknown: "the profile's source did not show the device's offer: rules that need it are not checked" } : {}),
      parent: p.features.parent === null ? null : hex64(p.features.parent),
    },
    provisioned: p.provisioned ? { ...p.provisioned, deviceFeatures: p.provisioned.deviceFeatures === null ? null : hex64(p.provisioned.deviceFeatures) } : null,
    queues: p.queues,
    msixVectors: p.msixVectors,
    configSize: p.configSize,
    vfio: p.vfio,
    ...(p.qemu ? { qemu: p.qemu } : {}),
    ...(p.derivedFrom ? { derivedFrom: p.derivedFrom } : {}),
  };
}

// ---- validation ----

type Obj = Record<string, unknown>;

class V {
  constructor(readonly file: string) {}
  fail(field: string, why: string): never {
    throw new ProfileError(`${this.file}: field "${field}": ${why}`);
  }
  obj(v: unknown, field: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, `expected an object, got ${show(v)}`);
    return v as Obj;
  }
  req(o: Obj, key: string, field: string): unknown {
    if (!(key in o)) this.fail(field, 'missing');
    return o[key];
  }
  bool(v: unknown, field: string): boolean {
    if (typeof v !== 'boolean') this.fail(field, `expected true or false, got ${show(v)}`);
    return v;
  }
  str(v: unknown, field: string): string {
    if (typeof v !== 'string') this.fail(field, `expected a string, got ${show(v)}`);
    return v;
  }
  int(v: unknown, field: string, max: number, min = 0): number {
    let n = v;
    if (typeof v === 'string' && /^0x[0-9a-f]+$/i.test(v)) n = Number.parseInt(v.slice(2), 16);
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) this.fail(field, `expected an integer ${min}..${max}, got ${show(v)}`);
    return n as number;
  }
  /** "0x..." hex, or a list of feature names (catalog names, aliases, bit_<n>) */
  features(v: unknown, field: string, type: string | undefined): bigint {
    if (typeof v === 'string') {
      if (!/^0x[0-9a-f]+$/i.test(v)) this.fail(field, `expected a "0x..." hex mask or a list of feature names, got ${show(v)}`);
      return BigInt(v);
    }
    if (Array.isArray(v)) {
      v.forEach((n, i) => { if (typeof n !== 'string') this.fail(`${field}[${i}]`, `expected a feature name, got ${show(n)}`); });
      try {
        return parseFeatureNames(v as string[], type);
      } catch (e) {
        this.fail(field, (e as Error).message);
      }
    }
    this.fail(field, `expected a "0x..." hex mask or a list of feature names, got ${show(v)}`);
  }
  nullable<T>(v: unknown, fn: (x: unknown) => T): T | null {
    return v === null || v === undefined ? null : fn(v);
  }
  oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[]): T {
    if (typeof v !== 'string' || !allowed.includes(v as T)) this.fail(field, `expected one of ${allowed.join(', ')}, got ${show(v)}`);
    return v as T;
  }
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + '...' : s;
}

/** Beside `"transport": null` in a written profile (informational; check reads the null). */
export const TRANSPORT_UNKNOWN = "the profile's source did not say the device's transport (it was recorded without --transport): rules that need it are not checked";

const KNOWN_KEYS = new Set(['profileVersion', 'deviceType', 'transport', 'transportUnknown', 'legacy', 'pci', 'capabilities', 'persona', 'features', 'provisioned', 'queues', 'msixVectors', 'configSize', 'vfio', 'qemu', 'derivedFrom', 'description']);

/** Validates a profile's JSON text. Throws ProfileError naming the file and the field. */
export function parseProfile(text: string, file: string): Profile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const at = locateJsonSyntaxError(text);
    throw new ProfileError(at
      ? `${file}: line ${at.line}, column ${at.column}: not valid JSON: ${at.reason}`
      : `${file}: not valid JSON: ${(e as Error).message}`);
  }
  const v: V = new V(file);
  const o = v.obj(raw, '(top level)');
  for (const k of Object.keys(o)) if (!KNOWN_KEYS.has(k)) v.fail(JSON.stringify(k).slice(1, -1), `unknown field (known: ${[...KNOWN_KEYS].join(', ')})`);
  const version = v.int(v.req(o, 'profileVersion', 'profileVersion'), 'profileVersion', 1 << 16);
  if (version !== PROFILE_VERSION) v.fail('profileVersion', `profile version ${version} is not one this devrec reads (${PROFILE_VERSION})`);
  const deviceType = v.str(v.req(o, 'deviceType', 'deviceType'), 'deviceType');
  if (!deviceTypeByName(deviceType)) v.fail('deviceType', `unknown virtio device type ${show(deviceType)}`);
  const rawTransport = v.req(o, 'transport', 'transport');
  const transport = rawTransport === null ? null : v.oneOf(rawTransport, 'transport', TRANSPORTS);

  const lo = v.obj(v.req(o, 'legacy', 'legacy'), 'legacy');
  const legacy: ProfileLegacy = {
    supported: v.bool(v.req(lo, 'supported', 'legacy.supported'), 'legacy.supported'),
    transitional: v.bool(lo['transitional'] ?? false, 'legacy.transitional'),
    access: ((): LegacyAccess[] => {
      const a = lo['access'] ?? [];
      if (!Array.isArray(a)) v.fail('legacy.access', `expected a list of ${LEGACY_ACCESS.join(', ')}`);
      return a.map((x, i) => v.oneOf(x, `legacy.access[${i}]`, LEGACY_ACCESS));
    })(),
    guestEndian: v.nullable(lo['guestEndian'], (x) => {
      if (!Array.isArray(x)) v.fail('legacy.guestEndian', 'expected a list of "little", "big" or null');
      return x.map((e, i) => v.oneOf(e, `legacy.guestEndian[${i}]`, ['little', 'big'] as const));
    }),
    guestArch: v.nullable(lo['guestArch'], (x) => {
      if (!Array.isArray(x)) v.fail('legacy.guestArch', 'expected a list of architecture names or null');
      return x.map((e, i) => v.str(e, `legacy.guestArch[${i}]`));
    }),
  };
  if (legacy.supported && legacy.access.length === 0) v.fail('legacy.access', 'legacy.supported is true: say how legacy access works (io-bar, admin-cmd, mmio)');

  const pci = v.nullable(o['pci'], (x) => {
    const po = v.obj(x, 'pci');
    const f = (k: string, max: number) => v.nullable(v.req(po, k, `pci.${k}`), (x) => v.int(x, `pci.${k}`, max));
    return { vendor: f('vendor', 0xffff), device: f('device', 0xffff), subsystemVendor: f('subsystemVendor', 0xffff), subsystem: f('subsystem', 0xffff), revision: po['revision'] === undefined ? null : f('revision', 0xff) };
  });

  const capabilities = v.nullable(o['capabilities'], (x) => {
    if (!Array.isArray(x)) v.fail('capabilities', 'expected a list of {space, id, offset, length} or null');
    return x.map((c, i): Capability => {
      const f = `capabilities[${i}]`;
      const co = v.obj(c, f);
      const space = v.oneOf(co['space'] ?? 'pci', `${f}.space`, ['pci', 'pcie-ext'] as const);
      const cap: Capability = {
        space,
        id: v.int(v.req(co, 'id', `${f}.id`), `${f}.id`, space === 'pci' ? 0xff : 0xffff),
        offset: v.int(v.req(co, 'offset', `${f}.offset`), `${f}.offset`, 0xfff),
        length: v.int(v.req(co, 'length', `${f}.length`), `${f}.length`, 0x1000),
      };
      if (typeof co['name'] === 'string') cap.name = co['name'];
      if (co['pasidWidth'] !== undefined && co['pasidWidth'] !== null) cap.pasidWidth = v.int(co['pasidWidth'], `${f}.pasidWidth`, 20);
      return cap;
    });
  });

  const persona = v.nullable(o['persona'], (x) => {
    const po = v.obj(x, 'persona');
    return { id: v.str(v.req(po, 'id', 'persona.id'), 'persona.id'), version: v.str(v.req(po, 'version', 'persona.version'), 'persona.version') };
  });

  const fo = v.obj(v.req(o, 'features', 'features'), 'features');
  const features = {
    offered: v.nullable(v.req(fo, 'offered', 'features.offered'), (x) => v.features(x, 'features.offered', deviceType)),
    parent: v.nullable(fo['parent'], (x) => v.features(x, 'features.parent', deviceType)),
  };

  const provisioned = v.nullable(o['provisioned'], (x) => {
    const po = v.obj(x, 'provisioned');
    return {
      deviceFeatures: v.nullable(po['deviceFeatures'], (y) => v.features(y, 'provisioned.deviceFeatures', deviceType)),
      mac: v.nullable(po['mac'], (y) => {
        const s = v.str(y, 'provisioned.mac');
        if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(s)) v.fail('provisioned.mac', `expected a MAC address like 52:54:00:12:34:56, got ${show(s)}`);
        return s.toLowerCase();
      }),
      mtu: v.nullable(po['mtu'], (y) => v.int(y, 'provisioned.mtu', 0xffff)),
      maxVqp: v.nullable(po['maxVqp'], (y) => v.int(y, 'provisioned.maxVqp', 0xffff, 1)),
    };
  });

  const qo = v.obj(v.req(o, 'queues', 'queues'), 'queues');
  const count = v.int(v.req(qo, 'count', 'queues.count'), 'queues.count', 65535);
  const ms = v.req(qo, 'maxSizes', 'queues.maxSizes');
  let maxSizes: (number | null)[];
  if (typeof ms === 'number') maxSizes = new Array<number>(count).fill(v.int(ms, 'queues.maxSizes', 32768));
  else {
    if (!Array.isArray(ms)) v.fail('queues.maxSizes', 'expected a list of sizes (one per queue, null: unknown) or one size for all');
    maxSizes = ms.map((x, i) => v.nullable(x, (y) => v.int(y, `queues.maxSizes[${i}]`, 32768)));
    if (maxSizes.length !== count) v.fail('queues.maxSizes', `lists ${maxSizes.length} sizes, queues.count is ${count}`);
  }
  const queues = {
    count, maxSizes,
    split: v.bool(qo['split'] ?? true, 'queues.split'),
    packed: v.bool(qo['packed'] ?? false, 'queues.packed'),
  };
  if (!queues.split && !queues.packed) v.fail('queues', 'neither split nor packed rings: the device has no ring layout');

  const vfio = v.nullable(o['vfio'], (x) => {
    const vo = v.obj(x, 'vfio');
    return { migrationFlags: v.int(v.req(vo, 'migrationFlags', 'vfio.migrationFlags'), 'vfio.migrationFlags', 0xffffffff) };
  });

  const qemu = v.nullable(o['qemu'], (x): ProfileQemu => {
    const qo = v.obj(x, 'qemu');
    const s = (k: string) => v.nullable(qo[k], (y) => v.str(y, `qemu.${k}`));
    const version = v.str(v.req(qo, 'version', 'qemu.version'), 'qemu.version');
    if (!/^\d+\.\d+\.\d+$/.test(version)) v.fail('qemu.version', `expected N.N.N, got ${show(version)}`);
    return {
      version, machine: s('machine'), arch: s('arch'), qdevId: s('qdevId'), path: s('path'), pciAddress: s('pciAddress'),
      pciClass: v.nullable(qo['pciClass'], (y) => v.int(y, 'qemu.pciClass', 0xffff)),
    };
  });

  return {
    profileVersion: version, deviceType, transport, legacy, pci, capabilities, persona, features, provisioned, queues,
    msixVectors: v.nullable(o['msixVectors'], (x) => v.int(x, 'msixVectors', 2048)),
    configSize: v.nullable(o['configSize'], (x) => v.int(x, 'configSize', 4096)),
    vfio,
    ...(qemu ? { qemu } : {}),
  };
}
