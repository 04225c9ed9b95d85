// QEMU trace import: QEMU's log-backend trace lines -> one event stream per virtio device, through the transport
// decoders (src/transport/). What QEMU 7.2 gives and how it is used (docs/qemu-captures.md has the formats):
// - pci_cfg_write <qemu type> <bus:slot.fn> @<off> <- <val>: BAR programming (to map absolute addresses to a
//   device and BAR offset), command register, MSI-X enable; fed to the device's PCI config decoder.
// - memory_region_ops_read/write ... addr <absolute> value <v> size <n> name '<region>': the virtio register
//   accesses ('virtio-pci' legacy IO BAR, 'virtio-pci-{common,isr,device,notify}-<type>' modern BAR 4
//   subregions, 'virtio-mmio' on microvm, 'msix-table'/'msix-pba').
// - virtio_queue_notify vdev <p> n <i> vq <p>: ties a vq pointer to the device and queue the guest just notified
//   (QEMU runs with ioeventfd=off in the captures, so it follows the notify write directly).
// - virtqueue_pop vq <p> ...: the device took one available chain (last_avail_idx + 1);
//   virtqueue_flush vq <p> count <n>: it published n used entries (used_idx + n).
// - virtio_set_status vdev <p> val <v> right after a status write of a device: ties QEMU's vdev pointer to that
//   device, so that later virtio_queue_notify lines tie their vq even when no notify write was traced.
// - virtio_mmio_read/virtio_mmio_write_offset (no memory_region_ops of virtio-mmio in the trace): offsets and
//   written values, tied to a device by the vdev pointer of the virtio_set_status / virtio_queue_notify line after a
//   Status / QueueNotify write (mmioTie); read values are not traced. Such a device is virtio-mmio@vdev-<pointer>
//   here; import-trace.ts names it by its mmio base when QMP's answers have its rings (mmio-ring-tie.ts).
// Other lines (virtio_notify, unrelated devices, events devrec does not read) are counted per event
// name (TraceImportSummary.unusedLines). A line that cannot be read is fatal only when it belongs to a virtio
// device; a line of any other device never stops the import. docs/qemu-captures.md lists the minimal event set
// per transport and what each missing event leaves unknown.
import { createReadStream } from 'node:fs';
import { decompressedCap, readLines } from './bounded-input.js';
import { createGunzip } from 'node:zlib';
import type { NewEvent, QueueConfigured, Region, Transport } from '../events/types.js';
import { featureBit } from '../model/features.js';
import { LEGACY_PCI_HEADER, MMIO_CONFIG_OFFSET, MMIO_REGS, registerOffset } from '../model/registers.js';
import { qemuDeviceTypeOfPci, qemuIdName, qemuMmioDeviceId } from '../model/qemu-names.js';
import { VIRTIO_PCI_VENDOR, deviceTypeById, deviceTypeByName } from '../model/device-types.js';
import { MAX_TIMESTAMP_NS } from '../model/limits.js';
import { createDecoder } from '../transport/index.js';
import type { RawAccess, TransportDecoder } from '../transport/types.js';
import { VfioTraceDevices, type VfioTraceSummary, isVfioTraceEvent } from './qemu-trace-vfio.js';

export class TraceFormatError extends Error {
  constructor(readonly input: string, readonly line: number, reason: string) {
    super(`${input}: line ${line}: ${reason}`);
    this.name = 'TraceFormatError';
  }
}

/** The trace holds nothing devrec can tie to a device (or to a queue): names the events to enable. */
export class TraceEvidenceError extends Error {
  constructor(readonly input: string, reason: string) {
    super(`${input}: ${reason}`);
    this.name = 'TraceEvidenceError';
  }
}

/** The events that tie accesses to devices, per transport (what to enable when nothing could be tied). */
export const DEVICE_EVENTS = 'pci_cfg_write and memory_region_ops_read/memory_region_ops_write (PCI), or memory_region_ops_read/write, or virtio_mmio_read/virtio_mmio_write_offset with virtio_set_status (virtio-mmio)';
export const QUEUE_EVENTS = 'virtio_queue_notify with virtio_set_status (or the notify writes in memory_region_ops_write), virtqueue_pop and virtqueue_flush';

/**
 * Where QEMU's virtio-pci puts the MSI-X capability in config space (the trace shows config writes, not the
 * capability chain): first on a legacy-only device, after the five virtio vendor capabilities on a modern one.
 * Measured on every QEMU 7.2 capture (streams/qemu/); --msix-cap overrides it.
 */
export const QEMU_VIRTIO_PCI_MSIX_CAP: Partial<Record<Transport, number>> = { 'pci-legacy': 0x40, 'pci-modern': 0x98 };
/** QEMU's modern virtio-pci BAR 4 layout: each capability in its own 4 KiB page. */
const MODERN_PAGE = 0x1000;
/** A virtio-mmio window on microvm. */
const MMIO_WINDOW = 0x200;
/** Raw accesses kept per device while its transport is not known yet (PCI config writes before any BAR access). */
const MAX_UNDECIDED = 100_000;

const MODERN_REGIONS: Record<string, Region> = {
  common: 'common-cfg',
  isr: 'isr',
  device: 'device-cfg',
  notify: 'notify',
};


export interface TraceLine {
  name: string;
  args: string;
  timestampNs?: bigint;
}

// `[pid@sec.usec:]name args` (the log backend prefixes pid and time unless disabled)
const LINE_RE = /^(?:(\d+)@(\d+)\.(\d+):)?([a-z0-9_]+)(?: (.*))?$/;

export function parseTraceLine(line: string): TraceLine | undefined {
  const c = line.charCodeAt(0);
  if (c >= 48 && c <= 57) {
    // pid@sec.usec:name args (the log backend's prefix): the rare form, parsed with the full pattern
    const m = LINE_RE.exec(line);
    if (!m) return undefined;
    const out: TraceLine = { name: m[4]!, args: m[5] ?? '' };
    if (m[2] !== undefined) out.timestampNs = BigInt(m[2]) * 1_000_000_000n + BigInt(m[3]!.padEnd(6, '0').slice(0, 6)) * 1000n;
    return out;
  }
  const sp = line.indexOf(' ');
  const name = sp < 0 ? line : line.slice(0, sp);
  if (!NAME_RE.test(name)) return undefined;
  return { name, args: sp < 0 ? '' : line.slice(sp + 1) };
}
const NAME_RE = /^[a-z][a-z0-9_]*$/;
const PREFIX_RE = /^\d+@\d+\.\d+$/;
/** The trace events the importer reads (QemuTraceImporter.line). */
const HANDLED = new Set(['pci_cfg_write', 'memory_region_ops_write', 'memory_region_ops_read', 'virtio_queue_notify', 'virtqueue_pop', 'virtqueue_flush', 'virtqueue_fill', 'virtio_set_status', 'virtio_mmio_read', 'virtio_mmio_write_offset']);

