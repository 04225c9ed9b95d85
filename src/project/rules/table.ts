// The rule table. Each row: id, severity, reference (a public source: virtio spec
// section, kernel or QEMU function or commit), one-line summary, and the check. Order is the order findings are reported in.
import { missingAttributeFeatures } from '../../model/vdpa.js';
import type { EventBody, RegisterAccess } from '../../events/types.js';
import { STATUS, featureBit, featureNames, isLegacyTransport } from '../../model/index.js';
import { LEGACY_VRING_ALIGN, STATUS_REGISTER } from '../../model/registers.js';
import { deviceTypeByName } from '../../model/device-types.js';
import type { DeviceState, QueueState } from '../state.js';
import { type Rule, type RuleContext, UnknownValue, need } from './types.js';

const isLegacy = (s: DeviceState) => isLegacyTransport(s.transport);
const hex = (v: number | bigint) => '0x' + v.toString(16);
const names = (mask: bigint, s: DeviceState) => featureNames(mask, deviceTypeByName(s.type) ? s.type : undefined).join(' ');
const bit = (n: number) => 1n << BigInt(n);
const RING_PACKED = featureBit('VIRTIO_F_RING_PACKED');
const NET_MQ = featureBit('VIRTIO_NET_F_MQ');
const NET_CTRL_VQ = featureBit('VIRTIO_NET_F_CTRL_VQ');

function isStatusAccess(b: RegisterAccess): boolean {
  return STATUS_REGISTER[b.region] === b.offset;
}

/** Guest accesses that do not count as "touching the device" while waiting for a reset to finish. */
function awaitsReset(b: EventBody): boolean {
  switch (b.kind) {
    case 'registerAccess':
      // reading status is the wait itself; writing 0 again is another reset request
      return isStatusAccess(b) && (b.direction === 'read' || b.value === 0n);
    case 'statusRead':
    case 'resetRequested':
    case 'resetCompleted':
    case 'annotation':
      return true;
    case 'statusWritten':
      return b.status === 0;
    default:
      return false;
  }
}

function resetNotAwaited(ctx: RuleContext, legacy: boolean): string | undefined {
  const { before, event, mem } = ctx;
  if (!before.resetPending || mem.resetFindingGiven || event.actor !== 'guest-driver') return undefined;
  if (event.body.kind === 'registerAccess' && event.body.valueUnseen && isStatusAccess(event.body)) mem.statusReadUnseen = true;
  if (isLegacy(before) !== legacy || awaitsReset(event.body)) return undefined;
  // the driver read status but the value was not recorded (a virtio_mmio_read trace line): it may have seen 0
  if (mem.statusReadUnseen) {
    mem.resetFindingGiven = true; // once per reset: the answer stays unknown
    throw new UnknownValue('the status read after the reset (value not recorded)');
  }
  mem.resetFindingGiven = true;
  return legacy
    ? `legacy driver went on (${event.body.kind}) before reading status 0 after a reset: tolerated, legacy drivers do not wait for reset`
    : `driver went on (${event.body.kind}) after writing status 0 without first reading status back as 0`;
}

function splitRing(s: DeviceState): boolean {
  return (need(s.features.accepted, 'features.accepted') & RING_PACKED) === 0n;
}

function queueOfEvent(ctx: RuleContext): { before: QueueState | undefined; after: QueueState } | undefined {
  const b = ctx.event.body;
  if (b.kind !== 'vqIndex' && b.kind !== 'queueConfigured') return undefined;
  const after = ctx.after.queues.find((q) => q.index === b.index);
  if (!after) return undefined;
  return { before: ctx.before.queues.find((q) => q.index === b.index), after };
}

const MAC_BYTES = 6;

