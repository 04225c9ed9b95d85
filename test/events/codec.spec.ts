import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { decodeEvent, encodeEvent, CodecError } from '../../src/events/codec.js';
import { BODY_SPECS } from '../../src/events/event-spec.js';
import { eventFromJson, eventToJson, FieldError } from '../../src/events/json.js';
import type { NewEvent } from '../../src/events/types.js';
import { netLifecycle } from '../../src/sim/net-lifecycle.js';
// @ts-expect-error plain ESM script without types
import { GENERATED, descriptorSource } from '../../scripts/gen-proto.mjs';

describe('events: schema, binary codec and JSON form', function () {
  it('the generated descriptor matches proto/ (run npm run proto after editing a .proto)', function () {
    for (const g of GENERATED as { proto: string; file: string; name: string }[]) {
      const committed = readFileSync(`src/events/generated/${g.file}`, 'utf8');
      expect(committed, `${g.file} is stale`).to.equal(descriptorSource(g.proto, g.name));
    }
  });

  it('covers every event kind the issue asks for', function () {
    expect([...BODY_SPECS.keys()]).to.include.members([
      'registerAccess', 'deviceFeatures', 'parentFeatures', 'provisioned', 'driverFeatures', 'featuresNegotiated',
      'statusWritten', 'resetRequested', 'resetCompleted', 'queueSelected', 'queueConfigured', 'vqIndex',
      'configWritten', 'configRead', 'msix', 'pciConfigWritten', 'controlCommand', 'vfioState', 'snapshot', 'annotation',
    ]);
  });

  it('round-trips every event of a real lifecycle through bytes and JSON', function () {
    let n = 0;
    for (const { event } of netLifecycle({ trafficRounds: 5 })) {
      const decoded = decodeEvent(encodeEvent(event, n));
      expect(decoded).to.deep.equal({ ...event, revision: n });
      const json = JSON.parse(JSON.stringify(eventToJson(decoded)));
      expect(eventFromJson(json)).to.deep.equal(event);
      n++;
    }
    expect(n).to.be.greaterThan(50);
  });

  it('keeps presence: a field set to 0 is not a field left out', function () {
    const e: NewEvent = { timestampNs: 5n, actor: 'guest-driver', path: 'io-bar', source: 'api', body: { kind: 'queueConfigured', index: 0, pfn: 0 } };
    const d = decodeEvent(encodeEvent(e, 0));
    expect(d.body).to.deep.equal({ kind: 'queueConfigured', index: 0, pfn: 0 });
    expect('size' in d.body).to.equal(false);
  });

  it('keeps bit 63 and 128-bit feature words', function () {
    const e: NewEvent = { timestampNs: 0xffffffffffffffffn, actor: 'device', path: 'internal', source: 'api', body: { kind: 'deviceFeatures', value: 0x8000000000000001n, highWords: [0x8000000000000000n] } };
    const d = decodeEvent(encodeEvent(e, 3));
    expect(d.timestampNs).to.equal(0xffffffffffffffffn);
    expect(d.body).to.deep.equal(e.body);
    expect(eventToJson(d)).to.include({ value: '0x8000000000000001', timestampNs: '18446744073709551615', time: '2554-07-21T23:34:33.709551615Z' });
  });

  it('rejects malformed bytes with a CodecError, never another error', function () {
    const good = encodeEvent({ timestampNs: 1n, actor: 'vmm', path: 'mmio', source: 'api', body: { kind: 'configWritten', offset: 4, data: Uint8Array.from([1, 2, 3]) } }, 1);
    for (let cut = 1; cut < good.length; cut++) {
      try {
        decodeEvent(good.subarray(0, cut));
      } catch (err) {
        expect(err).to.be.instanceOf(CodecError);
      }
    }
    expect(() => decodeEvent(Uint8Array.from([0x08, 0x01]))).to.throw(CodecError, /no body/);
    expect(() => encodeEvent({ timestampNs: -1n, actor: 'vmm', path: 'mmio', source: 'api', body: { kind: 'statusWritten', status: 1 } }, 0)).to.throw(CodecError, /timestampNs/);
  });

  it('JSON parsing names the field and the reason', function () {
    const bad: [unknown, string, RegExp][] = [
      [{ kind: 'nope' }, 'kind', /unknown event kind/],
      [{ status: 1 }, 'kind', /missing/],
      [{ kind: 'statusWritten', status: -1 }, 'status', /0\.\.4294967295/],
      [{ kind: 'statusWritten', status: 1, stauts: 2 }, 'stauts', /unknown field/],
      [{ kind: 'deviceFeatures', value: 18446744073709551615 }, 'value', /cannot hold a 64-bit value exactly/],
      [{ kind: 'deviceFeatures', value: '0x1ffffffffffffffff' }, 'value', /outside unsigned 64-bit/],
      [{ kind: 'configWritten', offset: 0, data: 'xyz' }, 'data', /hex byte string/],
      [{ kind: 'registerAccess', direction: 'sideways' }, 'direction', /expected one of/],
      [{ kind: 'queueConfigured', index: 0, enabled: 'yes' }, 'enabled', /true or false/],
      [{ kind: 'statusWritten', status: 1, time: 'yesterday' }, 'time', /ISO 8601/],
      [{ kind: 'snapshot', state: { queues: [{ size: 'big' }] } }, 'state.queues[0].size', /integer/],
    ];
    for (const [input, field, reason] of bad) {
      let err: unknown;
      try {
        eventFromJson(input);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(input)).to.be.instanceOf(FieldError);
      expect((err as FieldError).field).to.equal(field);
      expect((err as FieldError).message).to.match(reason);
    }
  });

  it('JSON accepts hex, decimal and byte arrays, and fills defaults', function () {
    const e = eventFromJson({ kind: 'registerAccess', offset: '0x14', value: 255, data: [1, 2], direction: 'read' }, { source: 'ndjson' });
    expect(e.body).to.deep.include({ offset: 20, value: 255n, direction: 'read', region: 'unspecified', width: 0, msixEnabled: false });
    expect([...(e.body as { data: Uint8Array }).data]).to.deep.equal([1, 2]);
    expect(e.source).to.equal('ndjson');
  });
});
