// The projector's reducer: (state, event) -> state, pure and deterministic. `reduce` never touches its input;
// `applyInPlace` is the same function working on a state the caller owns (replay loops clone once, then apply).
import type { DeviceAlias, DeviceEvent, EventBody, QueueConfigured, Snapshot, Source, VqIndexChanged } from '../events/types.js';
import { STATUS, featureBit, isLegacyTransport, isPciTransport } from '../model/index.js';
import { vfioVirtioTransport } from '../model/vfio.js';
import { LEGACY_VRING_ALIGN } from '../model/registers.js';
import { SOURCES_WITH_CONTROL_COMMANDS } from '../model/sources.js';
import {
  type DeviceState, type QueueState, NO_VECTOR, cloneState, initialQueue, resetQueueValues, unknownMsix, unknownPci,
} from './state.js';
import { stateFromV1 } from './state-v1.js';
import { stateFromWire } from './state-wire.js';
import { applyNetControl, initialNetControl } from './net-control.js';

/** Legacy virtio-pci rings are laid out on 4096-byte pages (QUEUE_PFN is the address >> 12). */
const LEGACY_PCI_PAGE = LEGACY_VRING_ALIGN;
const MASK32 = 0xffffffffn;
/** Bounds that keep a hostile or broken recording from making the reducer allocate without limit. */
export { MAX_CONFIG_BYTES, MAX_PCI_CONFIG_BYTES, MAX_FEATURE_SELECT as MAX_FEATURE_WORD } from '../model/limits.js';
import { MAX_CONFIG_BYTES, MAX_PCI_CONFIG_BYTES, MAX_FEATURE_SELECT as MAX_FEATURE_WORD } from '../model/limits.js';

export function reduce(state: DeviceState, event: DeviceEvent): DeviceState {
  return applyInPlace(cloneState(state), event);
}

export function applyInPlace(s: DeviceState, e: DeviceEvent): DeviceState {
  s.revision = e.revision;
  if (e.timestampNs > s.timestampNs) s.timestampNs = e.timestampNs;
  s.eventCount++;
  const src = s.sources;
  if (src[src.length - 1] !== e.source) noteSource(s, e.source);
  if (e.body.kind === 'snapshot') applySnapshot(s, e.body, e.source);
  else applyBody(s, e.body, e.source);
  return s;
}

function noteSource(s: DeviceState, source: Source): void {
  if (!s.sources.includes(source)) s.sources.push(source);
}

function noteAlias(s: DeviceState, a: DeviceAlias): void {
  if (!s.aliases.some((x) => x.kind === a.kind && x.name === a.name)) s.aliases.push({ kind: a.kind, name: a.name });
}

function isLegacy(s: DeviceState): boolean {
  // a passed-through device speaks whichever virtio transport its guest driver chose (recorded in the backend)
  return isLegacyTransport(s.transport) || (s.transport === 'vfio' && vfioVirtioTransport(s.backend) === 'pci-legacy');
}

/**
 * Sets 32-bit word `select` of a mask, or the whole mask when no select is given. A word written into an unknown
 * mask makes it known with the other words 0: drivers write every feature word they negotiate, and read every word
 * the device offers, word by word (virtio 1.3 4.1.4.3; Linux vp_modern_get_features/vp_modern_set_features).
 */
function setMask(mask: bigint | null, select: number | undefined, value: bigint, highWords: bigint[]): bigint | null {
  // Words past MAX_FEATURE_WORD (1024 feature bits) are not modelled: no device has them.
  if (select !== undefined && select > MAX_FEATURE_WORD) return mask;
  if (select === undefined) {
    let m = value;
    highWords.slice(0, MAX_FEATURE_WORD >> 1).forEach((w, i) => (m |= w << BigInt(64 * (i + 1))));
    return m;
  }
  const shift = BigInt(32 * select);
  return ((mask ?? 0n) & ~(MASK32 << shift)) | ((value & MASK32) << shift);
}

