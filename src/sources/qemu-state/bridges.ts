// PCI bridges in a savevm stream: the bus numbers the guest programmed into them, so that a device behind a
// bridge gets the address the guest sees. QEMU names a device by its topological path (pcibus_get_dev_path:
// "dddd:bb:ss.f" of the root-bus device, then ":ss.f" per bridge on the way), which never changes; the guest
// names it "bus:ss.f" with the bus number the firmware or the OS wrote into the bridge's Secondary Bus Number
// register (PCI-to-PCI Bridge spec 3.2.5.3; config offset 0x19).
//
// Where a bridge's config space sits in its section: the bridge vmsd's first field is the PCIDevice (vmsd
// "PCIDevice": be32 version_id, then the config space buffer), so config byte N is body byte 4 + N. The vmsd
// names below are QEMU's bridges whose state starts with that PCIDevice (hw/pci-bridge/*.c, hw/pci/pcie_port.c).

/** vmsd names (the part of the idstr after '/') of PCI bridges whose section body starts with a PCIDevice */
export const QEMU_PCI_BRIDGE_VMSDS: ReadonlySet<string> = new Set([
  'pcie-root-port', 'ioh-3240-express-root-port', 'xio3130-express-upstream-port', 'xio3130-express-downstream-port',
  'pci_bridge', 'pcie-pci-bridge', 'pxb-pcie-bus', 'i82801b11_bridge', 'dec-21154-p2p-bridge',
]);

/** Body offset of config byte 0 in a bridge section (after PCIDevice's be32 version_id). */
export const BRIDGE_CONFIG_AT = 4;
const SECONDARY_BUS = 0x19;

/** "0000:00:02.0/pcie-root-port" -> the bridge's own path "0000:00:02.0", or undefined when not a bridge section */
export function bridgePathOf(idstr: string): string | undefined {
  const slash = idstr.lastIndexOf('/');
  if (slash < 0 || !QEMU_PCI_BRIDGE_VMSDS.has(idstr.slice(slash + 1))) return undefined;
  const path = idstr.slice(0, slash);
  return /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7](?::[0-9a-f]{2}\.[0-7])*$/.test(path) ? path : undefined;
}

/** The secondary bus number in a bridge section's body bytes (at least BRIDGE_CONFIG_AT + 0x1a of them). */
export function secondaryBusOf(body: Uint8Array): number | undefined {
  return body.length > BRIDGE_CONFIG_AT + SECONDARY_BUS ? body[BRIDGE_CONFIG_AT + SECONDARY_BUS] : undefined;
}

/**
 * QEMU's topological path of a device ("0000:00:02.0:00.0": port 00:02.0, then slot 00.0 on its secondary bus)
 * -> the address the guest sees ("01:00.0"), from the secondary bus numbers of the bridges on the way
 * (path of each bridge -> its secondary bus). Undefined when a bridge on the way is not in the stream or was
 * never programmed (bus 0 behind a bridge is no address the guest can use).
 */
export function guestAddressOf(qemuPath: string, secondaryBus: ReadonlyMap<string, number>): string | undefined {
  const m = /^([0-9a-f]{4}):([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])((?::[0-9a-f]{2}\.[0-7])*)$/.exec(qemuPath);
  if (!m) return undefined;
  const domain = m[1] === '0000' ? '' : `${m[1]}:`;
  const hops = m[3]!.split(':').filter(Boolean);
  if (hops.length === 0) return `${domain}${m[2]!}`;
  let prefix = `${m[1]}:${m[2]}`;
  let addr = m[2]!;
  for (const hop of hops) {
    const bus = secondaryBus.get(prefix);
    if (bus === undefined || bus === 0) return undefined;
    addr = `${bus.toString(16).padStart(2, '0')}:${hop}`;
    prefix = `${prefix}:${hop}`;
  }
  return `${domain}${addr}`;
}
