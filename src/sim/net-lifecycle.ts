// A realistic virtio-net-pci (modern) lifecycle as events, the way a VMM would record it: raw common-config
// accesses next to the semantic events decoded from them, the spec's initialization sequence (3.1.1), queue
// setup, DRIVER_OK, traffic moving queue indices, a control-queue command, a reset and a re-initialization.
// Used by `devrec demo`, the tests and the benchmarks. Simulated, and labelled so (source: simulation).
import type { EventBody, NewEvent } from '../events/types.js';
import { STATUS, VIRTIO_PCI_VENDOR, deviceTypeByName, featureBit } from '../model/index.js';
import { type CommonCfgRegister, MSI_NO_VECTOR, PCI_COMMON_CFG, registerOffset } from '../model/registers.js';

export const NET_OFFER =
  featureBit('VIRTIO_F_VERSION_1') | featureBit('VIRTIO_F_RING_RESET') | featureBit('VIRTIO_F_EVENT_IDX') |
  featureBit('VIRTIO_F_INDIRECT_DESC') | featureBit('VIRTIO_NET_F_CSUM') | featureBit('VIRTIO_NET_F_GUEST_CSUM') |
  featureBit('VIRTIO_NET_F_MAC') | featureBit('VIRTIO_NET_F_MRG_RXBUF') | featureBit('VIRTIO_NET_F_STATUS') |
  featureBit('VIRTIO_NET_F_CTRL_VQ') | featureBit('VIRTIO_NET_F_CTRL_RX') | featureBit('VIRTIO_NET_F_MQ') |
  featureBit('VIRTIO_NET_F_SPEED_DUPLEX');
/** What a Linux driver of the time keeps: everything offered but RING_RESET and SPEED_DUPLEX. */
export const NET_DRIVER = NET_OFFER & ~featureBit('VIRTIO_F_RING_RESET') & ~featureBit('VIRTIO_NET_F_SPEED_DUPLEX');

export interface Step {
  /** label of a point worth showing the state at (the demo prints these) */
  label?: string;
  event: NewEvent;
}

export interface LifecycleOptions {
  /** traffic rounds per initialization (each moves rx and tx indices) */
  trafficRounds?: number;
  startNs?: bigint;
  /** ns between events */
  stepNs?: bigint;
}

