// The subsection chain of vmstate "virtio" after a device's own part (each subsection: u8 0x05, u8 len, name, be32
// version 1, then its fields from src/model/qemu-vmstate.ts), read into a fresh ChainResult that is merged into the
// device only once the whole section has parsed (a failed attempt leaves nothing behind).
import { TRANSPORT_SUBSECTIONS, VIRTIO_SUBSECTIONS } from '../../model/qemu-vmstate.js';
import type { Cursor } from './cursor.js';
import { QEMU_VM_SUBSECTION } from './vmdesc.js';
import { readEntries, readFields } from './vmsd-fields.js';

export interface SubHeader {
  at: number;
  name: string;
  version: number;
}

/** Reads a subsection header when the next byte is 0x05 and its name starts with `prefix`; else leaves the cursor. */
export function trySubHeader(c: Cursor, prefix: string): SubHeader | undefined {
  if (c.peek() !== QEMU_VM_SUBSECTION) return undefined;
  const save = c.pos;
  const at = c.offset;
  c.u8('subsection');
  const name = c.shortString('subsection name');
  if (!name.startsWith(prefix)) {
    c.pos = save;
    return undefined;
  }
  const version = c.u32(`subsection ${name} version`);
  if (version !== 1) throw c.error(`subsection ${name} version ${version}: QEMU 7.2 writes version 1`, at);
  return { at, name, version };
}

export interface TransportQueueState { num: number; enabled: boolean; desc: bigint; avail: bigint; used: bigint }

/** What the chain says, per subsection present. */
export interface ChainResult {
  /** subsection names in stream order (the bus's own inside virtio/extra_state included) */
  subsections: string[];
  deviceEndian?: number;
  /** virtio/64bit_features: all 64 bits of vdev->guest_features */
  guestFeatures64?: bigint;
  /** virtio/virtqueues, per possible queue */
  rings?: { avail: bigint; used: bigint }[];
  /** virtio/ringsize */
  numDefault?: number[];
  broken?: boolean;
  started?: boolean;
  packed?: { lastAvailIdx: number; lastAvailWrap: boolean; usedIdx: number; usedWrap: boolean; inuse: number }[];
  disabled?: boolean;
  /** virtio_pci/modern_state or virtio_mmio/state */
  transport?: { name: string; deviceFeatureSelect?: number; driverFeatureSelect?: number; driverFeatures: bigint; queues: TransportQueueState[] };
}

const addr64 = (lo: number, hi: number): bigint => (BigInt(hi) << 32n) | BigInt(lo);

/** The bus's subsections inside virtio/extra_state (virtio_pci/... or virtio_mmio/...). */
function readTransport(c: Cursor, bus: 'pci' | 'mmio', r: ChainResult): void {
  const prefix = bus === 'pci' ? 'virtio_pci/' : 'virtio_mmio/';
  const expected = bus === 'pci' ? 'virtio_pci/modern_state' : 'virtio_mmio/state';
  for (;;) {
    const h = trySubHeader(c, prefix);
    if (!h) return;
    if (h.name !== expected) throw c.error(`unknown subsection ${h.name}`, h.at);
    r.subsections.push(h.name);
    const layout = TRANSPORT_SUBSECTIONS[h.name]!;
    const head = readFields(c, layout.head);
    const queues = readEntries(c, layout.queue).map((q) => ({
      num: q.num('num'), enabled: q.bool('enabled'), desc: addr64(q.num('desc_lo'), q.num('desc_hi')),
      avail: addr64(q.num('avail_lo'), q.num('avail_hi')), used: addr64(q.num('used_lo'), q.num('used_hi')),
    }));
    r.transport = {
      name: h.name, driverFeatures: addr64(head.num('guest_features_lo'), head.num('guest_features_hi')), queues,
      ...(head.has('dfselect') ? { deviceFeatureSelect: head.num('dfselect'), driverFeatureSelect: head.num('gfselect') } : {}),
    };
  }
}

/** Reads the "virtio/..." subsection chain; the cursor ends on the byte after the last subsection. */
export function readSubsectionChain(c: Cursor, bus: 'pci' | 'mmio'): ChainResult {
  const r: ChainResult = { subsections: [] };
  const seen = new Set<string>();
  for (;;) {
    const h = trySubHeader(c, '');
    if (!h) return r;
    if (!h.name.startsWith('virtio/')) throw c.error(`subsection ${h.name} where a virtio/ subsection or the footer was expected`, h.at);
    if (seen.has(h.name)) throw c.error(`subsection ${h.name} twice`, h.at);
    seen.add(h.name);
    r.subsections.push(h.name);
    const table = VIRTIO_SUBSECTIONS[h.name];
    if (!table) throw c.error(`unknown subsection ${h.name} (QEMU 7.2 has no such virtio subsection)`, h.at);
    if (table.entries !== undefined) {
      const rows = readEntries(c, table);
      if (h.name === 'virtio/virtqueues') r.rings = rows.map((q) => ({ avail: q.big('avail'), used: q.big('used') }));
      else if (h.name === 'virtio/ringsize') r.numDefault = rows.map((q) => q.num('num_default'));
      else {
        r.packed = rows.map((q) => ({
          lastAvailIdx: q.num('last_avail_idx'), lastAvailWrap: q.bool('last_avail_wrap_counter'), usedIdx: q.num('used_idx'),
          usedWrap: q.bool('used_wrap_counter'), inuse: q.num('inuse'),
        }));
      }
      continue;
    }
    const f = readFields(c, table);
    switch (h.name) {
      case 'virtio/device_endian':
        r.deviceEndian = f.num('device_endian');
        if (r.deviceEndian > 2) throw c.error(`device_endian ${r.deviceEndian}: 0 unknown, 1 little, 2 big`, f.at('device_endian'));
        break;
      case 'virtio/64bit_features':
        r.guestFeatures64 = f.big('guest_features');
        break;
      case 'virtio/broken':
        r.broken = f.bool('broken');
        break;
      case 'virtio/extra_state':
        readTransport(c, bus, r);
        break;
      case 'virtio/started':
        r.started = f.bool('started');
        break;
      case 'virtio/disabled':
        r.disabled = f.bool('disabled');
        break;
    }
  }
}
