// Push parser for QEMU savevm streams (migration/savevm.c, QEMU 7.2): feed it chunks, it keeps only the unit it is
// in the middle of (a section, one RAM page record, the vmdesc), so a full migration stream's RAM goes through
// with bounded memory.
//
//   be32 0x5145564d "QEVM", be32 3
//   [u8 0x07 QEMU_VM_CONFIGURATION, vmstate "configuration": be32 len, machine name, subsections
//    configuration/target-page-bits (be32), configuration/capabilities (be32 n, n x (u8 len, name)),
//    configuration/uuid (16 bytes)]                                              (full migrations, not devstate)
//   sections: u8 type, be32 section_id; START (0x01) / FULL (0x04) add u8 len, idstr, be32 instance_id, be32
//     version_id; PART (0x02) / END (0x03) name their START by id; the body; footer u8 0x7e + be32 section_id
//   u8 0x08 QEMU_VM_COMMAND: be16 command, be16 length, data
//   u8 0x00 QEMU_VM_EOF
//   [u8 0x06 QEMU_VM_VMDESCRIPTION, be32 length, JSON]                          (full migrations)
//
// Section bodies: "ram" is read record by record (ram.ts); virtio devices are decoded (virtio.ts); any other
// section is walked by the vmdesc when one is known (vmdesc.ts), else by the footer search below.
//
// Footer search (sections with no vmdesc and no decoder, e.g. xen-save-devices-state output): scan forward from
// the body for the byte 0x7e followed by this section's be32 id, and take the first such position that is
// followed by a valid next section header: a START/FULL (0x01/0x04) with an id not seen before, a printable idstr
// of 1..255 bytes and a version below 65536; a PART/END (0x02/0x03) of a started iterable section; a
// QEMU_VM_COMMAND with a known command; or QEMU_VM_EOF (0x00) followed by the end of the input or by a vmdesc
// whose length reaches exactly to the end. This is a bounded search, not a guess about the layout: it looks at
// no more than the section size limit (64 MiB by default) and reads nothing outside the input; what it cannot
// rule out is a body that itself contains such a footer + header pattern, in which case the section is cut short
// and what follows is parsed as the next header (and normally fails loudly there).
import { BRIDGE_CONFIG_AT, bridgePathOf, guestAddressOf } from './bridges.js';
import { Cursor, type CursorContext, NeedMore, QemuStreamError, be32At, hex, isPrintable } from './cursor.js';
import { RAM_FLAG, type RamContext, type RamPageIndex, type RamPageKeep, type RamStats, newRamStats, readRamRecord } from './ram.js';
import { type QemuVirtioDevice, type SectionContext, decodeVirtioSection, parseVirtioIdstr } from './virtio.js';
import { MAX_VMDESC_BYTES, QEMU_VM_SUBSECTION, type Vmdesc, VmdescIndex, parseVmdesc, walkVmdesc } from './vmdesc.js';

export const QEMU_VM_FILE_MAGIC = 0x5145564d;
export const QEMU_VM_FILE_VERSION = 3;
export const QEMU_VM = {
  EOF: 0x00, SECTION_START: 0x01, SECTION_PART: 0x02, SECTION_END: 0x03, SECTION_FULL: 0x04, SUBSECTION: 0x05,
  VMDESCRIPTION: 0x06, CONFIGURATION: 0x07, COMMAND: 0x08, SECTION_FOOTER: 0x7e,
} as const;
/** enum qemu_vm_cmd (migration/savevm.c): name and fixed data length (-1: variable) */
export const QEMU_VM_COMMANDS: Readonly<Record<number, { name: string; len: number }>> = {
  1: { name: 'OPEN_RETURN_PATH', len: 0 },
  2: { name: 'PING', len: 4 },
  3: { name: 'POSTCOPY_ADVISE', len: -1 },
  4: { name: 'POSTCOPY_LISTEN', len: 0 },
  5: { name: 'POSTCOPY_RUN', len: 0 },
  6: { name: 'POSTCOPY_RAM_DISCARD', len: -1 },
  7: { name: 'PACKAGED', len: 4 },
  8: { name: 'ENABLE_COLO', len: 0 },
  9: { name: 'POSTCOPY_RESUME', len: 0 },
  10: { name: 'RECV_BITMAP', len: -1 },
  11: { name: 'SWITCHOVER_START', len: 0 },
};
export const DEFAULT_MAX_SECTION_BYTES = 64 * 1024 * 1024;
const SLICE = 1024 * 1024;
const MAX_VERSION = 0xffff;

