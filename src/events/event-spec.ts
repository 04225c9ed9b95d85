// The Event message's tables, from the schema (schema.ts): its spec, the envelope fields, the body kinds with their
// message specs, and the enums the domain names. Built when this module is first imported; the decoder and the
// reducer do not import it, so a command that only reads events does not pay for it.
import { lookupMessage, type MessageSpec } from './schema.js';

export const EVENT_SPEC = lookupMessage('Event');
export const ENVELOPE_FIELDS = ['revision', 'timestampNs', 'actor', 'path', 'source'] as const;

/** Body kind (the oneof member name, e.g. `queueConfigured`) -> its message spec. */
export const BODY_SPECS: ReadonlyMap<string, MessageSpec> = (() => {
  const oneof = EVENT_SPEC.oneofs.get('body');
  if (!oneof) throw new Error('events schema: Event has no body oneof');
  const map = new Map<string, MessageSpec>();
  for (const name of oneof) {
    const spec = EVENT_SPEC.byName.get(name)?.message;
    if (!spec) throw new Error(`events schema: body ${name} is not a message`);
    // The JSON form is flat ({kind, ...body fields} beside the envelope): names must not collide.
    for (const bf of spec.fields) {
      if ((ENVELOPE_FIELDS as readonly string[]).includes(bf.name) || bf.name === 'kind') {
        throw new Error(`events schema: body ${name} field ${bf.name} collides with the envelope`);
      }
    }
    map.set(name, spec);
  }
  return map;
})();

export const ENUMS = {
  actor: EVENT_SPEC.byName.get('actor')!.enumSpec!,
  path: EVENT_SPEC.byName.get('path')!.enumSpec!,
  source: EVENT_SPEC.byName.get('source')!.enumSpec!,
  transport: lookupMessage('DeviceIdentified').byName.get('transport')!.enumSpec!,
  vfioState: lookupMessage('VfioStateChanged').byName.get('to')!.enumSpec!,
  acceptedVia: lookupMessage('DeviceStateV2.Features').byName.get('acceptedVia')!.enumSpec!,
  negotiation: lookupMessage('DeviceStateV2.Features').byName.get('negotiation')!.enumSpec!,
};

