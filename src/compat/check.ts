// Migration compatibility: a recorded device (source) against a target's profile. The rules are one data table
// (id, severity, category, what an error blocks, reference, fix hint, check), like the lint table
// (src/project/rules/table.ts). The verdict and the allowed-moves bitmask follow NVML's vGPU compatibility
// query: which moves are possible, and what limits them.
import { hex64 } from '../events/json.js';
import { deviceTypeByName, describeFeature, featureBitNumber, isLegacyTransport, isTransitionalPciId } from '../model/index.js';
import { configField } from '../model/device-config.js';
import { MSI_NO_VECTOR } from '../model/registers.js';
import { VFIO_MIGRATION_PRE_COPY, VFIO_MIGRATION_STOP_COPY, flagNames } from '../migration/vfio-fsm.js';
import { qemuVfioMigrationBlocker, vfioHost } from '../model/vfio.js';
import type { DeviceState } from '../project/state.js';
import { type Capability, capName, recordedCapabilityChain } from './caps.js';
import type { Profile, SourceInfo } from './profile.js';
import { predictQemuLoad } from './qemu-load.js';

export type CompatSeverity = 'error' | 'warning' | 'info';
export type Category =
  | 'qemu' | 'device' | 'features' | 'provisioning' | 'transport' | 'identity' | 'layout' | 'persona' | 'queues' | 'net' | 'vfio' | 'guest' | 'config';

export interface CheckContext {
  source: DeviceState;
  target: Profile;
  info: SourceInfo;
  /** records that part of the rule could not be checked: `field` is unknown (the rule goes on with the rest) */
  unknown(field: UnknownField): void;
}

/**
 * Values a rule may need that a source may not have seen, and how to learn each. A rule that needs one of them
 * unknown is not checked (listed in `notChecked`), never compared with 0.
 */
export const UNKNOWN_FIELDS = {
  'features.device': "the device's offered features: record the driver's probe (a QEMU trace with memory_region_ops_read), QMP x-query-virtio-status, or `vdpa dev config show`; a device-state stream does not carry them",
  'features.accepted': 'the accepted features: record from before FEATURES_OK (a trace) or import a device-state stream',
  'pci.device': 'the PCI device id: import a device-state stream (it holds the config space) or QMP query-pci',
  'pci.identity': 'the PCI identity (vendor, device, subsystem, revision): import a device-state stream or QMP query-pci',
  'pci.capabilities': 'the capability chain: import a device-state stream (a trace holds only the driver\'s config writes)',
  'queues.size': 'queue sizes: record the queue setup (a trace) or import a device-state stream',
  'msix': 'MSI-X table size and enable: import a device-state stream of a PCI device, or record its MSI-X capability',
  'transport': 'the device\'s transport: give devrec record --transport (pci-modern, pci-legacy, mmio-modern, mmio-legacy, vdpa, vfio) when recording a new device, or import a QEMU trace or device-state stream, which show it',
  'target.transport': 'the target\'s transport: the profile was derived from a device recorded without --transport; add transport to it',
  'target.features.offered': "the target's offered features: the profile was derived from a source without the offer; add features.offered to it",
  'target.pci': "the target's PCI identity: add pci to the profile",
  'target.queues.maxSizes': "the target's queue maxima: add queues.maxSizes to the profile",
} as const;
export type UnknownField = keyof typeof UNKNOWN_FIELDS;

export interface NotChecked {
  rule: string;
  /** the unknown values the rule (or part of it) needed */
  needs: UnknownField[];
  /** how to learn them */
  learn: string[];
}

class UnknownInput extends Error {
  constructor(readonly field: UnknownField) {
    super(`unknown ${field}`);
  }
}

/** The value, or stop the rule: it needs `field`, which no source has told us. */
function need<T>(v: T | null | undefined, field: UnknownField): T {
  if (v === null || v === undefined) throw new UnknownInput(field);
  return v;
}

export interface CompatRule {
  id: string;
  severity: CompatSeverity;
  category: Category;
  /** what a failure of this rule rules out: live migration only, or every move (cold too) */
  blocks: 'live' | 'all';
  reference: string;
  summary: string;
  fix: string;
  /** messages; a message may carry the lines QEMU itself prints for it */
  check(ctx: CheckContext): (string | { message: string; qemu: string[] })[];
}

export interface CompatFinding {
  rule: string;
  severity: CompatSeverity;
  category: Category;
  message: string;
  fix: string;
  reference: string;
  /** the lines the QEMU target prints for this (qemu-load), verbatim */
  qemu?: string[];
}

export type Verdict = 'compatible' | 'compatible-with-warnings' | 'incompatible';
export const MOVE_COLD = 1;
export const MOVE_LIVE = 2;

export interface CompatResult {
  verdict: Verdict;
  /** bit 0 cold (guest restarted on the target), bit 1 live */
  allowedMoves: number;
  moves: string[];
  /** categories of the errors, sorted */
  limitingFactors: Category[];
  errors: number;
  warnings: number;
  findings: CompatFinding[];
  /** rules (or parts of rules) that needed a value no source has told us */
  notChecked: NotChecked[];
}

