// Structured diff of two device states (and, for two devices in a store, where their event logs part). Both
// states are turned into a normalized view (features by name, status bits, per-queue fields, config bytes by field
// by field (src/model/device-config.ts), PCI identity, provenance) and compared with microdiff; every difference is
// classed ABI-breaking, runtime-only or provenance; a field unknown on one side (null: its source could not see it)
// is its own class, `unknown`, never ABI-breaking.
import diff from 'microdiff';
import { eventToJson, hex64 } from '../events/json.js';
import { deviceTypeByName, describeFeature, statusNames } from '../model/index.js';
import { DEVICE_CONFIG_LAYOUTS } from '../model/device-config.js';
import { configFieldsJson, decodeStateConfig } from '../project/device-config.js';
import { netControlShown, netControlToJson } from '../project/net-control.js';
import type { DeviceState } from '../project/state.js';
import type { EventStore } from '../store/types.js';
import { recordedCapabilityChain } from './caps.js';
import { legacyNegotiated, netHeaderBasis, netHeaderSize } from './check.js';

export type DiffClass = 'abi' | 'runtime' | 'unknown' | 'provenance';
export const DIFF_CLASSES: readonly DiffClass[] = ['abi', 'runtime', 'unknown', 'provenance'];
export type Change = 'changed' | 'only-in-a' | 'only-in-b';

export interface Difference {
  /** dotted path in the normalized view, e.g. `features.accepted`, `queues.0.maxSize`, `config.mac` */
  path: string;
  class: DiffClass;
  change: Change;
  a: unknown;
  b: unknown;
  /** feature differences: the bit and its name */
  bit?: number;
  name?: string;
}

export interface NetHeader { size: number; decidedBy: string }

export interface StateDiff {
  differences: Difference[];
  counts: Record<DiffClass, number>;
  /** both devices are net: the virtio-net header each uses (size and the feature that decides it) */
  netHeader?: { a: NetHeader; b: NetHeader };
}

type View = Record<string, Record<string, unknown> | null>;

/** Features by name; null when the mask is unknown. */
function featureMap(mask: bigint | null, type: string | undefined): Record<string, number> | null {
  if (mask === null) return null;
  const out: Record<string, number> = {};
  for (let b = 0; mask >> BigInt(b) !== 0n; b++) {
    if ((mask >> BigInt(b)) & 1n) out[describeFeature(b, type)?.name ?? `bit_${b}`] = b;
  }
  return out;
}

const mac = (c: Uint8Array) => (c.length >= 6 ? [...c.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':') : undefined);

/** Runtime-class config fields by type (src/model/device-config.ts `abi: false`): link status, speed, cache mode... */
const RUNTIME_CONFIG = new Map(DEVICE_CONFIG_LAYOUTS.map((l) => [l.type, new Set(l.fields.filter((x) => !x.abi).map((x) => x.name))]));

/**
 * Config by field for the device types with a layout (src/model/device-config.ts); fields whose feature is not in
 * effect are left out, unknown values (bytes no source saw) are null; bytes past the layout (and all bytes of other
 * types) by offset, null when unknown.
 */
function configView(s: DeviceState): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const decoded = decodeStateConfig(s);
  let covered = 0;
  if (decoded) {
    Object.assign(out, configFieldsJson(decoded));
    covered = Math.max(...decoded.layout.fields.map((x) => x.offset + x.width));
  }
  for (let i = covered; i < s.config.length; i++) out[`byte${String(i).padStart(3, '0')}`] = s.configKnown[i] ? s.config[i] : null;
  return out;
}

/**
 * The capability chain, when the config space holds it: the status register's capabilities-list bit (PCI 3.0
 * 6.2.3) is set. A recording of the driver's config writes only never has it: unknown (null), not "no capabilities".
 */
function capsView(s: DeviceState): Record<string, unknown> | null {
  const chain = recordedCapabilityChain(s.pci?.config);
  if (!chain) return null;
  const caps: Record<string, unknown> = {};
  for (const c of chain) caps[`${c.space}:0x${c.id.toString(16)}@0x${c.offset.toString(16)}`] = { length: c.length, ...(c.pasidWidth !== undefined ? { pasidWidth: c.pasidWidth } : {}) };
  return caps;
}

const hexN = (v: bigint | null): string | null => (v === null ? null : hex64(v));

