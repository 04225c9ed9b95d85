// `devrec import qemu-trace FILE[.gz]`: one new stream per virtio device found in the trace.
import type { NewEvent } from '../events/types.js';
import type { EventStore } from '../store/types.js';
import type { QmpAnswers } from '../compat/qmp-profile.js';
import { type MmioRingTieReport, tieMmioByRings, tiedEvents } from './mmio-ring-tie.js';
import { QemuTraceImporter, TraceEvidenceError, TraceFormatError, traceLines, type TraceImportSummary } from './qemu-trace.js';

export interface ImportTraceOptions {
  /** prefix for the device ids, to import the same trace twice or several VMs into one store */
  prefix?: string;
  /** called every few thousand lines with the lines read so far (progress on a terminal) */
  onProgress?: (lines: number) => void;
  /**
   * QEMU's QMP answers of the same VM (src/compat/qmp-profile.ts): a virtio-mmio device the trace names only by
   * QEMU's vdev pointer gets the id, type and names of the QEMU device whose rings are at the same addresses
   * (src/sources/mmio-ring-tie.ts); QEMU's names become aliases through appendQmpAliases
   */
  qmpAnswers?: QmpAnswers;
}

export interface TraceImportResult extends TraceImportSummary {
  /** the devices named by vdev pointer: which were tied to a QEMU device by their rings, and why the others were not */
  mmioRings?: MmioRingTieReport;
}

/**
 * Imports a trace as one all-or-nothing batch: the devices' events are staged in memory and appended with one
 * appendMany at the end, so an import that fails (a bad line of a virtio device, no device or queue tied, a cut
 * gzip) leaves nothing in the store.
 */
export async function importQemuTrace(store: EventStore, file: string, options: ImportTraceOptions = {}): Promise<TraceImportResult> {
  const staged = new Map<string, NewEvent[]>();
  const sink = async (device: string, events: NewEvent[]) => {
    const id = (options.prefix ?? '') + device;
    const list = staged.get(id);
    if (list) for (const e of events) list.push(e);
    else staged.set(id, events);
  };
  const importer = new QemuTraceImporter(file, sink);
  try {
    let lines = 0;
    for await (const line of traceLines(file)) {
      if ((++lines & 8191) === 0) options.onProgress?.(lines);
      const pending = importer.line(line);
      if (pending) await pending;
    }
  } catch (err) {
    if (err instanceof TraceFormatError || err instanceof TraceEvidenceError || (err as Error).name === 'InputLimitError') throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new Error(`${file}: no such file`);
    if (e.code === 'EISDIR') throw new Error(`${file}: is a directory; name the trace log file (QEMU's -D FILE) inside it`);
    if (e.code?.startsWith('Z_') || /unexpected end of file|incorrect header check|invalid/.test(e.message)) {
      throw new Error(`${file}: not a readable gzip stream (${e.message}); lines before the damage were read but nothing was imported past it`);
    }
    throw err;
  }
  const summary: TraceImportResult = await importer.finish();
  const prefix = options.prefix ?? '';
  // the ids are final before anything is appended: vdev-named devices take their QEMU device's id here
  const byVdev = summary.devices.filter((d) => d.vdev !== undefined);
  if (byVdev.length) {
    const taken = new Set(summary.devices.filter((d) => d.vdev === undefined).map((d) => d.id));
    summary.mmioRings = tieMmioByRings(byVdev.map((d) => ({ id: d.id, events: staged.get(prefix + d.id) ?? [] })), options.qmpAnswers, taken);
    for (const tie of summary.mmioRings.tied) {
      const events = staged.get(prefix + tie.from)!;
      staged.delete(prefix + tie.from);
      staged.set(prefix + tie.id, tiedEvents(events, tie));
      const d = summary.devices.find((x) => x.id === tie.from)!;
      d.id = tie.id;
      d.type = tie.type;
    }
  }
  const ids = [...staged.keys()];
  // A trace is one recording: its devices start new streams (refuse to mix two recordings in one stream).
  for (const id of ids) {
    if ((await store.head(id)) >= 0) throw new Error(`${file}: device ${id} is already in the store; import into another store or give a --prefix`);
  }
  await store.appendMany(ids.map((id) => ({ stream: id, events: staged.get(id)!, expectedRevision: 'no-stream' as const })));
  for (const d of summary.devices) d.events = staged.get(prefix + d.id)?.length ?? 0;
  for (const d of summary.devices) d.id = prefix + d.id;
  if (summary.mmioRings) {
    for (const t of summary.mmioRings.tied) Object.assign(t, { from: prefix + t.from, id: prefix + t.id });
    for (const u of summary.mmioRings.untied) u.id = prefix + u.id;
  }
  return summary;
}