// "%s %02x:%02x.%x @0x%x <- 0x%x": the device name may be empty (QEMU 10.0 on some ICH9 functions) or hold any
// character; bus, slot and function are hex. Fields a later QEMU appends are allowed after the value.
const PCI_CFG_RE = /^(.*?) ?([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7]) @0x([0-9a-f]+) <- 0x([0-9a-f]+)(?: .*)?$/;
const MR_HEAD_RE = /^cpu -?\d+ mr 0x[0-9a-f]+$/;
const HEX_RE = /^[0-9a-f]{1,16}$/;
const DEC_RE = /^\d{1,3}$/;
// virtio lines; "(?: .*)?" accepts fields a later QEMU appends
const NOTIFY_RE = /^vdev (0x[0-9a-f]+) n (\d+) vq (0x[0-9a-f]+)(?: .*)?$/;
const POP_RE = /^vq (0x[0-9a-f]+) elem 0x[0-9a-f]+ in_num \d+ out_num \d+(?: .*)?$/;
const FLUSH_RE = /^vq (0x[0-9a-f]+) count (\d+)(?: .*)?$/;
const FILL_RE = /^vq (0x[0-9a-f]+) elem 0x[0-9a-f]+ len \d+ idx \d+(?: .*)?$/;
const SET_STATUS_RE = /^vdev (0x[0-9a-f]+) val (\d+)(?: .*)?$/;
// hw/virtio/virtio-mmio.c: "virtio_mmio_read offset 0x%x" / "virtio_mmio_write offset 0x%x value 0x%x" (the format
// repeats a name); no transport address, no access size, and a read's value is not traced
const MMIO_READ_RE = /^(?:virtio_mmio_read )?offset 0x([0-9a-f]{1,8})(?: .*)?$/;
const MMIO_WRITE_RE = /^(?:virtio_mmio_write )?offset 0x([0-9a-f]{1,8}) value 0x([0-9a-f]{1,16})(?: .*)?$/;
const RING_PACKED = featureBit('VIRTIO_F_RING_PACKED');

interface Device {
  id: string;
  qemuType: string;
  type: string;
  transport: Transport | undefined;
  decoder: TransportDecoder | undefined;
  /** accesses before the transport is known */
  undecided: RawAccess[];
  /** PCI: BAR values as last programmed (sizing writes of all ones ignored) */
  bars: number[];
  mmioBase?: number;
  /** virtio-mmio traced by virtio_mmio_* events alone: QEMU's VirtIODevice pointer is all that names it */
  vdev?: string;
  events: NewEvent[];
  /** queues enabled since the last reset (legacy: a non-zero PFN), and those a vq pointer was tied to */
  enabledQueues: Set<number>;
  /** a device reset was traced: queue indices start from their reset values */
  resetSeen: boolean;
  tiedQueues: Set<number>;
  /** negotiated VIRTIO_F_RING_PACKED: QEMU 7.2 traces no virtqueue_flush for packed rings, so fills count */
  packed: boolean;
}

export interface TraceImportSummary {
  input: string;
  lines: number;
  /** vdev: QEMU's VirtIODevice pointer, for a virtio-mmio device only virtio_mmio_* lines showed (nothing else names it) */
  devices: { id: string; type: string; transport: string; events: number; vdev?: string }[];
  /** virtqueue_pop / flush lines for queues never tied to a device by a notify */
  unattributedQueueLines: number;
  /** accesses to virtio regions at addresses no traced BAR programming covers */
  orphanAccesses: number;
  /** vfio passthrough devices (src/sources/qemu-trace-vfio.ts), when the trace has vfio events */
  vfio?: VfioTraceSummary;
  /** lines read but not used, per event name ("(not a trace line)" for text that is no trace event) */
  unusedLines: Record<string, number>;
  /** the trace's times: wall clock from pid@sec.usec prefixes (-msg timestamp=on), or none */
  clock: 'wall-clock' | 'none' | 'mixed';
}

export type TraceSink = (device: string, events: NewEvent[]) => Promise<void>;

function pciSlot(bus: string, slot: string, fn: string): string {
  // the trace prints %02x:%02x.%x, lspci's form
  return `${bus.padStart(2, '0')}:${slot.padStart(2, '0')}.${fn}`;
}

const NOT_A_TRACE_LINE = '(not a trace line)';

/** pci_cfg_write has no size: infer it from the register (BARs and dwords 4, command/MSI-X control 2, else 1). */
function cfgWidth(offset: number, value: number): number {
  if (offset % 4 === 0 && (offset >= 0x10 && offset <= 0x30 || value > 0xffff)) return 4;
  if (offset % 2 === 0 && (offset === 0x04 || offset === 0x06 || value > 0xff)) return 2;
  return offset % 4 === 0 && value > 0xff ? 4 : 1;
}

function isBarSizing(value: number): boolean {
  return (value | 0xf) === 0xffffffff || value === 0xfffff800;
}

/** virtio-mmio register offsets by name (virtio 1.3 4.2.2), and the one version a register exists in, if only one. */
const MMIO = Object.fromEntries(MMIO_REGS.map((r) => [r.name, r.offset])) as Record<(typeof MMIO_REGS)[number]['name'], number>;
const MMIO_VERSION_OF = new Map<number, Transport>(MMIO_REGS.filter((r) => r.versions.length === 1)
  .map((r) => [r.offset, (r.versions as readonly number[])[0] === 1 ? 'mmio-legacy' : 'mmio-modern']));
/** The interrupt registers: the handler of any device's interrupt can run between two accesses of another device. */
const MMIO_INTERRUPT_REGS = new Set([MMIO.InterruptStatus, MMIO.InterruptACK]);

/** One virtio_mmio_read / virtio_mmio_write_offset line, before the device it belongs to is known. */
interface MmioLine { access: RawAccess; event: 'virtio_mmio_read' | 'virtio_mmio_write_offset' }
/** What waits for the next tie: mmio accesses, and (to keep each stream in line order) events of tied devices. */
type MmioPending = { line: MmioLine } | { device: Device; event: NewEvent };

