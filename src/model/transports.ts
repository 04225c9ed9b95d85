// Transport facts: which transports are legacy (virtio 0.9.5 interfaces: no FEATURES_OK, guest-endian config) and
// which put the device on PCI (a PCI identity, config space and MSI-X). Sources: virtio 1.3 sections 4.1.4.10
// (legacy PCI interface) and 4.2.4 (legacy MMIO interface); a VFIO device is a PCI function handed to the guest.
import type { Transport } from '../events/types.js';

export const LEGACY_TRANSPORTS: ReadonlySet<Transport> = new Set<Transport>(['pci-legacy', 'mmio-legacy']);
export const PCI_TRANSPORTS: ReadonlySet<Transport> = new Set<Transport>(['pci-modern', 'pci-legacy', 'vfio']);
export const MMIO_TRANSPORTS: ReadonlySet<Transport> = new Set<Transport>(['mmio-modern', 'mmio-legacy']);

export const isLegacyTransport = (t: Transport | string): boolean => LEGACY_TRANSPORTS.has(t as Transport);
export const isPciTransport = (t: Transport | string): boolean => PCI_TRANSPORTS.has(t as Transport);
