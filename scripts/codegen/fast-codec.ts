// Generator of the fast codec (src/events/generated/fast-codec.ts): one encode and one decode function per message
// type, written as JavaScript source from the schema tables (src/events/schema.ts, which follow the .proto files).
// Nothing is written per message: add a field or a message to a .proto, run `npm run proto`, and both directions
// follow. The output is committed; test/events/fast-codec-generated.spec.ts checks it is current.
//
// Build time only: this module reads the schema through protobufjs reflection; production code loads the
// generated file and the runtime helpers in src/events/wire/, never this.
//
// Contract of the generated code (checked by test/events/fast-codec.spec.ts against protobufjs 8, the oracle):
//  - encoders are byte-identical to protobufjs: fields in field-number order, proto3 defaults of implicit-presence
//    scalars left out (0, false, '', empty bytes, empty repeated, enum value 0) while proto3 `optional` and message
//    fields are written whenever set (also when 0), packed repeated numerics, and the same input validation
//    (CodecError for a non-bigint or out-of-range u64, an unknown enum name or event kind).
//  - decoders give what codec.ts gives: same domain objects, same defaults, presence fields left out when absent,
//    bytes copied, unknown enum numbers as "enum-N", a message field seen twice is merged, the last oneof member
//    wins. Unknown fields (and known field numbers with an unexpected wire type, as protobufjs does) are skipped by
//    wire type; malformed input (truncated or overlong varints, lengths past the end, field number 0, wire types
//    6/7, bad groups, invalid UTF-8 in strings) throws CodecError naming what was being read and the byte offset.
import protobuf from 'protobufjs';
import { BODY_SPECS, ENVELOPE_FIELDS, EVENT_SPEC } from '../../src/events/event-spec.js';
import { lookupMessage, type FieldSpec, type MessageSpec } from '../../src/events/schema.js';
import { MIGRATION_SPECS } from '../../src/migration/schema.js';
import { reflectionType } from '../../src/events/schema-reflection.js';

// ---------------------------------------------------------------------------------------------------------------
// Schema -> field model

type ProtoType =
  | 'uint32' | 'int32' | 'sint32' | 'fixed32' | 'sfixed32'
  | 'uint64' | 'int64' | 'sint64' | 'fixed64' | 'sfixed64'
  | 'bool' | 'string' | 'bytes' | 'enum' | 'message';

const WIRE: Record<ProtoType, number> = {
  uint32: 0, int32: 0, sint32: 0, fixed32: 5, sfixed32: 5,
  uint64: 0, int64: 0, sint64: 0, fixed64: 1, sfixed64: 1,
  bool: 0, string: 2, bytes: 2, enum: 0, message: 2,
};
const IS_64: Partial<Record<ProtoType, true>> = { uint64: true, int64: true, sint64: true, fixed64: true, sfixed64: true };

interface FieldInfo {
  spec: FieldSpec;
  pf: protobuf.Field;
  index: number;
  id: number;
  pt: ProtoType;
  /** tag of one (unpacked) value */
  tag: number;
  /** repeated scalar that may come packed (wire type 2) */
  packable: boolean;
  /** protobufjs writes it packed */
  packed: boolean;
  /** protobufjs writes it whenever set, default or not */
  explicit: boolean;
  /** numeric wire default of an enum field */
  enumDefault: number;
  local: string;
  /** name of the value in error messages (reference codec's wording) */
  errName: string;
}

function protoTypeOf(pf: protobuf.Field, fullName: string): ProtoType {
  if (pf.map) throw new Error(`fast codec: map field ${fullName} is not supported`);
  if (pf.resolvedType instanceof protobuf.Enum) return 'enum';
  if (pf.resolvedType instanceof protobuf.Type) {
    if (pf.delimited) throw new Error(`fast codec: group-encoded field ${fullName} is not supported`);
    return 'message';
  }
  if (!(pf.type in WIRE) || pf.type === 'enum' || pf.type === 'message') {
    throw new Error(`fast codec: field ${fullName} has unsupported type ${pf.type}`);
  }
  return pf.type as ProtoType;
}