export class QemuTraceImporter {
  private readonly devices = new Map<string, Device>();
  private readonly bySlot = new Map<string, Device>();
  private readonly byWindow = new Map<number, Device>();
  private readonly vqs = new Map<string, { device: Device; index: number }>();
  private readonly pendingVq = new Map<string, number>();
  private lastNotified: Device | undefined;
  /** QEMU's VirtIODevice pointers (virtio_* lines) -> device, tied by a status write and its virtio_set_status */
  private readonly vdevs = new Map<string, Device>();
  /** the status write just decoded, until the next line (virtio_set_status follows it directly) */
  private lastStatusWrite: { dev: Device; status: number; line: number } | undefined;
  /**
   * virtio-mmio from virtio_mmio_* lines (no memory_region_ops): those lines name no device. A Status write followed
   * by virtio_set_status (same value), or a QueueNotify write followed by virtio_queue_notify (same queue), names it
   * by QEMU's vdev pointer: a tie. Accesses between two ties wait in `mmioPending` (see mmioTie).
   */
  private mmioPending: MmioPending[] = [];
  /** the Status / QueueNotify write of the line before, until this line says whether it ties */
  private mmioCandidate: MmioLine | undefined;
  /** the device of the last tie */
  private mmioLastTied: Device | undefined;
  /** memory_region_ops lines of virtio-mmio regions seen: they are the evidence then, virtio_mmio_* lines are not used */
  private mmioByOps = false;
  private lineNo = 0;
  private clockNs = 0n;
  /**
   * virtqueue_pop and virtqueue_flush/fill lines seen: the trace shows the rings' progress. Until both are seen no
   * device's events go to the sink: a trace without them (an event set without virtqueue_*) leaves every enabled
   * queue's indices unknown, added at finish after each enable (withIndicesUnseen).
   */
  private sawPop = false;
  private sawUsed = false;
  private stamped = 0;
  private unstamped = 0;
  unattributed = 0;
  orphanAccesses = 0;
  /** per event name: a counter object, bumped in place (an unused line costs one lookup) */
  private readonly unused = new Map<string, { n: number }>();
  /** the seconds of the last pid@sec.usec prefix, and them in ns (consecutive lines mostly share them) */
  private lastSec = '';
  private lastSecNs = 0n;

  /** passed-through devices: their own module, fed every vfio_* line */
  private readonly vfio: VfioTraceDevices;
  private vfioLines = 0;

  constructor(private readonly input: string, private readonly sink: TraceSink, private readonly flushEvery = 4096) {
    this.vfio = new VfioTraceDevices((reason) => this.fail(reason), sink, flushEvery);
  }

  /**
   * Feeds one line. Returns a promise only when a device's buffer went to the sink (await it then); otherwise
   * undefined, so the hot loop does not pay for a promise per line.
   */
  line(text: string): Promise<void> | undefined {
    this.lineNo++;
    if (text.length === 0) return undefined;
    // Most lines of a raw trace are events devrec does not read: skip them before cutting the line up.
    const c0 = text.charCodeAt(0);
    let t: TraceLine | undefined;
    if (c0 >= 97 && c0 <= 122) {
      const sp = text.indexOf(' ');
      const name = sp < 0 ? text : text.slice(0, sp);
      if (HANDLED.has(name)) t = { name, args: sp < 0 ? '' : text.slice(sp + 1) }; // a name of the set: nothing to check
      else if (!isVfioTraceEvent(name)) {
        this.unusedLine(NAME_RE.test(name) ? name : NOT_A_TRACE_LINE);
        return undefined;
      }
    } else if (c0 >= 48 && c0 <= 57) t = this.stampedLine(text);
    t ??= parseTraceLine(text);
    if (!t) {
      this.unusedLine(NOT_A_TRACE_LINE); // QEMU warnings in the same log, damaged text
      return undefined;
    }
    if (t.timestampNs !== undefined && t.timestampNs > MAX_TIMESTAMP_NS) {
      this.fail(`time prefix of ${t.timestampNs / 1_000_000_000n} s is past what an event's time can hold (2^64 ns, the year 2554): not a time QEMU wrote`);
    }
    if (t.timestampNs !== undefined) this.stamped++;
    else this.unstamped++;
    // Time: the prefix when the trace has one; otherwise the line number (an ordinal, no time: events/time.ts),
    // except after a stamped line, where an unstamped one keeps the last wall-clock time (never a mix of both).
    if (t.timestampNs !== undefined) {
      if (t.timestampNs > this.clockNs) this.clockNs = t.timestampNs;
    } else if (this.stamped === 0) this.clockNs = BigInt(this.lineNo);
    const statusWrite = this.lastStatusWrite;
    this.lastStatusWrite = undefined;
    let candidate = this.mmioCandidate;
    if (candidate) {
      this.mmioCandidate = undefined;
      if (t.name !== 'virtio_set_status' && t.name !== 'virtio_queue_notify') {
        this.mmioWait({ line: candidate });
        candidate = undefined;
      }
    }
    switch (t.name) {
      case 'pci_cfg_write':
        return this.pciCfgWrite(t.args);
      case 'memory_region_ops_write':
      case 'memory_region_ops_read':
        return this.mrAccess(t.args, t.name === 'memory_region_ops_write' ? 'write' : 'read');
      case 'virtio_queue_notify':
        this.queueNotify(t.args, candidate);
        return undefined;
      case 'virtio_mmio_read':
      case 'virtio_mmio_write_offset':
        this.mmioLine(t.name, t.args);
        return undefined;
      case 'virtqueue_pop':
        return this.queueProgress(t.args, POP_RE, 'pop');
      case 'virtqueue_flush':
        return this.queueProgress(t.args, FLUSH_RE, 'flush');
      case 'virtqueue_fill':
        return this.queueProgress(t.args, FILL_RE, 'fill');
      case 'virtio_set_status':
        this.setStatus(t.args, statusWrite, candidate);
        return undefined;
      default:
        if (isVfioTraceEvent(t.name)) {
          this.vfioLines++;
          return this.vfio.line(t.name, t.args, this.clockNs);
        }
        this.unusedLine(t.name);
        return undefined;
    }
  }

