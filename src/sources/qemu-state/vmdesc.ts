// The vmstate description QEMU appends to a full migration stream after QEMU_VM_EOF:
//   u8 0x06 (QEMU_VM_VMDESCRIPTION), be32 length, JSON {page_size, devices: [{name, instance_id, vmsd_name, version,
//   fields: [{name, type, size, array_len? | index?, struct?: {vmsd_name, version, fields, subsections?}}],
//   subsections?: [{vmsd_name, version, fields, subsections?}]}]}
// (migration/savevm.c qemu_savevm_state_complete_precopy, migration/vmstate.c vmsd_desc_field_start/end).
//
// `size` is what vmstate_save_state actually wrote for that field of that device (a struct's size includes its
// own subsections); a compressed array has `array_len` and the size of one element. So a section can be walked
// without knowing its layout: skip size x array_len per field, then read each listed subsection's header (u8 0x05,
// u8 len, name, be32 version) and walk its description. This is what scripts/analyze-migration.py does.
import { Cursor, QemuStreamError } from './cursor.js';

export const QEMU_VM_SUBSECTION = 0x05;
/** A vmdesc larger than this is refused (QEMU's own for a big VM is a few MB). */
export const MAX_VMDESC_BYTES = 64 * 1024 * 1024;
/** Nesting of struct / subsection descriptions walked at most. */
const MAX_DEPTH = 32;
/** One field's bytes at most (a RAM-sized buffer field would be in a RAM block, not a device section). */
const MAX_FIELD_BYTES = 256 * 1024 * 1024;

export interface VmdescField {
  name: string;
  type: string;
  size: number;
  array_len?: number;
  index?: number;
  struct?: VmdescStruct;
}

export interface VmdescStruct {
  vmsd_name?: string;
  version?: number;
  fields?: VmdescField[];
  subsections?: VmdescStruct[];
}

export interface VmdescDevice extends VmdescStruct {
  name: string;
  instance_id: number;
}

export interface Vmdesc {
  page_size?: number;
  devices: VmdescDevice[];
}

/** Index of a vmdesc by (section idstr, instance id). */
export class VmdescIndex {
  private readonly byKey = new Map<string, VmdescDevice>();
  constructor(readonly desc: Vmdesc, readonly offset: number) {
    for (const d of desc.devices) this.byKey.set(`${d.name}\u0000${d.instance_id}`, d);
  }
  get pageSize(): number | undefined {
    return this.desc.page_size;
  }
  get size(): number {
    return this.byKey.size;
  }
  lookup(idstr: string, instance: number): VmdescDevice | undefined {
    return this.byKey.get(`${idstr}\u0000${instance}`);
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function checkStruct(s: unknown, where: string, depth: number): void {
  if (depth > MAX_DEPTH) throw new Error(`${where}: nested deeper than ${MAX_DEPTH}`);
  if (!isObj(s)) throw new Error(`${where}: not an object`);
  if (s.fields !== undefined) {
    if (!Array.isArray(s.fields)) throw new Error(`${where}.fields: not an array`);
    s.fields.forEach((f: unknown, i) => {
      const w = `${where}.fields[${i}]`;
      if (!isObj(f)) throw new Error(`${w}: not an object`);
      if (typeof f.name !== 'string' || typeof f.type !== 'string') throw new Error(`${w}: name and type must be strings`);
      if (!isCount(f.size)) throw new Error(`${w}: size must be a non-negative integer`);
      if (f.array_len !== undefined && !isCount(f.array_len)) throw new Error(`${w}: array_len must be a non-negative integer`);
      if (f.struct !== undefined) checkStruct(f.struct, `${w}.struct`, depth + 1);
    });
  }
  if (s.subsections !== undefined) {
    if (!Array.isArray(s.subsections)) throw new Error(`${where}.subsections: not an array`);
    s.subsections.forEach((sub: unknown, i) => {
      checkStruct(sub, `${where}.subsections[${i}]`, depth + 1);
      if (typeof (sub as Record<string, unknown>).vmsd_name !== 'string') throw new Error(`${where}.subsections[${i}]: vmsd_name must be a string`);
    });
  }
}

/** Parses and shape-checks vmdesc JSON bytes; errors name the offset of the JSON. */
export function parseVmdesc(json: Uint8Array, offset: number): Vmdesc {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (e) {
    throw new QemuStreamError(offset, `vmdesc is not valid JSON: ${(e as Error).message}`, 'vmdesc');
  }
  try {
    if (!isObj(v)) throw new Error('not an object');
    if (v.page_size !== undefined && !isCount(v.page_size)) throw new Error('page_size must be a non-negative integer');
    if (!Array.isArray(v.devices)) throw new Error('devices must be an array');
    v.devices.forEach((d: unknown, i) => {
      if (!isObj(d) || typeof d.name !== 'string' || !isCount(d.instance_id)) throw new Error(`devices[${i}]: needs name and instance_id`);
      checkStruct(d, `devices[${i}]`, 0);
    });
  } catch (e) {
    throw new QemuStreamError(offset, `vmdesc JSON is not a vmstate description: ${(e as Error).message}`, 'vmdesc');
  }
  return v as unknown as Vmdesc;
}

/** Walks one section body (or subsection) by its description; leaves the cursor after it. */
export function walkVmdesc(c: Cursor, desc: VmdescStruct, depth = 0): void {
  if (depth > MAX_DEPTH) throw c.error(`vmdesc nested deeper than ${MAX_DEPTH}`);
  for (const f of desc.fields ?? []) {
    const n = f.array_len ?? 1;
    const total = f.size * n;
    if (!Number.isSafeInteger(total)) throw c.error(`vmdesc field ${f.name}: size ${f.size} x ${n} is too large`);
    c.skip(total, `field ${f.name} (${f.type}, ${total} bytes per the vmdesc)`, MAX_FIELD_BYTES);
  }
  for (const sub of desc.subsections ?? []) {
    const at = c.offset;
    const tag = c.u8(`subsection ${sub.vmsd_name}`);
    if (tag !== QEMU_VM_SUBSECTION) throw c.error(`the vmdesc lists subsection ${sub.vmsd_name} here, but the byte is 0x${tag.toString(16)}, not 0x05`, at);
    const name = c.shortString('subsection name');
    if (name !== sub.vmsd_name) throw c.error(`the vmdesc lists subsection ${sub.vmsd_name} here, but the stream has ${name}`, at);
    c.u32(`subsection ${name} version`);
    walkVmdesc(c, sub, depth + 1);
  }
}

/**
 * Finds a vmdesc at the end of a stream the way analyze-migration.py does, but exactly: a byte 0x06 at p, preceded
 * by QEMU_VM_EOF (0x00), followed by be32 len with p + 5 + len == end and '{' as the first JSON byte. Searches the
 * last MAX_VMDESC_BYTES + 5 bytes only. Returns undefined when there is none.
 */
export function findTailVmdesc(tail: Uint8Array, tailOffset: number): { offset: number; json: Uint8Array } | undefined {
  const n = tail.length;
  const lo = Math.max(1, n - (MAX_VMDESC_BYTES + 5));
  for (let p = n - 7; p >= lo; p--) {
    if (tail[p] !== 0x06 || tail[p - 1] !== 0x00 || tail[p + 5] !== 0x7b) continue;
    const len = ((tail[p + 1]! << 24) | (tail[p + 2]! << 16) | (tail[p + 3]! << 8) | tail[p + 4]!) >>> 0;
    if (p + 5 + len === n) return { offset: tailOffset + p, json: tail.subarray(p + 5) };
  }
  return undefined;
}