export type QemuSectionType = 'start' | 'part' | 'end' | 'full';
export type QemuWalk = 'decoded' | 'vmdesc' | 'footer-search' | 'ram';

export interface QemuSection {
  type: QemuSectionType;
  id: number;
  idstr: string;
  instance: number;
  version: number;
  /** offset of the section type byte; length runs through the footer */
  offset: number;
  length: number;
  bodyOffset: number;
  bodyLength: number;
  walk: QemuWalk;
  decoded?: { kind: 'virtio'; device: string } | ({ kind: 'ram' } & RamStats) | { kind: 'globalstate'; runstate: string };
  notes?: string[];
}

export interface QemuConfiguration {
  offset: number;
  length: number;
  machine: string;
  targetPageBits?: number;
  capabilities?: string[];
  uuid?: string;
}

export interface QemuCommand {
  offset: number;
  length: number;
  cmd: number;
  name: string;
  data: Uint8Array;
}

export interface QemuStreamResult {
  size: number;
  header: { offset: 0; length: 8; magic: number; version: number };
  configuration?: QemuConfiguration;
  sections: QemuSection[];
  commands: QemuCommand[];
  devices: QemuVirtioDevice[];
  eof?: { offset: number };
  vmdesc?: { offset: number; length: number; devices: number; pageSize?: number; desc: Vmdesc };
  /** how the vmdesc used for walking was found: read from the input's tail before parsing, or none */
  vmdescUsed: 'tail' | 'none';
}

export interface QemuParserOptions {
  /** the input's name, for error messages */
  input?: string;
  /** the input's total size when known (a file): lengths past it are refused without waiting for the end */
  totalSize?: number;
  /** a vmdesc found at the end of the input before parsing (see findTailVmdesc) */
  vmdesc?: VmdescIndex;
  /** the longest non-RAM section accepted (default 64 MiB) */
  maxSectionBytes?: number;
  /** RAM pages to hold (guest-ram.ts: a second pass once the ring addresses are known) */
  keepRamPages?: RamPageKeep;
  /**
   * The caller reads the input where `nextOffset` says (positioned reads of a file; needs totalSize): RAM page
   * data is then skipped over, never read (Cursor.skipToUnitEnd).
   */
  positioned?: boolean;
  /** index where the last copy of each page of one RAM block is (ram.ts RamPageIndex; read it with ramPageIndex) */
  indexRamPages?: (blocks: ReadonlyMap<string, bigint>, pageSize: number) => RamPageIndex | undefined;
}

type State = 'header' | 'top' | 'ram' | 'after-eof' | 'done';

export class QemuStreamParser {
  private buf: Uint8Array = new Uint8Array(0);
  private own: Uint8Array = new Uint8Array(0);
  private borrowed = false;
  private start = 0;
  private end = 0;
  private base = 0;
  private final = false;
  private waitUntil = 0;
  private failed: QemuStreamError | undefined;
  private state: State = 'header';
  private currentSection: string | undefined;
  private readonly seenSids = new Set<number>();
  /** PCI bridges seen: QEMU path -> secondary bus number (bridges.ts) */
  private readonly secondaryBus = new Map<string, number>();
  private readonly started = new Map<number, { idstr: string; instance: number; version: number }>();
  private ram: RamContext | undefined;
  /** id of the section being parsed: a "next header" inside it cannot reuse it */
  private currentSid = -1;
  private ramSection: QemuSection | undefined;
  private readonly maxSection: number;
  private readonly result: QemuStreamResult;

