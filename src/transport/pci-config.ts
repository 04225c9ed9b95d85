// PCI configuration space: the command register's IO / memory decode enables, BARs, the capability chain and
// the MSI-X message control. These are PCI facts the virtio BAR decoders depend on per access: whether the
// BAR answers at all (decode enables) and, for the legacy IO BAR, where device config starts (MSI-X enabled
// moves it from 20 to 24). PciFunctionState holds them and is shared with the BAR decoders.
import type { NewEvent, Transport } from '../events/types.js';
import { MSIX_CAP, PCI_CAP_ID, VIRTIO_PCI_CAP } from '../model/pci-capabilities.js';
import {
  PCI_BAR_OFFSETS, PCI_BAR_SPACE_IO, PCI_CAPABILITY_LIST, PCI_COMMAND, PCI_COMMAND_OFFSET, PCI_CONFIG_HEADER,
  PCI_CONFIG_SIZE, registerAt,
} from '../model/registers.js';
import {
  type Decoded, type Out, type RawContext, accessValue, guarded, isAligned, shapeAnomaly, toEvents, valueKnown,
} from './support.js';
import type { Anomaly, DecoderOptions, RawAccess, TransportDecoder } from './types.js';

/** The PCI-level facts shared by the config space decoder and the BAR decoders of one PCI function. */
export class PciFunctionState {
  msixEnabled: boolean;
  msixFunctionMask = false;
  /** undefined until the command register has been seen: accesses are then not flagged */
  ioDecode: boolean | undefined;
  memDecode: boolean | undefined;
  /** per BAR: true for IO space, false for memory space, undefined when not seen */
  readonly barIsIo: (boolean | undefined)[] = [];

  constructor(opts: Pick<DecoderOptions, 'msixEnabled'> = {}) {
    this.msixEnabled = opts.msixEnabled ?? false;
  }

  /**
   * The decode-off anomaly for a BAR access, if any. The space comes from the BAR's type when config space
   * showed it, else from the region (the legacy IO BAR is IO space, modern capabilities point at memory BARs).
   */
  decodeOff(region: RawAccess['region'], bar: number | undefined): Anomaly | undefined {
    const io = (bar !== undefined ? this.barIsIo[bar] : undefined) ?? region === 'legacy-io';
    if (io) return this.ioDecode === false ? 'io-decode-off' : undefined;
    return this.memDecode === false ? 'mem-decode-off' : undefined;
  }
}

export interface CapabilityInfo {
  offset: number;
  id: number;
  /** virtio vendor capability: cfg_type and bar, when read */
  cfgType?: number;
  bar?: number;
}

const CONFIG_WIDTHS = [1, 2, 4];

export class PciConfigDecoder implements TransportDecoder {
  readonly state: PciFunctionState;
  /** the config space bytes as last read or written */
  private readonly bytes = new Uint8Array(PCI_CONFIG_SIZE);
  /** offsets the capability chain points at (from 0x34 and each cap_next) */
  private readonly pointers = new Set<number>();
  private readonly caps = new Map<number, CapabilityInfo>();
  private msixCap: number | undefined;

  constructor(readonly opts: DecoderOptions, state = new PciFunctionState(opts)) {
    this.state = state;
    // standard capabilities sit between the header and the end of the 256-byte space
    const preset = opts.msixCapOffset;
    this.msixCap = preset !== undefined && Number.isInteger(preset) && preset >= 0x40 && preset <= 0xfc ? preset : undefined;
    if (this.msixCap !== undefined) this.caps.set(this.msixCap, { offset: this.msixCap, id: PCI_CAP_ID.MSIX });
  }

  get transport(): Transport {
    return this.opts.transport;
  }

  /** The capabilities learnt so far, in offset order. */
  capabilities(): CapabilityInfo[] {
    return [...this.caps.values()].sort((a, b) => a.offset - b.offset).map((c) => ({ ...c }));
  }

  decode(a: RawAccess): NewEvent[] {
    return guarded(a, () => this.context(), () => toEvents(a, this.context(), this.decodeAccess(a)));
  }

  private context(): RawContext {
    return { transport: this.opts.transport, path: 'pci-config', msixEnabled: this.state.msixEnabled };
  }

  private decodeAccess(a: RawAccess): Decoded {
    const shape = shapeAnomaly(a);
    if (shape) return { anomalies: [shape], outs: [] };
    if (a.region !== 'pci-cfg-space') return { anomalies: ['unknown-register'], outs: [] };
    const anomalies: Anomaly[] = [];
    if (!CONFIG_WIDTHS.includes(a.width)) anomalies.push('wrong-width');
    if (!isAligned(a.offset, a.width)) anomalies.push('unaligned');
    if (a.offset + a.width > PCI_CONFIG_SIZE) anomalies.push('out-of-range');
    const readOnly = a.direction === 'write' && this.touchesOnlyReadOnly(a.offset, a.width);
    if (readOnly) anomalies.push('read-only-write');
    // A config cycle that is not a naturally aligned 1/2/4-byte access inside config space does not happen
    // on PCI; such an access (and a write only to read-only registers) changes nothing.
    if (anomalies.length > 0 || !valueKnown(a)) return { anomalies, outs: [] };
    const value = accessValue(a) & ((1n << BigInt(8 * a.width)) - 1n);
    return { anomalies, outs: a.direction === 'write' ? this.write(a.offset, a.width, value) : this.read(a.offset, a.width, value) };
  }

