// The capture matrix of scripts/qemu/matrix.txt (plus the q35 and multi-queue NIC base variants) as committed under
// streams/qemu/.
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface Manifest {
  machine: string; transport: string;
  matrix?: { base: string; qemu: 'host' | 'debian13'; guestKernel: 'host' | 'debian13'; traceEvents: 'full' | 'usual' | 'mmio' | 'virtio'; timestamps: boolean };
  qemu: { version: string };
}

/** every matrix capture committed, by directory name */
export const MATRIX = [
  'q35-root-port', 'q35-root-port-usual-ts', 'qemu10-q35-root-port', 'pc-virtio-only', 'microvm-mmio-modern-noops',
  'qemu10-pc-modern-usual', 'qemu10-microvm-mmio-legacy-noops', 'linux612-pc-legacy-msix', 'qemu10-pc-packed',
  'q35-root-port-ioeventfd', 'pc-net-mq', 'qemu10-pc-net-mq',
];

export const manifestOf = (v: string): Manifest => JSON.parse(readFileSync(path.resolve('streams/qemu', v, 'manifest.json'), 'utf8')) as Manifest;

/** the captures whose trace names each device by its address (memory_region_ops and pci_cfg_write traced) */
export const MATRIX_NAMED = MATRIX.filter((v) => {
  const e = manifestOf(v).matrix?.traceEvents;
  return e === 'full' || e === 'usual';
});
/**
 * the captures whose trace ties devices: those, and virtio-mmio traced by virtio_mmio_* events without
 * memory_region_ops (devices named by QEMU's vdev pointer: the lines carry no transport address)
 */
export const MATRIX_TIED = MATRIX.filter((v) => MATRIX_NAMED.includes(v) || manifestOf(v).matrix?.traceEvents === 'mmio');
/** the captures whose trace cannot tie any device: import fails, naming the events to enable */
export const MATRIX_UNTIED = MATRIX.filter((v) => !MATRIX_TIED.includes(v));

/** the multi-queue NIC captures: one virtio-net-pci with mq=on on a 2-queue tap, 2 vCPUs (capture.sh pc-net-mq) */
export const MATRIX_NET_MQ = MATRIX.filter((v) => manifestOf(v).matrix?.base === 'pc-net-mq');

/**
 * The queue pairs the guest uses on the NIC with this MAC, from the guest's own report in the manifest (guest-init.sh
 * prints `net ethN: MAC ...`, and one `net ethN tx-K xps_cpus` line per TX queue of a multi-queue NIC; Linux keeps
 * one sysfs tx-K per queue pair in use, netif_set_real_num_tx_queues): 1 when the NIC has none of those lines.
 */
export function guestQueuePairs(v: string, mac: string): number {
  const report = (JSON.parse(readFileSync(path.resolve('streams/qemu', v, 'manifest.json'), 'utf8')) as { guestReport: string[] }).guestReport;
  const nic = report.map((l) => /^net (\S+): (\S+) /.exec(l)).find((m) => m?.[2] === mac)?.[1];
  if (nic === undefined) throw new Error(`${v}: the guest reported no NIC with MAC ${mac}`);
  return Math.max(1, report.filter((l) => l.startsWith(`net ${nic} tx-`) && / xps_cpus /.test(l)).length);
}
