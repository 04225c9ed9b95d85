// DeviceState -> migration records, by walking the record table (records.ts). The precopy chunk (sent while the
// device still runs, VFIO PRE_COPY) carries what a target needs first: the schema header, the transport mode, the
// feature parts, the accepted features, vDPA facts, the device config and the stop-copy size; the stop-copy chunk
// (VFIO STOP_COPY) the rest of the device parts and the queue, MSI-X, PCI and runtime state, then the integrity
// record. Which records, in which order, with which flags, and how each is written: the table.
import type { DeviceState } from '../project/state.js';
import { type EncodedRecord, INTEGRITY_SIZE, RECORD_HEADER_SIZE, concat, encodeRecords } from './format.js';
import { type Chunk, MIGRATION_RECORDS, type StreamMeta, type WriteContext, recordFlags } from './records.js';

export type { StreamMeta } from './records.js';

/** The records of one chunk, in table order; `last` are the rows written after everything else (integrity). */
function chunkRecords(ctx: WriteContext, which: 'body' | 'integrity'): EncodedRecord[] {
  const out: EncodedRecord[] = [];
  for (const r of MIGRATION_RECORDS) {
    if (!r.chunks.includes(ctx.chunk) || (r.name === 'INTEGRITY') !== (which === 'integrity')) continue;
    const data = r.write(ctx);
    if (data !== undefined) out.push({ tag: r.tag, flags: recordFlags(r), data });
  }
  return out;
}

export interface EncodedChunks {
  /** bytes of the precopy chunk (starts with the schema header) */
  precopy: Uint8Array;
  /** bytes of the stop-copy chunk (ends with the integrity record) */
  stopCopy: Uint8Array;
}

/** Both chunks of one device state; precopy + stopCopy is the devrec stream. */
export function encodeChunks(s: DeviceState, meta: StreamMeta): EncodedChunks {
  const base = { state: s, meta, stopCopySize: 0, before: [] as Uint8Array[] };
  const stopBody = encodeRecords(chunkRecords({ ...base, chunk: 'stop-copy' satisfies Chunk }, 'body'));
  const stopCopySize = stopBody.length + RECORD_HEADER_SIZE + INTEGRITY_SIZE;
  const precopy = encodeRecords(chunkRecords({ ...base, chunk: 'precopy', stopCopySize }, 'body'));
  const integrity = encodeRecords(chunkRecords({ ...base, chunk: 'stop-copy', before: [precopy, stopBody] }, 'integrity'));
  return { precopy, stopCopy: concat(stopBody, integrity) };
}

/** The whole devrec stream of one device state. */
export function encodeStream(s: DeviceState, meta: StreamMeta): Uint8Array {
  const c = encodeChunks(s, meta);
  return concat(c.precopy, c.stopCopy);
}