export const RULES: readonly Rule[] = [
  {
    id: 'reset-not-awaited',
    severity: 'error',
    reference: 'virtio 1.3 4.1.4.3.2 (driver requirements, common configuration): after writing 0 to device_status, a driver waits until reading device_status returns 0',
    summary: 'modern driver accessed the device after a reset before status read back 0',
    check: (ctx) => resetNotAwaited(ctx, false),
  },
  {
    id: 'legacy-reset-not-awaited',
    severity: 'info',
    reference: 'virtio 1.3 4.1.4.3.2 binds modern drivers only; Linux vp_reset() (drivers/virtio/virtio_pci_legacy.c) reads status once to flush the write, it does not wait: tolerated',
    summary: 'legacy driver accessed the device after a reset before status read back 0',
    check: (ctx) => resetNotAwaited(ctx, true),
  },
  {
    id: 'driver-ok-without-features-ok',
    severity: 'error',
    reference: 'virtio 1.x 3.1.1: the driver sets FEATURES_OK before DRIVER_OK (modern devices)',
    summary: 'DRIVER_OK set on a modern device without FEATURES_OK having been set and kept',
    check: ({ before, event }) => {
      const b = event.body;
      if (b.kind !== 'statusWritten' || isLegacy(before) || !(b.status & STATUS.DRIVER_OK)) return undefined;
      if (need(before.status, 'status') & STATUS.DRIVER_OK) return undefined; // already running: not a new DRIVER_OK
      if (!(b.status & STATUS.FEATURES_OK)) return `status ${hex(b.status)} sets DRIVER_OK without FEATURES_OK`;
      if (before.features.negotiation === 'none' && before.features.accepted === null && (need(before.status, 'status') & STATUS.FEATURES_OK)) {
        // FEATURES_OK was written, but the device's answer (the status read back) was not recorded
        throw new UnknownValue('features.accepted (the status read after FEATURES_OK was not recorded)');
      }
      if (before.features.negotiation !== 'accepted') {
        return `status ${hex(b.status)} sets DRIVER_OK, but FEATURES_OK was never set and read back as kept by the device`;
      }
      return undefined;
    },
  },
  {
    id: 'features-ok-refused',
    severity: 'warning',
    reference: 'virtio 1.x 3.1.1 step 6: the device cleared FEATURES_OK, it does not support the subset the driver wrote',
    summary: 'the device refused the feature subset (FEATURES_OK cleared)',
    check: ({ before, event }) =>
      event.body.kind === 'featuresNegotiated' && !event.body.accepted
        ? before.features.driver === null
          ? 'device cleared FEATURES_OK: it refused the driver features (not recorded)'
          : `device cleared FEATURES_OK: it refused driver features ${hex(before.features.driver)} (${names(before.features.driver, before)})`
        : undefined,
  },
  {
    id: 'driver-features-not-offered',
    severity: 'error',
    reference: 'virtio 1.x 2.2: the driver MUST NOT accept a feature the device did not offer',
    summary: 'driver wrote feature bits the device did not offer',
    check: ({ after, event, mem }) => {
      const b = event.body;
      if (b.kind !== 'driverFeatures') return undefined;
      const driver = need(after.features.driver, 'features.driver');
      const device = need(after.features.device, 'features.device');
      let extra = driver & ~device;
      if (mem.offerKnown !== 'all') {
        // Only judge the words of the offer the driver has seen.
        let seen = 0n;
        for (const w of mem.offerKnown) seen |= 0xffffffffn << BigInt(32 * w);
        extra &= seen;
      }
      return extra ? `driver features ${hex(driver)} include ${hex(extra)} (${names(extra, after)}), not offered (offer ${hex(device)})` : undefined;
    },
  },
  {
    id: 'legacy-driver-high-bits',
    severity: 'error',
    reference: 'virtio 0.9.5 / 1.x 4.1.4.8: the legacy interface has 32 feature bits (GUEST_FEATURES is 32-bit)',
    summary: 'legacy driver wrote feature bits at or above 32',
    check: ({ before, event }) => {
      const b = event.body;
      if (b.kind !== 'driverFeatures' || !isLegacy(before)) return undefined;
      const high = b.select === undefined ? b.value >> 32n : b.select > 0 ? b.value : 0n;
      return high ? `legacy driver features write has bits >= 32 set (${hex(b.select === undefined ? b.value : b.value << BigInt(32 * (b.select ?? 0)))})` : undefined;
    },
  },
  {
    id: 'set-features-zero',
    severity: 'info',
    reference: 'Linux vdpa_get_config_unlocked() (drivers/vdpa/vdpa.c) calls set_features(0) on its own for a guest that reads config first: a features value of 0 is a protocol step, not an error',
    summary: 'driver features set to 0 (reset-to-zero protocol)',
    check: ({ event }) => {
      const b = event.body;
      return b.kind === 'driverFeatures' && b.select === undefined && b.value === 0n && b.highWords.every((w) => w === 0n)
        ? 'driver features set to 0: accepted as the reset-to-zero protocol'
        : undefined;
    },
  },
  {
    id: 'config-before-features',
    severity: 'warning',
    reference: 'Linux vdpa_get_config_unlocked() (drivers/vdpa/vdpa.c): a config read before features are set is taken as a legacy guest',
    summary: 'driver read device config before writing its features (implicit legacy)',
    check: ({ before, event, mem }) => {
      if (event.body.kind !== 'configRead' || event.actor !== 'guest-driver' || isLegacy(before)) return undefined;
      if (mem.driverFeaturesSinceReset || !(need(before.status, 'status') & STATUS.DRIVER)) return undefined;
      return `config read at ${hex(event.body.offset)} before any driver features were written: the device cannot know yet whether the guest is legacy`;
    },
  },
  {
    id: 'mq-without-ctrl-vq',
    severity: 'error',
    reference: 'virtio 1.x 5.1.3.1: VIRTIO_NET_F_MQ requires VIRTIO_NET_F_CTRL_VQ',
    summary: 'net device negotiated MQ without CTRL_VQ',
    check: ({ before, after }) => {
      if (after.type !== 'net' || after.features.accepted === before.features.accepted || after.features.accepted === null) return undefined;
      const a = after.features.accepted;
      return a & NET_MQ && !(a & NET_CTRL_VQ) ? `accepted features ${hex(a)} have VIRTIO_NET_F_MQ without VIRTIO_NET_F_CTRL_VQ` : undefined;
    },
  },
  {
    id: 'provisioned-attr-without-feature',
    severity: 'error',
    reference: 'Linux commit "vdpa: validate provisioned device features against specified attribute" (vdpa_nl_cmd_dev_add_set_doit(), drivers/vdpa/vdpa.c)',
    summary: 'provisioned mac/mtu/max_vqp without its feature bit',
    check: ({ event }) => {
      const b = event.body;
      if (b.kind !== 'provisioned') return undefined;
      const missing = missingAttributeFeatures(b);
      return missing ? `Missing features ${hex(missing)} for provided attributes` : undefined;
    },
  },
  {
    id: 'negotiated-not-in-provisioned',
    severity: 'error',
    reference: 'Linux commit "vdpa: allow provisioning device features" (Linux 6.2; iproute2 vdpa dev add ... device_features): the device offers exactly the provisioned set',
    summary: 'negotiated features are not a subset of the provisioned device_features',
    check: ({ before, after }) => {
      const p = after.provisioned;
      if (!p?.deviceFeaturesGiven || after.features.accepted === before.features.accepted || after.features.accepted === null) return undefined;
      const extra = after.features.accepted & ~p.deviceFeatures;
      return extra ? `accepted ${hex(after.features.accepted)} has ${hex(extra)} (${names(extra, after)}) outside provisioned device_features ${hex(p.deviceFeatures)}` : undefined;
    },
  },
  {
    id: 'queue-size-invalid',
    severity: 'error',
    reference: 'virtio 1.x 2.7 / 4.1.4.3.2: a split ring size is a power of 2; an enabled queue has a non-zero size',
    summary: 'queue enabled with size 0, or a split ring size that is not a power of two',
    check: (ctx) => {
      const q = queueOfEvent(ctx);
      if (!q || ctx.event.body.kind !== 'queueConfigured' || !q.after.enabled) return undefined;
      const size = need(q.after.size, `queues.${q.after.index}.size`);
      if (size === 0) return `queue ${q.after.index} enabled with size 0`;
      if (splitRing(ctx.after) && (size & (size - 1)) !== 0) return `queue ${q.after.index} split ring size ${size} is not a power of 2`;
      return undefined;
    },
  },
  {
    id: 'legacy-ring-misaligned',
    severity: 'error',
    reference: 'virtio 0.9.5 / 1.x 2.7.2 legacy layout: rings start on a 4096-byte page and the used ring is aligned to QueueAlign',
    summary: 'legacy ring not 4096-aligned',
    check: (ctx) => {
      const q = queueOfEvent(ctx);
      if (!q || ctx.event.body.kind !== 'queueConfigured' || !isLegacy(ctx.after) || !q.after.enabled || q.after.desc === 0n) return undefined;
      const desc = need(q.after.desc, `queues.${q.after.index}.desc`);
      if (desc % BigInt(LEGACY_VRING_ALIGN)) return `legacy queue ${q.after.index} descriptor table at ${hex(desc)} is not 4096-aligned`;
      if (q.after.align && (q.after.align & (q.after.align - 1)) !== 0) return `legacy queue ${q.after.index} QueueAlign ${q.after.align} is not a power of 2`;
      return undefined;
    },
  },
  {
    id: 'vq-guest-index-inconsistent',
    severity: 'error',
    reference: "QEMU virtio_load: \"VQ %d size 0x%x Guest index 0x%x inconsistent with Host index 0x%x: delta 0x%x\"",
    summary: 'the guest avail index is more than the queue size ahead of the device',
    check: (ctx) => {
      const q = queueOfEvent(ctx);
      if (!q || ctx.event.body.kind !== 'vqIndex' || ctx.event.body.availIdx === undefined || !splitRing(ctx.after) || !q.after.size) return undefined;
      const avail = need(q.after.availIdx, `queues.${q.after.index}.availIdx`);
      const last = need(q.after.lastAvailIdx, `queues.${q.after.index}.lastAvailIdx`);
      const delta = (avail - last) & 0xffff;
      return delta > q.after.size
        ? `VQ ${q.after.index} size ${hex(q.after.size)} Guest index ${hex(avail)} inconsistent with Host index ${hex(last)}: delta ${hex(delta)}`
        : undefined;
    },
  },
  {
    id: 'vq-inuse-exceeds-size',
    severity: 'error',
    reference: 'QEMU virtio_load: "VQ %d size 0x%x < last_avail_idx 0x%x - used_idx 0x%x"',
    summary: 'more buffers in flight (last_avail_idx - used_idx) than the queue holds',
    check: (ctx) => {
      const q = queueOfEvent(ctx);
      if (!q || ctx.event.body.kind !== 'vqIndex' || !splitRing(ctx.after) || !q.after.size) return undefined;
      const last = need(q.after.lastAvailIdx, `queues.${q.after.index}.lastAvailIdx`);
      const used = need(q.after.usedIdx, `queues.${q.after.index}.usedIdx`);
      const inuse = (last - used) & 0xffff;
      return inuse > q.after.size
        ? `VQ ${q.after.index} size ${hex(q.after.size)} < last_avail_idx ${hex(last)} - used_idx ${hex(used)}`
        : undefined;
    },
  },
  {
    id: 'used-index-backwards',
    severity: 'error',
    reference: 'virtio 1.x 2.7.8: the device only ever increments used->idx',
    summary: 'used index went backwards',
    check: (ctx) => {
      const q = queueOfEvent(ctx);
      if (!q?.before || ctx.event.body.kind !== 'vqIndex' || q.after.usedIdx === q.before.usedIdx) return undefined;
      const from = need(q.before.usedIdx, `queues.${q.after.index}.usedIdx`);
      const to = need(q.after.usedIdx, `queues.${q.after.index}.usedIdx`);
      if (splitRing(ctx.after)) {
        const forward = (to - from) & 0xffff;
        return forward > 0x8000 ? `VQ ${q.after.index} used index went from ${from} back to ${to}` : undefined;
      }
      return q.after.usedWrap === q.before.usedWrap && to < from
        ? `VQ ${q.after.index} packed used index went from ${from} back to ${to} without a wrap`
        : undefined;
    },
  },
  {
    id: 'dma-after-reset',
    severity: 'error',
    reference: 'virtio 1.3 2.4.1 (Device Reset, device requirements): after a reset the device uses no virtqueue until the driver initialises it again',
    summary: 'queue indices moved after a reset, before the device was initialised again',
    check: ({ after, event, mem }) => {
      const b = event.body;
      if (b.kind !== 'vqIndex' || !mem.resetSeen) return undefined;
      // The driver setting a queue's state while it initialises it (vdpa_config_ops.set_vq_state) is no DMA, nor is
      // the recorder saying what it can see (a trace importer's index bookkeeping at a queue's enable).
      if (event.actor === 'guest-driver' || event.actor === 'recorder') return undefined;
      if (!b.availDelta && !b.usedDelta && b.lastAvailIdx === undefined && b.usedIdx === undefined) return undefined;
      const status = need(after.status, 'status');
      if (status & STATUS.DRIVER_OK) return undefined;
      return `VQ ${b.index} indices changed while status is ${hex(status)} after a reset: DMA after reset`;
    },
  },
  {
    id: 'mac-torn-read',
    severity: 'warning',
    reference: 'virtio 1.3 2.5 (Device Configuration Space, legacy interface): legacy devices have no config_generation, so a multi-byte read across a device update can be torn',
    summary: 'the driver read a MAC the device was changing (legacy, no config_generation)',
    check: ({ after, event, mem }) => {
      const b = event.body;
      if (after.type !== 'net' || !isLegacy(after)) return undefined;
      if (b.kind === 'configWritten' && event.actor !== 'guest-driver' && mem.macRead && b.offset < MAC_BYTES) {
        mem.macRead.torn = true;
        return undefined;
      }
      if (b.kind !== 'configRead' || event.actor !== 'guest-driver' || b.offset >= MAC_BYTES) return undefined;
      if (b.offset === 0 || !mem.macRead) mem.macRead = { read: new Set(), torn: false };
      for (let i = b.offset; i < Math.min(MAC_BYTES, b.offset + b.data.length); i++) mem.macRead.read.add(i);
      if (mem.macRead.read.size < MAC_BYTES) return undefined;
      const torn = mem.macRead.torn;
      mem.macRead = undefined;
      return torn ? 'the MAC was read back while the device changed it: the driver may hold a mix of old and new bytes' : undefined;
    },
  },
  {
    id: 'exclusive-features',
    severity: 'error',
    reference: 'devrec lint options: pairs of features that must not be negotiated together (empty by default)',
    summary: 'two mutually exclusive features were negotiated',
    check: ({ before, after, options }) => {
      const accepted = after.features.accepted;
      if (accepted === before.features.accepted || accepted === null) return undefined;
      for (const p of options.exclusive ?? []) {
        if (p.device && p.device !== after.type) continue;
        if (accepted & bit(p.a) && accepted & bit(p.b)) {
          return `bits ${p.a} and ${p.b} (${names(bit(p.a) | bit(p.b), after)}) negotiated together: ${p.why}`;
        }
      }
      return undefined;
    },
  },
  {
    id: 'access-anomaly',
    severity: 'warning',
    reference: 'virtio 1.3 4.1.4.10 (legacy PCI register layout and widths); Linux virtiovf_pci_bar0_rw() (drivers/vfio/pci/virtio/) refuses other widths',
    summary: 'a register access the decoder flagged',
    check: ({ event }) => {
      const b = event.body;
      if (b.kind !== 'registerAccess' || b.anomalies.length === 0 || b.anomalies.every((a) => a === 'admin-failed')) return undefined;
      return `${b.direction} of ${b.width} byte(s) at ${b.region} ${hex(b.offset)}: ${b.anomalies.filter((a) => a !== 'admin-failed').join(', ')}`;
    },
  },
  {
    id: 'admin-command-failed',
    severity: 'error',
    reference: 'virtio 1.3 2.12 (Administration Virtqueues: a command with a non-zero status has no effect); Linux virtio_pci_admin_legacy_io_write()',
    summary: 'an admin legacy command completed with an error status',
    check: ({ event }) => {
      const b = event.body;
      if (b.kind !== 'registerAccess' || !b.admin || (b.admin.status === 0 && !b.anomalies.includes('admin-failed'))) return undefined;
      return `admin opcode ${hex(b.admin.opcode)} for member ${b.admin.memberId} failed: status ${b.admin.status}, qualifier ${b.admin.statusQualifier}`;
    },
  },
];

export function ruleById(id: string): Rule | undefined {
  return RULES.find((r) => r.id === id);
}
