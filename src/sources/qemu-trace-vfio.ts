// QEMU's vfio trace events -> one stream per passed-through virtio PCI function (transport `vfio`).
//
// With `-device vfio-pci,host=BDF,x-no-mmap=on` every guest access to the device's BARs goes through QEMU's
// vfio_region_read/write (hw/vfio/region.c); config space goes through vfio_pci_read_config/write_config
// (hw/vfio/pci.c), which trace the value the guest sees. The lines (QEMU 10.0, log backend):
//   vfio_region_write  (0000:00:03.0:region4+0x14, 0x0, 1)           region N is BAR N (VFIO_PCI_BARn_REGION_INDEX)
//   vfio_region_read  (0000:00:03.0:region4+0x4, 4) = 0x30006e54
//   vfio_pci_read_config  (0000:00:03.0, @0x34, len=0x1) 0x98
//   vfio_pci_write_config  (0000:00:03.0, @0x4, 0x107, len=0x2)
// The trace names BARs and offsets, not virtio registers. What each BAR offset means comes from the device's
// capability chain as the guest read it (virtio 1.x 4.1.4: a vendor capability per structure with cfg_type, bar,
// offset and length), kept from the config reads; a BAR in IO space with no capability in it is the legacy
// interface (virtio 1.x 4.1.4.10). Each access is then fed, with its BAR-relative region offset, to the same
// transport decoders (src/transport/) that decode QEMU-emulated devices; the raw access is always kept.
// Interrupt lines (vfio_msix_*, vfio_msi_*, vfio_intx_*) and setup lines are counted, not recorded.
import type { NewEvent, Region } from '../events/types.js';
import { VIRTIO_PCI_VENDOR, deviceTypeById, virtioIdOfPci } from '../model/device-types.js';
import { MSIX_CAP, PCI_CAP_ID, VIRTIO_PCI_CAP_TYPE } from '../model/pci-capabilities.js';
import { PCI_CAPABILITY_LIST, PCI_CONFIG_SIZE, PCI_ID_OFFSETS } from '../model/registers.js';
import { type VfioVirtioTransport, vfioBackend } from '../model/vfio.js';
import { createDecoder } from '../transport/index.js';
import type { RawAccess, TransportDecoder } from '../transport/types.js';

/** vfio trace events this module reads (as names or name prefixes). */
export function isVfioTraceEvent(name: string): boolean {
  return name.startsWith('vfio_');
}

/** virtio 1.x 4.1.4 cfg_type -> the BAR region the decoders know. */
const CFG_TYPE_REGION: Readonly<Record<number, Region>> = Object.fromEntries(
  VIRTIO_PCI_CAP_TYPE.filter((t) => t.inBar && t.region).map((t) => [t.value, t.region as Region]));
const PCI_CAP_ID_VNDR = PCI_CAP_ID.VENDOR;
const PCI_CAP_ID_MSIX = PCI_CAP_ID.MSIX;
const PCI_CONFIG_SPACE = PCI_CONFIG_SIZE;
/** VFIO_PCI_CONFIG_REGION_INDEX: BARs are regions 0..5, ROM 6, config 7 */
const LAST_BAR_REGION = 5;
const MAX_UNDECIDED = 100_000;

const WRITE_RE = /^\s*\((.+):region(\d+)\+0x([0-9a-f]+), 0x([0-9a-f]+), (\d+)\)$/;
const READ_RE = /^\s*\((.+):region(\d+)\+0x([0-9a-f]+), (\d+)\) = 0x([0-9a-f]+)$/;
const CFG_READ_RE = /^\s*\(([^,]+), @0x([0-9a-f]+), len=0x([0-9a-f]+)\) 0x([0-9a-f]+)$/;
const CFG_WRITE_RE = /^\s*\(([^,]+), @0x([0-9a-f]+), 0x([0-9a-f]+), len=0x([0-9a-f]+)\)$/;

/**
 * Pushes decoded events, and after a queue goes live one that says its ring indices are not seen from here on:
 * the VMM's vfio trace sees register accesses, not the rings in guest memory, so the indices the device moves
 * after DRIVER_OK are unknown rather than left at their reset value. A modern queue goes live with queue_enable
 * 1 (virtio 1.x 4.1.4.3); a legacy one when its page frame number is written non-zero (virtio 0.9.5 2.3, the
 * legacy interface has no enable register).
 */
function pushDecoded(out: NewEvent[], decoded: NewEvent[]): void {
  for (const e of decoded) {
    out.push(e);
    if (e.body.kind === 'queueConfigured' && (e.body.enabled === true || (e.body.pfn !== undefined && e.body.pfn !== 0))) {
      out.push({ ...e, body: { kind: 'vqIndex', index: e.body.index, indicesUnseen: true } });
    }
  }
}