export function* netLifecycle(options: LifecycleOptions = {}): Generator<Step> {
  let ts = options.startNs ?? 1_790_000_000_000_000_000n;
  const step = options.stepNs ?? 1_000n;
  const ev = (body: EventBody, actor: NewEvent['actor'] = 'guest-driver', path: NewEvent['path'] = 'mmio'): NewEvent => {
    ts += step;
    return { timestampNs: ts, actor, path, source: 'simulation', body };
  };
  // An event decoded from the raw access just before it carries that access's timestamp.
  const decoded = (body: EventBody): NewEvent => ({ timestampNs: ts, actor: 'guest-driver', path: 'mmio', source: 'simulation', body });
  const raw = (register: CommonCfgRegister['name'], width: number, direction: 'read' | 'write', value: bigint, selectedQueue?: number): NewEvent =>
    ev({
      kind: 'registerAccess', transport: 'pci-modern', region: 'common-cfg', bar: 4, offset: registerOffset(PCI_COMMON_CFG, register), width, direction, value,
      msixEnabled: true, ...(selectedQueue !== undefined ? { selectedQueue } : {}), data: new Uint8Array(0), anomalies: [],
      valueUnseen: false,
    });
  const status = function* (value: number): Generator<Step> {
    yield { event: raw('device_status', 1, 'write', BigInt(value)) };
    yield { event: decoded({ kind: 'statusWritten', status: value }) };
  };

  yield { label: 'device created', event: ev({
    kind: 'identified', aliases: [], type: 'net', virtioId: 1, transport: 'pci-modern', numQueues: 3, configSize: 12,
    pciVendor: VIRTIO_PCI_VENDOR, pciDevice: deviceTypeByName('net')!.pciModernDeviceId, pciSubsystemVendor: VIRTIO_PCI_VENDOR, pciSubsystem: 0x1100, pciRevision: 1, backend: 'simulation',
  }, 'vmm', 'internal') };
  yield { event: ev({ kind: 'deviceFeatures', value: NET_OFFER, highWords: [] }, 'device', 'internal') };
  // mac 52:54:00:12:34:56, status LINK_UP, max_virtqueue_pairs 1, mtu 1500
  yield { event: ev({ kind: 'configWritten', offset: 0, data: Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 1, 0, 1, 0, 0xdc, 0x05]) }, 'device', 'internal') };
  for (let q = 0; q < 3; q++) yield { event: ev({ kind: 'queueConfigured', index: q, maxSize: 256, size: 256 }, 'device', 'internal') };

  for (let init = 0; init < 2; init++) {
    // 3.1.1: reset, then wait for the device to show 0.
    yield* status(0);
    yield { event: raw('device_status', 1, 'read', 0n) };
    yield { event: decoded({ kind: 'statusRead', status: 0 }) };
    yield { event: ev({ kind: 'resetCompleted', scope: 'device-reset', queue: 0 }, 'device', 'internal') };
    yield* status(STATUS.ACKNOWLEDGE);
    yield* status(STATUS.ACKNOWLEDGE | STATUS.DRIVER);
    for (const word of [0, 1]) {
      yield { event: raw('device_feature_select', 4, 'write', BigInt(word)) };
      yield { event: raw('device_feature', 4, 'read', (NET_OFFER >> BigInt(32 * word)) & 0xffffffffn) };
    }
    for (const word of [0, 1]) {
      const v = (NET_DRIVER >> BigInt(32 * word)) & 0xffffffffn;
      yield { event: raw('driver_feature_select', 4, 'write', BigInt(word)) };
      yield { event: raw('driver_feature', 4, 'write', v) };
      yield { event: decoded({ kind: 'driverFeatures', select: word, value: v, highWords: [] }) };
    }
    yield* status(STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
    yield { event: raw('device_status', 1, 'read', BigInt(STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK)) };
    yield { label: init === 0 ? 'features negotiated' : undefined, event: ev({ kind: 'featuresNegotiated', accepted: true, features: NET_DRIVER, highWords: [] }, 'device', 'internal') };
    yield { event: ev({ kind: 'msix', enabled: true, tableSize: 4 }, 'guest-driver', 'pci-config') };
    yield { event: raw('config_msix_vector', 2, 'write', 0n) };
    yield { event: decoded({ kind: 'msix', configVector: 0 }) };
    const base = 0x7e000000n + BigInt(init) * 0x100000n;
    for (let q = 0; q < 3; q++) {
      const desc = base + BigInt(q) * 0x10000n;
      yield { event: raw('queue_select', 2, 'write', BigInt(q)) };
      yield { event: decoded({ kind: 'queueSelected', index: q }) };
      yield { event: raw('queue_desc_lo', 8, 'write', desc, q) };
      yield { event: decoded({ kind: 'queueConfigured', index: q, desc }) };
      yield { event: ev({ kind: 'queueConfigured', index: q, size: 256, driver: desc + 0x1000n, device: desc + 0x2000n, msixVector: q === 2 ? MSI_NO_VECTOR : q + 1 }) };
      yield { event: raw('queue_enable', 2, 'write', 1n, q) };
      yield { event: decoded({ kind: 'queueConfigured', index: q, enabled: true }) };
    }
    yield* status(STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
    yield { label: init === 0 ? 'DRIVER_OK' : 'DRIVER_OK after re-init', event: ev({ kind: 'controlCommand', class: 4, command: 0, data: Uint8Array.from([1, 0]), ack: 0 }, 'guest-driver', 'internal') };
    const rounds = options.trafficRounds ?? 1000;
    for (let r = 0; r < rounds; r++) {
      // rx: the device fills buffers (pops avail, adds used); tx: the driver sends, the device consumes them.
      yield { event: ev({ kind: 'vqIndex', index: 0, availDelta: 1, usedDelta: 1 }, 'device', 'internal') };
      yield { label: r === Math.floor(rounds / 2) && init === 0 ? 'mid traffic' : undefined,
        event: ev({ kind: 'vqIndex', index: 1, availDelta: 2, usedDelta: 2 }, 'device', 'internal') };
    }
    if (init === 0) yield { label: 'before reset', event: ev({ kind: 'annotation', severity: 'info', code: 'demo', message: 'driver unbinds: the device is reset and initialized again' }, 'recorder', 'internal') };
  }
}
