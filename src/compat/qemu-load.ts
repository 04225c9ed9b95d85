// What a QEMU target says when it loads a QEMU migration stream, predicted from the stream and the target's profile
// read over QMP (src/compat/qmp-profile.ts). QEMU checks in stream order and stops at the first failure; the checks
// modelled here, with the lines QEMU prints (each prefixed by its program name, e.g. "qemu-system-x86_64: "):
//
//  1. the configuration section (migration/savevm.c configuration_post_load): the machine type must be the same:
//       Machine type received is '<stream>' and local is '<target>'
//       load of migration failed: Invalid argument
//  2. the device's section, PCI part first (hw/pci/pci.c get_pci_config_device): every config byte under the
//     target's check mask that is not writable must be equal:
//       get_pci_config_device: Bad config data: i=0x<offset> read: <stream byte> device: <target byte> cmask: <c> wmask: <w> w1cmask:<w1c>
//       Failed to load PCIDevice:config
//     then the virtio part (hw/virtio/virtio.c virtio_load): the guest's features must be offered by the target:
//       Features 0x<guest features> unsupported. Allowed features: 0x<target host features>
//     each followed by "Failed to load <vmsd>:virtio" (migration/vmstate.c), "error while loading state for instance
//     0x<n> of device '<idstr>'" (migration/savevm.c) and "load of migration failed: <strerror>"
//     (migration/migration.c; Invalid argument for -EINVAL, Operation not permitted for virtio_load's -1).
//
// Target config bytes devrec knows from QMP: vendor and device id (query-pci), class and subclass (query-pci
// class_info), and the MSI-X table size (the proxy's "vectors", at the source's MSI-X capability; QEMU's virtio-pci
// places it at the same offset for the same device kind). QEMU's check mask covers the vendor, device, revision,
// class and header bytes (pci_init_cmask) and every capability byte (pci_add_capability); the MSI-X control's
// enable and mask bits are writable (msix_init). Bytes devrec does not know (revision, prog-if, other capability
// bytes) are not compared: a refusal there is not predicted.
import { describeFeature, deviceTypeByName } from '../model/index.js';
import { MSIX_CAP, PCI_CAP_ID, findPciCapability } from '../model/pci-capabilities.js';
import { PCI_ID_OFFSETS } from '../model/registers.js';
import type { QemuConfiguration } from '../sources/qemu-state/parser.js';
import type { QemuVirtioDevice } from '../sources/qemu-state/virtio.js';
import type { Profile } from './profile.js';

export interface QemuLoadVerdict {
  refused: boolean;
  /** QEMU's lines for the first failure, as QEMU prints them (with its program name when the arch is known) */
  lines: string[];
  /** the first failure in the field's terms */
  reason: string;
  /** which check: machine-type, pci-config, features */
  check: 'machine-type' | 'pci-config' | 'features' | '';
  /** what to change on the target */
  fix: string;
}

export interface QemuStreamSource {
  device: QemuVirtioDevice;
  configuration?: QemuConfiguration | undefined;
}

const MSIX_CONTROL = MSIX_CAP.MESSAGE_CONTROL;
/** MSIX_ENABLE_MASK | MSIX_MASKALL_MASK in the control word's high byte */
const MSIX_CONTROL_HI_WMASK = (MSIX_CAP.ENABLE | MSIX_CAP.FUNCTION_MASK) >> 8;
const EINVAL = 'Invalid argument';
const EPERM = 'Operation not permitted';
const hex = (v: number | bigint) => v.toString(16);

function prefix(target: Profile): string {
  const arch = target.qemu?.arch;
  return arch ? `qemu-system-${arch}: ` : '';
}

function sectionTail(src: QemuStreamSource, errno: string): string[] {
  const d = src.device;
  return [
    `Failed to load ${d.vmsdName}:virtio`,
    `error while loading state for instance 0x${hex(d.section.instance)} of device '${d.section.idstr}'`,
    `load of migration failed: ${errno}`,
  ];
}

interface ByteModel { value: number; cmask: number; wmask: number; w1cmask: number; field: string }

