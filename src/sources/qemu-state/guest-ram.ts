// Split rings' indices from the guest RAM of a full migration stream. QEMU does not save a split ring's used_idx:
// its virtio_load re-reads used->idx (and avail->idx for its shadow copy) from guest memory at the ring addresses
// on the destination. A full stream holds that memory, so devrec does the same: the ring addresses come from the
// virtio sections (which come after RAM); then either a file read with positioned reads fetches the pages that
// hold those two u16s from where the page index says they are (one pass), or a second pass over a stream that
// cannot be read out of order (gzip, bytes in memory) holds only those pages (memory bounded by the number of
// queues, not by RAM size).
//
// Guest-physical -> RAM block offset: on x86 (pc, q35, microvm) the main RAM block ("pc.ram", "microvm.ram")
// is mapped at guest address 0 up to the low-memory split, which is never below 2 GiB (q35 lowers it to 2 GiB
// for large guests); a ring above 2 GiB is left unknown rather than guessed through the above-4G mapping.
import { featureBit } from '../../model/features.js';
import { PAGE_CONTENT_UNKNOWN, type RamPageIndex, type RamPageKeep } from './ram.js';
import type { QemuVirtioDevice } from './virtio.js';

const LOW_RAM_SAFE = 0x8000_0000n;
const RING_PACKED = featureBit('VIRTIO_F_RING_PACKED');

/** The main RAM block of an x86 machine among the stream's blocks. */
export function mainRamBlock(blocks: ReadonlyMap<string, bigint>): string | undefined {
  for (const name of ['pc.ram', 'microvm.ram']) if (blocks.has(name)) return name;
  return undefined;
}

interface RingWord { queue: QemuVirtioDevice['queues'][number]; what: 'used' | 'avail'; at: bigint }

function ringWords(devices: readonly QemuVirtioDevice[], blockLength: bigint): RingWord[] {
  const out: RingWord[] = [];
  for (const d of devices) {
    if (d.guestFeatures & RING_PACKED) continue; // packed rings carry their indices in the stream
    for (const q of d.queues) {
      if (!q.enabled || q.usedIdx !== null || q.used === 0n || q.avail === 0n) continue;
      // struct vring_used / vring_avail: le16 flags, le16 idx
      for (const [what, base] of [['used', q.used], ['avail', q.avail]] as const) {
        const at = base + 2n;
        if (at + 2n <= blockLength && at + 2n <= LOW_RAM_SAFE) out.push({ queue: q, what, at });
      }
    }
  }
  return out;
}

/** The page index of the main RAM block below the 2 GiB that rings are looked for in (8 bytes per page). */
export function ringPageIndexFor(blocks: ReadonlyMap<string, bigint>, pageSize: number): RamPageIndex | undefined {
  const block = mainRamBlock(blocks);
  if (!block) return undefined;
  const length = blocks.get(block)!;
  const indexed = length < LOW_RAM_SAFE ? length : LOW_RAM_SAFE;
  return { block, pageSize, slots: new Float64Array(Number(indexed / BigInt(pageSize))) };
}

/**
 * Puts the pages `keep` wants into keep.out from where the index says their last copy is: data pages read with
 * `readAt` (pageSize bytes at an input offset), zero pages as their fill byte; pages not in the stream or sent
 * compressed stay out (their rings stay unknown).
 */
export function pagesFromIndex(keep: RamPageKeep, index: RamPageIndex, readAt: (offset: number, length: number) => Uint8Array): void {
  if (keep.block !== index.block) return;
  for (const page of keep.pages) {
    const v = index.slots[page / index.pageSize];
    if (v === undefined || v === 0 || v === PAGE_CONTENT_UNKNOWN) continue;
    keep.out.set(page, v > 0 ? readAt(v - 1, index.pageSize) : -1 - v);
  }
}

/** The pages a second pass must hold, or undefined when no split ring needs RAM. */
export function ringPagesToKeep(devices: readonly QemuVirtioDevice[], blocks: ReadonlyMap<string, bigint>, pageSize: number): RamPageKeep | undefined {
  const block = mainRamBlock(blocks);
  if (!block) return undefined;
  const words = ringWords(devices, blocks.get(block)!);
  if (words.length === 0) return undefined;
  const page = BigInt(pageSize);
  return { block, pages: new Set(words.map((w) => Number(w.at - (w.at % page)))), out: new Map() };
}

/**
 * Fills usedIdx / availIdx of the split rings from the held pages (of a second pass over the same stream, whose
 * devices are `devices`); a ring whose page is not in the stream, or was sent compressed, stays unknown.
 * Returns how many queues got their used index from RAM.
 */
export function applyRingIndices(devices: readonly QemuVirtioDevice[], keep: RamPageKeep, blockLength: bigint, pageSize: number): number {
  const page = BigInt(pageSize);
  let filled = 0;
  for (const w of ringWords(devices, blockLength)) {
    const base = w.at - (w.at % page);
    const held = keep.out.get(Number(base));
    if (held === undefined) continue;
    const off = Number(w.at - base);
    const value = typeof held === 'number' ? held | (held << 8) : held[off]! | (held[off + 1]! << 8);
    if (w.what === 'avail') {
      w.queue.availIdx = value;
    } else {
      w.queue.usedIdx = value;
      w.queue.usedIdxFrom = 'ram';
      filled++;
    }
  }
  return filled;
}
