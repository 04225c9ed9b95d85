// protobufjs reflection of the schema, for what needs protobufjs itself: the reference codec (codec.ts, the tests'
// oracle) and the fast-codec generator (wire ids, packing). Commands never load it: their field tables come from
// schema.ts, which reads the same generated descriptors without protobufjs.
import protobuf from 'protobufjs/light.js'; // reflection and codec, without the .proto parser devrec never uses at run time
import { eventsDescriptor } from './generated/events-descriptor.js';
import { migrationDescriptor } from './generated/migration-descriptor.js';
import type { MessageSpec } from './schema.js';

export const eventsRoot = protobuf.Root.fromJSON(eventsDescriptor as unknown as protobuf.INamespace);
eventsRoot.resolveAll();
// migration.proto imports events.proto: its descriptor holds the event messages too
export const migrationRoot = protobuf.Root.fromJSON(migrationDescriptor as unknown as protobuf.INamespace);
migrationRoot.resolveAll();

/** The protobufjs type of a message spec (events schema first, then the migration schema). */
export function reflectionType(spec: MessageSpec | string): protobuf.Type {
  const name = typeof spec === 'string' ? spec : spec.fullName;
  const found = eventsRoot.lookup(name) ?? migrationRoot.lookup(name);
  if (!(found instanceof protobuf.Type)) throw new Error(`schema reflection: no message ${name}`);
  return found;
}

export const EVENT_TYPE = reflectionType('.devrec.v1.Event');
