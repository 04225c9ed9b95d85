// QEMU savevm streams (`migrate` output, `xen-save-devices-state` output) -> the virtio devices in them, as devrec
// snapshot events; plus an inspector for `devrec inspect` and the importer for `devrec import qemu-state`.
//
// Stream layout, what is decoded and what is walked: src/sources/qemu-state/parser.ts (stream, footer search),
// virtio.ts (virtio devices as QEMU 7.2 writes them), ram.ts (the RAM section), vmdesc.ts (the JSON description).
// What the stream does not hold (offered features, split-ring used_idx): src/sources/qemu-state/wire.ts.
//
// Device ids: `<qemu type>@<bus:slot.fn>` for virtio-pci (idstr `0000:00:02.0/virtio-net` -> `virtio-net-pci@00:02.0`;
// a non-zero PCI domain is kept in front, devices behind bridges keep the ":slot.fn" path QEMU writes), and
// `<qemu type>@<transport base, 8+ hex digits>` for virtio-mmio (idstr `virtio-mmio@00000000feb02e00/virtio-net` ->
// `virtio-net-device@feb02e00`). The qemu type is the section's vmsd name + `-pci` / `-device` (a
// `...-non-transitional` or `...-transitional` PCI type cannot be told apart in the stream).
//
// Every error is a QemuStreamError naming the section (idstr when known), the byte offset and the reason.
import { open } from 'node:fs/promises';
import { createReadStream, readSync } from 'node:fs';
import { createGunzip, gunzipSync } from 'node:zlib';
import type { Source } from '../events/types.js';
import { decompressedCap } from './bounded-input.js';
import type { EventStore } from '../store/types.js';
import { QemuStreamError } from './qemu-state/cursor.js';
import { type QemuParserOptions, type QemuSection, type QemuStreamResult, QemuStreamParser } from './qemu-state/parser.js';
import type { QemuVirtioDevice } from './qemu-state/virtio.js';
import { MAX_VMDESC_BYTES, VmdescIndex, findTailVmdesc, parseVmdesc } from './qemu-state/vmdesc.js';
import { type DeviceEvents, deviceEvents, deviceToWire } from './qemu-state/wire.js';
import { applyRingIndices, pagesFromIndex, ringPageIndexFor, ringPagesToKeep } from './qemu-state/guest-ram.js';
import type { RamPageKeep } from './qemu-state/ram.js';

export { QemuStreamError } from './qemu-state/cursor.js';
export { QemuStreamParser, QEMU_VM, QEMU_VM_FILE_MAGIC, type QemuSection, type QemuStreamResult, type QemuConfiguration, type QemuCommand } from './qemu-state/parser.js';
export { type QemuVirtioDevice, type QemuVirtioQueue, parseVirtioIdstr, deviceIdOf } from './qemu-state/virtio.js';
export { deviceToWire, deviceEvents, type DeviceEvents } from './qemu-state/wire.js';

/**
 * Decompressed bytes the in-memory API accepts (files are streamed instead): device-state streams are kilobytes, and
 * a 1 MB gzip bomb must stop here rather than at gigabytes.
 */
const MAX_GUNZIP_BYTES = 256 * 1024 * 1024;
/** The tail of a raw file searched for a vmdesc before parsing. */
const TAIL_SEARCH_BYTES = 4 * 1024 * 1024;
const READ_CHUNK = 1024 * 1024;
/** The read after skipped page data: a page record's header and block name with room to spare. */
const SMALL_READ = 512;

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** True when the bytes start with the QEVM magic (raw), or are gzip (which `parseQemuStream` also takes). */
export function looksLikeQemuStream(bytes: Uint8Array): boolean {
  return isGzip(bytes) || (bytes.length >= 4 && bytes[0] === 0x51 && bytes[1] === 0x45 && bytes[2] === 0x56 && bytes[3] === 0x4d);
}

export interface ParseOptions {
  /** the input's name for error messages */
  input?: string;
  /** use a vmdesc found at the end of the input to walk sections without a decoder (default true) */
  useVmdesc?: boolean;
  maxSectionBytes?: number;
}

function gunzipBounded(bytes: Uint8Array, input: string | undefined): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: MAX_GUNZIP_BYTES });
  } catch (e) {
    throw new QemuStreamError(0, `not a readable gzip stream: ${(e as Error).message}`, undefined, input);
  }
}