  /**
   * `pid@sec.usec:name args`, cut at its markers (every line of a -msg timestamp=on trace has it); undefined when the
   * prefix is not that (the full pattern then decides). The seconds' BigInt is kept for the next lines.
   */
  private stampedLine(text: string): TraceLine | undefined {
    const at = text.indexOf('@');
    const dot = at < 0 ? -1 : text.indexOf('.', at);
    const colon = dot < 0 ? -1 : text.indexOf(':', dot);
    if (colon < 0 || dot - at > 20 || colon - dot > 12 || !PREFIX_RE.test(text.slice(0, colon))) return undefined;
    const sp = text.indexOf(' ', colon);
    const name = sp < 0 ? text.slice(colon + 1) : text.slice(colon + 1, sp);
    if (!NAME_RE.test(name)) return undefined;
    const sec = text.slice(at + 1, dot);
    if (sec !== this.lastSec) {
      this.lastSec = sec;
      this.lastSecNs = BigInt(sec) * 1_000_000_000n;
    }
    const usec = Number(text.slice(dot + 1, colon).padEnd(6, '0').slice(0, 6));
    return { name, args: sp < 0 ? '' : text.slice(sp + 1), timestampNs: this.lastSecNs + BigInt(usec * 1000) };
  }

  private unusedLine(name: string): void {
    const c = this.unused.get(name);
    if (c) c.n++;
    else this.unused.set(name, { n: 1 });
  }

  /** virtio_set_status right after a device's status write with the same value: the vdev pointer is that device. */
  private setStatus(args: string, write: { dev: Device; status: number; line: number } | undefined, candidate: MmioLine | undefined): void {
    const m = SET_STATUS_RE.exec(args);
    if (!m) this.fail(`virtio_set_status: cannot read "${args}"`);
    if (candidate) {
      if (candidate.access.offset === MMIO.Status && candidate.access.value === BigInt(m[2]!)) {
        this.mmioTie(this.vdevDevice(m[1]!), candidate);
        return;
      }
      this.mmioWait({ line: candidate });
    }
    if (write && write.line === this.lineNo - 1 && write.status === Number(m[2]!)) {
      const known = this.vdevs.get(m[1]!);
      if (!known) this.vdevs.set(m[1]!, write.dev);
      else if (known !== write.dev) this.fail(`virtio_set_status: vdev ${m[1]!} was tied to ${known.id}, now written through ${write.dev.id}`);
      return;
    }
    this.unusedLine('virtio_set_status'); // QEMU-side status changes (vm stop, reset) carry nothing new here
  }

  /** A hex number of the current line, at most `max`; anything larger fails with the line number. */
  private hexInRange(text: string, max: number, what: string): number {
    if (!/^(0x)?[0-9a-fA-F]{1,16}$/.test(text)) this.fail(`${what}: "${text}" is not a hex number`);
    const v = BigInt(text.startsWith('0x') ? text : '0x' + text);
    if (v > BigInt(max)) this.fail(`${what}: 0x${v.toString(16)} is out of range (at most 0x${max.toString(16)})`);
    return Number(v);
  }

  private fail(reason: string): never {
    throw new TraceFormatError(this.input, this.lineNo, reason);
  }

  private pciCfgWrite(args: string): Promise<void> | undefined {
    const m = PCI_CFG_RE.exec(args);
    if (!m) {
      if (/^(virtio|vhost)-/.test(args)) this.fail(`pci_cfg_write: cannot read "${args}"`);
      this.unusedLine('pci_cfg_write');
      return undefined;
    }
    const qemuType = m[1]!;
    if (!qemuType.startsWith('virtio-') && !qemuType.startsWith('vhost-')) {
      this.unusedLine('pci_cfg_write');
      return undefined;
    }
    const slot = pciSlot(m[2]!, m[3]!, m[4]!);
    const offset = this.hexInRange(m[5]!, 0xfff, 'pci_cfg_write offset (PCI Express config space is 4 KiB)');
    const value = this.hexInRange(m[6]!, 0xffffffff, 'pci_cfg_write value (at most 32 bits)');
    let dev = this.bySlot.get(slot);
    if (!dev) {
      const known = qemuDeviceTypeOfPci(qemuType);
      const idName = known ? qemuIdName(known, 'pci') : qemuType;
      dev = this.newDevice(`${idName}@${slot}`, qemuType, known ?? qemuType.replace(/^(virtio|vhost(-user)?)-|-pci$/g, ''));
      this.bySlot.set(slot, dev);
    }
    if (offset >= 0x10 && offset <= 0x24 && offset % 4 === 0 && !isBarSizing(value)) {
      dev.bars[(offset - 0x10) / 4] = value;
      this.pageCache.clear();
    }
    return this.access(dev, { timestampNs: this.clockNs, source: 'qemu-trace', region: 'pci-cfg-space', offset, width: cfgWidth(offset, value), direction: 'write', value: BigInt(value) });
  }

  private newDevice(id: string, qemuType: string, type: string): Device {
    const dev: Device = {
      id, qemuType, type, transport: undefined, decoder: undefined, undecided: [], bars: [0, 0, 0, 0, 0, 0], events: [],
      enabledQueues: new Set(), tiedQueues: new Set(), resetSeen: false, packed: false,
    };
    this.devices.set(id, dev);
    return dev;
  }

  /** Resolved (region name, 4 KiB page) -> device, for memory BARs; cleared whenever a BAR is programmed. */
  private readonly pageCache = new Map<RegionInfo, Map<number, Device | null>>();

  /** The device whose BAR for this region is the highest base at or below `addr`, among devices of the region's type. */
  private byBar(addr: number, region: RegionInfo): Device | undefined {
    const page = Math.floor(addr / 4096);
    const cache = region.kind === 'legacy' ? undefined : (this.pageCache.get(region) ?? this.pageCache.set(region, new Map()).get(region)!);
    const cached = cache?.get(page);
    if (cached !== undefined) return cached ?? undefined;
    let best: Device | undefined;
    let bestBase = -1;
    for (const d of this.bySlot.values()) {
      if (region.typePrefix && !d.qemuType.startsWith(region.typePrefix)) continue;
      const base = region.base(d);
      if (base === undefined || base <= 0 || base > addr || base <= bestBase) continue;
      best = d;
      bestBase = base;
    }
    // IO BARs are packed closer than a page: only memory regions are cached.
    cache?.set(page, best ?? null);
    return best;
  }