  constructor(private readonly options: QemuParserOptions = {}) {
    this.maxSection = options.maxSectionBytes ?? DEFAULT_MAX_SECTION_BYTES;
    this.result = {
      size: 0, header: { offset: 0, length: 8, magic: 0, version: 0 }, sections: [], commands: [], devices: [],
      vmdescUsed: options.vmdesc ? 'tail' : 'none',
    };
  }

  /**
   * Feeds bytes; parses every unit that is complete. Throws QemuStreamError on the first wrong byte. The parser
   * keeps no reference to `chunk` after returning (a unit left unfinished is copied), so callers may reuse it.
   */
  push(chunk: Uint8Array): void {
    if (this.failed) throw this.failed;
    if (this.final) throw this.fail(new QemuStreamError(this.base + this.end, 'bytes pushed after the end of the input'));
    const chunkBase = this.base + this.end;
    const chunkEnd = chunkBase + chunk.length;
    // until the parser has taken the chunk's last byte or skipped past it (positioned: RAM page data)
    while (this.base + this.end < chunkEnd) {
      const at = this.base + this.start;
      if (at >= chunkBase) {
        // everything pending is in this chunk: parse straight from the caller's bytes (never written to)
        this.buf = chunk.subarray(at - chunkBase);
        this.base = at;
        this.borrowed = true;
        this.start = 0;
        this.end = this.buf.length;
      } else {
        // a unit straddles the previous input and this chunk: copy only as much as it needs (growing geometrically)
        const next = this.base + this.end;
        const live = this.end - this.start;
        const want = Math.max(64 * 1024, live, this.waitUntil - next);
        this.append(chunk.subarray(next - chunkBase, next - chunkBase + want));
      }
      if (this.base + this.end >= this.waitUntil) this.run();
    }
    if (this.borrowed) this.adopt();
  }

  /** The offset of the next byte to push: past the input pushed so far when the parser skipped RAM page data. */
  get nextOffset(): number {
    return this.base + this.end;
  }

  /** The RAM page index (options.indexRamPages), once the RAM setup record was parsed. */
  get ramPageIndex(): RamPageIndex | undefined {
    return this.ram?.index;
  }

  /** Bytes the unit being parsed needs beyond nextOffset before it can be parsed again (0: any byte helps). */
  get bytesNeeded(): number {
    return Math.max(0, this.waitUntil - (this.base + this.end));
  }

  /** Marks the end of the input, parses what is left and returns the result. */
  finish(): QemuStreamResult {
    if (this.failed) throw this.failed;
    this.final = true;
    this.run();
    if (this.state !== 'done') {
      const at = this.base + this.end;
      throw this.fail(new QemuStreamError(at, this.state === 'header' ? 'the stream is shorter than its 8-byte header' : 'the stream ends before QEMU_VM_EOF', this.currentSection));
    }
    this.result.size = this.base + this.end;
    this.nameBehindBridges();
    return this.result;
  }

  /**
   * Devices behind bridges: QEMU's stream names them by topological path ("00:02.0:00.0"); devrec names every
   * device by the address the guest sees ("01:00.0"), as the trace and QMP do. The path stays as qemuPath.
   */
  private nameBehindBridges(): void {
    for (const d of this.result.devices) {
      if (d.bus !== 'pci' || d.qemuPath !== undefined) continue;
      const path = d.section.idstr.slice(0, d.section.idstr.lastIndexOf('/'));
      d.qemuPath = path;
      const guest = guestAddressOf(path, this.secondaryBus);
      if (guest === undefined || guest === d.pciAddress) continue;
      const old = d.id;
      d.pciAddress = guest;
      d.id = `${d.qemuType}@${guest}`;
      for (const sec of this.result.sections) if (sec.decoded?.kind === 'virtio' && sec.decoded.device === old) sec.decoded.device = d.id;
    }
  }

  private fail(e: QemuStreamError): QemuStreamError {
    this.failed = e.withInput(this.options.input);
    return this.failed;
  }

