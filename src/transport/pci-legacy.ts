// virtio-pci legacy (virtio 0.9.5): the IO BAR with a 20-byte header, two MSI-X vector registers at 20 and 22
// while MSI-X is enabled, then device config at VIRTIO_PCI_CONFIG_OFF(msix_enabled) = 24 or 20. Whether MSI-X
// is enabled is a PCI config fact, asked of the shared PciFunctionState at each access: offset 20 is the MSI
// config vector with MSI-X and device config byte 0 without, and the driver may toggle MSI-X between two
// accesses (the bug the Linux virtio-vfio-pci review found: "the offset of 24/20 based on the msix enabled
// state").
//
// Width policy, following QEMU's virtio_pci_config_read/write (impl 1..4 bytes, no `valid` limits) and
// virtio_ioport_read/write, which switch on the start offset and ignore the size: a wrong-width access at a
// register's first byte is performed with the value cut to the register's width; one starting inside a
// register, or naturally unaligned, is not. The header decoding is shared with the admin legacy commands.
import type { NewEvent, QueueConfigured, Transport } from '../events/types.js';
import {
  LEGACY_PCI_HEADER, LEGACY_PCI_HEADER_NO_MSIX, type LegacyRegister, legacyConfigOffset,
} from '../model/registers.js';
import { PciFunctionState } from './pci-config.js';
import {
  type Decoded, type DispatchRule, type Out, type RawContext, accessValue, deviceConfigAccess, guarded, matchRegister,
  registerValue, shapeAnomaly, toEvents, valueKnown,
} from './support.js';
import type { DecoderOptions, RawAccess, TransportDecoder } from './types.js';
import { VirtioShadow } from './virtio-shadow.js';

type Name = LegacyRegister['name'];

/** The legacy register file: the header's meaning, shared by the IO BAR and the admin legacy commands. */
export class LegacyRegisters {
  readonly shadow: VirtioShadow;

  constructor(opts: DecoderOptions) {
    // legacy has no FEATURES_OK: the guest features are in effect as written
    this.shadow = new VirtioShadow(false, opts.numQueues);
  }

  /** Anomalies of a header access, and its events when `apply` and the device would act on it. */
  header(a: RawAccess, regs: readonly LegacyRegister[], rule: DispatchRule, apply: boolean): Decoded {
    const m = matchRegister(regs, a.offset, a.width, a.direction, rule);
    const anomalies = m.anomalies;
    const value = accessValue(a);
    const inRange = this.shadow.queueInRange();
    if (m.reg && 'perQueue' in m.reg && !inRange) anomalies.push('queue-out-of-range');
    if (apply && a.direction === 'write' && (m.reg?.name === 'QUEUE_SEL' || m.reg?.name === 'QUEUE_NOTIFY')) {
      if (!this.shadow.queueInRange(Number(value & 0xffffn))) anomalies.push('queue-out-of-range');
    }
    if (!apply || !m.dispatch || !m.reg || ('perQueue' in m.reg && !inRange)) return { anomalies, outs: [] };
    const v = registerValue(m.reg, a.width, value);
    return { anomalies, outs: a.direction === 'write' ? this.write(m.reg.name, v) : this.read(m.reg.name, v) };
  }

  private queueEvent(fields: Omit<QueueConfigured, 'kind' | 'index'>, fromDevice = false): Out[] {
    const body: QueueConfigured = { kind: 'queueConfigured', index: this.shadow.queueSelect, ...fields };
    return [fromDevice ? { body, actor: 'device' } : { body }];
  }

