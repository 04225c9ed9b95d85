// virtio-mmio, version 1 (legacy: GuestPageSize, QueueAlign, QueuePFN) and version 2 (virtio 1.x:
// QueueReady and 64-bit queue addresses in halves). The version starts from the transport (mmio-legacy is 1,
// mmio-modern 2) and follows what the driver reads from the Version register.
//
// Width policy, following QEMU's hw/virtio/virtio-mmio.c: a register access that is not 32 bits wide is
// ignored ("wrong size access to register!"), as is an access to a register the version does not have
// ("write to legacy register in non-legacy mode" and the reverse). Both are kept and flagged here, with no
// effect. Device config (0x100 on) takes 8, 16 and 32-bit accesses; its byte order is little-endian for
// version 2 and the guest's for version 1.
import type { NewEvent, QueueConfigured, Transport } from '../events/types.js';
import { MMIO_CONFIG_OFFSET, type MmioRegister, mmioRegsOfVersion } from '../model/registers.js';
import {
  type Decoded, type Out, type RawContext, accessValue, deviceConfigAccess, guarded, matchRegister, registerValue,
  shapeAnomaly, toEvents, valueKnown,
} from './support.js';
import type { DecoderOptions, RawAccess, TransportDecoder } from './types.js';
import { type AddressField, VirtioShadow } from './virtio-shadow.js';

type Name = MmioRegister['name'];

const ADDRESS_HALVES: Partial<Record<Name, [AddressField, 0 | 1]>> = {
  QueueDescLow: ['desc', 0], QueueDescHigh: ['desc', 1],
  QueueDriverLow: ['driver', 0], QueueDriverHigh: ['driver', 1],
  QueueDeviceLow: ['device', 0], QueueDeviceHigh: ['device', 1],
};

const REGS_OF = { 1: mmioRegsOfVersion(1), 2: mmioRegsOfVersion(2) } as const;

export class MmioDecoder implements TransportDecoder {
  version: 1 | 2;
  readonly shadow: VirtioShadow;

  constructor(readonly opts: DecoderOptions) {
    this.version = opts.transport === 'mmio-legacy' ? 1 : 2;
    this.shadow = new VirtioShadow(this.version === 2, opts.numQueues);
  }

  get transport(): Transport {
    return this.version === 1 ? 'mmio-legacy' : 'mmio-modern';
  }

  decode(a: RawAccess): NewEvent[] {
    return guarded(a, () => this.context(), () => {
      const ctx = this.context();
      return toEvents(a, ctx, this.decodeAccess(a));
    });
  }

  private context(): RawContext {
    return { transport: this.transport, path: 'mmio', msixEnabled: false, selectedQueue: this.shadow.queueSelect };
  }

  private decodeAccess(a: RawAccess): Decoded {
    const shape = shapeAnomaly(a);
    if (shape) return { anomalies: [shape], outs: [] };
    const apply = valueKnown(a);
    if (a.region === 'device-cfg') return this.config(a, a.offset, apply);
    if (a.region !== 'mmio-regs') return { anomalies: ['unknown-register'], outs: [] };
    if (a.offset >= MMIO_CONFIG_OFFSET) return this.config(a, a.offset - MMIO_CONFIG_OFFSET, apply);
    return this.register(a, apply);
  }

  private config(a: RawAccess, offset: number, apply: boolean): Decoded {
    const endian = this.version === 2 ? 'little' : (this.opts.guestEndian ?? 'little');
    return deviceConfigAccess(a, { offset, configSize: this.opts.configSize, endian, apply });
  }

  private register(a: RawAccess, apply: boolean): Decoded {
    const regs = REGS_OF[this.version];
    const m = matchRegister(regs, a.offset, a.width, a.direction, 'exact-width');
    // a register of the other version is not there in this one: unknown-register, like any gap
    const anomalies = m.anomalies;
    const value = accessValue(a);
    if (m.reg && 'perQueue' in m.reg && !this.shadow.queueInRange()) anomalies.push('queue-out-of-range');
    const selects = m.reg?.name === 'QueueSel' || m.reg?.name === 'QueueNotify';
    if (selects && a.direction === 'write' && apply && !this.shadow.queueInRange(Number(value & 0xffffffffn))) {
      anomalies.push('queue-out-of-range');
    }
    if (!apply || !m.dispatch || !m.reg || ('perQueue' in m.reg && !this.shadow.queueInRange())) return { anomalies, outs: [] };
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
    const half = ADDRESS_HALVES[name];
    if (half) return this.queueEvent({ [half[0]]: sh.writeHalf(half[0], half[1], v) });
    switch (name) {
      case 'DeviceFeaturesSel':
        sh.deviceFeatureSelect = n;
        return [];
      case 'DriverFeaturesSel':
        sh.driverFeatureSelect = n;
        return [];
      case 'DriverFeatures':
        return sh.driverFeatureWritten(v);
      case 'GuestPageSize':
        // device-wide, but the event is a queue event: it rides on the selected queue
        return this.queueEvent({ guestPageSize: n });
      case 'QueueSel':
        return sh.selectQueue(n);
      case 'QueueNum':
        sh.queue().sizeWritten = true;
        return this.queueEvent({ size: n });
      case 'QueueAlign':
        return this.queueEvent({ align: n });
      case 'QueuePFN':
        return this.queueEvent({ pfn: n });
      case 'QueueReady':
        // QEMU enables on any non-zero value and disables on 0 (Linux writes 0 when it deletes a queue)
        sh.queue().enabled = n !== 0;
        return this.queueEvent({ enabled: n !== 0 });
      case 'Status':
        return sh.writeStatus(n);
      case 'QueueReset':
        return n === 1 ? sh.requestQueueReset() : [];
      default:
        // QueueNotify, InterruptACK, SHMSel: the raw access is the record
        return [];
    }
  }

  private read(name: Name, v: bigint): Out[] {
    const sh = this.shadow;
    const n = Number(v);
    switch (name) {
      case 'Version':
        // the device tells its layout; a recording may start with the wrong guess
        if (n === 1 || n === 2) {
          this.version = n;
          sh.hasFeaturesOk = n === 2;
        }
        return [];
      case 'DeviceFeatures':
        return sh.deviceFeatureRead(v);
      case 'QueueNumMax':
        return n > 0 ? this.queueEvent({ maxSize: n }, true) : [];
      case 'QueueReady': {
        const q = sh.queue();
        if ((n !== 0) === q.enabled) return [];
        q.enabled = n !== 0;
        return this.queueEvent({ enabled: q.enabled }, true);
      }
      case 'Status':
        return sh.readStatus(n);
      case 'QueueReset':
        return sh.queueResetRead(n);
      default:
        return [];
    }
  }
}