  private mrAccess(args: string, direction: 'read' | 'write'): Promise<void> | undefined {
    // The hottest line of a trace: cut it at its fixed markers instead of one big regex, then check each piece.
    const ai = args.indexOf(' addr 0x');
    const vi = ai < 0 ? -1 : args.indexOf(' value 0x', ai);
    const si = vi < 0 ? -1 : args.indexOf(' size ', vi);
    const ni = si < 0 ? -1 : args.indexOf(" name '", si);
    const addrHex = args.slice(ai + 8, vi);
    const valueHex = args.slice(vi + 9, si);
    const sizeText = args.slice(si + 6, ni);
    // the region name decides whether the line is ours: a damaged line of another region never stops the import
    const well = ni >= 0 && args.charCodeAt(args.length - 1) === 39;
    let region: RegionInfo | undefined;
    if (well) region = regionOf(args.slice(ni + 7, args.length - 1));
    else {
      const nameAt = args.lastIndexOf(" name '");
      region = nameAt < 0 ? undefined : regionOf(args.slice(nameAt + 7, args.endsWith("'") ? -1 : undefined));
      if (!region && nameAt < 0 && /virtio|msix/.test(args)) this.fail(`memory_region_ops_${direction}: cannot read "${args}"`);
    }
    if (!region) {
      this.unusedLine(`memory_region_ops_${direction}`);
      return undefined;
    }
    if (!well || !HEX_RE.test(addrHex) || !HEX_RE.test(valueHex) || !DEC_RE.test(sizeText) || !MR_HEAD_RE.test(args.slice(0, ai))) {
      this.fail(`memory_region_ops_${direction}: cannot read "${args}"`);
    }
    // Physical addresses stay below 2^52 on every machine QEMU emulates: above 2^53 a number loses bits.
    const addr = addrHex.length <= 13 ? parseInt(addrHex, 16) // below 2^52: exact as a number (HEX_RE checked the digits)
      : this.hexInRange(addrHex, Number.MAX_SAFE_INTEGER, `memory_region_ops_${direction} address (above 2^53 no BAR or mmio window lies)`);
    const value = valueHex.length <= 13 ? BigInt(parseInt(valueHex, 16)) : BigInt('0x' + valueHex);
    const width = Number(sizeText);
    if (width !== 1 && width !== 2 && width !== 4 && width !== 8) this.fail(`memory_region_ops_${direction} size ${sizeText} is not 1, 2, 4 or 8 bytes`);
    if (region.kind === 'mmio') {
      if (!this.mmioByOps) this.mmioOpsSeen();
      const windowBase = addr - (addr % MMIO_WINDOW);
      let dev = this.byWindow.get(windowBase);
      if (!dev) {
        dev = this.newDevice(`virtio-mmio@${windowBase.toString(16)}`, 'virtio-mmio', '');
        dev.mmioBase = windowBase;
        this.byWindow.set(windowBase, dev);
      }
      return this.mmioAccess(dev, { timestampNs: this.clockNs, source: 'qemu-trace', region: 'mmio-regs', offset: addr - windowBase, width, direction, value });
    }
    const dev = this.byBar(addr, region);
    if (!dev) return this.orphan(region.name, addr);
    const barBase = region.base(dev)!;
    const offset = region.kind === 'modern' ? (addr - barBase) % MODERN_PAGE : addr - barBase;
    return this.access(dev, { timestampNs: this.clockNs, source: 'qemu-trace', region: region.region, bar: region.bar, offset, width, direction, value }, region.decides);
  }

  /** virtio-mmio: the device type comes from the DeviceID read, the version (legacy 1 / modern 2) from Version. */
  private mmioAccess(dev: Device, a: RawAccess): Promise<void> | undefined {
    if (!dev.decoder && a.direction === 'read') {
      if (a.offset === MMIO_DEVICE_ID && a.value !== 0n) {
        const t = deviceTypeById(Number(a.value));
        dev.type = t?.name ?? `id${a.value}`;
        dev.qemuType = t ? qemuIdName(t.name, 'mmio') : `virtio-${dev.type}-device`;
      }
      if (a.offset === MMIO_VERSION) dev.transport = a.value === 1n ? 'mmio-legacy' : 'mmio-modern';
    }
    return this.access(dev, a, dev.transport);
  }

  /** One virtio_mmio_read / virtio_mmio_write_offset line (used only while no memory_region_ops line shows virtio-mmio). */
  private mmioLine(name: 'virtio_mmio_read' | 'virtio_mmio_write_offset', args: string): void {
    if (this.mmioByOps) {
      this.unusedLine(name); // the memory_region_ops lines of the same accesses carry more (address, size, read values)
      return;
    }
    const write = name === 'virtio_mmio_write_offset';
    const m = (write ? MMIO_WRITE_RE : MMIO_READ_RE).exec(args);
    if (!m) this.fail(`${name}: cannot read "${args}"`);
    const offset = parseInt(m[1]!, 16);
    if (offset >= MMIO_CONFIG_OFFSET) {
      // device config: the line has no access size, and a read no value; nothing to decode
      this.unusedLine(`${name} (device config: no access size traced)`);
      return;
    }
    if (MMIO_INTERRUPT_REGS.has(offset)) {
      this.unusedLine(`${name} (interrupt register: any device's handler)`);
      return;
    }
    // registers are 32 bits wide (virtio 1.3 4.2.2); QEMU's virtio_mmio_read does not trace the value it returns
    const access: RawAccess = write
      ? { timestampNs: this.clockNs, source: 'qemu-trace', region: 'mmio-regs', offset, width: 4, direction: 'write', value: BigInt('0x' + m[2]!) }
      : { timestampNs: this.clockNs, source: 'qemu-trace', region: 'mmio-regs', offset, width: 4, direction: 'read', value: 0n, valueKnown: false };
    const line: MmioLine = { access, event: name };
    if (write && (offset === MMIO.Status || offset === MMIO.QueueNotify)) this.mmioCandidate = line;
    else this.mmioWait({ line });
  }

  private mmioWait(p: MmioPending): void {
    this.mmioPending.push(p);
    // a trace whose mmio lines never tie (no virtio_set_status / virtio_queue_notify) must not grow without bound
    if (this.mmioPending.length >= MAX_UNDECIDED) this.mmioRelease(undefined, 0);
  }

