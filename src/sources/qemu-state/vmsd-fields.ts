// Reads a vmsd-style field table (src/model/qemu-vmstate.ts) from a savevm stream: each field in order, skipped
// when its condition is not met, every length checked against its cap before anything is read.
import { SCALAR_SIZE, type VmsdFlags, type VmsdScalar, type VmsdTable } from '../../model/qemu-vmstate.js';
import type { Cursor } from './cursor.js';

export type VmsdValue = number | bigint | boolean | Uint8Array | number[];

/** The fields read, by name (a field whose condition was not met is absent). */
export class VmsdRecord {
  constructor(readonly table: string, private readonly values: Map<string, VmsdValue>, readonly offsets: Map<string, number>) {}
  has(name: string): boolean {
    return this.values.has(name);
  }
  private get(name: string): VmsdValue {
    const v = this.values.get(name);
    if (v === undefined) throw new Error(`${this.table}: field ${name} was not read`);
    return v;
  }
  num(name: string): number {
    return this.get(name) as number;
  }
  big(name: string): bigint {
    return this.get(name) as bigint;
  }
  bool(name: string): boolean {
    return this.get(name) as boolean;
  }
  /** a copy of a bytes field */
  bytes(name: string): Uint8Array {
    return (this.get(name) as Uint8Array).slice();
  }
  array(name: string): number[] {
    return [...(this.get(name) as number[])];
  }
  /** absolute stream offset of a field */
  at(name: string): number {
    return this.offsets.get(name)!;
  }
}

function scalar(c: Cursor, t: VmsdScalar, what: string): number | bigint | boolean {
  switch (t) {
    case 'u8': return c.u8(what);
    case 'bool': return c.bool(what);
    case 'be16': return c.u16(what);
    case 'be32': return c.u32(what);
    case 'be64': return c.u64(what);
    case 'le32': {
      const b = c.bytes(4, what, 4);
      return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
    }
  }
}

/** Reads one record of `table` at the cursor. */
export function readFields(c: Cursor, table: VmsdTable, flags: VmsdFlags = {}, label = table.name): VmsdRecord {
  const values = new Map<string, VmsdValue>();
  const offsets = new Map<string, number>();
  for (const f of table.fields) {
    if (f.when !== undefined && !flags[f.when]) continue;
    const what = `${label} ${f.name}`;
    offsets.set(f.name, c.offset);
    const t = f.type;
    if (typeof t === 'string') {
      values.set(f.name, scalar(c, t, what));
    } else if ('bytes' in t) {
      values.set(f.name, c.bytes(t.bytes, what, t.bytes));
    } else {
      const count = values.get(t.countField) as number;
      const countAt = offsets.get(t.countField)!;
      if ('bytesPer' in t) {
        c.checkLength(count * t.bytesPer, t.max * t.bytesPer, what, countAt);
        values.set(f.name, c.bytes(count * t.bytesPer, what, t.max * t.bytesPer));
      } else {
        const size = SCALAR_SIZE[t.array];
        c.checkLength(count * size, t.max * size, what, countAt);
        const out: number[] = [];
        for (let i = 0; i < count; i++) out.push(Number(scalar(c, t.array, what)));
        values.set(f.name, out);
      }
    }
  }
  return new VmsdRecord(table.name, values, offsets);
}

/** Reads `table.entries` records of a per-queue table. */
export function readEntries(c: Cursor, table: VmsdTable, flags: VmsdFlags = {}): VmsdRecord[] {
  const out: VmsdRecord[] = [];
  for (let i = 0; i < (table.entries ?? 1); i++) out.push(readFields(c, table, flags, `${table.name} vq ${i}`));
  return out;
}
