// The `vdpa` tool's inputs and outputs as devrec reads them: a `vdpa dev add` command line (iproute2 vdpa/vdpa.c
// syntax: device_features in base 16, mtu and max_vqp as u16, mac as six hex bytes) and the `vdpa -jp` JSON of
// `mgmtdev show` and `dev show`.
import type { ProvisionedAttributes } from '../events/types.js';
import { featureBit } from '../model/features.js';
import { VDPA_TOOL_FEATURE_PREFIXES, VDPA_TOOL_RING_PREFIX } from '../model/vdpa.js';

export class VdpaInputError extends Error {}

/** A parsed `vdpa dev add`: the attributes, each with whether it was given. */
export type PlannedAdd = ProvisionedAttributes;

const U16 = 0xffff;

/** Parses the words after `vdpa dev add` (a leading `vdpa dev add` is skipped). Throws VdpaInputError naming the word. */
export function parseDevAdd(words: readonly string[]): PlannedAdd {
  let w = [...words];
  if (w[0] === 'vdpa') w = w.slice(1);
  if (w[0] === 'dev' && w[1] === 'add') w = w.slice(2);
  const add: PlannedAdd = {
    mgmtdev: '', name: '', deviceFeatures: 0n, deviceFeaturesGiven: false, mac: new Uint8Array(0), macGiven: false,
    mtu: 0, mtuGiven: false, maxVqp: 0, maxVqpGiven: false,
  };
  for (let i = 0; i < w.length; i += 2) {
    const key = w[i]!;
    const value = w[i + 1];
    if (value === undefined) throw new VdpaInputError(`"${key}" needs a value`);
    switch (key) {
      case 'name': add.name = value; break;
      case 'mgmtdev':
        if (value.split('/').length > 2 || value.startsWith('/') || value.endsWith('/')) throw new VdpaInputError(`mgmtdev "${value}" is not NAME or BUS/NAME`);
        add.mgmtdev = value;
        break;
      case 'device_features': {
        if (!/^(0x)?[0-9a-f]{1,16}$/i.test(value)) throw new VdpaInputError(`device_features "${value}" is not a 64-bit hex mask (the vdpa tool reads it in base 16)`);
        add.deviceFeatures = BigInt(value.toLowerCase().startsWith('0x') ? value : `0x${value}`);
        add.deviceFeaturesGiven = true;
        break;
      }
      case 'mac': {
        const parts = value.split(':');
        if (parts.length !== 6 || parts.some((p) => !/^[0-9a-f]{1,2}$/i.test(p))) throw new VdpaInputError(`mac "${value}" is not six hex bytes (52:54:00:12:34:56)`);
        add.mac = Uint8Array.from(parts.map((p) => parseInt(p, 16)));
        add.macGiven = true;
        break;
      }
      case 'mtu':
      case 'max_vqp': {
        if (!/^\d+$/.test(value) || Number(value) > U16) throw new VdpaInputError(`${key} "${value}" is not a number from 0 to 65535`);
        if (key === 'mtu') { add.mtu = Number(value); add.mtuGiven = true; } else { add.maxVqp = Number(value); add.maxVqpGiven = true; }
        break;
      }
      default:
        throw new VdpaInputError(`unknown option "${key}" (vdpa dev add takes name, mgmtdev, device_features, mac, mtu, max_vqp)`);
    }
  }
  if (!add.name) throw new VdpaInputError('no "name NAME" given');
  if (!add.mgmtdev) throw new VdpaInputError('no "mgmtdev MGMTDEV" given');
  return add;
}

/** One management device of `vdpa -jp mgmtdev show`. */
export interface MgmtdevInfo {
  name: string;
  supportedClasses: string[];
  maxSupportedVqs: number | null;
  /** dev_features as printed (feature names); null when not printed */
  devFeatureNames: string[] | null;
}

/** One vDPA device of `vdpa -jp dev show`. */
export interface VdpaDevInfo {
  name: string;
  type: string;
  mgmtdev: string;
  vendorId: number | null;
  maxVqs: number | null;
  maxVqSize: number | null;
}

function obj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optNumber(v: unknown, what: string): number | null {
  if (v === undefined) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new VdpaInputError(`${what} is not a non-negative integer (${JSON.stringify(v)})`);
  return v;
}

export function readMgmtdevShow(json: unknown): MgmtdevInfo[] {
  if (!obj(json) || !obj(json['mgmtdev'])) throw new VdpaInputError('not `vdpa -jp mgmtdev show` output (no "mgmtdev" object)');
  return Object.entries(json['mgmtdev']).map(([name, v]) => {
    if (!obj(v)) throw new VdpaInputError(`mgmtdev "${name}" is not an object`);
    const classes = v['supported_classes'];
    const feats = v['dev_features'];
    if (classes !== undefined && !(Array.isArray(classes) && classes.every((c) => typeof c === 'string'))) throw new VdpaInputError(`mgmtdev "${name}": supported_classes is not a list of names`);
    if (feats !== undefined && !(Array.isArray(feats) && feats.every((c) => typeof c === 'string'))) throw new VdpaInputError(`mgmtdev "${name}": dev_features is not a list of names`);
    return {
      name, supportedClasses: (classes as string[] | undefined) ?? [],
      maxSupportedVqs: optNumber(v['max_supported_vqs'], `mgmtdev "${name}" max_supported_vqs`),
      devFeatureNames: (feats as string[] | undefined) ?? null,
    };
  });
}

export function readDevShow(json: unknown): VdpaDevInfo[] {
  if (!obj(json) || !obj(json['dev'])) throw new VdpaInputError('not `vdpa -jp dev show` output (no "dev" object)');
  return Object.entries(json['dev']).map(([name, v]) => {
    if (!obj(v)) throw new VdpaInputError(`dev "${name}" is not an object`);
    if (typeof v['type'] !== 'string' || typeof v['mgmtdev'] !== 'string') throw new VdpaInputError(`dev "${name}" has no type or mgmtdev`);
    return {
      name, type: v['type'], mgmtdev: v['mgmtdev'],
      vendorId: optNumber(v['vendor_id'], `dev "${name}" vendor_id`),
      maxVqs: optNumber(v['max_vqs'], `dev "${name}" max_vqs`),
      maxVqSize: optNumber(v['max_vq_size'], `dev "${name}" max_vq_size`),
    };
  });
}

/** Feature names as the `vdpa` tool prints them (CSUM, VERSION_1, bit_40) -> mask. Throws naming an unknown name. */
export function vdpaToolFeatureMask(names: readonly string[], type: string): bigint {
  const prefixes = VDPA_TOOL_FEATURE_PREFIXES[type] ?? VDPA_TOOL_FEATURE_PREFIXES['']!;
  let mask = 0n;
  for (const name of names) {
    const bit = /^bit_(\d+)$/.exec(name);
    if (bit) {
      mask |= 1n << BigInt(bit[1]!);
      continue;
    }
    const ring = name.startsWith(VDPA_TOOL_RING_PREFIX.printed) ? [VDPA_TOOL_RING_PREFIX.catalog + name.slice(VDPA_TOOL_RING_PREFIX.printed.length)] : [];
    const known = [...ring, ...prefixes.map((p) => p + name)].map((candidate) => {
      try {
        return featureBit(candidate);
      } catch {
        return undefined;
      }
    }).find((m) => m !== undefined);
    if (known === undefined) throw new VdpaInputError(`feature name "${name}" is not one devrec knows for ${type || 'this device type'}`);
    mask |= known;
  }
  return mask;
}
