// The bounded search for a device's subsection chain after a device part devrec does not decode: the first position
// at or after `from` where either the "virtio/" chain parses through to a valid section footer, or a valid footer is
// (no chain). Candidates are positions holding 0x05 + a length + "virtio/", or 0x7e + the section id; at most
// MAX_CHAIN_CANDIDATES are tried, all within the section's window. Each attempt reads into a fresh ChainResult.
import { type Cursor, NeedMore, QemuStreamError, be32At } from './cursor.js';
import { type ChainResult, readSubsectionChain } from './virtio-subsections.js';
import { QEMU_VM_SUBSECTION } from './vmdesc.js';

const MAX_CHAIN_CANDIDATES = 4096;
const SECTION_FOOTER = 0x7e;
const VIRTIO_TAG = [0x76, 0x69, 0x72, 0x74, 0x69, 0x6f, 0x2f]; // "virtio/"

/** What the chain search needs from the stream parser. */
export interface FooterContext {
  sid: number;
  /** Is there a valid next section header (or EOF) at buf index p? 'need-more' when the window ends too soon. */
  validNextAt(c: Cursor, p: number): boolean | 'need-more';
}

/** Is the section footer (0x7e + this section's id) at buf index p, followed by a valid next header or EOF? */
function footerAt(c: Cursor, p: number, ctx: FooterContext): boolean | 'need-more' {
  if (p + 5 > c.end) return c.final ? false : 'need-more';
  if (c.buf[p] !== SECTION_FOOTER || be32At(c.buf, p + 1) !== ctx.sid) return false;
  return ctx.validNextAt(c, p + 5);
}

export interface FoundChain {
  chain: ChainResult;
  /** bytes walked over before the chain (the device part) */
  walked: number;
}

/** Leaves the cursor on the section footer. */
export function findChain(c: Cursor, bus: 'pci' | 'mmio', ctx: FooterContext, from: number): FoundChain {
  let tried = 0;
  for (let p = from; ; p++) {
    if (p >= c.end) {
      if (c.final) throw c.error(`device part not decoded and no virtio subsection chain or section footer found after offset ${c.base + from}`);
      throw new NeedMore(c.base + c.end + 1);
    }
    const b = c.buf[p]!;
    let isChain = false;
    if (b === QEMU_VM_SUBSECTION) {
      if (p + 9 > c.end) {
        if (!c.final) throw new NeedMore(c.base + p + 9);
        continue;
      }
      isChain = VIRTIO_TAG.every((t, i) => c.buf[p + 2 + i] === t);
      if (!isChain) continue;
    } else if (b !== SECTION_FOOTER) {
      continue;
    }
    if (++tried > MAX_CHAIN_CANDIDATES) throw c.error(`device part not decoded: gave up after ${MAX_CHAIN_CANDIDATES} candidate positions for the subsection chain`);
    const save = c.pos;
    try {
      c.pos = p;
      const chain = isChain ? readSubsectionChain(c, bus) : { subsections: [] };
      const ok = footerAt(c, c.pos, ctx);
      if (ok === 'need-more') throw new NeedMore(c.base + c.pos + 5 + 300);
      if (ok) return { chain, walked: p - from };
    } catch (e) {
      if (!(e instanceof QemuStreamError)) throw e;
    }
    c.pos = save;
  }
}