  private get windowLimit(): number {
    return Math.max(this.maxSection, MAX_VMDESC_BYTES + 16) + 2 * SLICE;
  }

  /** Makes room for `needed` live bytes in the parser's own buffer (reused from call to call). */
  private ownBuffer(needed: number): Uint8Array {
    if (needed > this.windowLimit) {
      throw this.fail(new QemuStreamError(this.base + this.start, `a section of the stream is longer than the ${this.maxSection}-byte limit`, this.currentSection));
    }
    if (this.own.length < needed) this.own = new Uint8Array(Math.max(needed, Math.min(this.windowLimit, Math.max(64 * 1024, 2 * needed))));
    return this.own;
  }

  /** Copies the unfinished unit out of a borrowed chunk into the parser's own buffer. */
  private adopt(): void {
    const live = this.end - this.start;
    if (live === 0) {
      this.base += this.end;
      this.buf = this.own;
      this.start = this.end = 0;
    } else {
      const target = this.ownBuffer(live);
      target.set(this.buf.subarray(this.start, this.end), 0);
      this.base += this.start;
      this.buf = target;
      this.start = 0;
      this.end = live;
    }
    this.borrowed = false;
  }

  /** Drops the window and resumes at absolute offset `at` (past it); the next push must start there. */
  private skipTo(at: number): void {
    this.base = at;
    this.buf = this.own;
    this.borrowed = false;
    this.start = this.end = 0;
    this.waitUntil = 0;
  }

  private append(piece: Uint8Array): void {
    if (this.borrowed) this.adopt();
    const live = this.end - this.start;
    const needed = live + piece.length;
    if (this.end + piece.length <= this.buf.length) {
      this.buf.set(piece, this.end);
      this.end += piece.length;
      return;
    }
    if (needed <= this.buf.length) {
      this.buf.copyWithin(0, this.start, this.end);
    } else {
      const target = this.ownBuffer(needed);
      target.set(this.buf.subarray(this.start, this.end), 0);
      this.buf = target;
    }
    this.buf.set(piece, live);
    this.base += this.start;
    this.start = 0;
    this.end = needed;
  }

  private run(): void {
    const ctx: CursorContext = {};
    if (this.options.totalSize !== undefined) ctx.totalSize = this.options.totalSize;
    if (this.options.positioned) ctx.positioned = true;
    const c = new Cursor(this.buf, this.start, this.end, this.base, this.final, ctx);
    for (;;) {
      c.pos = this.start;
      if (this.currentSection !== undefined) ctx.section = this.currentSection;
      else delete ctx.section;
      try {
        const more = this.step(c);
        if (c.pos > this.end) {
          // the unit ended by skipping bytes that were never pushed: continue where it ends
          this.skipTo(this.base + c.pos);
          return;
        }
        this.start = c.pos;
        if (!more) return;
      } catch (e) {
        if (e instanceof NeedMore) {
          if (this.final) throw this.fail(new QemuStreamError(c.offset, `truncated: the stream ends at offset ${this.base + this.end}`, this.currentSection));
          this.waitUntil = e.upTo;
          return;
        }
        if (e instanceof QemuStreamError) throw this.fail(e.withSection(this.currentSection));
        throw this.fail(new QemuStreamError(c.offset, `internal error: ${(e as Error).message ?? String(e)}`, this.currentSection));
      }
    }
  }

