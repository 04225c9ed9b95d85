// The "ram" iterable section (migration/ram.c, section version 4), one record at a time so page data is skipped
// without being held: be64 (address | flags), flags in the bits below the target page size:
//   0x02 ZERO       u8 fill byte
//   0x04 MEM_SIZE   (setup) the address is the total RAM size, then per RAM block u8 len, idstr, be64 used_length
//                   [be64 block address when x-ignore-shared is on] until the lengths add up to the total
//   0x08 PAGE       one page of data
//   0x10 EOS        end of this section's RAM data (the footer follows)
//   0x20 CONTINUE   same block as the previous page (else u8 len + block idstr comes before the page data)
//   0x40 XBZRLE     u8 encoding (0x01), be16 length, data
//   0x80 HOOK       RDMA: not supported here
//   0x100 COMPRESS_PAGE  be32 length, zlib data
//   0x200 MULTIFD_FLUSH  (QEMU 8.x; no data)
// Exactly one of these besides CONTINUE per record, as ram_load_precopy requires.
import { Cursor, hex } from './cursor.js';

export const RAM_FLAG = {
  ZERO: 0x02, MEM_SIZE: 0x04, PAGE: 0x08, EOS: 0x10, CONTINUE: 0x20, XBZRLE: 0x40, HOOK: 0x80, COMPRESS_PAGE: 0x100,
  MULTIFD_FLUSH: 0x200,
} as const;
const MAX_RAM_BLOCKS = 4096;

export interface RamStats {
  pages: number;
  zeroPages: number;
  compressedPages: number;
  xbzrlePages: number;
  /** page payload bytes skipped */
  pageBytes: number;
  blocks?: { name: string; length: bigint }[];
}

export interface RamContext {
  pageSize: number;
  ignoreShared: boolean;
  /** RAM blocks from the setup record: name -> used length */
  blocks: Map<string, bigint>;
  lastBlock: string | undefined;
  /** pages to keep (a second pass that knows the ring addresses): only these are held, the rest is skipped */
  keep?: RamPageKeep;
  /** makes the page index once the setup record named the blocks (a positioned reader: see RamPageIndex) */
  makeIndex?: (blocks: ReadonlyMap<string, bigint>, pageSize: number) => RamPageIndex | undefined;
  index?: RamPageIndex;
}

/**
 * Where the last copy of each page of one block is in the input, so a positioned reader can fetch the few pages
 * it wants once the stream is parsed (the split rings' indices: guest-ram.ts) instead of reading the stream twice.
 * One slot per page below `slots.length * pageSize`: 0 the page is not in the stream; v > 0 its data is at input
 * offset v - 1; -1 - f a zero page filled with byte f; PAGE_CONTENT_UNKNOWN compressed or XBZRLE (not decoded).
 */
export interface RamPageIndex {
  block: string;
  pageSize: number;
  slots: Float64Array;
}
export const PAGE_CONTENT_UNKNOWN = -1000;

/** Which pages of which block to hold, and where they go (the last copy of a page in the stream wins). */
export interface RamPageKeep {
  block: string;
  /** page-aligned offsets in the block */
  pages: ReadonlySet<number>;
  /** offset -> page bytes, or the fill byte of a zero page */
  out: Map<number, Uint8Array | number>;
}

export const newRamStats = (): RamStats => ({ pages: 0, zeroPages: 0, compressedPages: 0, xbzrlePages: 0, pageBytes: 0 });

