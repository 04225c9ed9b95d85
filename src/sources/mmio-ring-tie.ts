// A virtio-mmio device that a QEMU trace shows only through virtio_mmio_* lines (no memory_region_ops) is named by
// QEMU's VirtIODevice pointer: those lines carry no transport base and no device type. Its rings tie it to QEMU's
// own device: the driver wrote each enabled queue's ring addresses (virtio 1.3 4.2.2: QueueDescLow/High,
// QueueDriverLow/High, QueueDeviceLow/High on modern virtio-mmio; 4.2.4: QueuePFN with GuestPageSize, QueueNum and
// QueueAlign on legacy), and QMP's x-query-virtio-queue-status gives every device's vring-desc, vring-avail and
// vring-used. Two devices never share a ring, so the addresses of its enabled queues name one QEMU device, whose
// mmio base (from `info qtree` in the answers) gives the id the device-state import gives it.
//
// A tie needs at least one enabled queue whose three addresses the trace knows, and exactly one QEMU device that
// has every such queue at the same addresses (and is tied to no other trace device). Otherwise the device keeps
// its vdev name and the reason is reported.
import type { NewEvent } from '../events/types.js';
import { type QmpAnswers, proxyPath } from '../compat/qmp-profile.js';
import { qemuDeviceByVmsd, qemuIdName } from '../model/qemu-names.js';
import { applyInPlace } from '../project/reducer.js';
import { initialState } from '../project/state.js';
import { qmpBigInt } from '../qmp/json.js';
import { deviceIdOf } from './qemu-state/virtio.js';

/** One queue's ring addresses: descriptor table, driver (avail) area, device (used) area. */
export interface RingAddresses { index: number; desc: bigint; driver: bigint; device: bigint }

export interface MmioRingTie {
  /** the vdev name the trace alone gives */
  from: string;
  /** the device-state import's id of the QEMU device its rings are */
  id: string;
  type: string;
  virtioId: number;
  /** the QEMU device (x-query-virtio path) */
  qmpPath: string;
  /** the queues whose addresses matched */
  queues: number[];
}

export interface MmioRingTieReport {
  tied: MmioRingTie[];
  /** devices left with their vdev name, and why */
  untied: { id: string; reason: string }[];
}

export const NO_ANSWERS_REASON = "virtio_mmio_* lines carry no transport base or device type; --qmp-answers FILE (devrec profile --qmp ADDRESS --save-qmp FILE on the same VM, or a capture's qmp.json) would name each by its mmio base, through its rings' addresses";

/** The enabled queues whose ring addresses a device's events tell, as they stand after the last event. */
export function ringAddressesOf(id: string, events: readonly NewEvent[]): RingAddresses[] {
  const s = initialState(id);
  events.forEach((e, revision) => applyInPlace(s, { ...e, revision }));
  return s.queues.filter((q) => q.enabled === true && q.desc !== null && q.desc !== 0n && q.driver !== null && q.device !== null)
    .map((q) => ({ index: q.index, desc: q.desc!, driver: q.driver!, device: q.device! }));
}

interface QmpRings { path: string; name: string; mmioBase: bigint | undefined; queues: Map<number, RingAddresses> }

/** Each QEMU device's queues that have rings (vring-desc not 0), from x-query-virtio-queue-status. */
function qmpRings(a: QmpAnswers): QmpRings[] {
  return (a['x-query-virtio'] ?? []).map((d) => {
    const queues = new Map<number, RingAddresses>();
    for (const q of a['x-query-virtio-queue-status']?.[d.path] ?? []) {
      const index = typeof q['queue-index'] === 'number' ? q['queue-index'] : undefined;
      const desc = qmpBigInt(q['vring-desc']);
      const driver = qmpBigInt(q['vring-avail']);
      const device = qmpBigInt(q['vring-used']);
      if (index === undefined || desc === undefined || desc === 0n || driver === undefined || device === undefined) continue;
      queues.set(index, { index, desc, driver, device });
    }
    const base = typeof d.mmioBase === 'string' && /^0x[0-9a-f]{1,16}$/i.test(d.mmioBase) ? BigInt(d.mmioBase) : undefined;
    return { path: d.path, name: d.name, mmioBase: base, queues };
  });
}

