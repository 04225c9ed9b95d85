// Field tables derived from the protobuf schema at load time, so the codec, the JSON form and the defaults all
// follow proto/devrec/v1/events.proto with no hand-kept copy of it.
import protobuf from 'protobufjs/light.js'; // reflection and codec, without the .proto parser devrec never uses at run time
import { eventsDescriptor } from './generated/events-descriptor.js';

export const protoRoot = protobuf.Root.fromJSON(eventsDescriptor as unknown as protobuf.INamespace);
protoRoot.resolveAll();

const PACKAGE = 'devrec.v1';

/** 64-bit fields the domain keeps as JS numbers (positions and offsets, never past 2^53). */
const NUMBER_64 = new Set([
  'devrec.v1.Event.revision',
  'devrec.v1.RegisterAccess.offset',
  'devrec.v1.DeviceState.revision',
  'devrec.v1.DeviceState.eventCount',
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
  scalar?: ScalarKind;
  enumSpec?: EnumSpec;
  message?: MessageSpec;
}

export interface MessageSpec {
  name: string;
  type: protobuf.Type;
  fields: FieldSpec[];
  byName: Map<string, FieldSpec>;
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
function enumSpecOf(e: protobuf.Enum): EnumSpec {
  let spec = enumCache.get(e.fullName);
  if (!spec) {
    spec = { name: e.name, names: new Map(), numbers: new Map() };
    for (const [valueName, num] of Object.entries(e.values)) {
      const s = kebabEnumName(e.name, valueName);
      spec.names.set(num, s);
      spec.numbers.set(s, num);
    }
    enumCache.set(e.fullName, spec);
  }
  return spec;
}

const messageCache = new Map<string, MessageSpec>();
export function messageSpec(type: protobuf.Type): MessageSpec {
  const cached = messageCache.get(type.fullName);
  if (cached) return cached;
  const spec: MessageSpec = { name: type.name, type, fields: [], byName: new Map() };
  messageCache.set(type.fullName, spec);
  for (const f of type.fieldsArray) {
    const fullName = `${type.fullName.replace(/^\./, '')}.${f.name}`;
    const field: FieldSpec = {
      name: f.name,
      fullName,
      repeated: f.repeated,
      presence: !f.repeated && (Boolean(f.options?.['proto3_optional']) || f.resolvedType instanceof protobuf.Type),
    };
    if (f.resolvedType instanceof protobuf.Enum) field.enumSpec = enumSpecOf(f.resolvedType);
    else if (f.resolvedType instanceof protobuf.Type) field.message = messageSpec(f.resolvedType);
    else {
      const scalar = SCALARS[f.type];
      if (!scalar) throw new Error(`events schema: unsupported field type ${f.type} of ${fullName}`);
      field.scalar = scalar === 'u64' && NUMBER_64.has(fullName)
        ? (f.type === 'int64' ? 'i64num' : 'u64num')
        : scalar;
    }
    spec.fields.push(field);
    spec.byName.set(field.name, field);
  }
  return spec;
}

export function lookupMessage(name: string): MessageSpec {
  return messageSpec(protoRoot.lookupType(`${PACKAGE}.${name}`));
}

export const EVENT_SPEC = lookupMessage('Event');
export const EVENT_TYPE = EVENT_SPEC.type;
export const ENVELOPE_FIELDS = ['revision', 'timestampNs', 'actor', 'path', 'source'] as const;

/** Body kind (the oneof member name, e.g. `queueConfigured`) -> its message spec. */
export const BODY_SPECS: ReadonlyMap<string, MessageSpec> = (() => {
  const oneof = EVENT_TYPE.oneofs['body'];
  if (!oneof) throw new Error('events schema: Event has no body oneof');
  const map = new Map<string, MessageSpec>();
  for (const f of oneof.fieldsArray) {
    const spec = EVENT_SPEC.byName.get(f.name)?.message;
    if (!spec) throw new Error(`events schema: body ${f.name} is not a message`);
    // The JSON form is flat ({kind, ...body fields} beside the envelope): names must not collide.
    for (const bf of spec.fields) {
      if ((ENVELOPE_FIELDS as readonly string[]).includes(bf.name) || bf.name === 'kind') {
        throw new Error(`events schema: body ${f.name} field ${bf.name} collides with the envelope`);
      }
    }
    map.set(f.name, spec);
  }
  return map;
})();

export const ENUMS = {
  actor: EVENT_SPEC.byName.get('actor')!.enumSpec!,
  path: EVENT_SPEC.byName.get('path')!.enumSpec!,
  source: EVENT_SPEC.byName.get('source')!.enumSpec!,
  transport: lookupMessage('DeviceIdentified').byName.get('transport')!.enumSpec!,
  vfioState: lookupMessage('VfioStateChanged').byName.get('to')!.enumSpec!,
};

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
