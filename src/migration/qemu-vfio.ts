// The devrec stream wrapped in QEMU's VFIO device section framing (hw/vfio/migration.c): big-endian 64-bit tags
// 0xffffffffef10000N, as vfio_save_setup / vfio_save_iterate / vfio_save_complete_precopy / vfio_save_state
// write them, one section after the other (the savevm section headers around them are not written):
//
//   SETUP     DEV_SETUP_STATE, END_OF_STATE
//   PART      DEV_DATA_STATE, be64 size, bytes (precopy chunk, <= 1 MiB per block)..., END_OF_STATE
//   END       DEV_DATA_STATE, be64 size, bytes (stop-copy chunk)..., END_OF_STATE
//   FULL      DEV_CONFIG_STATE, PCI config space (256 or 4096 bytes), END_OF_STATE
//
// Reading concatenates the DEV_DATA_STATE payloads in order (as QEMU pipes them into the data_fd) and keeps a
// map from offsets in that stream back to file offsets, so every error names a file offset.
import { PCIE_CONFIG_SPACE_SIZE, PCI_CONFIG_SPACE_SIZE } from '../model/registers.js';
import { MigrationFormatError, type OffsetMap, QEMU_DATA_BLOCK, QEMU_VFIO, concat, qemuTagName } from './format.js';

const PCI_CONFIG_SIZE = PCI_CONFIG_SPACE_SIZE;
const PCIE_CONFIG_SIZE = PCIE_CONFIG_SPACE_SIZE;

function be64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, false);
  return b;
}

function dataBlocks(chunk: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < chunk.length; i += QEMU_DATA_BLOCK) {
    const block = chunk.subarray(i, Math.min(chunk.length, i + QEMU_DATA_BLOCK));
    out.push(be64(QEMU_VFIO.DEV_DATA_STATE), be64(BigInt(block.length)), block);
  }
  return out;
}

/** Config space as VMSTATE_PCI_DEVICE's buffer holds it: conventional (256) or extended (4096) size, zero-filled. */
export function paddedPciConfig(config: Uint8Array): Uint8Array {
  if (config.length > PCIE_CONFIG_SIZE) throw new RangeError(`PCI config space of ${config.length} bytes is larger than 4096`);
  const out = new Uint8Array(config.length > PCI_CONFIG_SIZE ? PCIE_CONFIG_SIZE : PCI_CONFIG_SIZE);
  out.set(config);
  return out;
}

/**
 * Wraps the two chunks. Without PRE_COPY (`precopySection` false) QEMU sends no iterate section: all device data
 * goes in the complete-precopy section, as vfio_save_complete_precopy reads it all in STOP_COPY.
 */
export function wrapQemuVfio(precopy: Uint8Array, stopCopy: Uint8Array, pciConfig: Uint8Array, precopySection = true): Uint8Array {
  const eos = be64(QEMU_VFIO.END_OF_STATE);
  const parts: Uint8Array[] = [be64(QEMU_VFIO.DEV_SETUP_STATE), eos];
  if (precopySection) parts.push(...dataBlocks(precopy), eos, ...dataBlocks(stopCopy), eos);
  else parts.push(...dataBlocks(concat(precopy, stopCopy)), eos);
  parts.push(be64(QEMU_VFIO.DEV_CONFIG_STATE), paddedPciConfig(pciConfig), eos);
  return concat(...parts);
}

export interface QemuSection {
  kind: 'setup' | 'data' | 'config';
  /** file offset of the section's first tag */
  offset: number;
  tags: { offset: number; tag: string; size?: number }[];
}

export interface UnwrappedQemu {
  /** the devrec stream: every DEV_DATA_STATE payload, in order */
  inner: Uint8Array;
  map: OffsetMap;
  sections: QemuSection[];
  config: { offset: number; bytes: Uint8Array };
}

