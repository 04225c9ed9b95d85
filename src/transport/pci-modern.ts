// virtio-pci modern (virtio 1.x): the common config structure, device config, ISR, notify and MSI-X regions
// that the vendor capabilities place in memory BARs.
//
// Width policy (what "the hardware would apply"), following QEMU's hw/virtio/virtio-pci.c, whose common config
// region has impl.min_access_size 1, impl.max_access_size 4 and no `valid` limits:
// - virtio_pci_common_write/read switch on the start offset only and never look at the size, so an access
//   of the wrong width that starts at a register's first byte is performed: the register takes the value
//   cut to its own width (e.g. a 4-byte write at 20 sets device_status to the low byte). Kept, flagged
//   wrong-width (and straddle), applied.
// - an access that starts inside a register matches no `case` and is ignored; a naturally unaligned access
//   is refused by QEMU's memory core. Kept, flagged, not applied.
// - an 8-byte access is split by the memory core into two 4-byte accesses; on a queue address low half that
//   is the whole 64-bit address (one event); elsewhere each half acts on its own register.
import type { NewEvent, QueueConfigured, Transport } from '../events/types.js';
import {
  type CommonCfgRegister, PCI_COMMON_CFG, PCI_ISR_REGION, PCI_NOTIFY_WIDTHS,
} from '../model/registers.js';
import { PciFunctionState } from './pci-config.js';
import {
  type Decoded, type Out, type RawContext, accessValue, deviceConfigAccess, guarded, isAligned, matchRegister,
  registerValue, shapeAnomaly, toEvents, valueKnown,
} from './support.js';
import type { Anomaly, DecoderOptions, RawAccess, TransportDecoder } from './types.js';
import { type AddressField, VirtioShadow } from './virtio-shadow.js';

type Name = CommonCfgRegister['name'];

const ADDRESS_HALVES: Partial<Record<Name, [AddressField, 0 | 1]>> = {
  queue_desc_lo: ['desc', 0], queue_desc_hi: ['desc', 1],
  queue_driver_lo: ['driver', 0], queue_driver_hi: ['driver', 1],
  queue_device_lo: ['device', 0], queue_device_hi: ['device', 1],
};

export class ModernPciDecoder implements TransportDecoder {
  readonly transport: Transport = 'pci-modern';
  readonly shadow: VirtioShadow;

  constructor(readonly opts: DecoderOptions, readonly pci = new PciFunctionState(opts)) {
    this.shadow = new VirtioShadow(true, opts.numQueues);
  }

  decode(a: RawAccess): NewEvent[] {
    return guarded(a, () => this.context(), () => {
      const ctx = this.context();
      return toEvents(a, ctx, this.decodeAccess(a));
    });
  }

  private context(): RawContext {
    return { transport: this.transport, path: 'mmio', msixEnabled: this.pci.msixEnabled, selectedQueue: this.shadow.queueSelect };
  }

  private decodeAccess(a: RawAccess): Decoded {
    const shape = shapeAnomaly(a);
    if (shape) return { anomalies: [shape], outs: [] };
    // With the BAR's decode off the device never sees the access: flagged, no effect.
    const off = this.pci.decodeOff(a.region, a.bar);
    const apply = off === undefined && valueKnown(a);
    const d = this.region(a, apply);
    if (off) d.anomalies.push(off);
    return d;
  }

  private region(a: RawAccess, apply: boolean): Decoded {
    switch (a.region) {
      case 'common-cfg':
        return this.commonCfg(a, apply);
      case 'device-cfg':
        return deviceConfigAccess(a, { offset: a.offset, configSize: this.opts.configSize, endian: 'little', apply });
      case 'isr':
        // Reading the ISR clears it; the reducer keeps no ISR history yet, so the raw access is the record.
        return { anomalies: matchRegister(PCI_ISR_REGION, a.offset, a.width, a.direction, 'start-address').anomalies, outs: [] };
      case 'notify':
        return { anomalies: this.notifyAnomalies(a), outs: [] };
      case 'msix-table':
      case 'msix-pba':
        return { anomalies: msixStructureAnomalies(a), outs: [] };
      default:
        return { anomalies: ['unknown-register'], outs: [] };
    }
  }

  private commonCfg(a: RawAccess, apply: boolean): Decoded {
    const m = matchRegister(PCI_COMMON_CFG, a.offset, a.width, a.direction, 'start-address');
    const anomalies = m.anomalies;
    const value = accessValue(a);
    if (m.reg && 'perQueue' in m.reg && !this.shadow.queueInRange()) anomalies.push('queue-out-of-range');
    // selecting a queue the device does not have is recorded (and flagged); its queue registers then do nothing
    if (m.reg?.name === 'queue_select' && a.direction === 'write' && apply && !this.shadow.queueInRange(Number(value & 0xffffn))) {
      anomalies.push('queue-out-of-range');
    }
    if (!apply || !m.dispatch) return { anomalies, outs: [] };
    return { anomalies, outs: this.commonEffects(a.direction, a.offset, a.width, value) };
  }