  /** Parses one unit; returns false when there is nothing more to do now. */
  private step(c: Cursor): boolean {
    switch (this.state) {
      case 'header': {
        const magic = c.u32('file magic');
        if (magic !== QEMU_VM_FILE_MAGIC) throw c.error(`file magic ${hex(magic)} is not QEVM (0x5145564d)`, 0);
        const version = c.u32('file version');
        if (version !== QEMU_VM_FILE_VERSION) throw c.error(`file version ${version}: QEMU streams are version 3`, 4);
        this.result.header = { offset: 0, length: 8, magic, version };
        this.state = 'top';
        return true;
      }
      case 'top':
        if (c.held === 0) {
          if (this.final) return false;
          throw new NeedMore(c.offset + 1);
        }
        this.top(c);
        return true;
      case 'ram':
        this.ramRecord(c);
        return true;
      case 'after-eof': {
        if (c.held === 0) {
          if (this.final) {
            this.state = 'done';
            return false;
          }
          throw new NeedMore(c.offset + 1);
        }
        const at = c.offset;
        const t = c.u8('after EOF');
        if (t !== QEMU_VM.VMDESCRIPTION) throw c.error(`byte ${hex(t)} after QEMU_VM_EOF: only a vmdesc (0x06) may follow`, at);
        this.currentSection = 'vmdesc';
        c.ctx.section = 'vmdesc';
        const lAt = c.offset;
        const len = c.u32('vmdesc length');
        c.checkLength(len, MAX_VMDESC_BYTES, 'vmdesc', lAt);
        const json = c.bytes(len, 'vmdesc JSON', MAX_VMDESC_BYTES);
        const desc = parseVmdesc(json, lAt + 4);
        this.result.vmdesc = { offset: at, length: 5 + len, devices: desc.devices.length, ...(desc.page_size !== undefined ? { pageSize: desc.page_size } : {}), desc };
        this.currentSection = undefined;
        this.state = 'done';
        return true;
      }
      case 'done':
        if (c.held > 0) throw c.error(`${this.final ? c.held : 'more'} byte(s) after the end of the stream`);
        return false;
    }
  }

  private top(c: Cursor): void {
    const at = c.offset;
    const t = c.peek();
    switch (t) {
      case QEMU_VM.EOF:
        c.u8('EOF');
        if (this.started.size > 0) {
          const open = [...this.started.values()].map((s) => s.idstr).join(', ');
          throw c.error(`QEMU_VM_EOF while iterable sections are still open (${open})`, at);
        }
        this.result.eof = { offset: at };
        this.state = 'after-eof';
        return;
      case QEMU_VM.CONFIGURATION:
        if (this.result.configuration || this.result.sections.length > 0 || this.result.commands.length > 0) {
          throw c.error('QEMU_VM_CONFIGURATION after the start of the stream', at);
        }
        this.configuration(c);
        return;
      case QEMU_VM.COMMAND:
        this.command(c);
        return;
      case QEMU_VM.SECTION_START:
      case QEMU_VM.SECTION_PART:
      case QEMU_VM.SECTION_END:
      case QEMU_VM.SECTION_FULL:
        this.section(c);
        return;
      default:
        throw c.error(`unknown section type ${hex(t)}`, at);
    }
  }

  private configuration(c: Cursor): void {
    const at = c.offset;
    c.u8('configuration');
    this.currentSection = c.ctx.section = 'configuration';
    const lAt = c.offset;
    const len = c.u32('machine name length');
    c.checkLength(len, 256, 'machine name', lAt);
    const raw = c.bytes(len, 'machine name', 256);
    if (!isPrintable(raw, 0, raw.length)) throw c.error('machine name is not printable ASCII', lAt + 4);
    const conf: QemuConfiguration = { offset: at, length: 0, machine: String.fromCharCode(...raw) };
    while (c.peek() === QEMU_VM_SUBSECTION) {
      const sAt = c.offset;
      c.u8('subsection');
      const name = c.shortString('subsection name');
      c.u32(`subsection ${name} version`);
      if (name === 'configuration/target-page-bits') {
        const bAt = c.offset;
        conf.targetPageBits = c.u32('target page bits');
        if (conf.targetPageBits < 9 || conf.targetPageBits > 16) throw c.error(`target page bits ${conf.targetPageBits}: expected 9..16`, bAt);
      } else if (name === 'configuration/capabilities') {
        const nAt = c.offset;
        const n = c.u32('capability count');
        if (n > 256) throw c.error(`${n} capabilities: more than 256`, nAt);
        conf.capabilities = [];
        for (let i = 0; i < n; i++) conf.capabilities.push(c.shortString('capability'));
      } else if (name === 'configuration/uuid') {
        conf.uuid = [...c.bytes(16, 'uuid', 16)].map((b) => b.toString(16).padStart(2, '0')).join('');
      } else {
        throw c.error(`unknown configuration subsection ${name} (it has no footer to skip to)`, sAt);
      }
    }
    conf.length = c.offset - at;
    this.result.configuration = conf;
    this.currentSection = undefined;
  }

