// BENCH BASELINE: src/project/reducer.ts as it was before issue 12 (device state v1, no unknowns), kept only so
// `npm run bench` can measure replay before and after in the same run. Not used by devrec.
// The projector's reducer: (state, event) -> state, pure and deterministic. `reduce` never touches its input;
// `applyInPlace` is the same function working on a state the caller owns (replay loops clone once, then apply).
import type { DeviceEvent, EventBody, QueueConfigured, VqIndexChanged, WireDeviceStateV1 as WireDeviceState } from '../../src/events/types.js';
import { STATUS } from '../../src/model/index.js';
import { type DeviceState, type QueueState, NO_VECTOR, cloneState, initialQueue } from './state-before-issue12.js';

const LEGACY_TRANSPORTS = new Set(['pci-legacy', 'mmio-legacy']);
/** Legacy virtio-pci rings are laid out on 4096-byte pages (QUEUE_PFN is the address >> 12). */
const LEGACY_PCI_PAGE = 4096;
const MASK32 = 0xffffffffn;
/** Bounds that keep a hostile or broken recording from making the reducer allocate without limit. */
export const MAX_CONFIG_BYTES = 64 * 1024;
export const MAX_PCI_CONFIG_BYTES = 4096;
export const MAX_FEATURE_WORD = 31;

export function reduce(state: DeviceState, event: DeviceEvent): DeviceState {
  return applyInPlace(cloneState(state), event);
}

export function applyInPlace(s: DeviceState, e: DeviceEvent): DeviceState {
  s.revision = e.revision;
  if (e.timestampNs > s.timestampNs) s.timestampNs = e.timestampNs;
  s.eventCount++;
  applyBody(s, e.body);
  return s;
}

function isLegacy(s: DeviceState): boolean {
  return LEGACY_TRANSPORTS.has(s.transport);
}

/** Sets 32-bit word `select` of a mask, or the whole mask when no select is given. */
function setMask(mask: bigint, select: number | undefined, value: bigint, highWords: bigint[]): bigint {
  // Words past MAX_FEATURE_WORD (1024 feature bits) are not modelled: no device has them.
  if (select !== undefined && select > MAX_FEATURE_WORD) return mask;
  if (select === undefined) {
    let m = value;
    highWords.slice(0, MAX_FEATURE_WORD >> 1).forEach((w, i) => (m |= w << BigInt(64 * (i + 1))));
    return m;
  }
  const shift = BigInt(32 * select);
  return (mask & ~(MASK32 << shift)) | ((value & MASK32) << shift);
}

export function queueOf(s: DeviceState, index: number): QueueState {
  // queues stay sorted by index; most lookups hit queues[index] directly
  const direct = s.queues[index];
  if (direct && direct.index === index) return direct;
  let i = 0;
  while (i < s.queues.length && s.queues[i]!.index < index) i++;
  if (s.queues[i]?.index === index) return s.queues[i]!;
  const q = initialQueue(index);
  s.queues.splice(i, 0, q);
  return q;
}

function resetQueue(q: QueueState): void {
  Object.assign(q, initialQueue(q.index), { maxSize: q.maxSize, size: q.maxSize, notifyOff: q.notifyOff });
}

function resetDevice(s: DeviceState): void {
  s.status = 0;
  s.features.driver = 0n;
  s.features.accepted = 0n;
  s.features.acceptedVia = '';
  s.features.negotiation = 'none';
  s.features.deviceFeatureSelect = 0;
  s.features.driverFeatureSelect = 0;
  s.queueSelect = 0;
  for (const q of s.queues) resetQueue(q);
  s.msix.configVector = NO_VECTOR;
  s.isr = 0;
  s.control = [];
}

function writeBytes(target: Uint8Array, offset: number, data: Uint8Array, limit: number): Uint8Array {
  if (offset >= limit) return target;
  if (offset + data.length > limit) data = data.subarray(0, limit - offset);
  const out = offset + data.length > target.length ? growTo(target, offset + data.length) : target;
  out.set(data, offset);
  return out;
}

function growTo(b: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n);
  out.set(b);
  return out;
}

function alignUp(v: bigint, align: bigint): bigint {
  return align > 0n ? ((v + align - 1n) / align) * align : v;
}

/** Split-ring addresses implied by a legacy page frame number (virtio 0.9.5 layout). */
function applyPfn(s: DeviceState, q: QueueState, pfn: number): void {
  q.pfn = pfn;
  const page = BigInt(s.guestPageSize || LEGACY_PCI_PAGE);
  if (pfn === 0) {
    q.desc = q.driver = q.device = 0n;
    q.enabled = false;
    return;
  }
  const align = BigInt(q.align || LEGACY_PCI_PAGE);
  const n = BigInt(q.size);
  q.desc = BigInt(pfn) * page;
  q.driver = q.desc + 16n * n;
  q.device = alignUp(q.driver + 6n + 2n * n, align);
  q.enabled = true;
}