  /**
   * A tie: `write` is `dev`'s. The accesses waiting since the last tie are `dev`'s too when that tie was also
   * `dev`'s (a driver talks to one device at a time between two of its own Status/QueueNotify writes; interrupt
   * registers, which any device's handler touches, are kept out). When the last tie was another device, `dev`'s
   * accesses start at its driver's last MagicValue read (virtio 1.3 4.2.3.1.1: initialization starts by reading
   * MagicValue); accesses before that belong to no device the trace names and are counted, not recorded.
   */
  private mmioTie(dev: Device, write: MmioLine): void {
    let from = 0;
    if (this.mmioLastTied !== dev) {
      from = this.mmioPending.length;
      for (let i = this.mmioPending.length - 1; i >= 0; i--) {
        const p = this.mmioPending[i]!;
        if ('line' in p && p.line.access.offset === MMIO.MagicValue && p.line.access.direction === 'read') {
          from = i;
          break;
        }
      }
    }
    this.mmioRelease(dev, from);
    this.lastNotified = undefined;
    this.mmioLineAccess(dev, write);
    this.mmioLastTied = dev;
  }

  /** Hands the waiting accesses from index `from` to `dev` (those before, or all without a device, are counted). */
  private mmioRelease(dev: Device | undefined, from: number): void {
    const pending = this.mmioPending;
    this.mmioPending = [];
    for (let i = 0; i < pending.length; i++) {
      const p = pending[i]!;
      if ('event' in p) p.device.events.push(p.event);
      else if (dev && i >= from) this.mmioLineAccess(dev, p.line);
      else this.unusedLine(`${p.line.event} (device not tied)`);
    }
  }

  /** A virtio_mmio_* access of a tied device; the registers only one version has tell which the driver uses. */
  private mmioLineAccess(dev: Device, line: MmioLine): void {
    // no flush here (a tie is not awaited): the events go to the sink at the device's next flushing line or at finish
    this.access(dev, line.access, MMIO_VERSION_OF.get(line.access.offset), false);
  }

  /** The device QEMU's VirtIODevice pointer names (virtio_mmio_* lines alone: no transport address to name it by). */
  private vdevDevice(vdev: string): Device {
    let dev = this.vdevs.get(vdev);
    if (!dev) {
      dev = this.newDevice(`virtio-mmio@vdev-${vdev.replace(/^0x/, '')}`, 'virtio-mmio', '');
      dev.vdev = vdev;
      this.vdevs.set(vdev, dev);
    }
    return dev;
  }

  /** The trace has memory_region_ops lines of virtio-mmio: those tie accesses by address; drop the other path. */
  private mmioOpsSeen(): void {
    this.mmioByOps = true;
    if (this.mmioCandidate) this.mmioWait({ line: this.mmioCandidate });
    this.mmioCandidate = undefined;
    const pending = this.mmioPending;
    this.mmioPending = [];
    for (const p of pending) {
      if ('event' in p) p.device.events.push(p.event);
      else this.unusedLine(p.line.event);
    }
  }

  private orphan(region: string, addr: number): undefined {
    // An access to a virtio region no recorded BAR covers: firmware before BAR programming was traced.
    if (process.env['DEVREC_DEBUG_TRACE']) process.stderr.write(`orphan ${region} 0x${addr.toString(16)} line ${this.lineNo}\n`);
    this.orphanAccesses++;
    return undefined;
  }

  private access(dev: Device, a: RawAccess, decides?: Transport, flush = true): Promise<void> | undefined {
    if (!dev.decoder) {
      if (decides && !dev.transport) dev.transport = decides;
      if (!dev.transport || (dev.mmioBase !== undefined && !dev.type)) {
        if (dev.undecided.length >= MAX_UNDECIDED) this.fail(`${dev.id}: ${MAX_UNDECIDED} accesses and still no transport`);
        dev.undecided.push(a);
        return undefined;
      }
      this.start(dev, dev.undecided[0]?.timestampNs ?? a.timestampNs);
      for (const u of dev.undecided.splice(0)) this.decodeInto(dev, u);
    }
    this.decodeInto(dev, a);
    if (isNotify(dev, a)) this.lastNotified = dev;
    return flush && dev.events.length >= this.flushEvery && this.sawPop && this.sawUsed ? this.flushDevice(dev) : undefined;
  }

  /**
   * The device's `identified` event, stamped with its first access (the line that tied it may come later: a PCI
   * device's config writes wait for the BAR access that shows its transport), so a stream's stamps never go back.
   */
  private start(dev: Device, stamp: bigint): void {
    if (dev.mmioBase !== undefined) {
      this.devices.delete(dev.id);
      dev.id = qemuMmioDeviceId(dev.type, BigInt(dev.mmioBase));
      this.devices.set(dev.id, dev);
    }
    const t = dev.transport!;
    dev.decoder = createDecoder({
      transport: t, deviceType: dev.type,
      ...(QEMU_VIRTIO_PCI_MSIX_CAP[t] !== undefined ? { msixCapOffset: QEMU_VIRTIO_PCI_MSIX_CAP[t] } : {}),
    });
    const virtioId = deviceTypeByName(dev.type)?.id;
    dev.events.push({
      timestampNs: stamp, actor: 'recorder', path: 'internal', source: 'qemu-trace',
      // what the trace does not show (queue count, config size, PCI ids) is left out: unknown
      body: {
        kind: 'identified', aliases: [], type: dev.type, ...(virtioId !== undefined ? { virtioId } : {}), transport: t,
        // QEMU's virtio-pci functions all carry the Red Hat / Qumranet vendor id (hw/virtio/virtio-pci.c)
        ...(t.startsWith('pci') ? { pciVendor: VIRTIO_PCI_VENDOR } : {}),
        backend: dev.vdev ? `qemu virtio-mmio (vdev ${dev.vdev})` : `qemu ${dev.qemuType}`,
      },
    });
  }

