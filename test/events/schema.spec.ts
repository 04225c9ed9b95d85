// schema.ts reads the generated descriptors without protobufjs (so commands start without loading it); protobufjs'
// own reflection of the same descriptors is the oracle here: every message of both schemas, field by field.
import { expect } from 'chai';
import protobuf from 'protobufjs/light.js';
import { eventsDescriptor } from '../../src/events/generated/events-descriptor.js';
import { migrationDescriptor } from '../../src/events/generated/migration-descriptor.js';
import { BODY_SPECS } from '../../src/events/event-spec.js';
import { messageSpecOf, readDescriptor, type MessageSpec } from '../../src/events/schema.js';
import { eventsRoot, migrationRoot, reflectionType } from '../../src/events/schema-reflection.js';

function allTypes(ns: protobuf.NamespaceBase): protobuf.Type[] {
  const out: protobuf.Type[] = [];
  for (const o of ns.nestedArray) {
    if (o instanceof protobuf.Type) out.push(o);
    if (o instanceof protobuf.Namespace || o instanceof protobuf.Type) out.push(...allTypes(o as protobuf.NamespaceBase));
  }
  return out;
}

/** What protobufjs says about a message, in the shape schema.ts gives. */
function oracle(t: protobuf.Type) {
  return {
    fullName: t.fullName,
    oneofs: Object.fromEntries(Object.entries(t.oneofs ?? {}).map(([k, o]) => [k, o.fieldsArray.map((f) => f.name)])),
    fields: t.fieldsArray.map((f) => {
      f.resolve();
      const rt = f.resolvedType;
      return {
        name: f.name,
        repeated: f.repeated,
        optional: Boolean(f.options?.['proto3_optional']),
        presence: !f.repeated && (Boolean(f.options?.['proto3_optional']) || rt instanceof protobuf.Type),
        message: rt instanceof protobuf.Type ? rt.fullName : undefined,
        enumValues: rt instanceof protobuf.Enum ? Object.values(rt.values).sort((a, b) => a - b) : undefined,
        scalarType: rt ? undefined : f.type,
      };
    }),
  };
}

function ours(s: MessageSpec) {
  return {
    fullName: s.fullName,
    oneofs: Object.fromEntries(s.oneofs),
    fields: s.fields.map((f) => ({
      name: f.name,
      repeated: f.repeated,
      optional: f.optional,
      presence: f.presence,
      message: f.message?.fullName,
      enumValues: f.enumSpec ? [...f.enumSpec.names.keys()].sort((a, b) => a - b) : undefined,
      scalarType: f.scalar === undefined ? undefined : reflectionType(s).fields[f.name]!.type,
    })),
  };
}

describe('schema tables read from the descriptors without protobufjs', () => {
  for (const [label, root, json] of [['events', eventsRoot, eventsDescriptor], ['migration', migrationRoot, migrationDescriptor]] as const) {
    it(`match protobufjs reflection for every message of the ${label} schema`, () => {
      const d = readDescriptor(json);
      const types = allTypes(root);
      expect(types.length).to.be.greaterThan(20);
      for (const t of types) expect(ours(messageSpecOf(d, t.fullName.slice(1))), t.fullName).to.deep.equal(oracle(t));
    });
  }

  it('keeps 64-bit positions as numbers and other 64-bit fields as bigint', () => {
    const rev = messageSpecOf(readDescriptor(eventsDescriptor), 'devrec.v1.Event').byName.get('revision')!;
    expect(rev.scalar).to.equal('u64num');
    expect(BODY_SPECS.get('featuresNegotiated')!.fields.some((f) => f.scalar === 'u64')).to.equal(true);
  });

  it('refuses a reference to a type the schema does not define, naming the field', () => {
    const bad = { nested: { x: { nested: { M: { fields: { f: { type: 'Missing', id: 1 } } } } } } };
    expect(() => messageSpecOf(readDescriptor(bad), 'x.M')).to.throw('x.M.f has type Missing');
  });
});