// ---- helpers ----

const bit = (n: number) => 1n << BigInt(n);
// the feature bits the rules below test, by their spec names (numbers from the catalog, src/model/features.ts)
const F = {
  MTU: featureBitNumber('VIRTIO_NET_F_MTU'), MAC: featureBitNumber('VIRTIO_NET_F_MAC'),
  MRG_RXBUF: featureBitNumber('VIRTIO_NET_F_MRG_RXBUF'), CTRL_VQ: featureBitNumber('VIRTIO_NET_F_CTRL_VQ'),
  MQ: featureBitNumber('VIRTIO_NET_F_MQ'), VERSION_1: featureBitNumber('VIRTIO_F_VERSION_1'),
  RING_PACKED: featureBitNumber('VIRTIO_F_RING_PACKED'), HASH_REPORT: featureBitNumber('VIRTIO_NET_F_HASH_REPORT'),
} as const;
const NET_MAX_VQ_PAIRS_OFFSET = configField('net', 'max_virtqueue_pairs').offset;
const hex = (v: number | bigint) => '0x' + v.toString(16);
const has = (mask: bigint, n: number) => (mask & bit(n)) !== 0n;

function typeOf(s: string): string | undefined {
  return deviceTypeByName(s) ? s : undefined;
}

/** "bit 40 VIRTIO_F_RING_RESET, bit 54 ..." */
export function bitList(mask: bigint, type?: string): string {
  const out: string[] = [];
  for (let b = 0; mask >> BigInt(b) !== 0n; b++) {
    if ((mask >> BigInt(b)) & 1n) out.push(`bit ${b} ${describeFeature(b, typeOf(type ?? ''))?.name ?? `bit_${b}`}`);
  }
  return out.join(', ');
}

/** The device was driven through the legacy interface. */
export function legacyNegotiated(s: DeviceState): boolean {
  return s.features.acceptedVia === 'legacy-write' || isLegacyTransport(s.transport);
}

/** virtio-net header size for a feature set (virtio 1.3 5.1.6): 10 legacy without MRG_RXBUF, 12, 20 with HASH_REPORT. */
export function netHeaderSize(features: bigint): number {
  if (has(features, F.HASH_REPORT)) return 20;
  return has(features, F.VERSION_1) || has(features, F.MRG_RXBUF) ? 12 : 10;
}

/** What decides the virtio-net header size: the feature that makes it 12 (or 20) bytes, or legacy without MRG_RXBUF. */
export function netHeaderBasis(features: bigint): string {
  if (has(features, F.HASH_REPORT)) return 'VIRTIO_NET_F_HASH_REPORT';
  if (has(features, F.VERSION_1)) return 'VIRTIO_F_VERSION_1';
  if (has(features, F.MRG_RXBUF)) return 'VIRTIO_NET_F_MRG_RXBUF (legacy)';
  return 'legacy without VIRTIO_NET_F_MRG_RXBUF';
}

function family(t: string): string {
  return t.startsWith('mmio') ? 'virtio-mmio' : t === 'unspecified' ? 'unspecified' : 'PCI';
}

function le16(b: Uint8Array, off: number): number | undefined {
  return b.length >= off + 2 ? b[off]! | (b[off + 1]! << 8) : undefined;
}

/** net config max_virtqueue_pairs, valid with MQ (accepted implies offered) */
function maxVqPairs(s: DeviceState): number | undefined {
  return s.features.accepted !== null && has(s.features.accepted, F.MQ) ? le16(s.config, NET_MAX_VQ_PAIRS_OFFSET) : undefined;
}