  private decodeInto(dev: Device, a: RawAccess): void {
    // accesses are built with source 'qemu-trace', which the decoders carry into every event
    for (const e of dev.decoder!.decode(a)) {
      if (e.body.kind === 'featuresNegotiated' && e.body.accepted) dev.packed = (e.body.features & RING_PACKED) !== 0n;
      else if (e.body.kind === 'statusWritten' && e.body.status === 0) dev.packed = false;
      if (e.body.kind === 'statusWritten' && e.actor === 'guest-driver') this.lastStatusWrite = { dev, status: e.body.status, line: this.lineNo };
      if (e.body.kind === 'queueConfigured' && enables(e.body)) {
        const first = dev.resetSeen && !dev.enabledQueues.has(e.body.index);
        dev.enabledQueues.add(e.body.index);
        dev.events.push(e);
        // From its first enable after a reset the driver publishes buffers by writing avail->idx in guest memory,
        // which no trace line shows: the driver's avail index is unknown from here (not its reset value 0). The
        // device's own indices are still the reset values; virtqueue_pop / _flush lines move them.
        if (first) dev.events.push({ ...e, actor: 'recorder', body: { kind: 'vqIndex', index: e.body.index, indicesUnseen: true, lastAvailIdx: 0, usedIdx: 0 } });
        continue;
      }
      if ((e.body.kind === 'statusWritten' && e.body.status === 0) || (e.body.kind === 'resetRequested' && e.body.scope === 'device-reset')) {
        dev.enabledQueues.clear();
        dev.resetSeen = true;
      } else if (e.body.kind === 'resetRequested' && e.body.scope === 'queue-reset') dev.enabledQueues.delete(e.body.queue);
      dev.events.push(e);
    }
  }

  private queueNotify(args: string, candidate: MmioLine | undefined): void {
    const m = NOTIFY_RE.exec(args);
    if (!m) this.fail(`virtio_queue_notify: cannot read "${args}"`);
    if (candidate) {
      if (candidate.access.offset === MMIO.QueueNotify && candidate.access.value === BigInt(m[2]!)) this.mmioTie(this.vdevDevice(m[1]!), candidate);
      else this.mmioWait({ line: candidate });
    }
    // the notify write just traced names the device; else the vdev pointer a status write tied
    const byVdev = this.vdevs.get(m[1]!);
    const dev = this.lastNotified ?? byVdev;
    this.lastNotified = undefined;
    if (!dev) {
      this.unusedLine('virtio_queue_notify');
      return;
    }
    if (!byVdev) this.vdevs.set(m[1]!, dev);
    else if (byVdev !== dev) this.fail(`virtio_queue_notify: vdev ${m[1]!} was tied to ${byVdev.id}, but the notify write just before went to ${dev.id}`);
    const vq = m[3]!;
    if (!this.vqs.has(vq)) {
      const index = Number(m[2]!);
      this.vqs.set(vq, { device: dev, index });
      dev.tiedQueues.add(index);
      // progress seen before the queue was tied to its device: its indices moved unseen
      const early = this.pendingVq.get(vq);
      if (early) {
        this.pendingVq.delete(vq);
        this.unattributed += early;
        this.deviceEvent(dev, { timestampNs: this.clockNs, actor: 'recorder', path: 'internal', source: 'qemu-trace', body: { kind: 'vqIndex', index, indicesUnseen: true } });
      }
    }
  }

  private queueProgress(args: string, re: RegExp, what: 'pop' | 'flush' | 'fill'): Promise<void> | undefined {
    const m = re.exec(args);
    if (!m) this.fail(`virtqueue_${what}: cannot read "${args}"`);
    if (what === 'pop') this.sawPop = true;
    else this.sawUsed = true;
    const vq = this.vqs.get(m[1]!);
    if (!vq) {
      if (what !== 'fill') this.pendingVq.set(m[1]!, (this.pendingVq.get(m[1]!) ?? 0) + 1);
      return undefined;
    }
    // split rings: used_idx moves at flush; packed rings: one used element per fill (no flush lines)
    if (what === 'fill' && !vq.device.packed) return undefined;
    if (what === 'flush' && vq.device.packed) return undefined;
    const body = what === 'pop'
      ? { kind: 'vqIndex' as const, index: vq.index, availDelta: 1 }
      : { kind: 'vqIndex' as const, index: vq.index, usedDelta: what === 'fill' ? 1 : Number(m[2]!) };
    if (body.usedDelta === 0) return undefined;
    if (!this.deviceEvent(vq.device, { timestampNs: this.clockNs, actor: 'device', path: 'internal', source: 'qemu-trace', body })) return undefined;
    if (vq.device.events.length >= this.flushEvery && this.sawPop && this.sawUsed) return this.flushDevice(vq.device);
    return undefined;
  }

  /** An event of a tied device; false when it waits behind untied mmio accesses (kept in line order). */
  private deviceEvent(dev: Device, event: NewEvent): boolean {
    if (this.mmioPending.length > 0) {
      this.mmioPending.push({ device: dev, event });
      return false;
    }
    dev.events.push(event);
    return true;
  }

  private async flushDevice(dev: Device): Promise<void> {
    if (dev.events.length === 0) return;
    const batch = dev.events.splice(0);
    await this.sink(dev.id, batch);
  }

  async finish(): Promise<TraceImportSummary> {
    const devices: TraceImportSummary['devices'] = [];
    if (this.mmioCandidate) this.mmioWait({ line: this.mmioCandidate });
    this.mmioCandidate = undefined;
    this.mmioRelease(undefined, 0); // accesses after the last tie: no later line says whose they are
    for (const dev of this.devices.values()) {
      if (dev.vdev && !dev.decoder) {
        // no register only one virtio-mmio version has was accessed: neither layout can be decoded
        if (dev.undecided.length > 0) this.unused.set(`virtio_mmio_* (${dev.id}: version unknown)`, { n: dev.undecided.length });
        continue;
      }
      if (!dev.decoder && dev.undecided.length > 0) {
        // Configured but never touched through a BAR: record what there is under an unknown transport.
        dev.transport ??= 'unspecified';
        if (dev.mmioBase !== undefined && !dev.type) continue;
        this.start(dev, dev.undecided[0]!.timestampNs);
        for (const u of dev.undecided.splice(0)) this.decodeInto(dev, u);
      }
      if (!dev.decoder) continue;
      if (!this.sawPop || !this.sawUsed) dev.events = withIndicesUnseen(dev.events);
      else if (this.pendingVq.size > 0) {
        // virtqueue lines of vq pointers never tied: any enabled queue without a tie of its own may be theirs
        for (const index of dev.enabledQueues) {
          if (!dev.tiedQueues.has(index)) dev.events.push({ timestampNs: this.clockNs, actor: 'recorder', path: 'internal', source: 'qemu-trace', body: { kind: 'vqIndex', index, indicesUnseen: true } });
        }
      }
      await this.flushDevice(dev);
      devices.push({ id: dev.id, type: dev.type, transport: dev.transport ?? 'unspecified', events: 0, ...(dev.vdev ? { vdev: dev.vdev } : {}) });
    }
    for (const n of this.pendingVq.values()) this.unattributed += n;
    let vfio: Awaited<ReturnType<VfioTraceDevices['finish']>> | undefined;
    if (this.vfioLines > 0) {
      vfio = await this.vfio.finish();
      devices.push(...vfio.devices);
    }
    const unusedLines = Object.fromEntries([...this.unused].map(([k, c]) => [k, c.n] as const).sort((a, b) => b[1] - a[1]));
    if (devices.length === 0) {
      const seen = Object.entries(unusedLines).slice(0, 6).map(([k, v]) => `${v} ${k}`).join(', ');
      throw new TraceEvidenceError(this.input, `no virtio device can be tied to any of the ${this.lineNo} lines${seen ? ` (unused: ${seen})` : ''}; trace with ${DEVICE_EVENTS}`);
    }
    if (this.vqs.size === 0 && this.unattributed > 0) {
      throw new TraceEvidenceError(this.input, `${this.unattributed} virtqueue line(s) but no queue can be tied to a device; trace with ${QUEUE_EVENTS}`);
    }
    const clock = this.stamped === 0 ? 'none' : this.unstamped === 0 ? 'wall-clock' : 'mixed';
    const summary: TraceImportSummary = { input: this.input, lines: this.lineNo, devices, unattributedQueueLines: this.unattributed, orphanAccesses: this.orphanAccesses, unusedLines, clock };
    if (vfio) summary.vfio = vfio.summary;
    return summary;
  }
}