function applyQueueConfigured(s: DeviceState, b: QueueConfigured): void {
  const q = queueOf(s, b.index);
  if (b.maxSize !== undefined) {
    q.maxSize = b.maxSize;
    // A queue starts at its maximum size until the driver writes a smaller one (virtio 1.x 4.1.4.3).
    if (q.size === 0) q.size = b.maxSize;
  }
  if (b.size !== undefined) q.size = b.size;
  if (b.align !== undefined) q.align = b.align;
  if (b.guestPageSize !== undefined) s.guestPageSize = b.guestPageSize;
  if (b.desc !== undefined) q.desc = b.desc;
  if (b.driver !== undefined) q.driver = b.driver;
  if (b.device !== undefined) q.device = b.device;
  if (b.pfn !== undefined) applyPfn(s, q, b.pfn);
  if (b.enabled !== undefined) q.enabled = b.enabled;
  if (b.msixVector !== undefined) q.msixVector = b.msixVector;
  if (b.notifyOff !== undefined) q.notifyOff = b.notifyOff;
}

const RING_PACKED = 1n << 34n;
// Index traffic is the bulk of every recording: remember the last mask tested instead of a bigint AND per event.
let lastMask = -1n;
let lastPacked = false;
function packedRing(accepted: bigint): boolean {
  if (accepted !== lastMask) {
    lastMask = accepted;
    lastPacked = (accepted & RING_PACKED) !== 0n;
  }
  return lastPacked;
}

/** Packed rings count modulo the ring size with a wrap counter (returns the new wrap); split rings modulo 2^16. */
function wrapsAfter(idx: number, delta: number, size: number): number {
  let wraps = 0;
  for (let v = idx + delta; v >= size; v -= size) wraps++;
  return wraps;
}

function applyVqIndex(s: DeviceState, b: VqIndexChanged): void {
  const q = queueOf(s, b.index);
  if (b.lastAvailIdx !== undefined) q.lastAvailIdx = b.lastAvailIdx;
  if (b.usedIdx !== undefined) q.usedIdx = b.usedIdx;
  if (b.availWrap !== undefined) q.availWrap = b.availWrap;
  if (b.usedWrap !== undefined) q.usedWrap = b.usedWrap;
  if (b.availIdx !== undefined) q.availIdx = b.availIdx;
  if (!b.availDelta && !b.usedDelta) return;
  if (packedRing(s.features.accepted) && q.size > 0) {
    if (b.availDelta) {
      const w = wrapsAfter(q.lastAvailIdx, b.availDelta, q.size);
      q.lastAvailIdx = q.lastAvailIdx + b.availDelta - w * q.size;
      if (w & 1) q.availWrap = !q.availWrap;
    }
    if (b.usedDelta) {
      const w = wrapsAfter(q.usedIdx, b.usedDelta, q.size);
      q.usedIdx = q.usedIdx + b.usedDelta - w * q.size;
      if (w & 1) q.usedWrap = !q.usedWrap;
    }
  } else {
    if (b.availDelta) q.lastAvailIdx = (q.lastAvailIdx + b.availDelta) & 0xffff;
    if (b.usedDelta) q.usedIdx = (q.usedIdx + b.usedDelta) & 0xffff;
  }
}

function applySnapshot(s: DeviceState, w: WireDeviceState): void {
  const fromWords = (words: bigint[]) => words.reduce((m, wd, i) => m | (wd << BigInt(64 * i)), 0n);
  s.type = w.type || s.type;
  s.backend = w.backend || s.backend;
  s.virtioId = w.virtioId || s.virtioId;
  if (w.transport !== 'unspecified') s.transport = w.transport;
  s.status = w.status;
  s.features = {
    device: fromWords(w.deviceFeatures),
    driver: fromWords(w.driverFeatures),
    accepted: fromWords(w.acceptedFeatures),
    acceptedVia: w.acceptedVia as DeviceState['features']['acceptedVia'],
    negotiation: (w.negotiation || (w.acceptedFeatures.some((x) => x !== 0n) ? 'accepted' : 'none')) as DeviceState['features']['negotiation'],
    parent: w.hasParentFeatures ? fromWords(w.parentFeatures) : undefined,
    deviceFeatureSelect: w.deviceFeatureSelect,
    driverFeatureSelect: w.driverFeatureSelect,
  };
  s.provisioned = w.hasProvisioned && w.provisioned ? { ...w.provisioned } : undefined;
  s.numQueues = w.numQueues;
  s.queueSelect = w.queueSelect;
  s.queues = w.queues.map((q) => ({ ...q })).sort((a, b) => a.index - b.index);
  s.config = w.config.slice();
  s.configGeneration = w.configGeneration;
  s.isr = w.isr;
  s.msix = { enabled: w.msixEnabled, functionMask: w.msixFunctionMask, configVector: w.msixConfigVector, tableSize: w.msixTableSize };
  s.resetPending = w.resetPending;
  s.vfioState = w.hasVfioState ? w.vfioState : undefined;
  s.guestPageSize = w.guestPageSize;
  s.pci = {
    vendor: w.pciVendor, device: w.pciDevice, subsystemVendor: w.pciSubsystemVendor, subsystem: w.pciSubsystem,
    revision: w.pciRevision, config: w.pciConfig.slice(),
  };
  s.control = w.control.map((c) => ({ ...c, data: c.data.slice() }));
}