/** A structure in a BAR; `length` undefined when the guest never read the capability's length field. */
interface BarSpan { region: Region; bar: number; start: number; length: number | undefined }

interface VfioDevice {
  host: string;
  id: string;
  /** config space bytes as the guest last read them, and which of them were read */
  cfg: Uint8Array;
  seen: Uint8Array;
  layoutDirty: boolean;
  spans: BarSpan[];
  virtio: VfioVirtioTransport | undefined;
  decoder: TransportDecoder | undefined;
  undecided: RawAccess[];
  events: NewEvent[];
  barAccesses: number;
  unmapped: number;
  placedByStart: number;
  /** vendor known and not virtio: recorded nowhere, counted */
  notVirtio: boolean;
}

export interface VfioTraceSummary {
  /** per device host address: BAR accesses no capability or legacy IO BAR explained (kept raw, region unspecified) */
  unmappedAccesses: Record<string, number>;
  /** per device host address: BAR accesses placed in a structure whose capability length the guest never read */
  placedByStartOnly: Record<string, number>;
  /** lines of vfio events that are not register accesses (interrupts, setup), by event name */
  countedLines: Record<string, number>;
  /** passed-through functions whose vendor is not virtio's (0x1af4): not imported */
  notVirtio: string[];
}

export type VfioSink = (device: string, events: NewEvent[]) => Promise<void>;

export class VfioTraceDevices {
  private readonly devices = new Map<string, VfioDevice>();
  private readonly counted = new Map<string, number>();

  constructor(private readonly fail: (reason: string) => never, private readonly sink: VfioSink, private readonly flushEvery = 4096) {}

  /** One vfio_* line; a promise only when a device's buffer went to the sink. */
  line(name: string, args: string, timestampNs: bigint): Promise<void> | undefined {
    switch (name) {
      case 'vfio_region_write':
      case 'vfio_region_read':
        return this.region(name, args, timestampNs);
      case 'vfio_pci_read_config':
      case 'vfio_pci_write_config':
        return this.config(name, args, timestampNs);
      default:
        this.counted.set(name, (this.counted.get(name) ?? 0) + 1);
        return undefined;
    }
  }

  private device(host: string): VfioDevice {
    let d = this.devices.get(host);
    if (!d) {
      d = {
        host, id: `vfio-pci@${host}`, cfg: new Uint8Array(PCI_CONFIG_SPACE), seen: new Uint8Array(PCI_CONFIG_SPACE),
        layoutDirty: true, spans: [], virtio: undefined, decoder: undefined, undecided: [], events: [], barAccesses: 0, unmapped: 0, placedByStart: 0, notVirtio: false,
      };
      this.devices.set(host, d);
    }
    return d;
  }

  private config(name: string, args: string, timestampNs: bigint): Promise<void> | undefined {
    const read = name === 'vfio_pci_read_config';
    const m = (read ? CFG_READ_RE : CFG_WRITE_RE).exec(args);
    if (!m) this.fail(`${name}: cannot read "${args.trim()}"`);
    const d = this.device(m[1]!);
    const offset = parseInt(m[2]!, 16);
    const width = parseInt(read ? m[3]! : m[4]!, 16);
    const value = BigInt('0x' + (read ? m[4]! : m[3]!));
    if (offset + width > PCI_CONFIG_SPACE || ![1, 2, 4].includes(width)) this.fail(`${name}: access @0x${offset.toString(16)} len ${width} is outside PCI config space`);
    if (read) {
      // only reads say what the registers hold (a write of all ones to a BAR is sizing, not its value)
      for (let i = 0; i < width; i++) {
        d.cfg[offset + i] = Number((value >> BigInt(8 * i)) & 0xffn);
        d.seen[offset + i] = 1;
      }
      d.layoutDirty = true;
      if (d.seen[0] && d.seen[1]) d.notVirtio = this.word(d, 0) !== VIRTIO_PCI_VENDOR;
    }
    return this.access(d, { timestampNs, source: 'qemu-trace', region: 'pci-cfg-space', offset, width, direction: read ? 'read' : 'write', value });
  }

