// The part of a virtio device's state a decoder must remember to give meaning to the next access: feature
// selectors, the selected queue, the status written (for FEATURES_OK and reset completion), queue address
// halves. Every virtio transport keeps one; the legacy IO BAR and the admin legacy commands share one, since
// they address the same legacy register file.
import type { EventBody } from '../events/types.js';
import { MSI_NO_VECTOR } from '../model/registers.js';
import { STATUS } from '../model/status.js';
import type { Out } from './support.js';

/**
 * Feature words a decoder turns into events: 128 feature bits. QEMU ignores driver_feature writes beyond its
 * guest_features array and reads 0 beyond its host features; an absurd select (2^32 - 1) must not become a
 * 2^37-bit mask in the reducer.
 */
export const FEATURE_WORDS = 4;

export type AddressField = 'desc' | 'driver' | 'device';

export interface QueueShadow {
  /** the driver wrote queue_size since the last reset (a read before that shows the maximum) */
  sizeWritten: boolean;
  msixVector: number;
  enabled: boolean;
  notifyOff: number | undefined;
  /** [low, high] 32-bit halves */
  halves: Record<AddressField, [bigint, bigint]>;
  resetPending: boolean;
}

function freshQueue(): QueueShadow {
  return {
    sizeWritten: false, msixVector: MSI_NO_VECTOR, enabled: false, notifyOff: undefined,
    halves: { desc: [0n, 0n], driver: [0n, 0n], device: [0n, 0n] }, resetPending: false,
  };
}

export class VirtioShadow {
  /** status as last written by the driver */
  status = 0;
  resetPending = false;
  /** FEATURES_OK was written and the driver has not read the status back yet */
  featuresOkPending = false;
  deviceFeatureSelect = 0;
  driverFeatureSelect = 0;
  queueSelect = 0;
  configVector = MSI_NO_VECTOR;
  private readonly driverWords = new Map<number, bigint>();
  private readonly queues = new Map<number, QueueShadow>();

  /**
   * @param hasFeaturesOk modern transports; legacy ones have no FEATURES_OK (features apply as written)
   * @param numQueues queues the device has, when known
   */
  constructor(public hasFeaturesOk: boolean, public numQueues?: number) {}

  queue(index = this.queueSelect): QueueShadow {
    let q = this.queues.get(index);
    if (!q) this.queues.set(index, (q = freshQueue()));
    return q;
  }

  /** The selected queue exists, as far as the decoder knows. */
  queueInRange(index = this.queueSelect): boolean {
    return this.numQueues === undefined || index < this.numQueues;
  }

  selectQueue(index: number): Out[] {
    this.queueSelect = index;
    return [{ body: { kind: 'queueSelected', index } }];
  }

  deviceFeatureRead(value: bigint, select = this.deviceFeatureSelect): Out[] {
    if (select >= FEATURE_WORDS) return [];
    return [{ body: { kind: 'deviceFeatures', select, value, highWords: [] } }];
  }

  driverFeatureWritten(value: bigint, select = this.driverFeatureSelect): Out[] {
    if (select >= FEATURE_WORDS) return [];
    this.driverWords.set(select, value);
    return [{ body: { kind: 'driverFeatures', select, value, highWords: [] } }];
  }

  /** The driver features as written so far, in the event's (features, highWords) form. */
  driverFeatures(): { features: bigint; highWords: bigint[] } {
    let features = 0n;
    const highWords: bigint[] = [];
    for (const [select, word] of this.driverWords) {
      const shifted = word << BigInt(32 * (select % 2));
      if (select < 2) {
        features |= shifted;
        continue;
      }
      const i = Math.floor(select / 2) - 1;
      while (highWords.length <= i) highWords.push(0n);
      highWords[i] = highWords[i]! | shifted;
    }
    return { features, highWords };
  }

  writeStatus(status: number): Out[] {
    const out: Out[] = [{ body: { kind: 'statusWritten', status } }];
    if (status === 0) {
      this.reset();
      this.resetPending = true;
      out.push({ body: { kind: 'resetRequested', scope: 'device-reset', queue: 0 } });
      return out;
    }
    // Only the write that sets FEATURES_OK asks the question; DRIVER_OK later keeps the bit set.
    if (this.hasFeaturesOk && status & STATUS.FEATURES_OK && !(this.status & STATUS.FEATURES_OK)) this.featuresOkPending = true;
    this.status = status;
    return out;
  }

  readStatus(status: number): Out[] {
    const out: Out[] = [{ body: { kind: 'statusRead', status } }];
    if (this.resetPending && status === 0) {
      this.resetPending = false;
      out.push({ body: { kind: 'resetCompleted', scope: 'device-reset', queue: 0 }, actor: 'device' });
    }
    if (this.featuresOkPending) {
      // The read after writing FEATURES_OK is the device's answer: the bit kept means accepted.
      this.featuresOkPending = false;
      const accepted = (status & STATUS.FEATURES_OK) !== 0;
      if (!accepted) this.status &= ~STATUS.FEATURES_OK;
      const body: EventBody = { kind: 'featuresNegotiated', accepted, ...this.driverFeatures() };
      out.push({ body, actor: 'device' });
    }
    return out;
  }

  /** Writes one 32-bit half of a queue address; returns the whole address with the other half's last value. */
  writeHalf(field: AddressField, half: 0 | 1, value: bigint): bigint {
    const h = this.queue().halves[field];
    h[half] = value & 0xffffffffn;
    return (h[1] << 32n) | h[0];
  }

  writeAddress(field: AddressField, value: bigint): bigint {
    const h = this.queue().halves[field];
    h[0] = value & 0xffffffffn;
    h[1] = (value >> 32n) & 0xffffffffn;
    return (h[1] << 32n) | h[0];
  }

  requestQueueReset(index = this.queueSelect): Out[] {
    this.queues.set(index, { ...freshQueue(), resetPending: true });
    return [{ body: { kind: 'resetRequested', scope: 'queue-reset', queue: index } }];
  }

  queueResetRead(value: number, index = this.queueSelect): Out[] {
    const q = this.queue(index);
    if (!q.resetPending || value !== 0) return [];
    q.resetPending = false;
    return [{ body: { kind: 'resetCompleted', scope: 'queue-reset', queue: index }, actor: 'device' }];
  }

  /** A device reset: what the driver set up is gone (the reducer does the same to the projected state). */
  reset(): void {
    this.status = 0;
    this.featuresOkPending = false;
    this.deviceFeatureSelect = 0;
    this.driverFeatureSelect = 0;
    this.queueSelect = 0;
    this.configVector = MSI_NO_VECTOR;
    this.driverWords.clear();
    for (const [i, q] of this.queues) this.queues.set(i, { ...freshQueue(), notifyOff: q.notifyOff });
  }
}