/** Reads one record; returns true at EOS. */
export function readRamRecord(c: Cursor, ram: RamContext, stats: RamStats): boolean {
  const at = c.offset;
  const word = c.u64('RAM record header');
  const mask = BigInt(ram.pageSize - 1);
  const flags = Number(word & mask);
  const addr = word & ~mask;
  const kind = flags & ~RAM_FLAG.CONTINUE;
  switch (kind) {
    case RAM_FLAG.EOS:
      return true;
    case RAM_FLAG.MULTIFD_FLUSH:
      return false;
    case RAM_FLAG.MEM_SIZE: {
      let total = addr; // ram_load_precopy: total_ram_bytes = addr
      const blocks: { name: string; length: bigint }[] = [];
      while (total > 0n) {
        if (blocks.length >= MAX_RAM_BLOCKS) throw c.error(`more than ${MAX_RAM_BLOCKS} RAM blocks in the setup record`, at);
        const name = c.shortString('RAM block idstr');
        const lAt = c.offset;
        const length = c.u64(`RAM block ${name} length`);
        if (length > total) throw c.error(`RAM block ${name} length 0x${length.toString(16)} is more than the ${total} bytes left of the total`, lAt);
        if (ram.ignoreShared) c.u64(`RAM block ${name} address`);
        ram.blocks.set(name, length);
        blocks.push({ name, length });
        total -= length;
      }
      stats.blocks = blocks;
      if (ram.makeIndex && !ram.index) {
        const index = ram.makeIndex(ram.blocks, ram.pageSize);
        if (index) ram.index = index;
      }
      return false;
    }
    case RAM_FLAG.ZERO:
    case RAM_FLAG.PAGE:
    case RAM_FLAG.COMPRESS_PAGE:
    case RAM_FLAG.XBZRLE: {
      let block: string;
      if (flags & RAM_FLAG.CONTINUE) {
        if (ram.lastBlock === undefined) throw c.error('RAM page with CONTINUE before any block was named', at);
        block = ram.lastBlock;
      } else {
        block = c.shortString('RAM block idstr');
        if (!ram.blocks.has(block)) throw c.error(`RAM page for block ${block}, which the setup record did not list`, at);
        ram.lastBlock = block;
      }
      const length = ram.blocks.get(block)!;
      if (addr >= length) throw c.error(`RAM page at 0x${addr.toString(16)} is outside block ${block} (${length} bytes)`, at);
      const keep = ram.keep && block === ram.keep.block && ram.keep.pages.has(Number(addr)) ? ram.keep : undefined;
      // the slot of this page in the index (written again, the same, when a unit is parsed again)
      const slot = ram.index && block === ram.index.block && addr < BigInt(ram.index.slots.length * ram.pageSize) ? Number(addr) / ram.pageSize : -1;
      if (slot >= 0) ram.index!.slots[slot] = PAGE_CONTENT_UNKNOWN; // until the kind below says more
      if (kind === RAM_FLAG.ZERO) {
        const fill = c.u8('zero page fill byte');
        if (keep) keep.out.set(Number(addr), fill);
        if (slot >= 0) ram.index!.slots[slot] = -1 - fill;
        stats.zeroPages++;
      } else if (kind === RAM_FLAG.PAGE) {
        if (slot >= 0) ram.index!.slots[slot] = c.offset + 1;
        if (keep) keep.out.set(Number(addr), c.bytes(ram.pageSize, 'RAM page', ram.pageSize).slice());
        else c.skipToUnitEnd(ram.pageSize, 'RAM page', ram.pageSize);
        stats.pages++;
        stats.pageBytes += ram.pageSize;
      } else if (kind === RAM_FLAG.COMPRESS_PAGE) {
        const lAt = c.offset;
        const len = c.u32('compressed page length');
        const cap = 2 * ram.pageSize + 64;
        if (len > cap) throw c.error(`compressed page length ${len} over ${cap}`, lAt);
        c.skipToUnitEnd(len, 'compressed page', cap);
        keep?.out.delete(Number(addr)); // not decompressed here: the page's content is unknown
        stats.compressedPages++;
        stats.pageBytes += len;
      } else {
        const eAt = c.offset;
        const enc = c.u8('XBZRLE encoding');
        if (enc !== 0x01) throw c.error(`XBZRLE encoding ${hex(enc)}: expected 0x01`, eAt);
        const lAt = c.offset;
        const len = c.u16('XBZRLE length');
        if (len > ram.pageSize) throw c.error(`XBZRLE length ${len} over the page size ${ram.pageSize}`, lAt);
        c.skipToUnitEnd(len, 'XBZRLE data', ram.pageSize);
        keep?.out.delete(Number(addr)); // a delta against the previous copy: not applied here, content unknown
        stats.xbzrlePages++;
        stats.pageBytes += len;
      }
      return false;
    }
    case RAM_FLAG.HOOK:
      throw c.error('RAM_SAVE_FLAG_HOOK (RDMA) is not supported', at);
    default:
      throw c.error(`unknown combination of RAM flags ${hex(flags)}`, at);
  }
}
