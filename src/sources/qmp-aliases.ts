// QEMU's names of its virtio devices, from saved QMP answers (`devrec profile --save-qmp`, or a capture's qmp.json):
// the qdev id (`-device ...,id=net0`) and the QOM paths (the proxy /machine/peripheral/net0 and its
// /virtio-backend child; /machine/peripheral-anon/device[N] for a device given no id). They become aliases of the
// recorded device they name, tied by the address the guest sees: the PCI address query-pci reports (bus numbers as
// the guest programmed them, as in devrec's ids) or the virtio-mmio base.
//
// What QMP cannot tie: a PCI device without a qdev id (query-pci names devices by qdev_id only, so an anonymous
// device's address is not in the answers), and a virtio-mmio device in answers without mmio bases (QMP has no query
// for them; only a capture's `info qtree` gives them). Those are reported as not tied.
import { isWallClock, lastStamp } from '../events/time.js';
import type { DeviceAlias, NewEvent } from '../events/types.js';
import { type QmpAnswers, proxyPath, qmpDevices } from '../compat/qmp-profile.js';
import type { EventStore } from '../store/types.js';

export interface QmpNamedDevice {
  /** x-query-virtio name, e.g. virtio-net */
  name: string;
  /** the backend's QOM path as x-query-virtio gives it */
  path: string;
  /** the guest's address: PCI "bb:ss.f" or the mmio base as devrec ids write it ("feb02e00") */
  address: string | null;
  aliases: DeviceAlias[];
}

export function qmpNamedDevices(a: QmpAnswers): QmpNamedDevice[] {
  const mmio = new Map((a['x-query-virtio'] ?? []).filter((d) => d.mmioBase !== undefined).map((d) => [d.path, d.mmioBase!]));
  return qmpDevices(a).map((d) => {
    const aliases: DeviceAlias[] = [];
    if (d.qdevId) aliases.push({ kind: 'qdev-id', name: d.qdevId });
    const proxy = proxyPath(d.path);
    aliases.push({ kind: 'qom-path', name: proxy });
    if (proxy !== d.path) aliases.push({ kind: 'qom-path', name: d.path });
    const base = mmio.get(d.path);
    const address = d.pciAddress ?? (base !== undefined && /^0x[0-9a-f]+$/i.test(base) ? BigInt(base).toString(16).padStart(8, '0') : null);
    return { name: d.name, path: d.path, address, aliases };
  });
}

export interface QmpAliasReport {
  /** recorded devices that got QEMU's names */
  named: { id: string; aliases: DeviceAlias[] }[];
  /** QMP devices tied to no device of the import: their QOM path and why */
  notTied: { path: string; reason: string }[];
}

/**
 * Appends to each device of `ids` that the answers name one `identified` event (source qmp) carrying QEMU's
 * names as aliases. A device is tied by its address (the part of its id after the last '@') and its type (the id
 * starts with the QMP name, after an optional prefix).
 */
export async function appendQmpAliases(store: EventStore, answers: QmpAnswers, ids: readonly string[], prefix = ''): Promise<QmpAliasReport> {
  const report: QmpAliasReport = { named: [], notTied: [] };
  const events: { stream: string; events: NewEvent[]; expectedRevision: number }[] = [];
  for (const d of qmpNamedDevices(answers)) {
    if (d.address === null) {
      report.notTied.push({ path: d.path, reason: 'QMP gives no address for it (no qdev id for query-pci, or no mmio base)' });
      continue;
    }
    const id = ids.find((x) => x.startsWith(`${prefix}${d.name}-`) && x.slice(x.lastIndexOf('@') + 1) === d.address);
    if (id === undefined) {
      report.notTied.push({ path: d.path, reason: `no ${d.name} device at ${d.address} in this import` });
      continue;
    }
    const head = await store.head(id);
    // the answers describe the VM at the moment the import's source ends: the alias event takes the stream's last
    // stamp (an ordinal stream's next one), not the time of this import, so no time is invented or mixed
    const last = await lastStamp(store, id);
    const ts = last === undefined ? 0n : isWallClock(last) ? last : last + 1n;
    events.push({
      stream: id, expectedRevision: head,
      events: [{
        timestampNs: ts, actor: 'vmm', path: 'internal', source: 'qmp',
        // only the aliases: the identity numbers are left out (unknown here; the reducer keeps what the import said)
        body: { kind: 'identified', type: '', transport: 'unspecified', backend: '', aliases: d.aliases },
      }],
    });
    report.named.push({ id, aliases: d.aliases });
  }
  if (events.length) await store.appendMany(events);
  return report;
}
