// Transport decoders: raw register accesses -> the raw `registerAccess` event first, then semantic events.
//
// createDecoder(opts) gives one decoder per device:
// - mmio-legacy / mmio-modern: MmioDecoder;
// - any other transport: a PciDevice. A virtio PCI function can carry both interfaces (a transitional device
//   has the legacy IO BAR and the modern capabilities; a VF driven through admin legacy commands has the
//   latter only), so the PciDevice routes by region and the transport option only names the device.
import type { NewEvent, Transport } from '../events/types.js';
import { AdminLegacyDecoder } from './admin-legacy.js';
import { MmioDecoder } from './mmio.js';
import { PciConfigDecoder, PciFunctionState } from './pci-config.js';
import { LegacyPciDecoder, LegacyRegisters } from './pci-legacy.js';
import { ModernPciDecoder } from './pci-modern.js';
import type { DecoderOptions, RawAccess, TransportDecoder } from './types.js';

export type { Anomaly, DecoderOptions, RawAccess, TransportDecoder } from './types.js';
export { AdminLegacyDecoder } from './admin-legacy.js';
export { MmioDecoder } from './mmio.js';
export { type CapabilityInfo, PciConfigDecoder, PciFunctionState } from './pci-config.js';
export { LegacyPciDecoder, LegacyRegisters } from './pci-legacy.js';
export { ModernPciDecoder } from './pci-modern.js';

/**
 * One PCI function: 'pci-cfg-space' goes to the PCI config decoder, whose state (MSI-X enabled, IO/memory
 * decode, BAR types) the BAR decoders read at each access; 'legacy-io' to the legacy IO BAR decoder;
 * 'admin-legacy-*' and anything with an admin command to the admin legacy decoder, which shares the legacy register file (selected queue,
 * status) with the IO BAR; everything else to the modern decoder.
 */
export class PciDevice implements TransportDecoder {
  readonly state: PciFunctionState;
  readonly config: PciConfigDecoder;
  readonly legacy: LegacyPciDecoder;
  readonly admin: AdminLegacyDecoder;
  readonly modern: ModernPciDecoder;

  constructor(readonly opts: DecoderOptions) {
    this.state = new PciFunctionState(opts);
    this.config = new PciConfigDecoder(opts, this.state);
    const legacyRegisters = new LegacyRegisters(opts);
    this.legacy = new LegacyPciDecoder(opts, this.state, legacyRegisters);
    this.admin = new AdminLegacyDecoder(opts, this.state, legacyRegisters);
    this.modern = new ModernPciDecoder(opts, this.state);
  }

  get transport(): Transport {
    return this.opts.transport;
  }

  decode(access: RawAccess): NewEvent[] {
    return this.route(access).decode(access);
  }

  private route(access: RawAccess): TransportDecoder {
    // an admin command is decoded as one whatever region it names (NOTIFY_INFO has none)
    if (access?.admin) return this.admin;
    switch (access?.region) {
      case 'pci-cfg-space':
        return this.config;
      case 'legacy-io':
        return this.legacy;
      case 'admin-legacy-common':
      case 'admin-legacy-device':
        return this.admin;
      default:
        return this.modern;
    }
  }
}

export function createDecoder(opts: DecoderOptions): TransportDecoder {
  if (opts.transport === 'mmio-legacy' || opts.transport === 'mmio-modern') return new MmioDecoder(opts);
  return new PciDevice(opts);
}