export function unwrapQemuVfio(bytes: Uint8Array): UnwrappedQemu {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const tagAt = (what: string): bigint => {
    if (bytes.length - pos < 8) throw new MigrationFormatError(pos, `truncated QEMU VFIO stream: ${bytes.length - pos} of 8 bytes of ${what}`);
    const v = dv.getBigUint64(pos, false);
    pos += 8;
    return v;
  };
  const name = (t: bigint) => qemuTagName(t) ?? `0x${t.toString(16)}`;
  const sections: QemuSection[] = [];
  const blocks: { inner: number; file: number; size: number }[] = [];
  let innerSize = 0;
  let config: UnwrappedQemu['config'] | undefined;

  const first = tagAt('the setup tag');
  if (first !== QEMU_VFIO.DEV_SETUP_STATE) throw new MigrationFormatError(0, `not a QEMU VFIO device section: starts with ${name(first)}, not VFIO_MIG_FLAG_DEV_SETUP_STATE`);
  const eos0 = tagAt('the setup end');
  if (eos0 !== QEMU_VFIO.END_OF_STATE) throw new MigrationFormatError(8, `SETUP STATE: EOS not found ${name(eos0)}`);
  sections.push({ kind: 'setup', offset: 0, tags: [{ offset: 0, tag: name(first) }, { offset: 8, tag: name(eos0) }] });

  while (pos < bytes.length) {
    if (config) throw new MigrationFormatError(pos, `${bytes.length - pos} bytes after the DEV_CONFIG_STATE section`);
    const start = pos;
    const t = tagAt('a section tag');
    if (t === QEMU_VFIO.DEV_CONFIG_STATE) {
      const body = pos;
      const eosAt = (n: number) => bytes.length - body >= n + 8 && dv.getBigUint64(body + n, false) === QEMU_VFIO.END_OF_STATE;
      const size = eosAt(PCI_CONFIG_SIZE) ? PCI_CONFIG_SIZE : eosAt(PCIE_CONFIG_SIZE) ? PCIE_CONFIG_SIZE : -1;
      if (size < 0) {
        throw new MigrationFormatError(body, 'Failed loading device config space, end flag incorrect: no END_OF_STATE after 256 or 4096 bytes of PCI config space');
      }
      config = { offset: body, bytes: bytes.subarray(body, body + size) };
      pos = body + size + 8;
      sections.push({ kind: 'config', offset: start, tags: [{ offset: start, tag: name(t), size }, { offset: body + size, tag: name(QEMU_VFIO.END_OF_STATE) }] });
      continue;
    }
    // A data section: DEV_DATA_STATE blocks until END_OF_STATE (or INIT_DATA_SENT, which also closes an iterate section).
    const section: QemuSection = { kind: 'data', offset: start, tags: [] };
    let tag = t;
    let at = start;
    for (;;) {
      if (tag === QEMU_VFIO.END_OF_STATE || tag === QEMU_VFIO.DEV_INIT_DATA_SENT) {
        section.tags.push({ offset: at, tag: name(tag) });
        break;
      }
      if (tag !== QEMU_VFIO.DEV_DATA_STATE) {
        throw new MigrationFormatError(at, tag === QEMU_VFIO.DEV_SETUP_STATE ? 'a second DEV_SETUP_STATE' : `Unknown tag ${name(tag)}`);
      }
      const sizeAt = pos;
      const size = tagAt('a DEV_DATA_STATE size');
      const left = bytes.length - pos;
      if (size > BigInt(left)) throw new MigrationFormatError(sizeAt, `DEV_DATA_STATE size ${size} runs past the end: ${left} bytes follow`);
      const n = Number(size);
      section.tags.push({ offset: at, tag: name(tag), size: n });
      if (n > 0) blocks.push({ inner: innerSize, file: pos, size: n });
      innerSize += n;
      pos += n;
      at = pos;
      tag = tagAt('a tag after device data');
    }
    sections.push(section);
  }
  if (!config) throw new MigrationFormatError(bytes.length, 'no DEV_CONFIG_STATE section: the stream is truncated');

  const inner = new Uint8Array(innerSize);
  for (const b of blocks) inner.set(bytes.subarray(b.file, b.file + b.size), b.inner);
  const map: OffsetMap = (n) => {
    // the block holding inner offset n (the end of the stream maps to the end of the last block)
    let lo = 0;
    let hi = blocks.length - 1;
    if (hi < 0) return 16;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (blocks[mid]!.inner <= n) lo = mid;
      else hi = mid - 1;
    }
    const b = blocks[lo]!;
    return b.file + Math.min(n - b.inner, b.size);
  };
  return { inner, map, sections, config };
}
