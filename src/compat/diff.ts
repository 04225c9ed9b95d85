// Structured diff of two device states (and, for two devices in a store, where their event logs part). Both
// states are turned into a normalized view (features by name, status bits, per-queue fields, config bytes by field
// by field (src/model/device-config.ts), PCI identity, provenance) and compared with microdiff; every difference is classed
// ABI-breaking, runtime-only or provenance.
import diff from 'microdiff';
import { eventToJson, hex64 } from '../events/json.js';
import { deviceTypeByName, describeFeature, statusNames } from '../model/index.js';
import { DEVICE_CONFIG_LAYOUTS } from '../model/device-config.js';
import { configFieldsJson, decodeStateConfig } from '../project/device-config.js';
import { netControlOf, netControlToJson } from '../project/net-control.js';
import type { DeviceState } from '../project/state.js';
import type { EventStore } from '../store/types.js';
import { capabilityChain } from './caps.js';
import { legacyNegotiated, netHeaderBasis, netHeaderSize } from './check.js';

export type DiffClass = 'abi' | 'runtime' | 'provenance';
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

type View = Record<string, Record<string, unknown>>;

function featureMap(mask: bigint | undefined, type: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (mask === undefined) return out;
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
 * effect are left out, unknown values are null; bytes past the layout (and all bytes of other types) by offset.
 */
function configView(s: DeviceState): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const decoded = decodeStateConfig(s);
  let covered = 0;
  if (decoded) {
    Object.assign(out, configFieldsJson(decoded));
    covered = Math.max(...decoded.layout.fields.map((x) => x.offset + x.width));
  }
  for (let i = covered; i < s.config.length; i++) out[`byte${String(i).padStart(3, '0')}`] = s.config[i];
  out['length'] = s.config.length;
  return out;
}

export function stateView(s: DeviceState): View {
  const type = deviceTypeByName(s.type) ? s.type : undefined;
  const caps: Record<string, unknown> = {};
  for (const c of capabilityChain(s.pci.config)) caps[`${c.space}:0x${c.id.toString(16)}@0x${c.offset.toString(16)}`] = { length: c.length, ...(c.pasidWidth !== undefined ? { pasidWidth: c.pasidWidth } : {}) };
  const status: Record<string, boolean> = {};
  for (const n of statusNames(s.status)) status[n] = true;
  const queues: Record<string, unknown> = {};
  for (const q of s.queues) {
    queues[String(q.index)] = {
      maxSize: q.maxSize, size: q.size, enabled: q.enabled, desc: hex64(q.desc), driver: hex64(q.driver), device: hex64(q.device),
      pfn: q.pfn, align: q.align, msixVector: q.msixVector, notifyOff: q.notifyOff, lastAvailIdx: q.lastAvailIdx, usedIdx: q.usedIdx,
      availWrap: q.availWrap, usedWrap: q.usedWrap, availIdx: q.availIdx, resetPending: q.resetPending,
    };
  }
  const p = s.provisioned;
  return {
    identity: {
      type: s.type, virtioId: s.virtioId, transport: s.transport, legacy: legacyNegotiated(s),
      pciVendor: s.pci.vendor, pciDevice: s.pci.device, pciSubsystemVendor: s.pci.subsystemVendor, pciSubsystem: s.pci.subsystem,
      pciRevision: s.pci.revision, queueCount: s.queues.length, msixTableSize: s.msix.tableSize,
      ...(s.type === 'net' ? { netHeaderSize: netHeaderSize(s.features.accepted), netHeaderDecidedBy: netHeaderBasis(s.features.accepted) } : {}),
    },
    capabilities: caps,
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
      msixEnabled: s.msix.enabled, msixFunctionMask: s.msix.functionMask, configVector: s.msix.configVector, isr: s.isr,
      configGeneration: s.configGeneration, resetPending: s.resetPending, vfioState: s.vfioState ?? null,
      control: s.control.map((c) => `${c.class}/${c.command}=${Buffer.from(c.data).toString('hex')}${c.ack !== undefined ? ` ack ${c.ack}` : ''}`).join(' '),
    },
    // net control-queue state by item (rx mode flags, MAC filter, queue pairs, RSS, offloads): runtime
    ...(s.type === 'net' ? { netControl: netControlToJson(netControlOf(s.control, legacyNegotiated(s) ? null : 'little')) } : {}),
    provenance: {
      device: s.device, backend: s.backend, revision: s.revision, eventCount: s.eventCount, timestampNs: hex64(s.timestampNs),
    },
  };
}

const ABI_SECTIONS = new Set(['identity', 'capabilities', 'features.offered', 'features.accepted', 'features.parent', 'negotiation', 'provisioned']);

function classify(path: (string | number)[], runtimeConfig: Set<string> | undefined): DiffClass {
  const [sec, key, field] = path.map(String);
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
    const d: Difference = {
      path: isFeature ? sec : c.path.join('.'),
      class: classify(c.path, RUNTIME_CONFIG.get(a.type === b.type ? a.type : '')),
      change: CHANGE[c.type]!,
      a: isFeature ? c.type !== 'CREATE' : av ?? null,
      b: isFeature ? c.type !== 'REMOVE' : bv ?? null,
    };
    if (isFeature) {
      d.bit = (c.type === 'CREATE' ? c.value : c.oldValue) as number;
      d.name = String(c.path[1]);
    }
    out.push(d);
  }
  out.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : (x.bit ?? -1) - (y.bit ?? -1)));
  const counts: Record<DiffClass, number> = { abi: 0, runtime: 0, provenance: 0 };
  for (const d of out) counts[d.class]++;
  const hdr = (s: DeviceState): NetHeader => ({ size: netHeaderSize(s.features.accepted), decidedBy: netHeaderBasis(s.features.accepted) });
  return { differences: out, counts, ...(a.type === 'net' && b.type === 'net' ? { netHeader: { a: hdr(a), b: hdr(b) } } : {}) };
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
