// What tells one guest driver from another in a device's register traffic, per driver session (a device reset
// starts one). Only what a driver's own source shows it does, and what another driver does not: a session is named
// only when all of a fingerprint's signs are in the recording; otherwise its driver stays unknown.
import { featureBit } from './features.js';
import { STATUS } from './status.js';

export interface DriverFingerprint {
  driver: string;
  role: 'firmware' | 'os';
  /** the first non-zero status the driver writes after its reset */
  firstStatus: number;
  /** feature bits this driver never accepts (a session that wrote any of them is another driver) */
  neverAccepts: bigint;
  /** the session ends with another reset (firmware hands every device over to the OS, which resets it) */
  handedOver: boolean;
  /** where the behaviour is in the driver's source */
  reference: string;
}

export const DRIVER_FINGERPRINTS: readonly DriverFingerprint[] = [
  {
    driver: 'SeaBIOS',
    role: 'firmware',
    // vp_init_simple sets ACKNOWLEDGE and DRIVER in one write right after its reset (the virtio 1.x 3.1.1 order,
    // which Linux's register_virtio_device / virtio_dev_probe follow, writes ACKNOWLEDGE alone first)
    firstStatus: STATUS.ACKNOWLEDGE | STATUS.DRIVER,
    // it polls one queue with plain descriptors: it accepts VERSION_1, ACCESS_PLATFORM and a few device bits,
    // never a ring feature (ANY_LAYOUT 27, INDIRECT_DESC 28, EVENT_IDX 29, RING_PACKED 34)
    neverAccepts: featureBit('VIRTIO_F_ANY_LAYOUT') | featureBit('VIRTIO_F_INDIRECT_DESC') | featureBit('VIRTIO_F_EVENT_IDX')
      | featureBit('VIRTIO_F_RING_PACKED'),
    handedOver: true,
    reference: 'SeaBIOS src/hw/virtio-pci.c vp_init_simple, src/hw/virtio-blk.c init_virtio_blk',
  },
];