function macText(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** kernel "vdpa: validate provisioned device features against specified attribute": the bits the attributes need */
function missingForAttrs(features: bigint, attrs: { mac: boolean; mtu: boolean; maxVqp: number | null }): bigint {
  let need = 0n;
  if (attrs.mac) need |= bit(F.MAC);
  if (attrs.mtu) need |= bit(F.MTU);
  if (attrs.maxVqp !== null && attrs.maxVqp > 1) need |= bit(F.MQ);
  return need & ~features;
}

function sourceProvisioned(s: DeviceState) {
  const p = s.provisioned;
  if (!p) return undefined;
  return {
    deviceFeatures: p.deviceFeaturesGiven ? p.deviceFeatures : null,
    mac: p.macGiven ? macText(p.mac) : null,
    mtu: p.mtuGiven ? p.mtu : null,
    maxVqp: p.maxVqpGiven ? p.maxVqp : null,
  };
}

/** The capability chain, when the recorded config space holds one (status register bit 4, capabilities list). */
export function recordedCaps(s: DeviceState): Capability[] | null {
  return recordedCapabilityChain(s.pci?.config);
}

const VDPA_REF = 'Linux commit "vdpa: allow provisioning device features" (Linux 6.2, vdpa_nl_cmd_dev_add_set_doit(); iproute2 vdpa dev add ... device_features)';

// ---- the rule table ----

export const COMPAT_RULES: readonly CompatRule[] = [
  {
    id: 'qemu-load', severity: 'error', category: 'qemu', blocks: 'live',
    reference: 'QEMU migration/savevm.c configuration_post_load, hw/pci/pci.c get_pci_config_device, hw/virtio/virtio.c virtio_load (src/compat/qemu-load.ts)',
    summary: 'the QEMU target refuses the QEMU stream (machine type, PCI config bytes, features), in QEMU\'s words',
    fix: 'start the target with the source\'s machine type and device options (each finding says which)',
    check: ({ target, info }) => {
      if (!info.qemu || !target.qemu) return [];
      const v = predictQemuLoad(info.qemu, target);
      return v.refused ? [{ message: `QEMU ${target.qemu.version} on the target refuses this stream: ${v.reason}; fix: ${v.fix}`, qemu: v.lines }] : [];
    },
  },
  {
    id: 'device-type', severity: 'error', category: 'device', blocks: 'all',
    reference: 'virtio 1.3 5 (device types)',
    summary: 'the target is another virtio device type',
    fix: 'pick a target of the same device type',
    check: ({ source, target }) => source.type && source.type !== target.deviceType ? [`source is a ${source.type} device, the target offers ${target.deviceType}`] : [],
  },
  {
    id: 'transport-family', severity: 'error', category: 'transport', blocks: 'all',
    reference: 'QEMU virtio_load() and get_pci_config_device(): the target must present the same guest-visible device',
    summary: 'the target sits on another bus (PCI vs virtio-mmio)',
    fix: 'migrate to a target on the same bus',
    check: ({ source, target }) => {
      const a = family(need(source.transport === 'unspecified' ? null : source.transport, 'transport'));
      const b = family(need(target.transport, 'target.transport'));
      return a !== b ? [`source is a ${a} device (${source.transport}), the target is ${b} (${target.transport})`] : [];
    },
  },
  {
    id: 'features-not-offered', severity: 'error', category: 'features', blocks: 'live',
    reference: 'QEMU virtio_load() (hw/virtio/virtio.c) refuses incoming guest features the target does not offer',
    summary: 'the guest negotiated features the target does not offer',
    fix: 'offer the named features on the target (newer QEMU / machine type, or a device with them), or restart the guest on the target (cold)',
    check: ({ source, target }) => {
      const accepted = need(source.features.accepted, 'features.accepted');
      const offered = need(target.features.offered, 'target.features.offered');
      const missing = accepted & ~offered;
      if (missing === 0n) return [];
      return [`Features ${hex(accepted)} unsupported. Allowed features: ${hex(offered)}: the target lacks ${bitList(missing, source.type)}`];
    },
  },
  {
    id: 'provisioned-features-differ', severity: 'error', category: 'provisioning', blocks: 'live',
    reference: `${VDPA_REF}: compatibility is equal provisioned device_features, not a superset`,
    summary: 'provisioned device_features differ (equality required)',
    fix: 'vdpa dev add ... device_features <the source mask> on the target',
    check: ({ source, target }) => {
      const a = sourceProvisioned(source)?.deviceFeatures ?? null;
      const b = target.provisioned?.deviceFeatures ?? null;
      if (a === null && b === null) return [];
      const t = source.type;
      if (a !== null && b !== null) {
        if (a === b) return [];
        const parts = [];
        if (a & ~b) parts.push(`only the source has ${bitList(a & ~b, t)}`);
        if (b & ~a) parts.push(`only the target has ${bitList(b & ~a, t)}`);
        return [`provisioned device_features differ: source ${hex64(a)}, target ${hex64(b)} (${parts.join('; ')})${b & ~a && !(a & ~b) ? ': a superset is not compatible' : ''}`];
      }
      // one side provisioned: compare the provisioned mask with the other side's actual device features
      const given = (a ?? b)!;
      const other = a !== null ? need(target.features.offered, 'target.features.offered') : need(source.features.device, 'features.device');
      if (given === other) return [];
      return [`${a !== null ? 'source' : 'target'} provisioned device_features ${hex64(given)}, the ${a !== null ? 'target' : 'source'} was not provisioned and offers ${hex64(other)}`];
    },
  },
  {
    id: 'provisioned-one-side', severity: 'warning', category: 'provisioning', blocks: 'live',
    reference: VDPA_REF,
    summary: 'only one side has provisioned device_features: the other depends on parent defaults',
    fix: 'provision device_features explicitly on both sides',
    check: ({ source, target }) => {
      const a = sourceProvisioned(source)?.deviceFeatures ?? null;
      const b = target.provisioned?.deviceFeatures ?? null;
      if ((a === null) === (b === null)) return [];
      return [`device_features provisioned on the ${a !== null ? 'source' : 'target'} only; the other side's features are whatever its parent gave (they can change with firmware)`];
    },
  },
  {
    id: 'passive-features-differ', severity: 'error', category: 'provisioning', blocks: 'live',
    reference: `${VDPA_REF}: without provisioning, only devices with the same device_features can take each other`,
    summary: 'vDPA without provisioning: the actual device features must be equal',
    fix: 'provision the target with device_features equal to the source device features',
    check: ({ source, target }) => {
      const vdpa = source.transport === 'vdpa' || target.transport === 'vdpa';
      if (!vdpa || sourceProvisioned(source)?.deviceFeatures != null || target.provisioned?.deviceFeatures != null) return [];
      // parent features are not used as a stand-in for unknown device features
      const a = need(source.features.device, 'features.device');
      const b = need(target.features.offered, 'target.features.offered');
      if (a === b) return [];
      const parts = [];
      if (a & ~b) parts.push(`only the source has ${bitList(a & ~b, source.type)}`);
      if (b & ~a) parts.push(`only the target has ${bitList(b & ~a, source.type)}`);
      return [`neither side provisioned device_features and the device features differ: source ${hex64(a)}, target ${hex64(b)} (${parts.join('; ')})`];
    },
  },
  {
    id: 'offered-features-differ', severity: 'warning', category: 'features', blocks: 'live',
    reference: 'QEMU virtio_load() and get_pci_config_device(): the target must present the same guest-visible device (the same offered features)',
    summary: 'the target offers another feature set (the guest sees it after its next reset)',
    fix: 'offer the same features on the target (same machine type / device options)',
    check: ({ source, target }) => {
      if (source.transport === 'vdpa' || target.transport === 'vdpa') return [];
      const a = need(source.features.device, 'features.device');
      const b = need(target.features.offered, 'target.features.offered');
      if (a === b) return [];
      const parts = [];
      if (a & ~b) parts.push(`not offered by the target: ${bitList(a & ~b, source.type)}`);
      if (b & ~a) parts.push(`only offered by the target: ${bitList(b & ~a, source.type)}`);
      return [`offered features differ: source ${hex64(a)}, target ${hex64(b)} (${parts.join('; ')})`];
    },
  },
  {
    id: 'parent-cannot-provision', severity: 'error', category: 'provisioning', blocks: 'live',
    reference: `${VDPA_REF}: a parent that lacks a feature cannot provision it, nor its attribute`,
    summary: "the target's parent does not support every feature of the source device",
    fix: 'use a target parent (management device) that supports the named features',
    check: ({ source, target }) => {
      const parent = target.features.parent;
      if (parent === null) return [];
      const want = sourceProvisioned(source)?.deviceFeatures ?? need(source.features.device, 'features.device');
      const missing = want & ~parent;
      return missing ? [`cannot provision a matching device: the target parent supports ${hex64(parent)}, lacking ${bitList(missing, source.type)}`] : [];
    },
  },
  {
    id: 'provisioned-attr-mismatch', severity: 'error', category: 'provisioning', blocks: 'live',
    reference: `${VDPA_REF}: mac, mtu and max_vqp are part of what a target must match`,
    summary: 'a provisioned attribute (mac, mtu, max_vqp) differs in value or presence',
    fix: 'vdpa dev add ... with the same mac / mtu / max_vqp as the source',
    check: ({ source, target }) => {
      const a = sourceProvisioned(source);
      const b = target.provisioned;
      if (!a && !b) return [];
      const out: string[] = [];
      for (const k of ['mac', 'mtu', 'maxVqp'] as const) {
        const x = a?.[k] ?? null;
        const y = b?.[k] ?? null;
        if (x !== y) out.push(`provisioned ${k === 'maxVqp' ? 'max_vqp' : k}: source ${x === null ? 'not given' : x}, target ${y === null ? 'not given' : y}`);
      }
      return out;
    },
  },
  {
    id: 'provisioned-attr-without-feature', severity: 'error', category: 'provisioning', blocks: 'all',
    reference: 'Linux commit "vdpa: validate provisioned device features against specified attribute" (vdpa_nl_cmd_dev_add_set_doit(), drivers/vdpa/vdpa.c)',
    summary: 'mac / mtu / max_vqp provisioned without its feature bit: "Missing features 0x%llx for provided attributes"',
    fix: 'add VIRTIO_NET_F_MAC / _MTU / _MQ to device_features, or drop the attribute',
    check: ({ source, target }) => {
      const out: string[] = [];
      const one = (who: string, p: { deviceFeatures: bigint | null; mac: string | null; mtu: number | null; maxVqp: number | null } | null | undefined) => {
        if (!p || p.deviceFeatures === null) return;
        const missing = missingForAttrs(p.deviceFeatures, { mac: p.mac !== null, mtu: p.mtu !== null, maxVqp: p.maxVqp });
        if (missing) out.push(`${who}: Missing features ${hex(missing)} for provided attributes (${bitList(missing, 'net')})`);
      };
      one('target', target.provisioned);
      one('source', sourceProvisioned(source));
      return out;
    },
  },
  {
    id: 'mq-without-ctrl-vq', severity: 'warning', category: 'net', blocks: 'live',
    reference: 'virtio 1.3 5.1.3.1 (feature bit requirements: VIRTIO_NET_F_MQ requires VIRTIO_NET_F_CTRL_VQ)',
    summary: 'VIRTIO_NET_F_MQ without VIRTIO_NET_F_CTRL_VQ',
    fix: 'offer / provision VIRTIO_NET_F_CTRL_VQ with VIRTIO_NET_F_MQ',
    check: ({ source, target }) => {
      if (target.deviceType !== 'net') return [];
      const out: string[] = [];
      const one = (who: string, m: bigint | null | undefined) => {
        if (m != null && has(m, F.MQ) && !has(m, F.CTRL_VQ)) out.push(`${who} has VIRTIO_NET_F_MQ without VIRTIO_NET_F_CTRL_VQ: F_MQ requires F_CTRL_VQ`);
      };
      one('target offer', target.features.offered);
      one('target provisioned device_features', target.provisioned?.deviceFeatures);
      if (source.type === 'net') one('source negotiation', source.features.accepted);
      return out;
    },
  },
  {
    id: 'legacy-onto-modern-only', severity: 'error', category: 'transport', blocks: 'all',
    reference: 'virtio 1.3 4.1.2 (PCI device discovery: transitional devices 0x1000..0x103f have the legacy interface, 0x1040 on do not)',
    summary: 'the guest drives the device through the legacy interface, the target is modern-only',
    fix: 'use a transitional target with legacy access (IO BAR, or admin legacy commands on a legacy-capable PF)',
    check: ({ source, target }) => legacyNegotiated(source) && !target.legacy.supported && need(target.transport, 'target.transport')
      ? [`the source device was negotiated through the legacy interface (${source.transport}, accepted via ${source.features.acceptedVia !== 'none' ? source.features.acceptedVia : 'legacy transport'}); the target (${target.transport}) has no legacy support`]
      : [],
  },
  {
    id: 'transitional-identity', severity: 'error', category: 'identity', blocks: 'live',
    reference: 'virtio 1.3 4.1.2 (transitional and modern-only PCI device ids); QEMU get_pci_config_device() refuses a different device id',
    summary: 'transitional vs modern-only PCI identity changes',
    fix: 'keep the same transitional / modern-only identity on the target',
    check: ({ source, target }) => {
      if (family(source.transport) !== 'PCI') return [];
      need(target.transport, 'target.transport'); // a target of unknown transport has no known PCI identity either
      const id = source.pci?.device ?? null;
      if (source.transport !== 'pci-legacy') need(id, 'pci.device');
      const src = source.transport === 'pci-legacy' || (id !== null && isTransitionalPciId(id));
      if (src === target.legacy.transitional) return [];
      return [`source is ${src ? 'a transitional' : 'a modern-only'} PCI device, the target is ${target.legacy.transitional ? 'transitional' : 'modern-only'}`];
    },
  },
  {
    id: 'pci-identity', severity: 'error', category: 'identity', blocks: 'live',
    reference: 'QEMU get_pci_config_device() (hw/pci/pci.c) refuses incoming config whose read-only bytes (ids, revision) differ',
    summary: 'PCI vendor, device, subsystem vendor, subsystem or revision differs',
    fix: 'present the same PCI identity on the target',
    check: ({ source, target, unknown }) => {
      if (family(source.transport) !== 'PCI' || !target.pci) return [];
      const out: string[] = [];
      for (const k of ['vendor', 'device', 'subsystemVendor', 'subsystem', 'revision'] as const) {
        const a = source.pci?.[k] ?? null;
        const b = target.pci[k];
        if (a === null) unknown('pci.identity');
        else if (b === null) unknown('target.pci'); // e.g. a profile read over QMP has no revision
        else if (a !== b) out.push(`PCI ${k}: source ${hex(a)}, target ${hex(b)}`);
      }
      return out;
    },
  },
  {
    id: 'capability-layout', severity: 'error', category: 'layout', blocks: 'live',
    reference: 'QEMU get_pci_config_device() (hw/pci/pci.c): the capability chain is read-only config, it must be the same on the target',
    summary: 'a capability of the source is missing on the target or at another offset (PASID included)',
    fix: 'expose the same capability chain on the target (a vPCI layout template)',
    check: ({ source, target }) => {
      if (!target.capabilities) return [];
      const out: string[] = [];
      for (const c of need(recordedCaps(source), 'pci.capabilities')) {
        const same = target.capabilities.filter((t) => t.space === c.space && t.id === c.id);
        if (same.length === 0) {
          out.push(`${capName(c)} at 0x${c.offset.toString(16)} is missing on the target`);
          continue;
        }
        const at = same.find((t) => t.offset === c.offset);
        if (!at) {
          out.push(`${capName(c)} is at 0x${c.offset.toString(16)} on the source, at ${same.map((t) => '0x' + t.offset.toString(16)).join(', ')} on the target`);
          continue;
        }
        if (c.length && at.length && at.length !== c.length) out.push(`${capName(c)} at 0x${c.offset.toString(16)} is ${c.length} bytes on the source, ${at.length} on the target`);
        if (c.pasidWidth !== undefined && at.pasidWidth !== undefined && at.pasidWidth < c.pasidWidth) {
          out.push(`PASID width ${c.pasidWidth} bits on the source, ${at.pasidWidth} on the target`);
        }
      }
      return out;
    },
  },
  {
    id: 'persona-mismatch', severity: 'error', category: 'persona', blocks: 'live',
    reference: 'docs/compat.md (personas: an operator-defined device profile id and version)',
    summary: 'the persona (operator device profile) id or version differs',
    fix: 'give the target the source persona (or a persona that declares it)',
    check: ({ info, target }) => {
      const a = info.persona;
      const b = target.persona;
      if (!a || (!a.id && !a.version)) return [];
      if (!b) return [`source persona ${a.id} ${a.version}, the target declares none`];
      return a.id !== b.id || a.version !== b.version ? [`persona mismatch: source ${a.id} ${a.version}, target ${b.id} ${b.version}`] : [];
    },
  },
  {
    id: 'queue-count', severity: 'error', category: 'queues', blocks: 'live',
    reference: 'QEMU virtio_load() ("Invalid number of virtqueues"); oxidecomputer/propolis issue #1121 (multiqueue collapsed to one pair)',
    summary: 'the target has fewer queues than the source uses',
    fix: 'configure the target with at least as many queues',
    check: ({ source, target }) => {
      const used = source.queues.filter((q) => (q.size !== null && q.size > 0) || q.enabled === true || (q.desc !== null && q.desc !== 0n) || q.pfn !== 0);
      const need = used.length ? used[used.length - 1]!.index + 1 : 0;
      return need > target.queues.count ? [`source uses ${need} queues, the target has ${target.queues.count}`] : [];
    },
  },
  {
    id: 'queue-size', severity: 'error', category: 'queues', blocks: 'live',
    reference: 'QEMU virtio_load() (ringsize subsection: a queue size the target cannot hold is refused); oxidecomputer/propolis issue #1117',
    summary: 'a queue of the source is larger than the target maximum',
    fix: 'raise the target queue sizes (e.g. rx_queue_size / tx_queue_size / queue-size)',
    check: ({ source, target, info, unknown }) => {
      // QEMU to QEMU the ring sizes travel with the stream (virtio_load takes vring.num, and num_default from the
      // virtio/ringsize subsection): seen on a real QEMU 7.2 target with maximum 256 taking a QEMU 10.0 stream's 1024.
      // queue-max-size-differs warns instead.
      if (info.qemu && target.qemu) return [];
      const out: string[] = [];
      for (const q of source.queues) {
        const max = target.queues.maxSizes[q.index];
        if (max === undefined) continue;
        const size = q.size || q.maxSize;
        if (size === null) unknown('queues.size');
        else if (max === null) unknown('target.queues.maxSizes');
        else if (size > max) out.push(`queue ${q.index}: size ${size} on the source, the target maximum is ${max}`);
      }
      return out;
    },
  },
  {
    id: 'queue-max-size-differs', severity: 'warning', category: 'queues', blocks: 'live',
    reference: 'QEMU virtio_load() ringsize subsection (num_default)',
    summary: 'a queue maximum differs (the guest sees it after a reset)',
    fix: 'use the same queue size options on the target',
    check: ({ source, target, info }) => source.queues
      .filter((q) => {
        const max = target.queues.maxSizes[q.index];
        if (!q.maxSize || q.size === null || max === undefined || max === null || max === q.maxSize) return false;
        return q.size <= max || Boolean(info.qemu && target.qemu);
      })
      .map((q) => {
        const max = target.queues.maxSizes[q.index]!;
        return `queue ${q.index}: maximum ${q.maxSize} on the source, ${max} on the target` + (q.size! > max ? ` (size ${q.size} in use: a QEMU target takes it with the stream, the guest keeps ${q.size})` : '');
      }),
  },
  {
    id: 'ring-layout', severity: 'error', category: 'queues', blocks: 'live',
    reference: 'virtio 1.3 2.7 / 2.8, VIRTIO_F_RING_PACKED (bit 34)',
    summary: 'the source uses packed (or split) rings, the target does not support them',
    fix: 'enable the same ring layout on the target (packed=on)',
    check: ({ source, target }) => {
      const packed = has(need(source.features.accepted, 'features.accepted'), F.RING_PACKED);
      if (packed && !target.queues.packed) return ['the source negotiated VIRTIO_F_RING_PACKED: its rings are packed, the target has split rings only'];
      if (!packed && !target.queues.split) return ['the source uses split rings, the target has packed rings only'];
      return [];
    },
  },
  {
    id: 'net-header-size', severity: 'error', category: 'net', blocks: 'live',
    reference: 'virtio 1.3 5.1.6 (virtio_net_hdr: 10 bytes legacy without MRG_RXBUF, 12 with VERSION_1 or MRG_RXBUF); oxidecomputer/propolis issue #731',
    summary: 'the virtio-net header size in effect would change',
    fix: 'offer VIRTIO_F_VERSION_1 / VIRTIO_NET_F_MRG_RXBUF on the target as on the source',
    check: ({ source, target }) => {
      if (source.type !== 'net') return [];
      const accepted = need(source.features.accepted, 'features.accepted');
      const a = netHeaderSize(accepted);
      const b = netHeaderSize(accepted & need(target.features.offered, 'target.features.offered'));
      return a !== b ? [`the source uses ${a}-byte virtio-net headers; with the features the target offers it would use ${b}`] : [];
    },
  },
  {
    id: 'net-max-vqp', severity: 'error', category: 'net', blocks: 'live',
    reference: 'QEMU virtio-net vmstate max_queue_pairs (VMSTATE_UINT16_EQUAL, hw/net/virtio-net.c); Linux vdpa_nl_cmd_dev_add_set_doit() max_vqp',
    summary: 'multiqueue: the target cannot offer the same number of queue pairs',
    fix: 'configure the target with the same queue pairs (queues=N / max_vqp N)',
    check: ({ source, target }) => {
      if (source.type !== 'net' || !has(need(source.features.accepted, 'features.accepted'), F.MQ)) return [];
      const pairs = maxVqPairs(source);
      if (pairs === undefined) return [];
      const out: string[] = [];
      const offered = need(target.features.offered, 'target.features.offered');
      if (!has(offered, F.MQ)) out.push(`the source negotiated VIRTIO_NET_F_MQ with ${pairs} queue pairs, the target does not offer MQ`);
      const tp = target.provisioned?.maxVqp ?? Math.floor((target.queues.count - (has(offered, F.CTRL_VQ) ? 1 : 0)) / 2);
      if (tp !== pairs) out.push(`max_virtqueue_pairs ${pairs} on the source, ${tp} on the target (QEMU requires them equal)`);
      return out;
    },
  },
  {
    id: 'vfio-stop-copy', severity: 'error', category: 'vfio', blocks: 'live',
    reference: 'Linux include/uapi/linux/vfio.h: VFIO_MIGRATION_STOP_COPY is mandatory for migration (vfio_ioctl_device_feature_migration())',
    summary: 'the target VFIO device cannot migrate (no STOP_COPY), or a VFIO source has a target without VFIO migration',
    fix: 'use a VFIO variant driver with migration support (VFIO_MIGRATION_STOP_COPY)',
    check: ({ source, target, info }) => {
      if (target.vfio && !(target.vfio.migrationFlags & VFIO_MIGRATION_STOP_COPY)) {
        return [`the target's VFIO migration flags are ${hex(target.vfio.migrationFlags)} (${flagNames(target.vfio.migrationFlags) || 'none'}): VFIO_MIGRATION_STOP_COPY is required`];
      }
      if (!target.vfio && (source.transport === 'vfio' || info.vfioFlags !== undefined) && target.transport === 'vfio') {
        return ['the target is a VFIO device without declared migration support (no vfio.migrationFlags)'];
      }
      return [];
    },
  },
  {
    id: 'vfio-no-migration', severity: 'error', category: 'vfio', blocks: 'live',
    reference: 'QEMU hw/vfio/migration.c vfio_migration_realize (a migration blocker when the kernel driver has no VFIO_DEVICE_FEATURE_MIGRATION); linux/vfio.h VFIO_DEVICE_FEATURE_MIGRATION',
    summary: 'the source is passed through with vfio-pci and no VFIO migration support is recorded for it: its VMM blocks live migration',
    fix: 'bind the device to a VFIO variant driver with migration support (VFIO_MIGRATION_STOP_COPY), or move the guest cold',
    check: ({ source, info }) => {
      if (source.transport !== 'vfio' || info.vfioFlags !== undefined) return [];
      const host = vfioHost(source.backend) ?? source.device;
      return [`${source.device} is passed through with vfio-pci and its VFIO migration flags are unknown (nothing recorded says its kernel driver can migrate): live migration is not possible; QEMU refuses it with "${qemuVfioMigrationBlocker(host)}"`];
    },
  },
  {
    id: 'vfio-no-precopy', severity: 'warning', category: 'vfio', blocks: 'live',
    reference: 'linux/vfio.h VFIO_MIGRATION_PRE_COPY; docs/migration-format.md 5',
    summary: 'the source ran with PRE_COPY, the target has none (all device data moves in STOP_COPY: longer downtime)',
    fix: 'use a target with VFIO_MIGRATION_PRE_COPY to keep downtime low',
    check: ({ target, info }) => info.vfioFlags !== undefined && (info.vfioFlags & VFIO_MIGRATION_PRE_COPY) && target.vfio && !(target.vfio.migrationFlags & VFIO_MIGRATION_PRE_COPY)
      ? [`source flags ${flagNames(info.vfioFlags)}, target ${flagNames(target.vfio.migrationFlags)}`]
      : [],
  },
  {
    id: 'legacy-guest-limits', severity: 'error', category: 'guest', blocks: 'all',
    reference: 'virtio 1.3 1.3.1 (legacy interface: legacy devices use guest-native byte order)',
    summary: "the guest's byte order or architecture is outside the target's legacy support",
    fix: 'use a target whose legacy support covers the guest (or a modern driver in the guest)',
    check: ({ source, target, info }) => {
      if (!legacyNegotiated(source) || !target.legacy.supported) return [];
      const out: string[] = [];
      if (target.legacy.guestEndian && info.guestEndian && !target.legacy.guestEndian.includes(info.guestEndian)) {
        out.push(`the guest is ${info.guestEndian}-endian, the target's legacy interface supports ${target.legacy.guestEndian.join(', ')}`);
      }
      if (target.legacy.guestArch && info.guestArch && !target.legacy.guestArch.includes(info.guestArch)) {
        out.push(`the guest is ${info.guestArch}, the target's legacy interface supports ${target.legacy.guestArch.join(', ')}`);
      }
      return out;
    },
  },
  {
    id: 'legacy-guest-unknown', severity: 'warning', category: 'guest', blocks: 'all',
    reference: 'docs/migration-format.md 9 (guest byte order of legacy devices is not recorded)',
    summary: "the target limits legacy guests, and the source guest's byte order / architecture is not recorded",
    fix: 'give --guest-arch / --guest-endian to check them',
    check: ({ source, target, info }) => {
      if (!legacyNegotiated(source) || !target.legacy.supported) return [];
      const out: string[] = [];
      if (target.legacy.guestEndian && !info.guestEndian) out.push(`the target's legacy interface supports ${target.legacy.guestEndian.join(', ')}-endian guests; the source guest's byte order is not recorded`);
      if (target.legacy.guestArch && !info.guestArch) out.push(`the target's legacy interface supports ${target.legacy.guestArch.join(', ')} guests; the source guest's architecture is not recorded`);
      return out;
    },
  },
  {
    id: 'msix-vectors', severity: 'error', category: 'config', blocks: 'live',
    reference: 'PCI Local Bus 3.0 6.8.2 (MSI-X Table Size); QEMU msix_load() loads the table of the size the target has',
    summary: 'the source uses more MSI-X vectors than the target has',
    fix: 'configure the target with at least as many MSI-X vectors (vectors=N)',
    check: ({ source, target }) => {
      if (target.msixVectors === null || !source.msix) return [];
      if (!need(source.msix.enabled, 'msix')) return [];
      const used = [source.msix.configVector, ...source.queues.map((q) => q.msixVector)].filter((v): v is number => v !== null && v !== MSI_NO_VECTOR);
      const wanted = Math.max(need(source.msix.tableSize, 'msix'), used.length ? Math.max(...used) + 1 : 0);
      return wanted > target.msixVectors ? [`the source uses ${wanted} MSI-X vectors, the target has ${target.msixVectors}`] : [];
    },
  },
  {
    id: 'config-size', severity: 'error', category: 'config', blocks: 'live',
    reference: 'QEMU virtio_load() (hw/virtio/virtio.c): a config_len mismatch loads the smaller of both sizes and drops the rest silently',
    summary: 'the target device config space is smaller than the source',
    fix: 'enable the same config fields on the target (the features that add them)',
    check: ({ source, target }) => target.configSize !== null && source.config.length > target.configSize
      ? [`the source device config is ${source.config.length} bytes, the target's ${target.configSize}: QEMU would drop ${source.config.length - target.configSize} bytes silently`]
      : [],
  },
];

export function compatRuleById(id: string): CompatRule | undefined {
  return COMPAT_RULES.find((r) => r.id === id);
}

const MOVE_NAMES: [number, string][] = [[MOVE_COLD, 'cold'], [MOVE_LIVE, 'live']];

export function checkCompatibility(source: DeviceState, target: Profile, info: SourceInfo = {}): CompatResult {
  const findings: CompatFinding[] = [];
  const notChecked: NotChecked[] = [];
  let allowed = MOVE_COLD | MOVE_LIVE;
  const limiting = new Set<Category>();
  for (const r of COMPAT_RULES) {
    const needs = new Set<UnknownField>();
    const ctx: CheckContext = { source, target, info, unknown: (f) => needs.add(f) };
    let messages: ReturnType<CompatRule['check']>;
    try {
      messages = r.check(ctx);
    } catch (e) {
      if (!(e instanceof UnknownInput)) throw e;
      needs.add(e.field);
      messages = [];
    }
    if (needs.size) notChecked.push({ rule: r.id, needs: [...needs], learn: [...needs].map((f) => UNKNOWN_FIELDS[f]) });
    for (const m of messages) {
      const message = typeof m === 'string' ? m : m.message;
      const f: CompatFinding = { rule: r.id, severity: r.severity, category: r.category, message, fix: r.fix, reference: r.reference };
      if (typeof m !== 'string') f.qemu = m.qemu;
      findings.push(f);
      if (r.severity === 'error') {
        allowed &= r.blocks === 'all' ? 0 : ~MOVE_LIVE;
        limiting.add(r.category);
      }
    }
  }
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.filter((f) => f.severity === 'warning').length;
  // rules not checked do not change the verdict (nothing was found); they are listed beside it, with how to learn
  return {
    verdict: errors ? 'incompatible' : warnings ? 'compatible-with-warnings' : 'compatible',
    allowedMoves: allowed,
    moves: MOVE_NAMES.filter(([b]) => allowed & b).map(([, n]) => n),
    limitingFactors: [...limiting].sort(),
    errors, warnings, findings, notChecked,
  };
}