function tailVmdesc(tail: Uint8Array, tailOffset: number): VmdescIndex | undefined {
  const found = findTailVmdesc(tail, tailOffset);
  if (!found) return undefined;
  try {
    return new VmdescIndex(parseVmdesc(found.json, found.offset + 5), found.offset);
  } catch {
    return undefined; // not usable for walking; the parser meets it again at the end and reports it there
  }
}

/** Parses a whole stream held in memory (raw or gzip). */
export function parseQemuStream(input: Uint8Array, options: ParseOptions = {}): QemuStreamResult {
  const bytes = isGzip(input) ? gunzipBounded(input, options.input) : input;
  const popts: QemuParserOptions = { totalSize: bytes.length };
  if (options.input !== undefined) popts.input = options.input;
  if (options.maxSectionBytes !== undefined) popts.maxSectionBytes = options.maxSectionBytes;
  if (options.useVmdesc !== false) {
    const from = Math.max(0, bytes.length - (MAX_VMDESC_BYTES + 16));
    const vm = tailVmdesc(bytes.subarray(from), from);
    if (vm) popts.vmdesc = vm;
  }
  try {
    const parser = new QemuStreamParser(popts);
    parser.push(bytes);
    const first = parser.finish();
    const want = ringPagesWanted(first);
    if (!want) return first;
    // a full stream with split rings: again, holding only the RAM pages with their indices
    const again = new QemuStreamParser({ ...popts, keepRamPages: want.keep });
    again.push(bytes);
    return withRingIndices(again.finish(), want);
  } catch (e) {
    throw asStreamError(e, options.input);
  }
}

function asStreamError(e: unknown, input: string | undefined): QemuStreamError {
  if (e instanceof QemuStreamError) return e.withInput(input);
  return new QemuStreamError(0, `internal error: ${(e as Error)?.message ?? String(e)}`, undefined, input);
}

/** Parses a file: a raw one with positioned reads that skip RAM page data, a .gz one streamed in chunks; memory stays bounded by the largest non-RAM section. */
export async function readQemuStreamFile(file: string, options: Omit<ParseOptions, 'input'> = {}): Promise<QemuStreamResult> {
  const first = await readQemuStreamFileOnce(file, options);
  if (first.ringsRead) return first.result;
  const want = ringPagesWanted(first.result);
  if (!want) return first.result;
  // a gzip stream with split rings: read it again, holding only the RAM pages with their indices
  const second = await readQemuStreamFileOnce(file, options, want.keep);
  return withRingIndices(second.result, want);
}

/** What a second pass must hold to read split rings' indices from guest RAM (guest-ram.ts), if anything. */
function ringPagesWanted(r: QemuStreamResult): { keep: RamPageKeep; blockLength: bigint; pageSize: number } | undefined {
  const ram = r.sections.find((s) => s.decoded?.kind === 'ram')?.decoded;
  if (!ram || ram.kind !== 'ram' || !ram.blocks) return undefined;
  const blocks = new Map(ram.blocks.map((b) => [b.name, b.length]));
  const pageSize = r.configuration?.targetPageBits !== undefined ? 2 ** r.configuration.targetPageBits : (r.vmdesc?.pageSize ?? 4096);
  const keep = ringPagesToKeep(r.devices, blocks, pageSize);
  return keep ? { keep, blockLength: blocks.get(keep.block)!, pageSize } : undefined;
}

function withRingIndices(r: QemuStreamResult, want: { keep: RamPageKeep; blockLength: bigint; pageSize: number }): QemuStreamResult {
  applyRingIndices(r.devices, want.keep, want.blockLength, want.pageSize);
  for (const d of r.devices) {
    const fromRam = d.queues.filter((q) => q.usedIdxFrom === 'ram').map((q) => q.index);
    if (fromRam.length) d.notes.push(`used and avail index of queue${fromRam.length > 1 ? 's' : ''} ${fromRam.join(', ')} read from guest RAM (${want.keep.block}) at the ring addresses, as QEMU's virtio_load does`);
  }
  return r;
}