  private command(c: Cursor): void {
    const at = c.offset;
    c.u8('command');
    const cAt = c.offset;
    const cmd = c.u16('command');
    const len = c.u16('command length');
    const known = QEMU_VM_COMMANDS[cmd];
    if (!known) throw c.error(`unknown QEMU_VM_COMMAND ${cmd}`, cAt);
    if (known.len >= 0 && len !== known.len) throw c.error(`QEMU_VM_COMMAND ${known.name} with length ${len}, expected ${known.len}`, cAt + 2);
    const data = c.bytes(len, `command ${known.name} data`, 0xffff).slice();
    this.result.commands.push({ offset: at, length: c.offset - at, cmd, name: known.name, data });
  }

  private section(c: Cursor): void {
    const at = c.offset;
    const t = c.u8('section type');
    const sid = c.u32('section id');
    let idstr: string;
    let instance: number;
    let version: number;
    const type: QemuSectionType = t === QEMU_VM.SECTION_START ? 'start' : t === QEMU_VM.SECTION_PART ? 'part' : t === QEMU_VM.SECTION_END ? 'end' : 'full';
    if (type === 'start' || type === 'full') {
      idstr = c.shortString('section idstr');
      this.currentSection = c.ctx.section = idstr;
      instance = c.u32('instance id');
      const vAt = c.offset;
      version = c.u32('version id');
      if (version > MAX_VERSION) throw c.error(`version id ${version} is not plausible`, vAt);
      if (this.seenSids.has(sid)) throw c.error(`section id ${sid} was already used`, at + 1);
    } else {
      const s = this.started.get(sid);
      if (!s) throw c.error(`${type === 'part' ? 'QEMU_VM_SECTION_PART' : 'QEMU_VM_SECTION_END'} for section id ${sid}, which was not started`, at + 1);
      ({ idstr, instance, version } = s);
      this.currentSection = c.ctx.section = idstr;
    }
    this.currentSid = sid;
    const bodyOffset = c.offset;
    const sec: QemuSection = { type, id: sid, idstr, instance, version, offset: at, length: 0, bodyOffset, bodyLength: 0, walk: 'footer-search' };
    const ctx: SectionContext = { sid, idstr, instance, version, offset: at, validNextAt: (cc, p) => this.validNextAt(cc, p) };

    if (idstr === 'ram' && instance === 0) {
      if (type === 'full') throw c.error('"ram" as a FULL section: it is an iterable section (START/PART/END)', at);
      if (type === 'start' && version !== 4) throw c.error(`"ram" section version ${version}: QEMU writes version 4`, at);
      this.commitHeader(sid, type, idstr, instance, version);
      const pageSize = this.pageSize();
      this.ram ??= { pageSize, ignoreShared: (this.result.configuration?.capabilities ?? []).includes('x-ignore-shared'), blocks: new Map(), lastBlock: undefined, ...(this.options.keepRamPages ? { keep: this.options.keepRamPages } : {}), ...(this.options.indexRamPages ? { makeIndex: this.options.indexRamPages } : {}) };
      sec.walk = 'ram';
      sec.decoded = { kind: 'ram', ...newRamStats() };
      this.ramSection = sec;
      this.result.sections.push(sec);
      this.state = 'ram';
      return;
    }

    const virtio = type === 'full' ? parseVirtioIdstr(idstr) : undefined;
    const desc = type === 'full' ? this.options.vmdesc?.lookup(idstr, instance) : undefined;
    const notes: string[] = [];
    let device: QemuVirtioDevice | undefined;
    if (virtio) {
      try {
        device = decodeVirtioSection(c, virtio, ctx);
        sec.walk = 'decoded';
      } catch (e) {
        if (!(e instanceof QemuStreamError)) throw e;
        notes.push(`virtio device not decoded: ${e.reason} (offset ${e.offset})`);
        c.pos = bodyOffset - c.base;
      }
    }
    // a PCI bridge: the secondary bus number the guest programmed (guest addresses behind it), kept below once
    // the section is known to be long enough to hold it
    const bridge = type === 'full' && !device ? bridgePathOf(idstr) : undefined;
    const bridgeBus = bridge !== undefined && c.mayHave(BRIDGE_CONFIG_AT + 0x1a) ? c.peek(BRIDGE_CONFIG_AT + 0x19) : undefined;
    if (!device && idstr === 'globalstate' && version === 1) {
      // vmstate "globalstate": be32 size, runstate[100]
      const save = c.pos;
      const size = c.u32('globalstate size');
      const runstate = c.bytes(100, 'globalstate runstate', 100);
      if (size <= 100 && c.peekHeld() === QEMU_VM.SECTION_FOOTER) {
        const end = runstate.indexOf(0);
        sec.decoded = { kind: 'globalstate', runstate: String.fromCharCode(...runstate.subarray(0, end < 0 ? size : Math.min(end, size))) };
        sec.walk = 'decoded';
      } else c.pos = save;
    }
    if (sec.walk !== 'decoded') {
      if (desc) {
        walkVmdesc(c, desc);
        sec.walk = 'vmdesc';
      } else {
        this.footerSearch(c, ctx);
        sec.walk = 'footer-search';
      }
    } else if (desc && device) {
      // cross-check the decoder against QEMU's own description of this very section
      const decodedEnd = c.pos;
      const probe = new Cursor(c.buf, bodyOffset - c.base, c.end, c.base, c.final, c.ctx);
      try {
        walkVmdesc(probe, desc);
        if (probe.pos !== decodedEnd) notes.push(`the vmdesc describes ${probe.pos - (bodyOffset - c.base)} body bytes, the decoder read ${decodedEnd - (bodyOffset - c.base)}`);
      } catch (e) {
        if (!(e instanceof QemuStreamError)) throw e;
        notes.push(`the vmdesc does not walk this section: ${e.reason}`);
      }
    }
    const bodyEnd = c.offset;
    this.footer(c, sid);
    sec.bodyLength = bodyEnd - bodyOffset;
    sec.length = c.offset - at;
    if (bridge !== undefined && bridgeBus !== undefined && sec.bodyLength > BRIDGE_CONFIG_AT + 0x19) this.secondaryBus.set(bridge, bridgeBus);
    if (device) {
      device.notes.push(...notes);
      sec.decoded = { kind: 'virtio', device: device.id };
      this.result.devices.push(device);
    }
    if (notes.length) sec.notes = notes;
    this.commitHeader(sid, type, idstr, instance, version);
    this.result.sections.push(sec);
    this.currentSection = undefined;
  }