interface RegionInfo {
  name: string;
  kind: 'legacy' | 'modern' | 'msix' | 'mmio';
  region: Region;
  bar: number;
  base: (d: Device) => number | undefined;
  /** only devices whose qemu type starts with this (modern regions name their device type) */
  typePrefix?: string;
  decides?: Transport;
}

const REGION_INFO = new Map<string, RegionInfo | null>();
/** What a QEMU memory region name means for devrec (parsed once per name). */
function regionOf(name: string): RegionInfo | undefined {
  let info = REGION_INFO.get(name);
  if (info === undefined) {
    const modern = /^virtio-pci-(common|isr|device|notify)-(.+)$/.exec(name);
    info = name === 'virtio-pci' ? { name, kind: 'legacy', region: 'legacy-io', bar: 0, base: legacyIoBase, decides: 'pci-legacy' }
      : modern ? { name, kind: 'modern', region: MODERN_REGIONS[modern[1]!]!, bar: 4, base: modernBarBase, typePrefix: `${modern[2]!}-pci`, decides: 'pci-modern' }
      : name === 'msix-table' || name === 'msix-pba' ? { name, kind: 'msix', region: name, bar: 1, base: msixBarBase }
      : name === 'virtio-mmio' ? { name, kind: 'mmio', region: 'mmio-regs', bar: 0, base: () => undefined }
      : null;
    REGION_INFO.set(name, info);
  }
  return info ?? undefined;
}

// QEMU's virtio-pci BARs: legacy IO BAR 0 (firmware may write it without the read-only IO bit), MSI-X table
// in memory BAR 1, modern capabilities in 64-bit memory BAR 4/5.
function legacyIoBase(d: Device): number | undefined {
  return (d.bars[0]! & ~3) >>> 0 || undefined;
}
function modernBarBase(d: Device): number | undefined {
  const lo = (d.bars[4]! & ~0xf) >>> 0;
  const hi = d.bars[4]! & 0x4 ? d.bars[5]! : 0;
  const v = hi * 0x100000000 + lo;
  return v > 0 ? v : undefined;
}
function msixBarBase(d: Device): number | undefined {
  return d.bars[1]! & 1 ? undefined : (d.bars[1]! & ~0xf) >>> 0 || undefined;
}

/** A queue the device may now process: enabled (modern), or given a ring address (legacy QUEUE_PFN / QueuePFN). */
function enables(b: QueueConfigured): boolean {
  return b.enabled === true || (b.pfn !== undefined && b.pfn !== 0);
}

/**
 * A trace without virtqueue_pop and virtqueue_flush/fill lines does not show the rings: after each enable the
 * queue's indices are unknown (the reset value 0 holds only until the device takes its first buffer).
 */
function withIndicesUnseen(events: NewEvent[]): NewEvent[] {
  const out: NewEvent[] = [];
  for (const e of events) {
    // the enable's own index event (device indices at their reset values) is replaced by one that knows none
    if (e.body.kind === 'vqIndex' && e.body.indicesUnseen) continue;
    out.push(e);
    if (e.body.kind === 'queueConfigured' && enables(e.body)) {
      out.push({ ...e, actor: 'recorder', body: { kind: 'vqIndex', index: e.body.index, indicesUnseen: true } });
    }
  }
  return out;
}

const LEGACY_QUEUE_NOTIFY = registerOffset(LEGACY_PCI_HEADER, 'QUEUE_NOTIFY');
const MMIO_QUEUE_NOTIFY = registerOffset(MMIO_REGS, 'QueueNotify');
const MMIO_VERSION = registerOffset(MMIO_REGS, 'Version');
const MMIO_DEVICE_ID = registerOffset(MMIO_REGS, 'DeviceID');

function isNotify(dev: Device, a: RawAccess): boolean {
  if (a.direction !== 'write') return false;
  if (a.region === 'notify') return true;
  if (a.region === 'legacy-io') return a.offset === LEGACY_QUEUE_NOTIFY;
  if (a.region === 'mmio-regs') return a.offset === MMIO_QUEUE_NOTIFY;
  void dev;
  return false;
}

/** Reads a trace file (plain or .gz) line by line, without holding it in memory. */
export async function* traceLines(file: string): AsyncIterable<string> {
  const raw = createReadStream(file);
  const gunzip = file.endsWith('.gz') ? raw.pipe(createGunzip()) : undefined;
  const input = gunzip ? gunzip.pipe(decompressedCap(file)) : raw;
  const failure = new Promise<never>((_, reject) => {
    raw.on('error', reject);
    gunzip?.on('error', reject);
    input.on('error', reject);
  });
  failure.catch(() => undefined);
  // our own line splitter: a line has a length cap (readline would buffer a 700 MB line and throw RangeError)
  const it = readLines(input, file)[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await Promise.race([it.next(), failure]);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // a reader that stops early (a line it refuses, a cap) leaves the file open otherwise: one descriptor per import
    raw.destroy();
    gunzip?.destroy();
    if (input !== raw) input.destroy();
  }
}