/** One pass over a file; `ringsRead`: the split rings' indices were read from RAM already (raw files). */
async function readQemuStreamFileOnce(file: string, options: Omit<ParseOptions, 'input'>, keepRamPages?: RamPageKeep): Promise<{ result: QemuStreamResult; ringsRead: boolean }> {
  const fh = await open(file, 'r');
  let size: number;
  const magic = new Uint8Array(2);
  try {
    size = (await fh.stat()).size;
    await fh.read(magic, 0, 2, 0);
  } catch (e) {
    await fh.close();
    throw e;
  }
  const popts: QemuParserOptions = { input: file };
  if (options.maxSectionBytes !== undefined) popts.maxSectionBytes = options.maxSectionBytes;
  if (keepRamPages) popts.keepRamPages = keepRamPages;
  if (isGzip(magic)) {
    await fh.close();
    const parser = new QemuStreamParser(popts);
    let offset = 0;
    const gunzip = createGunzip();
    const raw = createReadStream(file);
    raw.on('error', (e) => gunzip.destroy(e));
    const src = raw.pipe(gunzip).pipe(decompressedCap(file));
    gunzip.on('error', (e) => src.destroy(e));
    try {
      for await (const chunk of src as AsyncIterable<Buffer>) {
        parser.push(chunk);
        offset += chunk.length;
      }
    } catch (e) {
      raw.destroy();
      src.destroy();
      if (e instanceof QemuStreamError) throw e;
      throw new QemuStreamError(offset, `not a readable gzip stream: ${(e as Error).message}`, undefined, file);
    }
    try {
      return { result: parser.finish(), ringsRead: false };
    } catch (e) {
      throw asStreamError(e, file);
    }
  }
  try {
    popts.totalSize = size;
    if (options.useVmdesc !== false && size > 0) {
      const n = Math.min(size, TAIL_SEARCH_BYTES);
      const tail = new Uint8Array(n);
      await fh.read(tail, 0, n, size - n);
      const vm = tailVmdesc(tail, size - n);
      if (vm) popts.vmdesc = vm;
    }
    popts.positioned = true;
    popts.indexRamPages = ringPageIndexFor;
    const parser = new QemuStreamParser(popts);
    const fd = fh.fd;
    readPositioned((into, length, position) => readSync(fd, into, 0, length, position), size, parser);
    const result = parser.finish();
    const want = ringPagesWanted(result);
    const index = parser.ramPageIndex;
    if (!want || !index) return { result, ringsRead: !want };
    // the pages with the split rings' indices, read from where their last copy is
    pagesFromIndex(want.keep, index, (offset, length) => {
      const page = new Uint8Array(length);
      if (readSync(fd, page, 0, length, offset) !== length) throw new QemuStreamError(offset, `RAM page: the file ends before the ${length} bytes the stream had there (changed while read?)`, 'ram', file);
      return page;
    });
    return { result: withRingIndices(result, want), ringsRead: true };
  } catch (e) {
    throw asStreamError(e, file);
  } finally {
    await fh.close();
  }
}

/**
 * Feeds a raw file to the parser with positioned reads, each where the parser asks (`nextOffset`): RAM page data
 * the parser skips is never read. After such a skip the next bytes are most likely one more page record's header,
 * so the read is small; over dense parts (device sections, runs of zero-page records) the reads grow to READ_CHUNK.
 * Synchronous: one read per page record, where a promise per read would cost more than the bytes it saves.
 * `read` is fs.readSync on the file (a test gives its own to count what is read); returns the bytes read.
 */
export function readPositioned(read: (into: Uint8Array, length: number, position: number) => number, size: number, parser: QemuStreamParser): number {
  const chunk = new Uint8Array(Math.min(READ_CHUNK, Math.max(size, 1))); // reused: push keeps no view of it
  let want = SMALL_READ;
  let total = 0;
  for (let pos = parser.nextOffset; pos < size; pos = parser.nextOffset) {
    const n = read(chunk, Math.min(chunk.length, size - pos, Math.max(want, parser.bytesNeeded)), pos);
    if (n === 0) break; // the file shrank: finish() reports the truncation
    total += n;
    parser.push(chunk.subarray(0, n));
    want = parser.nextOffset > pos + n ? SMALL_READ : Math.min(READ_CHUNK, 2 * want);
  }
  return total;
}

// ---- inspect ------------------------------------------------------------------------------------------------

export interface QemuInspectReport {
  size: number;
  header: QemuStreamResult['header'];
  configuration?: QemuStreamResult['configuration'];
  sections: QemuSection[];
  commands: QemuStreamResult['commands'];
  devices: QemuVirtioDevice[];
  eof?: { offset: number };
  vmdesc?: { offset: number; length: number; devices: number; pageSize?: number };
  vmdescUsed: 'tail' | 'none';
  /** how many sections each way was walked */
  walks: Record<string, number>;
}

