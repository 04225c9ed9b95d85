// Field tables derived from the protobuf schema, so the codec, the JSON form and the defaults all follow
// proto/devrec/v1/events.proto with no hand-kept copy of it. They are read straight from the generated descriptor
// (pbjs JSON) by the small resolver below, not through protobufjs reflection: every command projects state, and
// loading protobufjs would cost each of them its start-up time. protobufjs stays the reference codec and the code
// generator's reflection (schema-reflection.ts); a test checks both readings of the schema agree field by field.
import { eventsDescriptor } from './generated/events-descriptor.js';

const PACKAGE = 'devrec.v1';

/** 64-bit fields the domain keeps as JS numbers (positions and offsets, never past 2^53). */
const NUMBER_64 = new Set([
  'devrec.v1.Event.revision',
  'devrec.v1.RegisterAccess.offset',
  'devrec.v1.DeviceState.revision',
  'devrec.v1.DeviceState.eventCount',
  'devrec.v1.DeviceStateV2.revision',
  'devrec.v1.DeviceStateV2.eventCount',
]);

export type ScalarKind = 'u32' | 'i32' | 'u64' | 'u64num' | 'i64num' | 'bool' | 'string' | 'bytes';

export interface EnumSpec {
  name: string;
  /** wire number -> domain string */
  names: Map<number, string>;
  /** domain string -> wire number */
  numbers: Map<string, number>;
}

export interface FieldSpec {
  name: string;
  fullName: string;
  repeated: boolean;
  /** proto3 `optional` scalar or a message field: absence is meaningful */
  presence: boolean;
  /** declared `optional` (a message field may have presence without being declared so) */
  optional: boolean;
  scalar?: ScalarKind;
  enumSpec?: EnumSpec;
  message?: MessageSpec;
}

export interface MessageSpec {
  name: string;
  /** the message's full name with a leading dot, as protobuf writes it: `.devrec.v1.Event` */
  fullName: string;
  fields: FieldSpec[];
  byName: Map<string, FieldSpec>;
  /** oneof name -> its member field names, in declaration order */
  oneofs: Map<string, string[]>;
}

// ---- the descriptor as pbjs writes it (`pbjs -t json`) ----

interface DescriptorField { type: string; id: number; rule?: string; options?: Record<string, unknown>; keyType?: string }
interface DescriptorNode {
  nested?: Record<string, DescriptorNode>;
  fields?: Record<string, DescriptorField>;
  oneofs?: Record<string, { oneof: string[] }>;
  values?: Record<string, number>;
}

/** A schema: its namespace tree, and full name (no leading dot) -> message or enum node. */
export interface Descriptor { byName: Map<string, DescriptorNode> }

export function readDescriptor(json: unknown): Descriptor {
  const byName = new Map<string, DescriptorNode>();
  const walk = (node: DescriptorNode, prefix: string): void => {
    for (const [name, child] of Object.entries(node.nested ?? {})) {
      const full = prefix ? `${prefix}.${name}` : name;
      byName.set(full, child);
      walk(child, full);
    }
  };
  walk(json as DescriptorNode, '');
  return { byName };
}

/**
 * The full name a type reference in message `scope` names: protobuf's scoping, innermost scope first
 * (`Features` inside `DeviceStateV2` is `devrec.v1.DeviceStateV2.Features` when that exists).
 */
function resolveRef(d: Descriptor, scope: string, ref: string): string | undefined {
  if (ref.startsWith('.')) return d.byName.has(ref.slice(1)) ? ref.slice(1) : undefined;
  const parts = scope.split('.');
  for (let n = parts.length; n >= 0; n--) {
    const candidate = [...parts.slice(0, n), ref].join('.');
    if (d.byName.has(candidate)) return candidate;
  }
  return undefined;
}

const SCALARS: Record<string, ScalarKind> = {
  uint32: 'u32', fixed32: 'u32', int32: 'i32', sint32: 'i32', sfixed32: 'i32',
  uint64: 'u64', fixed64: 'u64', int64: 'u64', sint64: 'u64', sfixed64: 'u64',
  bool: 'bool', string: 'string', bytes: 'bytes',
};

function kebabEnumName(typeName: string, valueName: string): string {
  const prefix = typeName.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase() + '_';
  const bare = valueName.startsWith(prefix) ? valueName.slice(prefix.length) : valueName;
  return bare.toLowerCase().replace(/_/g, '-');
}