  private touchesOnlyReadOnly(offset: number, width: number): boolean {
    for (let i = offset; i < offset + width; i++) {
      const reg = registerAt(PCI_CONFIG_HEADER, i);
      if (!reg || reg.access !== 'ro') return false;
    }
    return true;
  }

  private store(offset: number, width: number, value: bigint): void {
    for (let i = 0; i < width; i++) this.bytes[offset + i] = Number((value >> BigInt(8 * i)) & 0xffn);
  }

  private covers(offset: number, width: number, at: number): boolean {
    return at >= offset && at < offset + width;
  }

  private write(offset: number, width: number, value: bigint): Out[] {
    this.store(offset, width, value);
    const outs: Out[] = [{ body: { kind: 'pciConfigWritten', offset, width, value: Number(value) } }];
    if (this.covers(offset, width, PCI_COMMAND_OFFSET)) this.learnCommand();
    const msix = this.msixControl();
    if (msix !== undefined && this.covers(offset, width, msix + 1)) {
      // Only enable and function mask are writable in message control.
      const control = this.word(msix);
      this.state.msixEnabled = (control & MSIX_CAP.ENABLE) !== 0;
      this.state.msixFunctionMask = (control & MSIX_CAP.FUNCTION_MASK) !== 0;
      outs.push({ body: { kind: 'msix', enabled: this.state.msixEnabled, functionMask: this.state.msixFunctionMask } });
    }
    return outs;
  }

  private read(offset: number, width: number, value: bigint): Out[] {
    this.store(offset, width, value);
    if (this.covers(offset, width, PCI_COMMAND_OFFSET)) this.learnCommand();
    this.learnBars(offset, width);
    this.learnChain(offset, width);
    const msix = this.msixControl();
    // The table size needs both bytes of message control.
    if (msix === undefined || !this.covers(offset, width, msix) || !this.covers(offset, width, msix + 1)) return [];
    const control = this.word(msix);
    const enabled = (control & MSIX_CAP.ENABLE) !== 0;
    const functionMask = (control & MSIX_CAP.FUNCTION_MASK) !== 0;
    const body = { kind: 'msix' as const, tableSize: (control & MSIX_CAP.TABLE_SIZE_MASK) + 1 };
    // The device's answer wins over what we believed (e.g. the recording started after MSI-X was enabled).
    if (enabled !== this.state.msixEnabled || functionMask !== this.state.msixFunctionMask) {
      this.state.msixEnabled = enabled;
      this.state.msixFunctionMask = functionMask;
      return [{ body: { ...body, enabled, functionMask }, actor: 'device' }];
    }
    return [{ body, actor: 'device' }];
  }

  private word(offset: number): number {
    return this.bytes[offset]! | (this.bytes[offset + 1]! << 8);
  }

  private learnCommand(): void {
    const command = this.bytes[PCI_COMMAND_OFFSET]!;
    this.state.ioDecode = (command & PCI_COMMAND.IO) !== 0;
    this.state.memDecode = (command & PCI_COMMAND.MEMORY) !== 0;
  }

  /** Bit 0 of a BAR tells IO from memory space, also in the answer to a sizing write of all ones. */
  private learnBars(offset: number, width: number): void {
    PCI_BAR_OFFSETS.forEach((barOffset, bar) => {
      if (this.covers(offset, width, barOffset)) this.state.barIsIo[bar] = (this.bytes[barOffset]! & PCI_BAR_SPACE_IO) !== 0;
    });
  }

  /** Follows the chain the way Linux walks it: 0x34, then {id, next} at each capability. */
  private learnChain(offset: number, width: number): void {
    if (this.covers(offset, width, PCI_CAPABILITY_LIST)) this.point(this.bytes[PCI_CAPABILITY_LIST]!);
    for (const p of this.pointers) {
      if (this.covers(offset, width, p)) {
        const id = this.bytes[p]!;
        const cap = this.caps.get(p) ?? { offset: p, id };
        cap.id = id;
        this.caps.set(p, cap);
        if (id === PCI_CAP_ID.MSIX && this.msixCap === undefined) this.msixCap = p;
      }
      if (this.covers(offset, width, p + VIRTIO_PCI_CAP.CAP_NEXT)) this.point(this.bytes[p + VIRTIO_PCI_CAP.CAP_NEXT]!);
      const cap = this.caps.get(p);
      if (cap?.id === PCI_CAP_ID.VENDOR) {
        if (this.covers(offset, width, p + VIRTIO_PCI_CAP.CFG_TYPE)) cap.cfgType = this.bytes[p + VIRTIO_PCI_CAP.CFG_TYPE];
        if (this.covers(offset, width, p + VIRTIO_PCI_CAP.BAR)) cap.bar = this.bytes[p + VIRTIO_PCI_CAP.BAR];
      }
    }
  }

  private point(pointer: number): void {
    const p = pointer & 0xfc;
    // Capabilities live after the 64-byte header; 0 ends the chain.
    if (p >= 0x40) this.pointers.add(p);
  }

  /** Offset of MSI-X message control; enable (bit 15) and function mask (bit 14) are in its high byte. */
  private msixControl(): number | undefined {
    return this.msixCap === undefined ? undefined : this.msixCap + MSIX_CAP.MESSAGE_CONTROL;
  }
}