  private commonEffects(direction: 'read' | 'write', offset: number, width: number, value: bigint): Out[] {
    const m = matchRegister(PCI_COMMON_CFG, offset, width, direction, 'start-address');
    if (!m.dispatch || !m.reg) return [];
    const reg = m.reg;
    if (width === 8 && !(reg.widths as readonly number[]).includes(8)) {
      return [
        ...this.commonEffects(direction, offset, 4, value & 0xffffffffn),
        ...this.commonEffects(direction, offset + 4, 4, value >> 32n),
      ];
    }
    if ('perQueue' in reg && !this.shadow.queueInRange()) return [];
    const v = registerValue(reg, width, value);
    return direction === 'write' ? this.writeCommon(reg.name, v, width) : this.readCommon(reg.name, v);
  }

  private queueEvent(fields: Omit<QueueConfigured, 'kind' | 'index'>, fromDevice = false): Out[] {
    const body: QueueConfigured = { kind: 'queueConfigured', index: this.shadow.queueSelect, ...fields };
    return [fromDevice ? { body, actor: 'device' } : { body }];
  }

  private writeCommon(name: Name, v: bigint, width: number): Out[] {
    const sh = this.shadow;
    const n = Number(v);
    const half = ADDRESS_HALVES[name];
    if (half) {
      const [field, which] = half;
      const address = width === 8 ? sh.writeAddress(field, v) : sh.writeHalf(field, which, v);
      return this.queueEvent({ [field]: address });
    }
    switch (name) {
      case 'device_feature_select':
        sh.deviceFeatureSelect = n;
        return [];
      case 'driver_feature_select':
        sh.driverFeatureSelect = n;
        return [];
      case 'driver_feature':
        return sh.driverFeatureWritten(v);
      case 'config_msix_vector':
        sh.configVector = n;
        return [{ body: { kind: 'msix', configVector: n } }];
      case 'device_status':
        return sh.writeStatus(n);
      case 'queue_select':
        return sh.selectQueue(n);
      case 'queue_size':
        sh.queue().sizeWritten = true;
        return this.queueEvent({ size: n });
      case 'queue_msix_vector':
        sh.queue().msixVector = n;
        return this.queueEvent({ msixVector: n });
      case 'queue_enable':
        // The spec forbids writing 0; QEMU enables only on 1 and reports anything else as a guest error.
        if (n !== 1) return [];
        sh.queue().enabled = true;
        return this.queueEvent({ enabled: true });
      case 'queue_reset':
        return n === 1 ? sh.requestQueueReset() : [];
      default:
        return [];
    }
  }

  /** Reads report what the device holds; they become events where they tell something new. */
  private readCommon(name: Name, v: bigint): Out[] {
    const sh = this.shadow;
    const n = Number(v);
    switch (name) {
      case 'device_feature':
        return sh.deviceFeatureRead(v);
      case 'config_msix_vector':
        // reads back 0xffff when the device could not use the vector
        if (n === sh.configVector) return [];
        sh.configVector = n;
        return [{ body: { kind: 'msix', configVector: n }, actor: 'device' }];
      case 'num_queues':
        sh.numQueues = n;
        return [];
      case 'device_status':
        return sh.readStatus(n);
      case 'queue_size': {
        // Before the driver writes it, queue_size shows the device's maximum; 0 means no such queue.
        const q = sh.queue();
        return !q.sizeWritten && n > 0 ? this.queueEvent({ maxSize: n }, true) : [];
      }
      case 'queue_msix_vector': {
        const q = sh.queue();
        if (n === q.msixVector) return [];
        q.msixVector = n;
        return this.queueEvent({ msixVector: n }, true);
      }
      case 'queue_enable': {
        const q = sh.queue();
        if ((n !== 0) === q.enabled) return [];
        q.enabled = n !== 0;
        return this.queueEvent({ enabled: q.enabled }, true);
      }
      case 'queue_notify_off': {
        const q = sh.queue();
        if (q.notifyOff === n) return [];
        q.notifyOff = n;
        return this.queueEvent({ notifyOff: n }, true);
      }
      case 'queue_reset':
        return sh.queueResetRead(n);
      default:
        return [];
    }
  }

  /** Notifications are raw only; a queue index past the device's queues is flagged. */
  private notifyAnomalies(a: RawAccess): Anomaly[] {
    const anomalies: Anomaly[] = [];
    if (!PCI_NOTIFY_WIDTHS.includes(a.width)) anomalies.push('wrong-width');
    if (!isAligned(a.offset, a.width)) anomalies.push('unaligned');
    if (a.direction === 'read') anomalies.push('write-only-read');
    else if (valueKnown(a) && !this.shadow.queueInRange(Number(accessValue(a) & 0xffffn))) anomalies.push('queue-out-of-range');
    return anomalies;
  }
}

/** MSI-X table entries are read and written as dwords or qwords; the PBA is read-only. */
export function msixStructureAnomalies(a: RawAccess): Anomaly[] {
  const anomalies: Anomaly[] = [];
  if (a.width !== 4 && a.width !== 8) anomalies.push('wrong-width');
  if (!isAligned(a.offset, a.width)) anomalies.push('unaligned');
  if (a.region === 'msix-pba' && a.direction === 'write') anomalies.push('read-only-write');
  return anomalies;
}
