// VFIO passthrough facts used across layers: how a vfio stream names the virtio transport its guest driver
// speaks, and what QEMU does with a vfio-pci device that has no migration support.

/** The virtio interface a guest driver uses on a passed-through virtio PCI function. */
export type VfioVirtioTransport = 'pci-modern' | 'pci-legacy';

/**
 * A vfio stream's `backend`: the host device vfio-pci was given (its `host=` address, as QEMU's vfio trace names
 * it) and the virtio transport the guest driver speaks through it. The reducer reads the transport back from here
 * (legacy drivers have no FEATURES_OK: their guest features are in effect when written).
 */
export function vfioBackend(host: string, virtio: VfioVirtioTransport): string {
  return `vfio-pci host=${host} virtio=${virtio}`;
}

export function vfioVirtioTransport(backend: string): VfioVirtioTransport | undefined {
  const m = / virtio=(pci-modern|pci-legacy)$/.exec(backend);
  return m ? (m[1] as VfioVirtioTransport) : undefined;
}

/** The host address in a vfio backend string (see vfioBackend). */
export function vfioHost(backend: string): string | undefined {
  return /^vfio-pci host=(\S+)/.exec(backend)?.[1];
}

/**
 * QEMU's words when a VM has a vfio-pci device whose kernel driver offers no VFIO migration (no
 * VFIO_DEVICE_FEATURE_MIGRATION; plain vfio-pci never does): the migration blocker that hw/vfio/migration.c
 * (vfio_migration_realize) registers, which query-migrate lists in blocked-reasons and migrate returns as its
 * error. Measured with QEMU 10.0 (streams/vfio/<variant>/nested-qmp.json).
 */
export function qemuVfioMigrationBlocker(host: string): string {
  return `${host}: VFIO migration is not supported in kernel`;
}
