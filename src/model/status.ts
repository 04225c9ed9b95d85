// Device status bits (virtio 1.3 section 2.1 "Device Status Field").
// SUSPEND comes from virtio 1.4 (same section number there); it only has a
// meaning when VIRTIO_F_SUSPEND was negotiated.

/** Numeric value of each status bit, e.g. STATUS.DRIVER_OK === 4. */
export const STATUS = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  SUSPEND: 16,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;

export type StatusName = keyof typeof STATUS;

export interface StatusBit {
  readonly name: StatusName;
  /** The bit's value in the status byte (a power of two). */
  readonly value: number;
  /** Linux's VIRTIO_CONFIG_S_* macro (include/uapi/linux/virtio_config.h), the name QEMU's QMP prints */
  readonly macro: string;
  readonly section: string;
  readonly description: string;
  /** Set when the bit is newer than virtio 1.3. */
  readonly since?: string;
}

// Ascending value order, which is the order statusNames reports them in.
export const STATUS_BITS: readonly StatusBit[] = [
  { name: 'ACKNOWLEDGE', value: STATUS.ACKNOWLEDGE, macro: 'VIRTIO_CONFIG_S_ACKNOWLEDGE', section: '2.1',
    description: 'Guest has noticed the device and recognises it as virtio' },
  { name: 'DRIVER', value: STATUS.DRIVER, macro: 'VIRTIO_CONFIG_S_DRIVER', section: '2.1',
    description: 'Guest has a driver for this device type' },
  { name: 'DRIVER_OK', value: STATUS.DRIVER_OK, macro: 'VIRTIO_CONFIG_S_DRIVER_OK', section: '2.1',
    description: 'Driver set-up is finished and the device is live' },
  { name: 'FEATURES_OK', value: STATUS.FEATURES_OK, macro: 'VIRTIO_CONFIG_S_FEATURES_OK', section: '2.1',
    description: 'Driver has finished feature negotiation' },
  { name: 'SUSPEND', value: STATUS.SUSPEND, macro: 'VIRTIO_CONFIG_S_SUSPEND', section: '2.1', since: '1.4',
    description: 'Device has been suspended by the driver (needs VIRTIO_F_SUSPEND)' },
  { name: 'DEVICE_NEEDS_RESET', value: STATUS.DEVICE_NEEDS_RESET, macro: 'VIRTIO_CONFIG_S_NEEDS_RESET', section: '2.1',
    description: 'Device hit an error it cannot recover from without a reset' },
  { name: 'FAILED', value: STATUS.FAILED, macro: 'VIRTIO_CONFIG_S_FAILED', section: '2.1',
    description: 'Guest has given up on the device' },
];

const byValue = new Map<number, StatusBit>(STATUS_BITS.map((s) => [s.value, s]));

/**
 * Names of the set bits of a status value, lowest bit first; unknown bits
 * are `bit_<n>`. The field is a byte on PCI but a 32-bit register on MMIO,
 * so any 32-bit unsigned value is accepted.
 */
export function statusNames(status: number): string[] {
  if (!Number.isInteger(status) || status < 0 || status > 0xffff_ffff) {
    throw new RangeError(`status must be an unsigned 32-bit integer: ${status}`);
  }
  const names: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    // >>> reads the value as unsigned, so bit 31 works too.
    if ((status >>> bit) & 1) {
      names.push(byValue.get(2 ** bit)?.name ?? `bit_${bit}`);
    }
  }
  return names;
}