export function stateView(s: DeviceState): View {
  const type = deviceTypeByName(s.type) ? s.type : undefined;
  let status: Record<string, boolean> | null = null;
  if (s.status !== null) {
    status = {};
    for (const n of statusNames(s.status)) status[n] = true;
  }
  const queues: Record<string, unknown> = {};
  for (const q of s.queues) {
    queues[String(q.index)] = {
      maxSize: q.maxSize, size: q.size, enabled: q.enabled, desc: hexN(q.desc), driver: hexN(q.driver), device: hexN(q.device),
      pfn: `0x${q.pfn.toString(16)}`, align: q.align, msixVector: q.msixVector, notifyOff: q.notifyOff, lastAvailIdx: q.lastAvailIdx, usedIdx: q.usedIdx,
      availWrap: q.availWrap, usedWrap: q.usedWrap, availIdx: q.availIdx, resetPending: q.resetPending,
    };
  }
  const p = s.provisioned;
  return {
    identity: {
      type: s.type, virtioId: s.virtioId, transport: s.transport, legacy: legacyNegotiated(s),
      pciVendor: s.pci?.vendor ?? null, pciDevice: s.pci?.device ?? null, pciSubsystemVendor: s.pci?.subsystemVendor ?? null,
      pciSubsystem: s.pci?.subsystem ?? null, pciRevision: s.pci?.revision ?? null, numQueues: s.numQueues,
      msixTableSize: s.msix?.tableSize ?? null,
      ...(s.type === 'net' ? netHeaderView(s.features.accepted) : {}),
    },
    capabilities: capsView(s),
    'features.offered': featureMap(s.features.device, type),
    'features.accepted': featureMap(s.features.accepted, type),
    'features.parent': featureMap(s.features.parent, type),
    'features.driver': featureMap(s.features.driver, type),
    negotiation: { acceptedVia: s.features.acceptedVia, negotiation: s.features.negotiation },
    provisioned: p
      ? {
          mgmtdev: p.mgmtdev, name: p.name,
          deviceFeatures: p.deviceFeaturesGiven ? hex64(p.deviceFeatures) : null,
          mac: p.macGiven ? mac(p.mac) ?? null : null, mtu: p.mtuGiven ? p.mtu : null, maxVqp: p.maxVqpGiven ? p.maxVqp : null,
        }
      : {},
    status,
    queues,
    config: configView(s),
    runtime: {
      msixEnabled: s.msix?.enabled ?? null, msixFunctionMask: s.msix?.functionMask ?? null, configVector: s.msix?.configVector ?? null, isr: s.isr,
      configGeneration: s.configGeneration, resetPending: s.resetPending, vfioState: s.vfioState ?? null,
      control: s.control.map((c) => `${c.class}/${c.command}=${Buffer.from(c.data).toString('hex')}${c.ack !== undefined ? ` ack ${c.ack}` : ''}`).join(' '),
    },
    // net control-queue state by item (rx mode flags, MAC filter and overflow, VLAN set, queue pairs, RSS,
    // offloads): runtime; an item one source could not see is null there (class unknown)
    ...(s.type === 'net' ? { netControl: netControlToJson(netControlShown(s, legacyNegotiated(s) ? null : 'little', legacyNegotiated(s))) } : {}),
    provenance: {
      device: s.device, backend: s.backend, revision: s.revision, eventCount: s.eventCount, timestampNs: s.timestampNs.toString(),
      sources: s.sources.join(' '),
    },
  };
}

function netHeaderView(accepted: bigint | null): Record<string, unknown> {
  return accepted === null
    ? { netHeaderSize: null, netHeaderDecidedBy: null }
    : { netHeaderSize: netHeaderSize(accepted), netHeaderDecidedBy: netHeaderBasis(accepted) };
}

const ABI_SECTIONS = new Set(['identity', 'capabilities', 'features.offered', 'features.accepted', 'features.parent', 'negotiation', 'provisioned']);

function classify(path: (string | number)[], runtimeConfig: Set<string> | undefined, a: unknown, b: unknown): DiffClass {
  const [sec, key, field] = path.map(String);
  if (sec === 'negotiation' && key === 'acceptedVia') return 'provenance'; // how the accepted set was learnt
  if (sec !== 'provenance' && (a === null || b === null)) return 'unknown';
  // a config byte or a queue only one source saw: the other did not see it (queue counts are compared in identity)
  if ((sec === 'config' || sec === 'queues') && (a === undefined || b === undefined)) return 'unknown';
  if (sec === 'provenance') return 'provenance';
  if (ABI_SECTIONS.has(sec!)) return sec === 'negotiation' && key === 'negotiation' ? 'runtime' : 'abi';
  if (sec === 'queues') return field === 'maxSize' || field === undefined ? 'abi' : 'runtime';
  if (sec === 'config') return runtimeConfig?.has(key!) ? 'runtime' : 'abi';
  return 'runtime';
}