function toReport(r: QemuStreamResult): QemuInspectReport {
  const walks: Record<string, number> = {};
  for (const s of r.sections) walks[s.walk] = (walks[s.walk] ?? 0) + 1;
  const { desc: _desc, ...vmdesc } = r.vmdesc ?? { desc: undefined };
  return {
    size: r.size, header: r.header, ...(r.configuration ? { configuration: r.configuration } : {}), sections: r.sections,
    commands: r.commands, devices: r.devices, ...(r.eof ? { eof: r.eof } : {}), ...(r.vmdesc ? { vmdesc: vmdesc as NonNullable<QemuInspectReport['vmdesc']> } : {}),
    vmdescUsed: r.vmdescUsed, walks,
  };
}

/** For `devrec inspect FILE` on a QEMU stream (raw or gzip bytes): sections with offsets, and the virtio devices. */
export function inspectQemuStream(bytes: Uint8Array, options: ParseOptions = {}): QemuInspectReport {
  return toReport(parseQemuStream(bytes, options));
}

/** Same as inspectQemuStream, streaming a file (for full migration streams with RAM). */
export async function inspectQemuFile(file: string, options: Omit<ParseOptions, 'input'> = {}): Promise<QemuInspectReport> {
  return toReport(await readQemuStreamFile(file, options));
}

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
const bytesHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** A JSON-safe copy (bigint -> "0x..", bytes -> hex string) of an inspect report or any part of it. */
export function qemuInspectToJson(value: unknown): unknown {
  if (typeof value === 'bigint') return hex(value);
  if (value instanceof Uint8Array) return bytesHex(value);
  if (Array.isArray(value)) return value.map(qemuInspectToJson);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = qemuInspectToJson(v);
    return out;
  }
  return value;
}

// ---- events and import -----------------------------------------------------------------------------------------

export interface ToEventsOptions {
  /** the input's name, for error messages */
  source?: string;
  /** timestamp of the events (default: now) */
  timestampNs?: bigint;
  /** prefix for the device ids (several VMs in one store) */
  prefix?: string;
}

function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** qemu-migration for a whole migration stream (it has RAM), qemu-state for a device-state stream. */
function sourceOf(r: QemuStreamResult): Source {
  return r.sections.some((s) => s.walk === 'ram') ? 'qemu-migration' : 'qemu-state';
}

function eventsOf(r: QemuStreamResult, options: ToEventsOptions): DeviceEvents[] {
  const ts = options.timestampNs ?? nowNs();
  const source = sourceOf(r);
  return r.devices.map((d) => deviceEvents(d, ts, source, `${options.prefix ?? ''}${d.id}`));
}

/** Per virtio device in the stream: its `identified` and `snapshot` events, ready to append to its stream. */
export function qemuStateToEvents(bytes: Uint8Array, options: ToEventsOptions = {}): DeviceEvents[] {
  const r = parseQemuStream(bytes, options.source !== undefined ? { input: options.source } : {});
  return eventsOf(r, options);
}

export interface QemuStateImportSummary {
  file: string;
  size: number;
  sections: number;
  walks: Record<string, number>;
  devices: {
    id: string; type: string; transport: string; status: number; numQueues: number; continued: boolean;
    firstRevision: number; lastRevision: number; notes: string[];
  }[];
}

/**
 * `devrec import qemu-state FILE[.gz]`: for each virtio device in the stream, appends `identified` + `snapshot` to
 * its stream (a new stream, or after the last event of an existing one), all devices in one batch.
 */
export async function importQemuState(store: EventStore, file: string, options: Omit<ToEventsOptions, 'source'> = {}): Promise<QemuStateImportSummary> {
  const r = await readQemuStreamFile(file);
  const per = eventsOf(r, options);
  const heads = await Promise.all(per.map((p) => store.head(p.device)));
  const results = per.length
    ? await store.appendMany(per.map((p, i) => ({ stream: p.device, events: p.events, expectedRevision: heads[i]! < 0 ? 'no-stream' as const : heads[i]! })))
    : [];
  const walks: Record<string, number> = {};
  for (const s of r.sections) walks[s.walk] = (walks[s.walk] ?? 0) + 1;
  return {
    file, size: r.size, sections: r.sections.length, walks,
    devices: per.map((p, i) => {
      const d = r.devices[i]!;
      return {
        id: p.device, type: d.type, transport: d.transport, status: d.status, numQueues: d.numQueues, continued: heads[i]! >= 0,
        firstRevision: results[i]!.firstRevision, lastRevision: results[i]!.nextExpectedRevision, notes: d.notes,
      };
    }),
  };
}

export { deviceToWire as qemuDeviceToWire };