  private region(name: string, args: string, timestampNs: bigint): Promise<void> | undefined {
    const write = name === 'vfio_region_write';
    const m = (write ? WRITE_RE : READ_RE).exec(args);
    if (!m) this.fail(`${name}: cannot read "${args.trim()}"`);
    const d = this.device(m[1]!);
    const index = Number(m[2]!);
    const offset = parseInt(m[3]!, 16);
    const width = Number(write ? m[5]! : m[4]!);
    const value = BigInt('0x' + (write ? m[4]! : m[5]!));
    if (index > LAST_BAR_REGION) {
      // the ROM region (6) or a device-specific region: not a virtio register
      this.counted.set(`${name} region${index}`, (this.counted.get(`${name} region${index}`) ?? 0) + 1);
      return undefined;
    }
    if (d.notVirtio) {
      this.counted.set(`${name} (not virtio)`, (this.counted.get(`${name} (not virtio)`) ?? 0) + 1);
      return undefined;
    }
    d.barAccesses++;
    const span = this.spanOf(d, index, offset);
    if (!span) d.unmapped++;
    const a: RawAccess = {
      timestampNs, source: 'qemu-trace', region: span?.region ?? 'unspecified', bar: index,
      offset: span ? offset - span.start : offset, width, direction: write ? 'write' : 'read', value,
    };
    if (!d.virtio && span) d.virtio = span.region === 'legacy-io' ? 'pci-legacy' : 'pci-modern';
    return this.access(d, a);
  }

  private word(d: VfioDevice, at: number): number {
    return d.cfg[at]! | (d.cfg[at + 1]! << 8);
  }

  private dword(d: VfioDevice, at: number): number {
    return (this.word(d, at) | (this.word(d, at + 2) << 16)) >>> 0;
  }

  private known(d: VfioDevice, at: number, n: number): boolean {
    for (let i = at; i < at + n; i++) if (!d.seen[i]) return false;
    return true;
  }

  /** The virtio structures the capability chain places in BARs, as far as the guest has read it. */
  private layout(d: VfioDevice): BarSpan[] {
    if (!d.layoutDirty) return d.spans;
    const spans: BarSpan[] = [];
    const visited = new Set<number>();
    let p = this.known(d, PCI_CAPABILITY_LIST, 1) ? d.cfg[PCI_CAPABILITY_LIST]! & 0xfc : 0;
    while (p >= 0x40 && p < 0x100 && !visited.has(p) && this.known(d, p, 2)) {
      visited.add(p);
      const id = d.cfg[p]!;
      // struct virtio_pci_cap: cap_vndr, cap_next, cap_len, cfg_type, bar, id, padding[2], offset (le32), length (le32)
      if (id === PCI_CAP_ID_VNDR && this.known(d, p + 3, 2) && this.known(d, p + 8, 4)) {
        const region = CFG_TYPE_REGION[d.cfg[p + 3]!];
        const bar = d.cfg[p + 4]!;
        // the first capability of a type is the one drivers use (virtio 1.x 4.1.4); SeaBIOS reads offsets only
        if (region && bar <= LAST_BAR_REGION && !spans.some((s) => s.region === region)) {
          spans.push({ region, bar, start: this.dword(d, p + 8), length: this.known(d, p + 12, 4) ? this.dword(d, p + 12) : undefined });
        }
      }
      if (id === PCI_CAP_ID_MSIX && this.known(d, p + 2, 10)) {
        // table and PBA: BAR indicator in the low 3 bits of each offset register; QEMU emulates both, so guest
        // accesses rarely reach vfio, but when they do they are MSI-X structures, not virtio registers
        const entries = (this.word(d, p + MSIX_CAP.MESSAGE_CONTROL) & MSIX_CAP.TABLE_SIZE_MASK) + 1;
        const table = this.dword(d, p + MSIX_CAP.TABLE);
        const pba = this.dword(d, p + MSIX_CAP.PBA);
        const bir = MSIX_CAP.BIR_MASK;
        spans.push({ region: 'msix-table', bar: table & bir, start: table & ~bir, length: entries * MSIX_CAP.TABLE_ENTRY_SIZE });
        spans.push({ region: 'msix-pba', bar: pba & bir, start: pba & ~bir, length: Math.ceil(entries / MSIX_CAP.PBA_BITS_PER_QWORD) * 8 });
      }
      p = d.cfg[p + 1]! & 0xfc;
    }
    d.spans = spans;
    d.layoutDirty = false;
    return spans;
  }

  private spanOf(d: VfioDevice, bar: number, offset: number): BarSpan | undefined {
    const spans = this.layout(d).filter((s) => s.bar === bar);
    const hit = spans.find((s) => s.length !== undefined && offset >= s.start && offset < s.start + s.length);
    if (hit) return hit;
    // A structure whose length was never read reaches at most to the next structure in its BAR (structures do
    // not overlap): the one with the highest start at or below the offset, counted as placed by start only.
    let below: BarSpan | undefined;
    for (const s of spans) if (s.start <= offset && (!below || s.start > below.start)) below = s;
    if (below && below.length === undefined) {
      d.placedByStart++;
      return below;
    }
    // A BAR in IO space holding no virtio structure is the legacy interface (transitional devices: BAR 0).
    const barReg = 0x10 + 4 * bar;
    if (this.known(d, barReg, 1) && (d.cfg[barReg]! & 1) === 1) return { region: 'legacy-io', bar, start: 0, length: Infinity };
    return undefined;
  }