const CHANGE: Record<string, Change> = { CHANGE: 'changed', REMOVE: 'only-in-a', CREATE: 'only-in-b' };

export function diffStates(a: DeviceState, b: DeviceState): StateDiff {
  const va = stateView(a);
  const vb = stateView(b);
  const out: Difference[] = [];
  for (const c of diff(va, vb)) {
    const sec = String(c.path[0]);
    const isFeature = sec.startsWith('features.') && c.path.length === 2;
    const av = c.type === 'CREATE' ? undefined : c.oldValue;
    const bv = c.type === 'REMOVE' ? undefined : c.value;
    // a whole section unknown on one side (a feature set, the capability chain, the status): one `unknown` entry
    const wholeUnknown = c.path.length === 1 && (av === null || bv === null);
    const d: Difference = {
      path: isFeature ? sec : c.path.join('.'),
      class: classify(c.path, RUNTIME_CONFIG.get(a.type === b.type ? a.type : ''), av, bv),
      change: CHANGE[c.type]!,
      a: isFeature ? c.type !== 'CREATE' : wholeUnknown ? shown(sec, a, av) : av ?? null,
      b: isFeature ? c.type !== 'REMOVE' : wholeUnknown ? shown(sec, b, bv) : bv ?? null,
    };
    if (isFeature) {
      d.bit = (c.type === 'CREATE' ? c.value : c.oldValue) as number;
      d.name = String(c.path[1]);
    }
    out.push(d);
  }
  out.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : (x.bit ?? -1) - (y.bit ?? -1)));
  const counts: Record<DiffClass, number> = { abi: 0, runtime: 0, unknown: 0, provenance: 0 };
  for (const d of out) counts[d.class]++;
  const hdr = (s: DeviceState): NetHeader | null =>
    s.features.accepted === null ? null : { size: netHeaderSize(s.features.accepted), decidedBy: netHeaderBasis(s.features.accepted) };
  const ha = hdr(a);
  const hb = hdr(b);
  return { differences: out, counts, ...(a.type === 'net' && b.type === 'net' && ha && hb ? { netHeader: { a: ha, b: hb } } : {}) };
}

/** A whole section on the side that knows it: feature sets as their hex mask, others as they are. */
function shown(section: string, s: DeviceState, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  const masks: Record<string, bigint | null> = {
    'features.offered': s.features.device, 'features.accepted': s.features.accepted, 'features.parent': s.features.parent,
    'features.driver': s.features.driver,
  };
  return section in masks ? hexN(masks[section]!) : v;
}

export interface Divergence {
  /** the first revision where the logs differ (ignoring timestamps), or null when they are equal */
  revision: number | null;
  a?: Record<string, unknown> | null;
  b?: Record<string, unknown> | null;
  /** events compared */
  compared: number;
}

function comparable(e: Parameters<typeof eventToJson>[0]): Record<string, unknown> {
  const { revision: _r, timestampNs: _t, ...rest } = eventToJson(e);
  return rest;
}

/** The first revision where two device streams differ (event bodies, actor, path and source; timestamps ignored). */
export async function firstDivergence(store: EventStore, idA: string, idB: string, toA?: number, toB?: number): Promise<Divergence> {
  const ia = store.read(idA, { from: 0, ...(toA !== undefined ? { to: toA } : {}) })[Symbol.asyncIterator]();
  const ib = store.read(idB, { from: 0, ...(toB !== undefined ? { to: toB } : {}) })[Symbol.asyncIterator]();
  let n = 0;
  try {
    for (;;) {
      const [ra, rb] = await Promise.all([ia.next(), ib.next()]);
      if (ra.done && rb.done) return { revision: null, compared: n };
      const ja = ra.done ? null : comparable(ra.value.event);
      const jb = rb.done ? null : comparable(rb.value.event);
      if (!ja || !jb || JSON.stringify(ja) !== JSON.stringify(jb)) return { revision: n, a: ja, b: jb, compared: n };
      n++;
    }
  } finally {
    await ia.return?.();
    await ib.return?.();
  }
}

/** JSON with object keys sorted at every level (stable output). */
export function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v === 'bigint') return hex64(v);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortKeys(o[k])]));
  }
  return v;
}