function applyBody(s: DeviceState, b: EventBody): void {
  switch (b.kind) {
    case 'identified': {
      // (identified numbers gained presence later: absent read as the 0 this reducer knew)
      const n = (x: number | undefined): number => x ?? 0;
      s.type = b.type;
      s.virtioId = n(b.virtioId);
      s.transport = b.transport;
      s.backend = b.backend;
      s.numQueues = n(b.numQueues);
      for (let i = 0; i < n(b.numQueues); i++) queueOf(s, i);
      if (n(b.configSize) > s.config.length) s.config = growTo(s.config, Math.min(n(b.configSize), MAX_CONFIG_BYTES));
      s.pci = { ...s.pci, vendor: n(b.pciVendor), device: n(b.pciDevice), subsystemVendor: n(b.pciSubsystemVendor), subsystem: n(b.pciSubsystem), revision: n(b.pciRevision) };
      return;
    }
    case 'registerAccess':
    case 'annotation':
      // Raw accesses are kept for re-decoding; their meaning arrives as the semantic events decoded from them.
      return;
    case 'deviceFeatures':
      s.features.device = setMask(s.features.device, b.select, b.value, b.highWords);
      if (b.select !== undefined) s.features.deviceFeatureSelect = b.select;
      return;
    case 'parentFeatures':
      s.features.parent = b.value;
      return;
    case 'provisioned': {
      const { kind: _kind, ...attrs } = b;
      s.provisioned = { ...attrs, mac: attrs.mac.slice() };
      return;
    }
    case 'driverFeatures':
      s.features.driver = setMask(s.features.driver, b.select, b.value, b.highWords);
      if (b.select !== undefined) s.features.driverFeatureSelect = b.select;
      // Legacy has no FEATURES_OK: the guest features are in effect as soon as they are written.
      if (isLegacy(s)) {
        s.features.accepted = s.features.driver;
        s.features.acceptedVia = 'legacy-write';
      }
      return;
    case 'featuresNegotiated':
      if (b.accepted) {
        s.features.accepted = setMask(0n, undefined, b.features, b.highWords);
        s.features.acceptedVia = 'features-ok';
        s.features.negotiation = 'accepted';
        s.status |= STATUS.FEATURES_OK;
      } else {
        s.features.negotiation = 'refused';
        s.status &= ~STATUS.FEATURES_OK;
      }
      return;
    case 'statusWritten':
      if (b.status === 0) {
        resetDevice(s);
        s.resetPending = true;
      } else {
        s.status = b.status;
      }
      return;
    case 'statusRead':
      s.status = b.status;
      if (b.status === 0) s.resetPending = false;
      return;
    case 'resetRequested':
      if (b.scope === 'queue-reset') {
        const q = queueOf(s, b.queue);
        resetQueue(q);
        q.resetPending = true;
      } else {
        resetDevice(s);
        s.resetPending = true;
      }
      return;
    case 'resetCompleted':
      if (b.scope === 'queue-reset') queueOf(s, b.queue).resetPending = false;
      else s.resetPending = false;
      return;
    case 'queueSelected':
      s.queueSelect = b.index;
      return;
    case 'queueConfigured':
      applyQueueConfigured(s, b);
      return;
    case 'vqIndex':
      applyVqIndex(s, b);
      return;
    case 'configWritten':
    case 'configRead':
      s.config = writeBytes(s.config, b.offset, b.data, MAX_CONFIG_BYTES);
      return;
    case 'msix':
      if (b.enabled !== undefined) s.msix.enabled = b.enabled;
      if (b.functionMask !== undefined) s.msix.functionMask = b.functionMask;
      if (b.configVector !== undefined) s.msix.configVector = b.configVector;
      if (b.tableSize !== undefined) s.msix.tableSize = b.tableSize;
      return;
    case 'pciConfigWritten': {
      const bytes = new Uint8Array(Math.min(b.width, 4));
      for (let i = 0; i < bytes.length; i++) bytes[i] = (b.value >>> (8 * i)) & 0xff;
      s.pci.config = writeBytes(s.pci.config, b.offset, bytes, MAX_PCI_CONFIG_BYTES);
      return;
    }
    case 'controlCommand': {
      const entry = { class: b.class, command: b.command, data: b.data.slice(), ...(b.ack !== undefined ? { ack: b.ack } : {}) };
      const i = s.control.findIndex((c) => c.class === b.class && c.command === b.command);
      if (i >= 0) s.control[i] = entry;
      else s.control.push(entry);
      return;
    }
    case 'vfioState':
      s.vfioState = b.to;
      return;
    case 'snapshot':
      if (b.state) applySnapshot(s, b.state);
      return;
    default: {
      const never: never = b;
      throw new Error(`reducer: unhandled event kind ${(never as { kind: string }).kind}`);
    }
  }
}