  private write(name: Name, v: bigint): Out[] {
    const sh = this.shadow;
    const n = Number(v);
    switch (name) {
      case 'GUEST_FEATURES':
        return sh.driverFeatureWritten(v, 0);
      case 'QUEUE_PFN':
        // The reducer derives desc/avail/used from the PFN and the queue size (4096-byte pages and alignment).
        // QEMU also resets the whole device on PFN 0; the spec only deactivates the queue, and so do we.
        return this.queueEvent({ pfn: n });
      case 'QUEUE_SEL':
        return sh.selectQueue(n);
      case 'STATUS':
        return sh.writeStatus(n);
      case 'MSI_CONFIG_VECTOR':
        sh.configVector = n;
        return [{ body: { kind: 'msix', configVector: n } }];
      case 'MSI_QUEUE_VECTOR':
        sh.queue().msixVector = n;
        return this.queueEvent({ msixVector: n });
      default:
        // QUEUE_NOTIFY is a doorbell: the raw access is the record
        return [];
    }
  }

  private read(name: Name, v: bigint): Out[] {
    const sh = this.shadow;
    const n = Number(v);
    switch (name) {
      case 'HOST_FEATURES':
        return sh.deviceFeatureRead(v, 0);
      case 'QUEUE_NUM':
        // Legacy queue sizes are fixed by the device: the size is the maximum. 0: no such queue.
        return n > 0 ? this.queueEvent({ maxSize: n, size: n }, true) : [];
      case 'STATUS':
        return sh.readStatus(n);
      case 'MSI_CONFIG_VECTOR':
        // reads back 0xffff when the device could not use the vector
        if (n === sh.configVector) return [];
        sh.configVector = n;
        return [{ body: { kind: 'msix', configVector: n }, actor: 'device' }];
      case 'MSI_QUEUE_VECTOR': {
        const q = sh.queue();
        if (n === q.msixVector) return [];
        q.msixVector = n;
        return this.queueEvent({ msixVector: n }, true);
      }
      default:
        // ISR: reading clears it, which the reducer does not track yet; the raw access is the record
        return [];
    }
  }
}

/**
 * A way into the legacy register file: the IO BAR, or admin legacy commands through the owner device. Both share
 * the register file and the PCI function state; they differ in the access path and in how an access is read.
 */
export abstract class LegacyFrontEnd implements TransportDecoder {
  readonly transport: Transport = 'pci-legacy';
  readonly registers: LegacyRegisters;
  protected abstract readonly path: NewEvent['path'];

  constructor(readonly opts: DecoderOptions, readonly pci = new PciFunctionState(opts), registers = new LegacyRegisters(opts)) {
    this.registers = registers;
  }

  decode(a: RawAccess): NewEvent[] {
    return guarded(a, () => this.context(), () => toEvents(a, this.context(), this.decodeAccess(a)));
  }

  private context(): RawContext {
    return {
      transport: this.transport, path: this.path, msixEnabled: this.pci.msixEnabled,
      selectedQueue: this.registers.shadow.queueSelect,
    };
  }

  protected abstract decodeAccess(a: RawAccess): Decoded;
}

export class LegacyPciDecoder extends LegacyFrontEnd {
  protected readonly path = 'io-bar' as const;

  protected decodeAccess(a: RawAccess): Decoded {
    const shape = shapeAnomaly(a);
    if (shape) return { anomalies: [shape], outs: [] };
    if (a.region !== 'legacy-io') return { anomalies: ['unknown-register'], outs: [] };
    const off = this.pci.decodeOff(a.region, a.bar);
    const apply = off === undefined && valueKnown(a);
    const d = this.layout(a, apply);
    if (off) d.anomalies.push(off);
    return d;
  }

  /** Header or device config, decided by the MSI-X state at this very access. */
  private layout(a: RawAccess, apply: boolean): Decoded {
    const msix = this.pci.msixEnabled;
    const configOffset = legacyConfigOffset(msix);
    if (a.offset < configOffset) {
      const regs = msix ? LEGACY_PCI_HEADER : LEGACY_PCI_HEADER_NO_MSIX;
      return this.registers.header(a, regs, 'start-address', apply);
    }
    return deviceConfigAccess(a, {
      offset: a.offset - configOffset,
      configSize: this.opts.configSize,
      // legacy device config fields are in the guest's native byte order
      endian: this.opts.guestEndian ?? 'little',
      apply,
    });
  }
}
