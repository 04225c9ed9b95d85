// `devrec import qemu-trace FILE[.gz]`: one new stream per virtio device found in the trace.
import type { NewEvent } from '../events/types.js';
import type { EventStore } from '../store/types.js';
import { QemuTraceImporter, TraceFormatError, traceLines, type TraceImportSummary } from './qemu-trace.js';

export interface ImportTraceOptions {
  /** prefix for the device ids, to import the same trace twice or several VMs into one store */
  prefix?: string;
  /** called every few thousand lines with the lines read so far (progress on a terminal) */
  onProgress?: (lines: number) => void;
}

export async function importQemuTrace(store: EventStore, file: string, options: ImportTraceOptions = {}): Promise<TraceImportSummary> {
  const counts = new Map<string, number>();
  const sink = async (device: string, events: NewEvent[]) => {
    const id = (options.prefix ?? '') + device;
    // A trace is one recording: its devices start new streams (refuse to mix two recordings in one stream).
    const expected = counts.has(id) ? 'stream-exists' : 'no-stream';
    try {
      await store.append(id, events, expected);
    } catch (err) {
      if ((err as Error).name === 'WrongExpectedRevisionError' && expected === 'no-stream') {
        throw new Error(`${file}: device ${id} is already in the store; import into another store or give a --prefix`);
      }
      throw err;
    }
    counts.set(id, (counts.get(id) ?? 0) + events.length);
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
    if (err instanceof TraceFormatError || (err as Error).name === 'InputLimitError') throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new Error(`${file}: no such file`);
    if (e.code === 'EISDIR') throw new Error(`${file}: is a directory; name the trace log file (QEMU's -D FILE) inside it`);
    if (e.code?.startsWith('Z_') || /unexpected end of file|incorrect header check|invalid/.test(e.message)) {
      throw new Error(`${file}: not a readable gzip stream (${e.message}); lines before the damage were read but nothing was imported past it`);
    }
    throw err;
  }
  const summary = await importer.finish();
  for (const d of summary.devices) d.events = counts.get((options.prefix ?? '') + d.id) ?? 0;
  for (const d of summary.devices) d.id = (options.prefix ?? '') + d.id;
  return summary;
}