  private access(d: VfioDevice, a: RawAccess): Promise<void> | undefined {
    if (!d.decoder) {
      if (!d.virtio) {
        if (d.undecided.length >= MAX_UNDECIDED) this.fail(`${d.id}: ${MAX_UNDECIDED} accesses and no BAR access that shows its virtio interface`);
        d.undecided.push(a);
        return undefined;
      }
      this.start(d, a.timestampNs);
      for (const u of d.undecided.splice(0)) pushDecoded(d.events, d.decoder!.decode(u));
    }
    pushDecoded(d.events, d.decoder!.decode(a));
    return d.events.length >= this.flushEvery ? this.flush(d) : undefined;
  }

  /** The identity the guest's config reads showed; what it never read is absent (unknown). */
  private identity(d: VfioDevice): { type: string; virtioId?: number; device?: number; subsystemVendor?: number; subsystem?: number; revision?: number } {
    const w = (at: number) => (this.known(d, at, 2) ? this.word(d, at) : undefined);
    const device = w(PCI_ID_OFFSETS.device);
    const subsystem = w(PCI_ID_OFFSETS.subsystem);
    // a transitional device carries its virtio id in the subsystem id: unknown until that was read too
    const virtioId = device === undefined ? undefined : virtioIdOfPci(device, subsystem ?? 0) || undefined;
    const out: ReturnType<VfioTraceDevices['identity']> = { type: virtioId ? deviceTypeById(virtioId)?.name ?? `id${virtioId}` : '' };
    if (virtioId !== undefined) out.virtioId = virtioId;
    if (device !== undefined) out.device = device;
    const subsystemVendor = w(PCI_ID_OFFSETS.subsystemVendor);
    if (subsystemVendor !== undefined) out.subsystemVendor = subsystemVendor;
    if (subsystem !== undefined) out.subsystem = subsystem;
    if (this.known(d, PCI_ID_OFFSETS.revision, 1)) out.revision = d.cfg[PCI_ID_OFFSETS.revision]!;
    return out;
  }

  private start(d: VfioDevice, timestampNs: bigint): void {
    const ident = this.identity(d);
    d.decoder = createDecoder({ transport: 'vfio', ...(ident.type ? { deviceType: ident.type } : {}) });
    d.events.push({
      timestampNs, actor: 'recorder', path: 'internal', source: 'qemu-trace',
      body: {
        kind: 'identified', aliases: [], type: ident.type, transport: 'vfio', pciVendor: VIRTIO_PCI_VENDOR,
        ...(ident.virtioId !== undefined ? { virtioId: ident.virtioId } : {}),
        ...(ident.device !== undefined ? { pciDevice: ident.device } : {}),
        ...(ident.subsystemVendor !== undefined ? { pciSubsystemVendor: ident.subsystemVendor } : {}),
        ...(ident.subsystem !== undefined ? { pciSubsystem: ident.subsystem } : {}),
        ...(ident.revision !== undefined ? { pciRevision: ident.revision } : {}),
        backend: vfioBackend(d.host, d.virtio!),
      },
    });
  }

  private async flush(d: VfioDevice): Promise<void> {
    if (d.events.length === 0) return;
    await this.sink(d.id, d.events.splice(0));
  }

  /** Flushes every device; fails when BAR accesses could not be placed because the capability reads are missing. */
  async finish(): Promise<{ devices: { id: string; type: string; transport: string; events: number }[]; summary: VfioTraceSummary }> {
    const devices: { id: string; type: string; transport: string; events: number }[] = [];
    const summary: VfioTraceSummary = { unmappedAccesses: {}, placedByStartOnly: {}, countedLines: Object.fromEntries(this.counted), notVirtio: [] };
    for (const d of this.devices.values()) {
      if (d.notVirtio) {
        summary.notVirtio.push(d.host);
        continue;
      }
      if (!d.decoder) {
        if (d.barAccesses > 0) {
          this.fail(`${d.id}: ${d.barAccesses} BAR accesses but the trace has no config space reads of its virtio capabilities; record with -trace vfio_pci_read_config`);
        }
        // config space only: nothing says which virtio interface it speaks, so nothing to project
        continue;
      }
      if (d.unmapped > 0) summary.unmappedAccesses[d.host] = d.unmapped;
      if (d.placedByStart > 0) summary.placedByStartOnly[d.host] = d.placedByStart;
      await this.flush(d);
      const ident = this.identity(d);
      devices.push({ id: d.id, type: ident.type, transport: 'vfio', events: 0 });
    }
    return { devices, summary };
  }
}