const same = (a: RingAddresses, b: RingAddresses | undefined) => b !== undefined && a.desc === b.desc && a.driver === b.driver && a.device === b.device;
const hex = (v: bigint) => `0x${v.toString(16)}`;
const ringText = (r: RingAddresses) => `queue ${r.index} desc ${hex(r.desc)} avail ${hex(r.driver)} used ${hex(r.device)}`;

/**
 * Ties each device (named by vdev) to the QEMU device of `answers` with the same rings. `taken`: ids the import
 * already gives other devices (a tie onto one of them would merge two devices).
 */
export function tieMmioByRings(devices: readonly { id: string; events: readonly NewEvent[] }[], answers: QmpAnswers | undefined, taken: ReadonlySet<string>): MmioRingTieReport {
  const report: MmioRingTieReport = { tied: [], untied: [] };
  if (!answers) {
    for (const d of devices) report.untied.push({ id: d.id, reason: NO_ANSWERS_REASON });
    return report;
  }
  const qemu = qmpRings(answers);
  const matches = new Map<string, { rings: RingAddresses[]; hits: QmpRings[] }>();
  for (const d of devices) {
    const rings = ringAddressesOf(d.id, d.events);
    matches.set(d.id, { rings, hits: rings.length ? qemu.filter((q) => rings.every((r) => same(r, q.queues.get(r.index)))) : [] });
  }
  for (const d of devices) {
    const { rings, hits } = matches.get(d.id)!;
    const untied = (reason: string) => report.untied.push({ id: d.id, reason });
    if (rings.length === 0) {
      untied('the trace shows no enabled queue with all its ring addresses written, so its rings cannot be compared with QMP');
      continue;
    }
    if (hits.length === 0) {
      untied(`its rings (${rings.map(ringText).join('; ')}) are those of no device in the QMP answers (answers of another VM, or taken at another moment?)`);
      continue;
    }
    if (hits.length > 1) {
      untied(`its rings (${rings.map(ringText).join('; ')}) match ${hits.length} devices in the QMP answers (${hits.map((h) => h.path).join(', ')})`);
      continue;
    }
    const hit = hits[0]!;
    const rivals = devices.filter((o) => o !== d && matches.get(o.id)!.hits.includes(hit)).map((o) => o.id);
    if (rivals.length) {
      untied(`its rings match QMP device ${hit.path}, whose rings also match ${rivals.join(', ')}`);
      continue;
    }
    const known = qemuDeviceByVmsd(hit.name);
    if (!known) {
      untied(`its rings match QMP device ${hit.path}, a ${hit.name} devrec has no QEMU device name for`);
      continue;
    }
    if (hit.mmioBase === undefined) {
      untied(`its rings match QMP device ${hit.path}, but the answers give no mmio base for it (info qtree, by qdev id: devrec profile --save-qmp keeps it for devices given an id)`);
      continue;
    }
    const id = deviceIdOf({ bus: 'mmio', vmsdName: hit.name, mmioBase: hit.mmioBase });
    if (taken.has(id) || report.tied.some((t) => t.id === id)) {
      untied(`its rings match QMP device ${hit.path} (${id}), an id another device of this import has`);
      continue;
    }
    report.tied.push({ from: d.id, id, type: known.type, virtioId: known.virtioId, qmpPath: proxyPath(hit.path), queues: rings.map((r) => r.index) });
  }
  return report;
}

/** The device's events under its tie: the trace's `identified` event gains the type and virtio id QEMU gave. */
export function tiedEvents(events: readonly NewEvent[], tie: MmioRingTie): NewEvent[] {
  return events.map((e) => {
    if (e.body.kind !== 'identified' || e.source !== 'qemu-trace') return e;
    // the backend keeps the provenance: what the trace saw (the vdev pointer) and what named it (QMP, by its rings)
    const backend = `qemu ${qemuIdName(tie.type, 'mmio')} (${e.body.backend.replace(/^qemu virtio-mmio \((.*)\)$/, '$1')}; tied by its rings to QMP ${tie.qmpPath})`;
    return { ...e, body: { ...e.body, type: tie.type, virtioId: tie.virtioId, backend } };
  });
}