const enumCache = new Map<string, EnumSpec>();
function enumSpecOf(fullName: string, node: DescriptorNode): EnumSpec {
  let spec = enumCache.get(fullName);
  if (!spec) {
    const name = fullName.slice(fullName.lastIndexOf('.') + 1);
    spec = { name, names: new Map(), numbers: new Map() };
    for (const [valueName, num] of Object.entries(node.values ?? {})) {
      const s = kebabEnumName(name, valueName);
      spec.names.set(num, s);
      spec.numbers.set(s, num);
    }
    enumCache.set(fullName, spec);
  }
  return spec;
}

// Keyed by full name: migration.proto imports events.proto, and both descriptors hold the same event messages.
const messageCache = new Map<string, MessageSpec>();
/** The spec of message `fullName` (no leading dot) of descriptor `d`. */
export function messageSpecOf(d: Descriptor, fullName: string): MessageSpec {
  const cached = messageCache.get(fullName);
  if (cached) return cached;
  const node = d.byName.get(fullName);
  if (!node?.fields) throw new Error(`schema: ${fullName} is not a message`);
  const spec: MessageSpec = { name: fullName.slice(fullName.lastIndexOf('.') + 1), fullName: `.${fullName}`, fields: [], byName: new Map(), oneofs: new Map() };
  messageCache.set(fullName, spec);
  for (const [name, members] of Object.entries(node.oneofs ?? {})) spec.oneofs.set(name, [...members.oneof]);
  for (const [name, f] of Object.entries(node.fields)) {
    const qualified = `${fullName}.${name}`;
    if (f.keyType !== undefined) throw new Error(`schema: map field ${qualified} is not supported`);
    const optional = f.options?.['proto3_optional'] === true;
    const repeated = f.rule === 'repeated';
    const field: FieldSpec = { name, fullName: qualified, repeated, presence: false, optional };
    const scalar = SCALARS[f.type];
    if (scalar) {
      field.scalar = scalar === 'u64' && NUMBER_64.has(qualified) ? (f.type === 'int64' ? 'i64num' : 'u64num') : scalar;
      field.presence = !repeated && optional;
    } else {
      const ref = resolveRef(d, fullName, f.type);
      const target = ref === undefined ? undefined : d.byName.get(ref)!;
      if (ref === undefined || !target) throw new Error(`schema: ${qualified} has type ${f.type}, which the schema does not define`);
      if (target.values) {
        field.enumSpec = enumSpecOf(ref, target);
        field.presence = !repeated && optional;
      } else if (target.fields) {
        field.message = messageSpecOf(d, ref);
        field.presence = !repeated;
      } else {
        throw new Error(`schema: ${qualified} has type ${f.type}, which is neither a message nor an enum`);
      }
    }
    spec.fields.push(field);
    spec.byName.set(name, field);
  }
  return spec;
}

// Read on first use: importing this module costs nothing until a spec is asked for (`devrec devices` never asks).
let events: Descriptor | undefined;

export function lookupMessage(name: string): MessageSpec {
  return messageSpecOf((events ??= readDescriptor(eventsDescriptor)), `${PACKAGE}.${name}`);
}

/** The value a field has when the wire or the JSON leaves it out (proto3 defaults). */
export function defaultValue(f: FieldSpec): unknown {
  if (f.repeated) return [];
  if (f.presence) return undefined;
  if (f.enumSpec) return f.enumSpec.names.get(0);
  switch (f.scalar) {
    case 'u64': return 0n;
    case 'bool': return false;
    case 'string': return '';
    case 'bytes': return new Uint8Array(0);
    default: return 0;
  }
}

/** A complete object of `spec` from a partial one: absent non-presence fields get their defaults. */
export function withDefaults<T>(spec: MessageSpec, partial: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const f of spec.fields) {
    const v = partial[f.name];
    if (v === undefined) {
      const d = defaultValue(f);
      if (d !== undefined) out[f.name] = d;
    } else if (f.message && !f.repeated) {
      out[f.name] = withDefaults(f.message, v as Record<string, unknown>);
    } else if (f.message && f.repeated) {
      out[f.name] = (v as Record<string, unknown>[]).map((x) => withDefaults(f.message!, x));
    } else {
      out[f.name] = v;
    }
  }
  return out as T;
}