  private commitHeader(sid: number, type: QemuSectionType, idstr: string, instance: number, version: number): void {
    if (type === 'start' || type === 'full') this.seenSids.add(sid);
    if (type === 'start') this.started.set(sid, { idstr, instance, version });
    if (type === 'end') this.started.delete(sid);
  }

  private pageSize(): number {
    const bits = this.result.configuration?.targetPageBits;
    if (bits !== undefined) return 2 ** bits;
    const p = this.options.vmdesc?.pageSize;
    if (p !== undefined && p >= 512 && p <= 65536 && (p & (p - 1)) === 0) return p;
    return 4096;
  }

  private ramRecord(c: Cursor): void {
    const sec = this.ramSection!;
    const stats = sec.decoded as RamStats;
    const eos = readRamRecord(c, this.ram!, stats);
    if (!eos) return;
    const bodyEnd = c.offset;
    this.footer(c, sec.id);
    sec.bodyLength = bodyEnd - sec.bodyOffset;
    sec.length = c.offset - sec.offset;
    this.ramSection = undefined;
    this.currentSection = undefined;
    this.state = 'top';
  }

  private footer(c: Cursor, sid: number): void {
    const at = c.offset;
    const t = c.u8('section footer');
    if (t !== QEMU_VM.SECTION_FOOTER) throw c.error(`missing section footer: byte ${hex(t)} where 0x7e was expected`, at);
    const id = c.u32('section footer id');
    if (id !== sid) throw c.error(`section footer names section ${id}, expected ${sid}`, at);
  }