export function queueOf(s: DeviceState, index: number): QueueState {
  // queues stay sorted by index; most lookups hit queues[index] directly
  const direct = s.queues[index];
  if (direct && direct.index === index) return direct;
  // binary search: a device with 65536 queues must not cost 2^31 steps to identify
  let lo = 0;
  let hi = s.queues.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (s.queues[mid]!.index < index) lo = mid + 1;
    else hi = mid;
  }
  const i = lo;
  if (s.queues[i]?.index === index) return s.queues[i]!;
  const q = initialQueue(index);
  if (s.resetSeen) resetQueueValues(q);
  s.queues.splice(i, 0, q);
  return q;
}

/** Device reset (virtio 1.3 2.4): what it defines becomes known. Offered features, config and MSI-X enable stay. */
function resetDevice(s: DeviceState, source: Source): void {
  s.resetSeen = true;
  s.status = 0;
  s.features.driver = 0n;
  s.features.accepted = 0n;
  s.features.acceptedVia = 'none';
  s.features.negotiation = 'none';
  s.features.deviceFeatureSelect = 0;
  s.features.driverFeatureSelect = 0;
  s.queueSelect = 0;
  for (const q of s.queues) resetQueueValues(q);
  if (s.msix) s.msix.configVector = NO_VECTOR;
  s.isr = 0;
  s.control = [];
  // the device's filters and modes start over; what they start from is the device's choice (unknown), the counts
  // since reset start at 0 where the source records every control command (unknown where it sees none)
  if (s.netControl || s.type === 'net') s.netControl = initialNetControl(SOURCES_WITH_CONTROL_COMMANDS.has(source));
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

/** Split-ring addresses implied by a legacy page frame number (virtio 0.9.5 layout); unknown without the size. */
function applyPfn(s: DeviceState, q: QueueState, pfn: number): void {
  q.pfn = pfn;
  const page = BigInt(s.guestPageSize || LEGACY_PCI_PAGE);
  if (pfn === 0) {
    q.desc = q.driver = q.device = 0n;
    q.enabled = false;
    return;
  }
  const align = BigInt(q.align || LEGACY_PCI_PAGE);
  q.desc = BigInt(pfn) * page;
  if (q.size === null) {
    q.driver = q.device = null;
  } else {
    const n = BigInt(q.size);
    q.driver = q.desc + 16n * n;
    q.device = alignUp(q.driver + 6n + 2n * n, align);
  }
  q.enabled = true;
}

function applyQueueConfigured(s: DeviceState, b: QueueConfigured): void {
  const q = queueOf(s, b.index);
  if (b.maxSize !== undefined) {
    q.maxSize = b.maxSize;
    // A queue starts at its maximum size until the driver writes a smaller one (virtio 1.x 4.1.4.3).
    if (q.size === null || q.size === 0) q.size = b.maxSize;
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

const RING_PACKED = featureBit('VIRTIO_F_RING_PACKED');
// Index traffic is the bulk of every recording: remember the last mask tested instead of a bigint AND per event.
let lastMask: bigint | null = -1n;
let lastPacked = false;
function packedRing(accepted: bigint | null): boolean {
  if (accepted !== lastMask) {
    lastMask = accepted;
    lastPacked = accepted !== null && (accepted & RING_PACKED) !== 0n;
  }
  return lastPacked;
}

/** Packed rings count modulo the ring size with a wrap counter (returns the new wrap); split rings modulo 2^16. */
function wrapsAfter(idx: number, delta: number, size: number): number {
  let wraps = 0;
  for (let v = idx + delta; v >= size; v -= size) wraps++;
  return wraps;
}

/** Deltas move known indices; an unknown index stays unknown (and so does a packed ring's wrap counter). */
function applyVqIndex(s: DeviceState, b: VqIndexChanged): void {
  const q = queueOf(s, b.index);
  if (b.indicesUnseen) { q.lastAvailIdx = null; q.usedIdx = null; q.availIdx = null; }
  if (b.lastAvailIdx !== undefined) q.lastAvailIdx = b.lastAvailIdx;
  if (b.usedIdx !== undefined) q.usedIdx = b.usedIdx;
  if (b.availWrap !== undefined) q.availWrap = b.availWrap;
  if (b.usedWrap !== undefined) q.usedWrap = b.usedWrap;
  if (b.availIdx !== undefined) q.availIdx = b.availIdx;
  if (!b.availDelta && !b.usedDelta) return;
  if (packedRing(s.features.accepted) && q.size) {
    if (b.availDelta) {
      if (q.lastAvailIdx === null) {
        q.availWrap = null;
      } else {
        const w = wrapsAfter(q.lastAvailIdx, b.availDelta, q.size);
        q.lastAvailIdx = q.lastAvailIdx + b.availDelta - w * q.size;
        if (w & 1 && q.availWrap !== null) q.availWrap = !q.availWrap;
      }
    }
    if (b.usedDelta) {
      if (q.usedIdx === null) {
        q.usedWrap = null;
      } else {
        const w = wrapsAfter(q.usedIdx, b.usedDelta, q.size);
        q.usedIdx = q.usedIdx + b.usedDelta - w * q.size;
        if (w & 1 && q.usedWrap !== null) q.usedWrap = !q.usedWrap;
      }
    }
  } else {
    if (b.availDelta && q.lastAvailIdx !== null) q.lastAvailIdx = (q.lastAvailIdx + b.availDelta) & 0xffff;
    if (b.usedDelta && q.usedIdx !== null) q.usedIdx = (q.usedIdx + b.usedDelta) & 0xffff;
  }
}

/**
 * A whole state arrives: it replaces the projected one, except the stream's own bookkeeping (id, revision, time,
 * event count, sources) and the device properties the snapshot's source could not see but an earlier event told us
 * (identity, offered features, queue maximum sizes, MSI-X table size): those do not change while a device lives.
 */
function applySnapshot(s: DeviceState, b: Snapshot, source: Source): void {
  const next = b.stateV2 ? stateFromWire(b.stateV2) : b.state ? stateFromV1(b.state, source) : undefined;
  if (!next) return;
  const prev = cloneState(s);
  Object.assign(s, next, {
    device: prev.device, revision: prev.revision, timestampNs: prev.timestampNs, eventCount: prev.eventCount,
    sources: prev.sources,
  });
  for (const src of next.sources) noteSource(s, src);
  s.aliases = prev.aliases;
  for (const a of next.aliases) noteAlias(s, a);
  if (!s.type) s.type = prev.type;
  if (!s.backend) s.backend = prev.backend;
  if (s.transport === 'unspecified') s.transport = prev.transport;
  s.virtioId ??= prev.virtioId;
  s.numQueues ??= prev.numQueues;
  s.features.device ??= prev.features.device;
  s.features.parent ??= prev.features.parent;
  if (s.pci && prev.pci) {
    s.pci.vendor ??= prev.pci.vendor;
    s.pci.device ??= prev.pci.device;
    s.pci.subsystemVendor ??= prev.pci.subsystemVendor;
    s.pci.subsystem ??= prev.pci.subsystem;
    s.pci.revision ??= prev.pci.revision;
  }
  if (s.msix && prev.msix) s.msix.tableSize ??= prev.msix.tableSize;
  for (const q of s.queues) {
    const old = prev.queues.find((p) => p.index === q.index);
    if (old) q.maxSize ??= old.maxSize;
  }
}

/** The PCI blocks a PCI device has, created unknown the first time something about them arrives. */
function pciOf(s: DeviceState): NonNullable<DeviceState['pci']> {
  return (s.pci ??= unknownPci());
}
function msixOf(s: DeviceState): NonNullable<DeviceState['msix']> {
  return (s.msix ??= unknownMsix());
}

function applyBody(s: DeviceState, b: EventBody, source: Source): void {
  switch (b.kind) {
    case 'identified': {
      // Absent numbers are unknown. Logs written before these fields had presence left 0s off the wire too, and no
      // virtio device has id 0, 0 queues or PCI vendor 0: a 0 from a hand-written NDJSON event is "not given" as well.
      if (b.type) s.type = b.type;
      if (b.virtioId) s.virtioId = b.virtioId;
      if (b.transport !== 'unspecified') s.transport = b.transport;
      if (b.backend) s.backend = b.backend;
      const numQueues = b.numQueues ?? 0;
      if (numQueues) s.numQueues = numQueues;
      for (const a of b.aliases) noteAlias(s, a);
      for (let i = 0; i < numQueues; i++) queueOf(s, i);
      const configSize = b.configSize ?? 0;
      if (configSize > s.config.length) {
        // the device has this many config bytes; their values are unknown until a source shows them
        s.config = growTo(s.config, Math.min(configSize, MAX_CONFIG_BYTES));
        s.configKnown = growTo(s.configKnown, s.config.length);
      }
      if (isPciTransport(s.transport)) {
        const pci = pciOf(s);
        msixOf(s);
        if (b.pciVendor) pci.vendor = b.pciVendor;
        if (b.pciSubsystemVendor) pci.subsystemVendor = b.pciSubsystemVendor;
        if (b.pciSubsystem) pci.subsystem = b.pciSubsystem;
        if (b.pciDevice) pci.device = b.pciDevice;
        // revision 0 is real (transitional devices): known when given, or (older logs, which left a 0 off the
        // wire) when the device id came with it
        if (b.pciRevision !== undefined) pci.revision = b.pciRevision;
        else if (b.pciDevice) pci.revision = 0;
      }
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
        if (s.status !== null) s.status |= STATUS.FEATURES_OK;
      } else {
        s.features.negotiation = 'refused';
        if (s.status !== null) s.status &= ~STATUS.FEATURES_OK;
      }
      return;
    case 'statusWritten':
      if (b.status === 0) {
        resetDevice(s, source);
        s.resetPending = true;
      } else {
        // Setting FEATURES_OK asks the device (virtio 1.3 3.1.1): until its answer is seen (the status read back,
        // a featuresNegotiated event), what is in effect is unknown, not the reset value.
        const asks = (b.status & STATUS.FEATURES_OK) !== 0 && ((s.status ?? 0) & STATUS.FEATURES_OK) === 0 && !isLegacy(s);
        s.status = b.status;
        if (asks) {
          s.features.accepted = null;
          s.features.acceptedVia = 'none';
          s.features.negotiation = 'none';
        }
      }
      return;
    case 'statusRead':
      s.status = b.status;
      if (b.status === 0) s.resetPending = false;
      return;
    case 'resetRequested':
      if (b.scope === 'queue-reset') {
        const q = queueOf(s, b.queue);
        resetQueueValues(q);
        q.resetPending = true;
      } else {
        resetDevice(s, source);
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
      s.configKnown = writeBytes(s.configKnown, b.offset, b.data.length ? new Uint8Array(b.data.length).fill(1) : b.data, MAX_CONFIG_BYTES);
      if (s.configKnown.length < s.config.length) s.configKnown = growTo(s.configKnown, s.config.length);
      return;
    case 'msix': {
      const m = msixOf(s);
      if (b.enabled !== undefined) m.enabled = b.enabled;
      if (b.functionMask !== undefined) m.functionMask = b.functionMask;
      if (b.configVector !== undefined) m.configVector = b.configVector;
      if (b.tableSize !== undefined) m.tableSize = b.tableSize;
      return;
    }
    case 'pciConfigWritten': {
      const bytes = new Uint8Array(Math.min(b.width, 4));
      for (let i = 0; i < bytes.length; i++) bytes[i] = (b.value >>> (8 * i)) & 0xff;
      const pci = pciOf(s);
      pci.config = writeBytes(pci.config, b.offset, bytes, MAX_PCI_CONFIG_BYTES);
      return;
    }
    case 'controlCommand': {
      const entry = { class: b.class, command: b.command, data: b.data.slice(), ...(b.ack !== undefined ? { ack: b.ack } : {}) };
      const i = s.control.findIndex((c) => c.class === b.class && c.command === b.command);
      if (i >= 0) s.control[i] = entry;
      else s.control.push(entry);
      // the whole control state: payloads little-endian through the modern interface, the guest's byte order
      // (unknown here) through the legacy one (virtio 1.3 5.1.6.5)
      s.netControl ??= initialNetControl(s.resetSeen);
      const legacy = s.features.acceptedVia === 'legacy-write' || isLegacyTransport(s.transport);
      applyNetControl(s.netControl, b, legacy ? null : 'little');
      return;
    }
    case 'vfioState':
      s.vfioState = b.to;
      return;
    case 'snapshot':
      // applied by applyInPlace, which knows the event's source (v1 snapshots are read by their source)
      return;
    default: {
      const never: never = b;
      throw new Error(`reducer: unhandled event kind ${(never as { kind: string }).kind}`);
    }
  }
}
