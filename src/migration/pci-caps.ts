// The capability list of a recorded config space as the PCI_CONFIG record carries it: the standard list (walked by
// src/model/pci-capabilities.ts) with virtio's vendor capabilities (struct virtio_pci_cap, virtio 1.3 4.1.4) decoded.
import { PCI_CAP_ID, VIRTIO_PCI_CAP, pciCapabilityList } from '../model/pci-capabilities.js';
import type { PciCapabilityMsg } from './schema.js';

export function pciCapabilities(config: Uint8Array): PciCapabilityMsg[] {
  const dv = new DataView(config.buffer, config.byteOffset, config.byteLength);
  return pciCapabilityList(config).map(({ offset: ptr, id, next }) => {
    const cap: PciCapabilityMsg = { offset: ptr, id, next, length: 0, virtioCfgType: 0, bar: 0, barOffset: 0, barLength: 0 };
    if (id === PCI_CAP_ID.VENDOR && ptr + VIRTIO_PCI_CAP.CFG_TYPE <= config.length) {
      cap.length = config[ptr + VIRTIO_PCI_CAP.CAP_LEN]!;
      if (ptr + VIRTIO_PCI_CAP.SIZE <= config.length && cap.length >= VIRTIO_PCI_CAP.SIZE) {
        cap.virtioCfgType = config[ptr + VIRTIO_PCI_CAP.CFG_TYPE]!;
        cap.bar = config[ptr + VIRTIO_PCI_CAP.BAR]!;
        cap.barOffset = dv.getUint32(ptr + VIRTIO_PCI_CAP.OFFSET, true);
        cap.barLength = dv.getUint32(ptr + VIRTIO_PCI_CAP.LENGTH, true);
      }
    }
    return cap;
  });
}