function fieldInfos(spec: MessageSpec): FieldInfo[] {
  return spec.fields.map((f, index) => {
    const pf = reflectionType(spec).fields[f.name];
    if (!pf) throw new Error(`fast codec: ${f.fullName} missing from the reflection type`);
    pf.resolve();
    if (pf.partOf && !(pf.partOf as unknown as { isProto3Optional: boolean }).isProto3Optional &&
        spec !== EVENT_SPEC) {
      throw new Error(`fast codec: oneof ${pf.partOf.name} in ${spec.name} is not supported (only Event.body)`);
    }
    const pt = protoTypeOf(pf, f.fullName);
    const packable = f.repeated && pt !== 'string' && pt !== 'bytes' && pt !== 'message';
    return {
      spec: f, pf, index, id: pf.id, pt,
      tag: ((pf.id << 3) | WIRE[pt]) >>> 0,
      packable,
      packed: packable && pf.packed && protobuf.types.packed[pt === 'enum' ? 'int32' : pt as 'uint32'] !== undefined,
      explicit: pf.hasPresence || pt === 'message',
      enumDefault: pt === 'enum' ? Number(pf.typeDefault) : 0,
      local: `f${index}`,
      errName: f.fullName,
    };
  });
}

function varintBytes(v: number): number[] {
  const out: number[] = [];
  while (v > 127) {
    out.push((v & 127) | 128);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Code generation

/** Constants the generated code refers to by name (closed over by the compiled functions). */
class Consts {
  readonly names: string[] = [];
  readonly values: unknown[] = [];
  private readonly ids = new Map<unknown, string>();
  ref(value: unknown, prefix: string): string {
    let name = this.ids.get(value);
    if (!name) {
      name = `${prefix}${this.values.length}`;
      this.names.push(name);
      this.values.push(value);
      this.ids.set(value, name);
    }
    return name;
  }
}

const consts = new Consts();
const decNames = new Map<string, string>();
const encNames = new Map<string, string>();
const sources: string[] = [];
const msgInfos: string[] = [];

/** A constant table as TypeScript source (enum name arrays, name<->number maps). */
function constSource(value: unknown): string {
  if (value instanceof Map) return `new Map(${JSON.stringify([...value])})`;
  if (Array.isArray(value)) return `[${value.map((x) => (x === undefined ? 'undefined' : JSON.stringify(x))).join(', ')}]`;
  throw new Error(`fast codec: cannot write constant ${String(value)}`);
}

/** Declares the error-naming table of one message; returns the name the generated code refers to it by. */
function msgIndex(name: string, infos: FieldInfo[]): string {
  const id = `M${msgInfos.length}`;
  const fields = infos.map((fi) => `[${fi.id}, ${jsStr(fi.spec.name)}]`).join(', ');
  msgInfos.push(`const ${id}: MsgInfo = { name: ${jsStr(name)}, fields: new Map([${fields}]) };`);
  return id;
}

function jsStr(s: string): string {
  return JSON.stringify(s);
}

/** Reads a varint at `pos` into lo (low 32 bits; < 2^28 on the inline path) and hi; checks against `end`. */
function readVarint(mi: string, end: string): string {
  return `b = buf[pos++]; lo = b & 127; hi = 0;
      if (b > 127) { b = buf[pos++]; lo |= (b & 127) << 7;
      if (b > 127) { b = buf[pos++]; lo |= (b & 127) << 14;
      if (b > 127) { b = buf[pos++]; lo |= (b & 127) << 21;
      if (b > 127) { pos = H.vtail(buf, pos, ${end}, lo, ${mi}, t, s); lo = R.lo; hi = R.hi; } } } }
      if (pos > ${end}) throw H.trunc(${mi}, t, s, "varint", ${end});`;
}

const enumTables = new Map<unknown, string>();
function enumDecodeExpr(fi: FieldInfo, v: string): string {
  const es = fi.spec.enumSpec!;
  const cached = enumTables.get(es);
  if (cached) return `${cached}, ${v})`;
  const nums = [...es.names.keys()];
  const dense = nums.every((n) => Number.isInteger(n) && n >= 0 && n < 4096);
  if (dense) {
    const arr: (string | undefined)[] = new Array(Math.max(...nums, -1) + 1).fill(undefined);
    for (const [n, s] of es.names) arr[n] = s;
    enumTables.set(es, `H.en(${consts.ref(arr, 'EN')}`);
  } else {
    enumTables.set(es, `H.enMap(${consts.ref(es.names, 'EM')}`);
  }
  return `${enumTables.get(es)!}, ${v})`;
}

/** Domain value of a varint/fixed field from lo/hi (statements may precede it via `pre`). */
function scalarDecode(fi: FieldInfo, mi: string): { pre: string; expr: string } {
  const tagExpr = String(fi.tag);
  switch (fi.pt) {
    case 'uint32': case 'fixed32': return { pre: '', expr: 'lo >>> 0' };
    case 'int32': case 'sfixed32': return { pre: '', expr: 'lo | 0' };
    case 'sint32': return { pre: '', expr: '((lo >>> 1) ^ -(lo & 1)) | 0' };
    case 'bool': return { pre: '', expr: '(lo | hi) !== 0' };
    case 'enum': return { pre: '', expr: enumDecodeExpr(fi, 'lo | 0') };
    case 'uint64': case 'int64': case 'fixed64': case 'sfixed64': case 'sint64': {
      const pre = fi.pt === 'sint64' ? 'H.zz64(lo, hi); lo = R.lo; hi = R.hi;' : '';
      switch (fi.spec.scalar) {
        case 'u64': return { pre, expr: '(hi === 0 && lo < 1073741824 ? BigInt(lo) : H.big(lo, hi))' };
        case 'u64num': return { pre, expr: `(hi === 0 ? lo >>> 0 : H.u64num(lo, hi, ${mi}, ${tagExpr}))` };
        case 'i64num': return { pre, expr: `(hi === 0 ? lo >>> 0 : H.i64num(lo, hi, ${mi}, ${tagExpr}))` };
        default: throw new Error(`fast codec: ${fi.spec.fullName}: 64-bit field with domain kind ${fi.spec.scalar}`);
      }
    }
    default: throw new Error(`fast codec: ${fi.spec.fullName}: not a scalar`);
  }
}

/** Left out of the domain object when absent (FieldSpec.presence is also set on repeated message fields). */
function isOptional(fi: FieldInfo): boolean {
  return fi.spec.presence && !fi.spec.repeated;
}

function defaultExpr(fi: FieldInfo): string {
  const f = fi.spec;
  if (f.repeated || f.presence) return 'undefined';
  if (f.enumSpec) return jsStr(f.enumSpec.names.get(fi.enumDefault) ?? `enum-${fi.enumDefault}`);
  switch (f.scalar) {
    case 'u64': return '0n';
    case 'bool': return 'false';
    case 'string': return '""';
    case 'bytes': return 'undefined'; // a fresh empty array is made at the end
    default: return '0';
  }
}

/** The value stored in the result object for field `fi`. */
function finalExpr(fi: FieldInfo): string {
  if (fi.spec.repeated) return `(${fi.local} === undefined ? [] : ${fi.local})`;
  if (!fi.spec.presence && fi.pt === 'bytes') return `(${fi.local} === undefined ? new Uint8Array(0) : ${fi.local})`;
  return fi.local;
}

function pushTo(fi: FieldInfo, value: string): string {
  return `(${fi.local} === undefined ? (${fi.local} = []) : ${fi.local}).push(${value});`;
}

interface OneofMember { fi: FieldInfo; kind: string; decoder: string }

/**
 * Decoder source for one message. `kind` makes it a body decoder (objects start with `kind`).
 * For Event, `envelope` lists the envelope fields and `oneof` the body members.
 */
function genDecoder(spec: MessageSpec, fnName: string, opts: {
  kind?: string; fields?: FieldInfo[]; oneof?: OneofMember[]; envelope?: boolean;
} = {}): void {
  const infos = opts.fields ?? fieldInfos(spec);
  const mi = msgIndex(spec.name, opts.oneof ? [...infos, ...opts.oneof.map((m) => m.fi)] : infos);
  const v0: string[] = [];
  const v1: string[] = [];
  const v2: string[] = [];
  const v5: string[] = [];

  for (const fi of infos) {
    const f = fi.spec;
    if (fi.pt === 'message') {
      const sub = decoderFor(f.message!);
      const c = f.repeated
        ? pushTo(fi, `${sub}(buf, pos, e2, undefined)`)
        : `${fi.local} = ${sub}(buf, pos, e2, ${fi.local});`; // a message seen twice is merged
      v2.push(`case ${fi.tag}: ${c} break;`);
    } else if (fi.pt === 'string') {
      const e = `(len === 0 ? "" : H.str(buf, pos, e2, ${mi}, t, s))`;
      v2.push(`case ${fi.tag}: ${f.repeated ? pushTo(fi, e) : `${fi.local} = ${e};`} break;`);
    } else if (fi.pt === 'bytes') {
      const e = 'buf.slice(pos, e2)';
      v2.push(`case ${fi.tag}: ${f.repeated ? pushTo(fi, e) : `${fi.local} = ${e};`} break;`);
    } else {
      const { pre, expr } = scalarDecode(fi, mi);
      const wire = WIRE[fi.pt];
      const one = f.repeated ? pushTo(fi, expr) : `${fi.local} = ${expr};`;
      let read = '';
      if (wire === 5) read = 'lo = (buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16 | buf[pos + 3] << 24) >>> 0; hi = 0;';
      if (wire === 1) {
        read = 'lo = (buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16 | buf[pos + 3] << 24) >>> 0; ' +
          'hi = (buf[pos + 4] | buf[pos + 5] << 8 | buf[pos + 6] << 16 | buf[pos + 7] << 24) >>> 0;';
      }
      const target = wire === 0 ? v0 : wire === 1 ? v1 : v5;
      target.push(`case ${fi.tag}: ${read} ${pre} ${one} break;`);
      if (fi.packable) {
        const ptag = ((fi.id << 3) | 2) >>> 0;
        const width = wire === 1 ? 8 : wire === 5 ? 4 : 0;
        let loop: string;
        if (width === 0) {
          loop = `while (pos < e2) { ${readVarint(mi, 'e2')} ${pre} a.push(${expr}); }`;
        } else {
          loop = `if (len % ${width} !== 0) throw H.packed(${mi}, t, s, len, ${width});
            for (; pos < e2; pos += ${width}) { ${read} ${pre} a.push(${expr}); }`;
        }
        v2.push(`case ${ptag}: a = ${fi.local} === undefined ? (${fi.local} = []) : ${fi.local}; ${loop} break;`);
      }
    }
  }

  if (opts.oneof) {
    opts.oneof.forEach((m, i) => {
      v2.push(`case ${m.fi.tag}: body = ${m.decoder}(buf, pos, e2, oc === ${i + 1} ? body : undefined); oc = ${i + 1}; break;`);
    });
  }

  const zeroCheck = `default: if (t < 8) throw H.zero(${mi}, s);`;
  const locals = infos.map((fi) => `${fi.local} = ${defaultExpr(fi)}`);
  const merge = infos.map((fi) => `${fi.local} = prev.${fi.spec.name};`).join(' ');

  // result object: kind first, then fields in schema order; a leading run of always-present fields is a literal
  const props: string[] = [];
  if (opts.kind !== undefined) props.push(`kind: ${jsStr(opts.kind)}`);
  let i = 0;
  for (; i < infos.length && !isOptional(infos[i]!); i++) props.push(`${jsStr(infos[i]!.spec.name)}: ${finalExpr(infos[i]!)}`);
  const tail: string[] = [];
  for (; i < infos.length; i++) {
    const fi = infos[i]!;
    tail.push(isOptional(fi)
      ? `if (${fi.local} !== undefined) o.${fi.spec.name} = ${fi.local};`
      : `o.${fi.spec.name} = ${finalExpr(fi)};`);
  }
  if (opts.oneof) {
    if (tail.length) tail.push('o.body = body;');
    else props.push('body: body');
  }

  sources.push(`function ${fnName}(buf, pos, end, ${opts.oneof ? 'start' : 'prev'}) {
    var s = 0, t = 0, b = 0, lo = 0, hi = 0, len = 0, e2 = 0, a${opts.oneof ? ', oc = 0, body' : ''}${locals.length ? ', ' + locals.join(', ') : ''};
    ${opts.oneof ? '' : `if (prev !== undefined) { ${merge} }`}
    while (pos < end) {
      s = pos;
      t = buf[pos++];
      if (t > 127) { pos = H.tag(buf, s, end, ${mi}); t = R.v; }
      switch (t & 7) {
        case 0:
          ${readVarint(mi, 'end')}
          switch (t) { ${v0.join('\n')} ${zeroCheck} }
          break;
        case 2:
          b = buf[pos++]; len = b;
          if (b > 127) { pos = H.vlen(buf, pos - 1, end, ${mi}, t, s); len = R.v; }
          else if (pos > end) throw H.trunc(${mi}, t, s, "length", end);
          if (len > end - pos) throw H.past(${mi}, t, s, pos, len, end);
          e2 = pos + len;
          switch (t) { ${v2.join('\n')} ${zeroCheck} }
          pos = e2;
          break;
        case 1:
          if (end - pos < 8) throw H.trunc(${mi}, t, s, "fixed64", end);
          switch (t) { ${v1.join('\n')} ${zeroCheck} }
          pos += 8;
          break;
        case 5:
          if (end - pos < 4) throw H.trunc(${mi}, t, s, "fixed32", end);
          switch (t) { ${v5.join('\n')} ${zeroCheck} }
          pos += 4;
          break;
        case 3:
          if (t < 8) throw H.zero(${mi}, s);
          pos = H.group(buf, pos, end, t, s, ${mi});
          break;
        default:
          throw H.wire(${mi}, t, s);
      }
    }
    ${opts.oneof ? 'if (oc === 0) throw H.noBody(start, end);' : ''}
    var o = { ${props.join(', ')} };
    ${tail.join('\n    ')}
    return o;
  }`);
}

function decoderFor(spec: MessageSpec, kind?: string): string {
  const key = `${spec.fullName}|${kind ?? ''}`;
  let name = decNames.get(key);
  if (!name) {
    name = `dec${decNames.size}_${spec.name}${kind !== undefined ? '_' + kind : ''}`;
    decNames.set(key, name);
    genDecoder(spec, name, { kind });
  }
  return name;
}

// ---- encoders ----

function tagWrite(tag: number): string {
  return varintBytes(tag).map((b) => `buf[pos++] = ${b};`).join(' ');
}

function tagLen(tag: number): number {
  return varintBytes(tag).length;
}

/** Upper bound of the bytes a non-repeated fixed-size field takes (0 for variable-size ones). */
function fixedSize(fi: FieldInfo): number {
  if (fi.spec.repeated) return 0;
  const t = tagLen(fi.tag);
  switch (fi.pt) {
    case 'string': case 'bytes': return 0;
    case 'message': return t + 1;
    case 'fixed32': case 'sfixed32': return t + 4;
    case 'fixed64': case 'sfixed64': return t + 8;
    case 'bool': return t + 1;
    default: return t + 10;
  }
}

function isVariable(fi: FieldInfo): boolean {
  return fi.spec.repeated || fi.pt === 'string' || fi.pt === 'bytes' || fi.pt === 'message';
}

/**
 * Statements writing one value `x` of a numeric/bool/enum field (tag not included); `cond` receives the check that
 * decides whether a singular implicit-presence value is written (protobufjs' default omission).
 * Returns [conversion statements, omission condition (or ''), write statements].
 */
function scalarEncode(fi: FieldInfo, x: string): [string, string, string] {
  const f = fi.spec;
  const w32 = 'if (n < 128) buf[pos++] = n; else pos = H.wv32(buf, pos, n);';
  const w64 = 'if (hi === 0 && lo < 128) buf[pos++] = lo; else pos = H.wv64(buf, pos, lo, hi);';
  const fix32 = 'buf[pos++] = n; buf[pos++] = n >>> 8; buf[pos++] = n >>> 16; buf[pos++] = n >>> 24;';
  const fix64 = 'buf[pos++] = lo; buf[pos++] = lo >>> 8; buf[pos++] = lo >>> 16; buf[pos++] = lo >>> 24; ' +
    'buf[pos++] = hi; buf[pos++] = hi >>> 8; buf[pos++] = hi >>> 16; buf[pos++] = hi >>> 24;';
  switch (fi.pt) {
    case 'uint32': return ['', `${x} !== 0`, `n = ${x} >>> 0; ${w32}`];
    case 'int32': return ['', `${x} !== 0`, `n = ${x} | 0; if (n >= 0 && n < 128) buf[pos++] = n; else pos = H.wi32(buf, pos, n);`];
    case 'sint32': return ['', `${x} !== 0`, `n = ((${x} << 1) ^ (${x} >> 31)) >>> 0; ${w32}`];
    case 'fixed32': case 'sfixed32': return ['', `${x} !== 0`, `n = ${x} >>> 0; ${fix32}`];
    case 'bool': return ['', `${x} !== false`, `buf[pos++] = ${x} ? 1 : 0;`];
    case 'enum': {
      const map = consts.ref(f.enumSpec!.numbers, 'EV');
      return [
        `n = ${map}.get(${x}); if (n === undefined) n = H.enumNum(${x}, ${jsStr(fi.errName)}, ${jsStr(f.enumSpec!.name)});`,
        `n !== ${fi.enumDefault}`,
        'n |= 0; if (n >= 0 && n < 128) buf[pos++] = n; else pos = H.wi32(buf, pos, n);',
      ];
    }
    default: break;
  }
  if (!IS_64[fi.pt]) throw new Error(`fast codec: ${f.fullName}: no scalar encoder for ${fi.pt}`);
  let conv: string;
  let cond: string;
  if (f.scalar === 'u64') {
    // bigint, validated like codec.ts bigintToWire
    conv = `if (typeof ${x} !== "bigint" || BigInt.asUintN(64, ${x}) !== ${x}) throw H.badBig(${x}, ${jsStr(fi.errName)});
      S64[0] = ${x}; lo = S32[LO]; hi = S32[HI];`;
    cond = '(lo | hi) !== 0';
  } else {
    // JS number handed to protobufjs as is (LongBits.from semantics)
    conv = '';
    cond = `(typeof ${x} === "object" ? ${x}.low || ${x}.high : ${x} !== 0)`;
  }
  const split = f.scalar === 'u64' ? ''
    : `if (typeof ${x} === "number" && ${x} >= 0 && ${x} < 4294967296) { lo = ${x} >>> 0; hi = 0; } else { H.long(${x}); lo = R.lo; hi = R.hi; }`;
  const zz = fi.pt === 'sint64' ? 'H.zz64e(lo, hi); lo = R.lo; hi = R.hi;' : '';
  const wr = fi.pt === 'fixed64' || fi.pt === 'sfixed64' ? fix64 : w64;
  return [conv, cond, `${split} ${zz} ${wr}`];
}

/** Encoder statements for one field reading its value from expression `src`. `strict`: envelope field semantics. */
function genFieldEncode(fi: FieldInfo, src: string, restFixed: number, strict: boolean): string {
  const f = fi.spec;
  const ensureRest = restFixed > 0 ? `if (buf.length - pos < ${restFixed}) buf = w.grow(pos, ${restFixed});` : '';
  const lenFix = 'l = pos - st - 1; if (l < 128) buf[st] = l; else { pos = H.fixLen(w, st, l, pos); buf = w.buf; }';

  if (f.repeated) {
    let body: string;
    if (fi.pt === 'message') {
      const sub = encoderFor(f.message!);
      body = `for (i = 0; i < v.length; i++) {
        if (buf.length - pos < ${tagLen(fi.tag) + 1}) buf = w.grow(pos, ${tagLen(fi.tag) + 1});
        ${tagWrite(fi.tag)} st = pos++; w.pos = pos; ${sub}(w, v[i]); pos = w.pos; buf = w.buf; ${lenFix}
      }`;
    } else if (fi.pt === 'string' || fi.pt === 'bytes') {
      const helper = fi.pt === 'string' ? 'H.wstr' : 'H.wbytes';
      body = `for (i = 0; i < v.length; i++) {
        if (buf.length - pos < ${tagLen(fi.tag)}) buf = w.grow(pos, ${tagLen(fi.tag)});
        ${tagWrite(fi.tag)} pos = ${helper}(w, pos, v[i]); buf = w.buf;
      }`;
    } else {
      const [conv, , write] = scalarEncode(fi, 'x');
      if (fi.packed) {
        const ptag = ((fi.id << 3) | 2) >>> 0;
        body = `n = v.length * 10 + ${tagLen(ptag) + 5}; if (buf.length - pos < n) buf = w.grow(pos, n);
          ${tagWrite(ptag)} st = pos++;
          for (i = 0; i < v.length; i++) { x = v[i]; ${conv} ${write} }
          ${lenFix}`;
      } else {
        body = `n = v.length * ${tagLen(fi.tag) + 10}; if (buf.length - pos < n) buf = w.grow(pos, n);
          for (i = 0; i < v.length; i++) { x = v[i]; ${conv} ${tagWrite(fi.tag)} ${write} }`;
      }
    }
    return `v = ${src};
    if (v != null && v.length) { ${body} }
    ${ensureRest}`;
  }

  if (fi.pt === 'message') {
    const sub = encoderFor(f.message!);
    return `v = ${src};
    if (v != null) { ${tagWrite(fi.tag)} st = pos++; w.pos = pos; ${sub}(w, v); pos = w.pos; buf = w.buf; ${lenFix} }
    ${ensureRest}`;
  }
  if (fi.pt === 'string' || fi.pt === 'bytes') {
    const cond = fi.explicit ? 'v != null' : fi.pt === 'string' ? 'v != null && v !== ""' : 'v != null && v.length';
    const helper = fi.pt === 'string' ? 'H.wstr' : 'H.wbytes';
    return `v = ${src};
    if (${cond}) { if (buf.length - pos < ${tagLen(fi.tag)}) buf = w.grow(pos, ${tagLen(fi.tag)}); ${tagWrite(fi.tag)} pos = ${helper}(w, pos, v); buf = w.buf; }
    ${ensureRest}`;
  }
  const [conv, omit, write] = scalarEncode(fi, 'v');
  // the envelope's u64 and enum fields are converted (and so validated) even when null, as codec.ts does
  const converts = f.scalar === 'u64' || fi.pt === 'enum';
  const guard = strict && converts ? 'true' : 'v != null';
  const cond = fi.explicit ? '' : `if (${omit})`;
  return `v = ${src};
    if (${guard}) { ${conv} ${cond} { ${tagWrite(fi.tag)} ${write} } }`;
}

function genEncoderBody(fields: { fi: FieldInfo; src: string; strict: boolean }[]): string {
  const sorted = [...fields].sort((a, b) => a.fi.id - b.fi.id);
  const out: string[] = [];
  const first = sorted.reduce((n, x) => n + fixedSize(x.fi), 0);
  if (first > 0) out.push(`if (buf.length - pos < ${first}) buf = w.grow(pos, ${first});`);
  sorted.forEach((x, k) => {
    const rest = isVariable(x.fi) ? sorted.slice(k + 1).reduce((n, y) => n + fixedSize(y.fi), 0) : 0;
    out.push(genFieldEncode(x.fi, x.src, rest, x.strict));
  });
  return out.join('\n    ');
}

const ENC_LOCALS = 'var buf = w.buf, pos = w.pos, v, x, n = 0, lo = 0, hi = 0, st = 0, l = 0, i = 0;';

function encoderFor(spec: MessageSpec): string {
  const key = spec.fullName;
  let name = encNames.get(key);
  if (!name) {
    name = `enc${encNames.size}_${spec.name}`;
    encNames.set(key, name);
    const infos = fieldInfos(spec);
    const body = genEncoderBody(infos.map((fi) => ({ fi, src: `o.${fi.spec.name}`, strict: false })));
    sources.push(`function ${name}(w, o) {
    ${ENC_LOCALS}
    ${body}
    w.pos = pos;
  }`);
  }
  return name;
}

// ---- the Event: envelope + body ----

const eventInfos = fieldInfos(EVENT_SPEC);
const envelopeInfos = ENVELOPE_FIELDS.map((n) => {
  const fi = eventInfos.find((x) => x.spec.name === n);
  if (!fi) throw new Error(`fast codec: envelope field ${n} missing from Event`);
  return fi;
});
// codec.ts names envelope fields by their bare name in its errors
for (const fi of envelopeInfos) if (fi.spec.scalar === 'u64') fi.errName = fi.spec.name;

const bodyMembers: OneofMember[] = [...BODY_SPECS].map(([kind, spec]) => {
  const fi = eventInfos.find((x) => x.spec.name === kind);
  if (!fi) throw new Error(`fast codec: body ${kind} missing from Event`);
  return { fi, kind, decoder: decoderFor(spec, kind) };
});

genDecoder(EVENT_SPEC, 'dec_Event', { fields: envelopeInfos, oneof: bodyMembers });

const eventEncoderNames = new Map<string, string>();
for (const m of bodyMembers) {
  const name = `encEvent_${m.kind}`;
  eventEncoderNames.set(m.kind, name);
  const fields = [
    ...envelopeInfos.map((fi) => ({ fi, src: fi.spec.name === 'revision' ? 'rev' : `e.${fi.spec.name}`, strict: true })),
    { fi: m.fi, src: 'e.body', strict: false },
  ];
  sources.push(`function ${name}(w, e, rev) {
    ${ENC_LOCALS}
    ${genEncoderBody(fields)}
    w.pos = pos;
  }`);
}

// ---- whole messages outside the event stream: projector snapshots and migration records ----

/** Messages encoded and decoded on their own, by name (the snapshot and every migration record). */
export const STANDALONE_MESSAGES: readonly MessageSpec[] = [lookupMessage('DeviceState'), ...Object.values(MIGRATION_SPECS)];

const messageCodecs = STANDALONE_MESSAGES.map((spec) => {
  if (spec.name === 'Event') throw new Error('fast codec: Event has its own entry points');
  return `${jsStr(spec.name)}: { encode: ${encoderFor(spec)}, decode: ${decoderFor(spec)} }`;
});

// The functions live in one closure whose parameters are the helpers and scratch state, as a `new Function` body
// would: V8 inlines calls through the helper object's constant properties, which it does not do for calls
// through imported bindings (measured with bench/codec-ab.mjs: decode 5-15% slower that way on Node 20).
const GENERATED = [
  '// Generated by scripts/gen-proto.mjs (scripts/codegen/fast-codec.ts) from proto/devrec/v1/*.proto: do not edit.',
  '// The specialised codec of events, projector snapshots and migration records; runtime helpers: src/events/wire/.',
  '// @ts-nocheck',
  "import * as HELPERS from '../wire/helpers.js';",
  "import type { MsgInfo } from '../wire/read.js';",
  "import { HI, LO, R as SCRATCH, S32 as WORDS, S64 as WIDE } from '../wire/scratch.js';",
  '',
  '/** decodeEventAt: (buf, start, end, start) -> DeviceEvent; EVENT_ENCODERS: (writer, event, revision) by body kind;',
  ' *  MESSAGE_CODECS: encode (writer, object) and decode (buf, start, end, undefined) of each standalone message. */',
  'export const { decodeEventAt, EVENT_ENCODERS, MESSAGE_CODECS } = (function (H, R, S32, S64, LO, HI) {',
  '"use strict";',
  '',
  ...msgInfos,
  '',
  ...consts.names.map((n, i) => `const ${n} = ${constSource(consts.values[i])};`),
  '',
  ...sources.map((s) => s.replace(/^  /gm, '') + '\n'),
  'return {',
  '  decodeEventAt: dec_Event,',
  `  EVENT_ENCODERS: { ${[...eventEncoderNames].map(([k, n]) => `${jsStr(k)}: ${n}`).join(', ')} },`,
  `  MESSAGE_CODECS: {\n    ${messageCodecs.join(',\n    ')},\n  },`,
  '};',
  '})({ ...HELPERS }, SCRATCH, WORDS, WIDE, LO, HI);',
  '',
].join('\n');

/** The Event's body field numbers and their kinds (`oneof body`), for reading an event's kind without decoding it. */
const BODY_FIELDS_TABLE = [
  '/** Event.body: field number -> kind, as in proto/devrec/v1/events.proto (eventKindAt reads it). */',
  `export const EVENT_BODY_FIELDS: Readonly<Record<number, string>> = { ${bodyMembers.map((m) => `${m.fi.id}: ${jsStr(m.kind)}`).join(', ')} };`,
  '/** Per body kind that has any, its 64-bit fields the domain keeps as numbers (src/events/ranges.ts checks them). */',
  `export const EVENT_NUMBER64_FIELDS: Readonly<Record<string, readonly string[]>> = { ${bodyMembers
    .map((m) => [m.kind, m.fi.spec.message!.fields.filter((f) => !f.repeated && (f.scalar === 'u64num' || f.scalar === 'i64num')).map((f) => f.name)] as const)
    .filter(([, names]) => names.length > 0)
    .map(([kind, names]) => `${jsStr(kind)}: [${names.map(jsStr).join(', ')}]`).join(', ')} };`,
  '',
].join('\n');

/** The generated module's source text. */
export function fastCodecSource(): string {
  return GENERATED + BODY_FIELDS_TABLE;
}