/** The target's PCI config bytes devrec can know from QMP, by offset. */
function targetConfigModel(source: QemuVirtioDevice, target: Profile): Map<number, ByteModel> {
  const m = new Map<number, ByteModel>();
  const pci = target.pci;
  if (!pci) return m;
  const set = (off: number, value: number, field: string, wmask = 0) => m.set(off, { value: value & 0xff, cmask: 0xff, wmask, w1cmask: 0, field });
  // a profile field that is unknown (null) is not compared
  if (pci.vendor !== null) {
    set(PCI_ID_OFFSETS.vendor, pci.vendor, 'vendor id');
    set(PCI_ID_OFFSETS.vendor + 1, pci.vendor >> 8, 'vendor id');
  }
  if (pci.device !== null) {
    set(PCI_ID_OFFSETS.device, pci.device, 'device id');
    set(PCI_ID_OFFSETS.device + 1, pci.device >> 8, 'device id');
  }
  if (pci.revision !== null) set(PCI_ID_OFFSETS.revision, pci.revision, 'revision');
  const cls = target.qemu?.pciClass;
  if (cls !== null && cls !== undefined) {
    set(PCI_ID_OFFSETS.classCode + 1, cls, 'subclass');
    set(PCI_ID_OFFSETS.classCode + 2, cls >> 8, 'class');
  }
  const cfg = source.pci?.config;
  if (cfg && target.msixVectors !== null && target.msixVectors > 0) {
    const cap = findPciCapability(cfg, PCI_CAP_ID.MSIX);
    if (cap !== undefined) {
      const size = target.msixVectors - 1;
      set(cap + MSIX_CONTROL, size, 'MSI-X table size');
      set(cap + MSIX_CONTROL + 1, (size & MSIX_CAP.TABLE_SIZE_MASK) >> 8, 'MSI-X table size', MSIX_CONTROL_HI_WMASK);
    }
  }
  return m;
}

export function predictQemuLoad(src: QemuStreamSource, target: Profile): QemuLoadVerdict {
  const pre = prefix(target);
  const out = (check: QemuLoadVerdict['check'], reason: string, fix: string, lines: string[]): QemuLoadVerdict => ({ refused: true, check, reason, fix, lines: lines.map((l) => pre + l) });
  const d = src.device;

  const machine = src.configuration?.machine;
  const local = target.qemu?.machine;
  if (machine && local && machine !== local) {
    return out('machine-type', `the stream comes from machine type ${machine}, the target runs ${local}: QEMU requires the same machine type`, `start the target with -M ${machine}`, [
      `Machine type received is '${machine}' and local is '${local}'`,
      `load of migration failed: ${EINVAL}`,
    ]);
  }

  const cfg = d.pci?.config;
  if (cfg) {
    const model = targetConfigModel(d, target);
    for (const off of [...model.keys()].sort((a, b) => a - b)) {
      const t = model.get(off)!;
      const s = cfg[off];
      if (s === undefined) continue;
      if (((s ^ t.value) & t.cmask & ~t.wmask & ~t.w1cmask) === 0) continue;
      return out('pci-config', `PCI config byte 0x${hex(off)} (${t.field}): 0x${hex(s)} in the stream, 0x${hex(t.value)} on the target; QEMU requires the bytes under its check mask to be equal`, fixFor(t.field), [
        `get_pci_config_device: Bad config data: i=0x${hex(off)} read: ${hex(s)} device: ${hex(t.value)} cmask: ${hex(t.cmask)} wmask: ${hex(t.wmask)} w1cmask:${hex(t.w1cmask)}`,
        'Failed to load PCIDevice:config',
        ...sectionTail(src, EINVAL),
      ]);
    }
  }

  // the target's offer unknown (a profile from a device-state stream): QEMU's feature check cannot be predicted
  const offered = target.features.offered;
  const missing = offered === null ? 0n : d.guestFeatures & ~offered;
  if (offered !== null && missing !== 0n) {
    const names = bitsOf(missing).map((b) => `bit ${b} ${describeFeature(b, deviceTypeByName(d.type) ? d.type : undefined)?.name ?? `bit_${b}`}`).join(', ');
    return out('features', `the guest runs with features the target does not offer: ${names}`, `offer ${names.replace(/bit \d+ /g, '')} on the target (the device option that turns it off, or a machine type / QEMU that has it)`, [
      `Features 0x${hex(d.guestFeatures)} unsupported. Allowed features: 0x${hex(offered)}`,
      ...sectionTail(src, EPERM),
    ]);
  }
  return { refused: false, lines: [], reason: '', check: '', fix: '' };
}

function fixFor(field: string): string {
  if (field === 'device id') return 'give the target the same device kind: modern-only (disable-legacy=on) or transitional, as on the source';
  if (field === 'MSI-X table size') return 'give the target the same MSI-X vector count (vectors=N; virtio-blk defaults to num-queues + 1, virtio-net to 2 x queues + 2)';
  return `give the target the same ${field} as the source`;
}

function bitsOf(mask: bigint): number[] {
  const out: number[] = [];
  for (let b = 0; mask >> BigInt(b) !== 0n; b++) if ((mask >> BigInt(b)) & 1n) out.push(b);
  return out;
}