  /** The bounded footer search; leaves the cursor on the footer. */
  private footerSearch(c: Cursor, ctx: SectionContext): void {
    const from = c.pos;
    let p = from;
    for (;;) {
      const limit = from + this.maxSection;
      p = c.indexOf(QEMU_VM.SECTION_FOOTER, p);
      if (p < 0 || p >= limit) {
        if (c.end - from >= this.maxSection) throw c.error(`no section footer (0x7e + be32 ${ctx.sid}) followed by a valid section header within the ${this.maxSection}-byte limit`);
        if (c.final) throw c.error(`no section footer (0x7e + be32 ${ctx.sid}) followed by a valid section header or EOF before the end of the stream`);
        throw new NeedMore(c.base + c.end + 1);
      }
      if (p + 5 > c.end) {
        if (c.final) throw c.error(`no section footer (0x7e + be32 ${ctx.sid}) followed by a valid section header or EOF before the end of the stream`);
        throw new NeedMore(c.base + p + 5);
      }
      if (be32At(c.buf, p + 1) === ctx.sid) {
        const ok = this.validNextAt(c, p + 5);
        if (ok === 'need-more') throw new NeedMore(c.base + p + 5 + 300);
        if (ok) {
          c.pos = p;
          return;
        }
      }
      p++;
    }
  }

  /** Is there a plausible next header (or EOF) at buf index p? See the file comment. */
  validNextAt(c: Cursor, p: number): boolean | 'need-more' {
    const b = c.buf;
    const end = c.end;
    const need = (n: number): boolean | 'need-more' | undefined => (p + n <= end ? undefined : c.final ? false : 'need-more');
    const knownEnd = c.knownEnd;
    let r = need(1);
    if (r !== undefined) return r;
    const t = b[p]!;
    switch (t) {
      case QEMU_VM.EOF: {
        if (this.started.size > 0) return false;
        if (knownEnd !== undefined && c.base + p + 1 === knownEnd) return true;
        if ((r = need(2)) !== undefined) return r;
        if (b[p + 1] !== QEMU_VM.VMDESCRIPTION) return false;
        if ((r = need(7)) !== undefined) return r;
        const len = be32At(b, p + 2);
        if (b[p + 6] !== 0x7b || len < 2 || len > MAX_VMDESC_BYTES) return false;
        return knownEnd === undefined || c.base + p + 6 + len === knownEnd;
      }
      case QEMU_VM.SECTION_START:
      case QEMU_VM.SECTION_FULL: {
        if ((r = need(6)) !== undefined) return r;
        const sid = be32At(b, p + 1);
        const len = b[p + 5]!;
        if (len === 0 || this.seenSids.has(sid) || sid === this.currentSid) return false;
        if ((r = need(6 + len + 8)) !== undefined) return r;
        if (!isPrintable(b, p + 6, len)) return false;
        return be32At(b, p + 6 + len + 4) <= MAX_VERSION;
      }
      case QEMU_VM.SECTION_PART:
      case QEMU_VM.SECTION_END: {
        if ((r = need(5)) !== undefined) return r;
        return this.started.has(be32At(b, p + 1));
      }
      case QEMU_VM.COMMAND: {
        if ((r = need(5)) !== undefined) return r;
        const known = QEMU_VM_COMMANDS[(b[p + 1]! << 8) | b[p + 2]!];
        const len = (b[p + 3]! << 8) | b[p + 4]!;
        return known !== undefined && (known.len < 0 || known.len === len);
      }
      default:
        return false;
    }
  }
}

export { RAM_FLAG };
