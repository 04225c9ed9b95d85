import { NET_MAX_VLAN } from '../../src/model/net-control.js';
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { CodecError, decodeEvent, decodeMessageOf, encodeEvent, encodeMessage } from '../../src/events/codec.js';
import { BODY_SPECS, EVENT_SPEC } from '../../src/events/event-spec.js';
import { withDefaults, type FieldSpec, type MessageSpec } from '../../src/events/schema.js';
import { EVENT_TYPE } from '../../src/events/schema-reflection.js';
import { decodeBatch, decodeStandalone, encodeStandalone, EventBatchWriter, eventKindAt, fastDecodeEvent, fastEncodeEvent } from '../../src/events/fast-codec.js';
import { fastCodecSource, STANDALONE_MESSAGES } from '../../scripts/codegen/fast-codec.js';
import type { DeviceEvent, EventBody, NewEvent } from '../../src/events/types.js';
import {
  MAX_CONFIG_BYTES, MAX_FEATURE_SELECT, MAX_NUM_QUEUES, MAX_PCI_CONFIG_BYTES, MAX_QUEUE_INDEX,
} from '../../src/model/limits.js';

// ---- sample events, built from the schema tables so every field of every body kind is covered ----

type Mode = 'typical' | 'max' | 'zero';

const U64_MAX = (1n << 64n) - 1n;
const LONG_TEXT = 'virtio-net ctrl vq: ' + 'ü€😀 abcdefghij '.repeat(10); // > 128 UTF-16 units, multi-byte

function scalarSample(f: FieldSpec, mode: Mode, seed: number): unknown {
  if (f.enumSpec) {
    const names = [...f.enumSpec.numbers.keys()];
    if (mode === 'zero') return f.enumSpec.names.get(0);
    if (mode === 'max') return names[names.length - 1];
    return names[1 + (seed % (names.length - 1))];
  }
  if (f.message) return messageSample(f.message, mode, seed + 1);
  switch (f.scalar) {
    case 'u32': return mode === 'zero' ? 0 : mode === 'max' ? 0xffffffff : 200 + seed * 977;
    case 'i32': return mode === 'zero' ? 0 : mode === 'max' ? -0x80000000 : -7 - seed;
    case 'u64': return mode === 'zero' ? 0n : mode === 'max' ? U64_MAX : (1n << 63n) | BigInt(0x12345 + seed);
    case 'u64num': return mode === 'zero' ? 0 : mode === 'max' ? Number.MAX_SAFE_INTEGER : 5_000_000_000 + seed;
    case 'i64num': return mode === 'zero' ? 0 : mode === 'max' ? Number.MAX_SAFE_INTEGER : -12345 - seed;
    case 'bool': return mode !== 'zero';
    case 'string': return mode === 'zero' ? '' : mode === 'max' ? LONG_TEXT : `dev${seed}-ü€😀`;
    case 'bytes':
      if (mode === 'zero') return new Uint8Array(0);
      if (mode === 'max') return Uint8Array.from({ length: 300 }, (_, i) => (i * 7 + seed) & 255);
      return Uint8Array.from([seed & 255, 0, 1, 255, 128]);
    default: throw new Error(`no sample for ${f.fullName}`);
  }
}

function fieldSample(f: FieldSpec, mode: Mode, seed: number): unknown {
  if (!f.repeated) return scalarSample(f, mode, seed);
  if (mode === 'zero') return [];
  if (mode === 'max') return [scalarSample(f, 'max', seed), scalarSample(f, 'typical', seed + 1), scalarSample(f, 'max', seed + 2)];
  // a default element inside a repeated field is written too (packed zeros, empty strings, empty messages)
  return [scalarSample(f, 'zero', seed), scalarSample(f, 'typical', seed + 1)];
}

function messageSample(spec: MessageSpec, mode: Mode, seed: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  spec.fields.forEach((f, i) => {
    out[f.name] = fieldSample(f, mode, seed + i);
  });
  return out;
}

const ENVELOPES: Record<Mode, Omit<NewEvent, 'body'> & { revision: number }> = {
  typical: { revision: 12345, timestampNs: 1_732_200_000_123_456_789n, actor: 'guest-driver', path: 'mmio', source: 'qemu-trace' },
  max: { revision: Number.MAX_SAFE_INTEGER, timestampNs: U64_MAX, actor: 'recorder', path: 'internal', source: 'simulation' },
  zero: { revision: 0, timestampNs: 0n, actor: 'unspecified', path: 'unspecified', source: 'unspecified' },
};

interface Sample { name: string; event: NewEvent; revision: number }

// Values past devrec's bounds (src/model/limits.ts) are refused by the encoder (see the range tests below): the
// round-trip samples stay at the bounds.
const CAPS: Record<string, number> = {
  index: MAX_QUEUE_INDEX, queue: MAX_QUEUE_INDEX, selectedQueue: MAX_QUEUE_INDEX, queueSelect: MAX_QUEUE_INDEX,
  numQueues: MAX_NUM_QUEUES, select: MAX_FEATURE_SELECT,
};
function withinCaps(kind: string, body: Record<string, unknown>): Record<string, unknown> {
  const out = { ...body };
  for (const [k, cap] of Object.entries(CAPS)) if (typeof out[k] === 'number' && (out[k] as number) > cap) out[k] = cap;
  if (kind === 'identified' && typeof out['configSize'] === 'number') out['configSize'] = Math.min(out['configSize'] as number, MAX_CONFIG_BYTES);
  if ((kind === 'configWritten' || kind === 'configRead') && typeof out['offset'] === 'number') out['offset'] = Math.min(out['offset'] as number, MAX_CONFIG_BYTES);
  if (kind === 'pciConfigWritten' && typeof out['offset'] === 'number') out['offset'] = Math.min(out['offset'] as number, MAX_PCI_CONFIG_BYTES);
  if (kind === 'snapshot' && out['state']) {
    const st = withinCaps('state', out['state'] as Record<string, unknown>);
    if (Array.isArray(st['queues'])) st['queues'] = (st['queues'] as Record<string, unknown>[]).map((q) => withinCaps('queue', q));
    out['state'] = st;
  }
  if (kind === 'snapshot' && out['stateV2']) {
    const st = withinCaps('stateV2', out['stateV2'] as Record<string, unknown>);
    if (Array.isArray(st['queues'])) st['queues'] = (st['queues'] as Record<string, unknown>[]).map((q) => withinCaps('queue', q));
    // VLAN ids are 12 bits
    const vlans = (st['netControl'] as { vlans?: { ids?: number[] } } | undefined)?.vlans;
    if (vlans?.ids) vlans.ids = vlans.ids.map((v) => v % NET_MAX_VLAN);
    out['stateV2'] = st;
  }
  return out;
}

function makeEvent(mode: Mode, body: Record<string, unknown>): { event: NewEvent; revision: number } {
  const { revision, ...env } = ENVELOPES[mode];
  return { event: { ...env, body: withinCaps(String(body['kind']), body) as unknown as EventBody }, revision };
}

const SAMPLES: Sample[] = [];
for (const [kind, spec] of BODY_SPECS) {
  const seed = kind.length;
  for (const mode of ['typical', 'max', 'zero'] as const) {
    SAMPLES.push({ name: `${kind} ${mode}`, ...makeEvent(mode, { kind, ...messageSample(spec, mode, seed) }) });
  }
  // all fields absent: proto3 defaults everywhere, presence fields left out (a snapshot needs its state)
  if (kind !== 'snapshot') SAMPLES.push({ name: `${kind} empty`, ...makeEvent('typical', { kind }) });
  // presence fields set to their zero value, everything else non-default
  const zeroPresence = messageSample(spec, 'typical', seed);
  for (const f of spec.fields) if (f.presence && !f.repeated) zeroPresence[f.name] = scalarSample(f, 'zero', seed);
  SAMPLES.push({ name: `${kind} presence-zero`, ...makeEvent('typical', { kind, ...zeroPresence }) });
}
// the shapes the recorder writes most
SAMPLES.push(
  { name: 'vqIndex small', ...makeEvent('typical', { kind: 'vqIndex', index: 0, usedIdx: 4711 }) },
  { name: 'vqIndex deltas', ...makeEvent('typical', { kind: 'vqIndex', index: 2, availDelta: 1, usedDelta: 0, availWrap: true }) },
  {
    name: 'queueConfigured addresses',
    ...makeEvent('typical', { kind: 'queueConfigured', index: 1, desc: 0x1_2345_6000n, driver: 0xffff_8000_0000_1000n, device: 1n << 63n }),
  },
  {
    name: 'registerAccess write',
    ...makeEvent('typical', {
      kind: 'registerAccess', transport: 'pci-modern', region: 'common-cfg', bar: 4, offset: 0x16, width: 2,
      direction: 'write', value: 0x1234n, msixEnabled: true, selectedQueue: 0, data: new Uint8Array(0), anomalies: [],
    }),
  },
  {
    name: 'unknown enum numbers',
    ...makeEvent('typical', { kind: 'vfioState', from: 'enum-9', to: 'enum-300' }),
  },
  {
    name: 'huge snapshot (3-byte lengths)',
    ...makeEvent('max', {
      kind: 'snapshot',
      state: { ...messageSample(BODY_SPECS.get('snapshot')!.byName.get('state')!.message!, 'max', 1), config: new Uint8Array(40000).fill(0xa5) },
    }),
  },
);

// ---- helpers ----

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function plain(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

function expected(e: NewEvent, revision: number): DeviceEvent {
  const spec = BODY_SPECS.get(e.body.kind)!;
  return {
    revision, timestampNs: e.timestampNs, actor: e.actor, path: e.path, source: e.source,
    body: { kind: e.body.kind, ...withDefaults<Record<string, unknown>>(spec, e.body as unknown as Record<string, unknown>) } as unknown as EventBody,
  };
}

function codecError(fn: () => unknown): CodecError {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof CodecError)) throw new Error(`expected CodecError, got ${String(err)}`);
    return err;
  }
  throw new Error('expected CodecError, nothing was thrown');
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function fieldBytes(num: number, wire: number, payload: number[]): number[] {
  return [...varint(num * 8 + wire), ...payload];
}

function lenField(num: number, content: ArrayLike<number>): number[] {
  return fieldBytes(num, 2, [...varint(content.length), ...Array.from(content)]);
}

function cat(...parts: ArrayLike<number>[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => Array.from(p)));
}

/** Event bytes split into envelope bytes and the body message bytes. */
function parts(e: NewEvent, revision: number): { envelope: Uint8Array; body: Uint8Array; bodyField: number } {
  const spec = BODY_SPECS.get(e.body.kind)!;
  const body = encodeMessage(spec, e.body as unknown as Record<string, unknown>);
  const bodyField = EVENT_TYPE.fields[e.body.kind]!.id;
  const full = encodeEvent(e, revision);
  const tail = lenField(bodyField, body).length;
  return { envelope: plain(full.subarray(0, full.length - tail)), body: plain(body), bodyField };
}

/** Both decoders agree: the same object, or both throw (the fast one a CodecError). */
function agree(bytes: Uint8Array): 'ok' | 'error' {
  let ref: DeviceEvent | undefined;
  let refErr: unknown;
  try {
    ref = decodeEvent(bytes);
  } catch (err) {
    refErr = err;
  }
  if (refErr) {
    codecError(() => fastDecodeEvent(bytes));
    return 'error';
  }
  expect(fastDecodeEvent(bytes)).to.deep.equal(ref);
  return 'ok';
}

// ---- tests ----

describe('fast event codec', () => {
  it('has samples for every body kind', () => {
    const kinds = new Set(SAMPLES.map((s) => s.event.body.kind));
    expect([...kinds].sort()).to.deep.equal([...BODY_SPECS.keys()].sort());
  });

  describe('encode', () => {
    for (const s of SAMPLES) {
      it(`is byte-identical to protobufjs: ${s.name}`, () => {
        const fast = fastEncodeEvent(s.event, s.revision);
        expect(hex(fast)).to.equal(hex(encodeEvent(s.event, s.revision)));
        expect(fast.constructor).to.equal(Uint8Array);
      });
    }

    it('returns independent arrays (the shared writer is not exposed)', () => {
      const a = fastEncodeEvent(SAMPLES[0]!.event, 1);
      const copy = hex(a);
      fastEncodeEvent(SAMPLES[1]!.event, 2);
      expect(hex(a)).to.equal(copy);
    });

    it('writes strings like protobufjs, lone surrogates included', () => {
      for (const message of ['\ud800', 'a\udc00b', 'x'.repeat(39) + '\ud83d', 'y'.repeat(60) + '\ud800z', '\ud83d'.repeat(200), 'é'.repeat(70)]) {
        const e = makeEvent('typical', { kind: 'annotation', severity: 'info', code: 'c', message });
        expect(hex(fastEncodeEvent(e.event, 1))).to.equal(hex(encodeEvent(e.event, 1)), JSON.stringify(message));
      }
    });

    it('writes out-of-range 32-bit numbers and non-integers as protobufjs does', () => {
      for (const index of [-1, 2 ** 32, 2 ** 32 + 5, 1.5, -0]) {
        const e = makeEvent('typical', { kind: 'vqIndex', index: 0, usedIdx: index });
        expect(hex(fastEncodeEvent(e.event, 7))).to.equal(hex(encodeEvent(e.event, 7)), String(index));
      }
      for (const revision of [2 ** 32, 2 ** 40 + 3, -1, 0.5]) {
        const e = makeEvent('typical', { kind: 'statusWritten', status: 15 });
        expect(hex(fastEncodeEvent(e.event, revision))).to.equal(hex(encodeEvent(e.event, revision)), String(revision));
      }
    });

    it('refuses values past the bounds of src/model/limits.ts, encoding and decoding alike (issue 15 items 4, 6-9)', () => {
      const bad: EventBody[] = [
        { kind: 'vqIndex', index: 2 ** 31 },
        { kind: 'queueSelected', index: 65536 },
        { kind: 'identified', aliases: [], type: 'net', virtioId: 1, transport: 'pci-modern', numQueues: 4294967295, configSize: 0, pciVendor: 0, pciDevice: 0, pciSubsystemVendor: 0, pciSubsystem: 0, pciRevision: 0, backend: '' },
        { kind: 'driverFeatures', select: 65535, value: 1n, highWords: [] },
        { kind: 'deviceFeatures', select: 4294967295, value: 1n, highWords: [] },
        { kind: 'snapshot' } as unknown as EventBody,
      ];
      for (const body of bad) {
        const e = makeEvent('typical', {}).event;
        const event = { ...e, body };
        expect(() => fastEncodeEvent(event, 1), body.kind).to.throw(CodecError);
        expect(() => encodeEvent(event, 1), body.kind).to.throw(CodecError);
        expect(() => new EventBatchWriter().add(event, 1), body.kind).to.throw(CodecError);
        // bytes another writer made (protobufjs directly, no checks): the decoders refuse them too
        const { kind, ...fields } = body as unknown as Record<string, unknown>;
        const raw = EVENT_TYPE.encode({ revision: 1, timestampNs: 1, actor: 1, path: 1, source: 1, [kind as string]: fields }).finish();
        expect(() => fastDecodeEvent(raw), kind as string).to.throw(CodecError);
        expect(() => decodeEvent(raw), kind as string).to.throw(CodecError);
      }
    });

    it('rejects what the reference rejects, with CodecError', () => {
      const bad: [string, NewEvent][] = [
        ['timestamp as number', { ...makeEvent('typical', { kind: 'statusRead', status: 1 }).event, timestampNs: 5 as unknown as bigint }],
        ['negative timestamp', { ...makeEvent('typical', { kind: 'statusRead', status: 1 }).event, timestampNs: -1n }],
        ['timestamp 2^64', { ...makeEvent('typical', { kind: 'statusRead', status: 1 }).event, timestampNs: 1n << 64n }],
        ['unknown actor', { ...makeEvent('typical', { kind: 'statusRead', status: 1 }).event, actor: 'nobody' as 'vmm' }],
        ['missing source', { ...makeEvent('typical', { kind: 'statusRead', status: 1 }).event, source: undefined as unknown as 'api' }],
        ['u64 body field as number', makeEvent('typical', { kind: 'parentFeatures', mgmtdev: 'x', value: 3, maxVqp: 1 }).event],
        ['u64 body field 2^64', makeEvent('typical', { kind: 'queueConfigured', index: 0, desc: 1n << 64n }).event],
        ['negative element of repeated u64', makeEvent('typical', { kind: 'featuresNegotiated', accepted: true, features: 1n, highWords: [1n, -2n] }).event],
        ['unknown body enum', makeEvent('typical', { kind: 'resetRequested', scope: 'everything', queue: 0 }).event],
        ['unknown kind', makeEvent('typical', { kind: 'teleported' }).event],
      ];
      for (const [name, e] of bad) {
        const ref = codecError(() => encodeEvent(e, 1));
        const fast = codecError(() => fastEncodeEvent(e, 1));
        expect(fast.message, name).to.equal(ref.message);
      }
    });
  });

  describe('decode', () => {
    for (const s of SAMPLES) {
      it(`is deep-equal to the reference decoder and round-trips: ${s.name}`, () => {
        const bytes = encodeEvent(s.event, s.revision);
        const ref = decodeEvent(bytes);
        const fast = fastDecodeEvent(bytes);
        expect(fast).to.deep.equal(ref);
        expect(fastDecodeEvent(plain(bytes))).to.deep.equal(ref);
        expect(fastDecodeEvent(fastEncodeEvent(s.event, s.revision))).to.deep.equal(expected(s.event, s.revision));
        // kind first, then the fields in schema order
        const spec = BODY_SPECS.get(s.event.body.kind)!;
        const present = spec.fields.map((f) => f.name).filter((n) => n in fast.body);
        expect(Object.keys(fast.body)).to.deep.equal(['kind', ...present]);
      });
    }

    it('decodes a range of a larger buffer, Buffer or not, and copies bytes fields', () => {
      const s = SAMPLES.find((x) => x.name === 'configWritten typical')!;
      const bytes = encodeEvent(s.event, 3);
      const big = Buffer.concat([Buffer.from([1, 2, 3]), bytes, Buffer.from([9, 9])]);
      const e = fastDecodeEvent(big, 3, 3 + bytes.length);
      expect(e).to.deep.equal(decodeEvent(bytes));
      const data = (e.body as { data: Uint8Array }).data;
      expect(data.constructor).to.equal(Uint8Array);
      const before = hex(data);
      big.fill(0);
      expect(hex(data)).to.equal(before);
      expect(() => fastDecodeEvent(big, 4, big.length + 1)).to.throw(RangeError);
    });

    it('skips unknown fields of every wire type, in the envelope and in bodies', () => {
      const unknowns = [
        fieldBytes(99, 0, varint(150)),
        fieldBytes(99, 0, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        lenField(99, [1, 2, 3]),
        lenField(99, new Uint8Array(200)),
        fieldBytes(99, 1, [1, 2, 3, 4, 5, 6, 7, 8]),
        fieldBytes(99, 5, [1, 2, 3, 4]),
        [...fieldBytes(99, 3, []), ...fieldBytes(1, 0, [5]), ...fieldBytes(7, 3, []), ...lenField(2, [1]), ...fieldBytes(7, 4, []), ...fieldBytes(99, 4, [])],
        fieldBytes(1_000_000, 0, [1]),
      ];
      for (const s of SAMPLES.filter((x) => / typical$/.test(x.name))) {
        const { envelope, body, bodyField } = parts(s.event, s.revision);
        const want = decodeEvent(encodeEvent(s.event, s.revision));
        for (const u of unknowns) {
          const inEnvelope = cat(envelope, u, lenField(bodyField, body));
          const afterBody = cat(envelope, lenField(bodyField, body), u);
          const inBody = cat(envelope, lenField(bodyField, cat(u, body, u)));
          for (const bytes of [inEnvelope, afterBody, inBody]) {
            expect(fastDecodeEvent(bytes), s.name).to.deep.equal(want);
            expect(decodeEvent(bytes), s.name).to.deep.equal(want);
          }
        }
      }
    });

    it('follows protobufjs on non-canonical input: last value wins, messages merge, last oneof member wins', () => {
      const vq = parts(makeEvent('typical', { kind: 'vqIndex', index: 3, usedIdx: 10 }).event, 1);
      const vq2 = encodeMessage(BODY_SPECS.get('vqIndex')!, { index: 0, availIdx: 5 });
      const st = parts(makeEvent('typical', { kind: 'statusWritten', status: 7 }).event, 1);
      const ra = SAMPLES.find((x) => x.name === 'registerAccess typical')!;
      const raParts = parts(ra.event, ra.revision);
      const admin = encodeMessage(BODY_SPECS.get('registerAccess')!.byName.get('admin')!.message!, { opcode: 9, status: 0 });
      const feat = BODY_SPECS.get('featuresNegotiated')!;
      const cases: Uint8Array[] = [
        cat(vq.envelope, lenField(vq.bodyField, vq.body), lenField(vq.bodyField, vq2)), // merged body
        cat(vq.envelope, lenField(vq.bodyField, vq.body), lenField(st.bodyField, st.body)), // other kind wins
        cat(vq.envelope, lenField(vq.bodyField, vq.body), lenField(st.bodyField, st.body), lenField(vq.bodyField, vq2)),
        cat(vq.envelope, fieldBytes(1, 0, [0]), fieldBytes(3, 0, [0]), lenField(vq.bodyField, vq.body)), // defaults after values
        cat(vq.envelope, fieldBytes(1, 2, [1, 5]), lenField(vq.bodyField, vq.body)), // known field, wrong wire type: skipped
        cat(raParts.envelope, lenField(raParts.bodyField, cat(raParts.body, lenField(10, admin)))), // nested message merged
        cat(raParts.envelope, lenField(raParts.bodyField, cat(raParts.body, lenField(11, []), lenField(12, [0x61])))),
        cat(vq.envelope, lenField(EVENT_TYPE.fields['featuresNegotiated']!.id, cat(
          fieldBytes(3, 0, varint(5)), lenField(3, [1, 2, 0x80, 0x01]), fieldBytes(3, 0, [0]), fieldBytes(2, 0, varint(3)),
        ))), // repeated u64 both packed and unpacked, appended
        cat(vq.envelope, fieldBytes(3, 0, [0xff, 0xff, 0xff, 0xff, 0x0f]), fieldBytes(4, 0, [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
          lenField(vq.bodyField, vq.body)), // unknown enum numbers, one negative
      ];
      void feat;
      for (const bytes of cases) expect(agree(bytes)).to.equal('ok');
    });

    it('eventKindAt reads the kind decoding gives, from the tags alone: every sample, unknown fields, last oneof member', () => {
      for (const s of SAMPLES) {
        const bytes = plain(encodeEvent(s.event, s.revision));
        expect(eventKindAt(bytes, 0, bytes.length), s.name).to.equal(fastDecodeEvent(bytes).body.kind);
        // inside a larger buffer, with unknown fields of every wire type around the body
        const { envelope, body, bodyField } = parts(s.event, s.revision);
        const framed = cat([0xff, 0xff], envelope, fieldBytes(99, 1, [1, 2, 3, 4, 5, 6, 7, 8]), lenField(bodyField, body), fieldBytes(99, 5, [1, 2, 3, 4]), fieldBytes(99, 0, varint(300)), [0xff]);
        expect(eventKindAt(framed, 2, framed.length - 1), s.name).to.equal(s.event.body.kind);
      }
      const vq = parts(makeEvent('typical', { kind: 'vqIndex', index: 3, usedIdx: 10 }).event, 1);
      const st = parts(makeEvent('typical', { kind: 'statusWritten', status: 7 }).event, 1);
      const two = cat(vq.envelope, lenField(vq.bodyField, vq.body), lenField(st.bodyField, st.body));
      expect(eventKindAt(two, 0, two.length)).to.equal(fastDecodeEvent(two).body.kind).and.to.equal('statusWritten');
    });

    it('eventKindAt agrees with decoding on every truncation, and answers undefined for broken framing or no body', () => {
      let framingBroken = 0;
      for (const s of SAMPLES.filter((x) => / typical$/.test(x.name))) {
        const bytes = plain(encodeEvent(s.event, s.revision));
        for (let n = 0; n < bytes.length; n++) {
          const kind = eventKindAt(bytes, 0, n);
          let decoded: DeviceEvent | undefined;
          try {
            decoded = fastDecodeEvent(bytes.subarray(0, n));
          } catch (err) {
            expect(err, `${s.name} cut at ${n}`).to.be.instanceOf(CodecError);
          }
          // where decoding succeeds the kinds agree; a kind read where decoding fails belongs to a complete body field
          if (decoded) expect(kind, `${s.name} cut at ${n}`).to.equal(decoded.body.kind);
          if (kind === undefined) framingBroken++;
        }
      }
      expect(framingBroken).to.be.greaterThan(0);
      const { envelope } = parts(SAMPLES[0]!.event, SAMPLES[0]!.revision);
      expect(eventKindAt(envelope, 0, envelope.length)).to.equal(undefined);
      const group = cat(envelope, fieldBytes(7, 3, []));
      expect(eventKindAt(group, 0, group.length)).to.equal(undefined);
    });

    it('throws CodecError for every truncation of every sample, whatever follows in the buffer', () => {
      for (const s of SAMPLES) {
        const bytes = plain(encodeEvent(s.event, s.revision));
        const padded = cat(bytes, new Uint8Array(16).fill(0xff));
        for (let n = 0; n < bytes.length; n++) {
          codecError(() => fastDecodeEvent(bytes.subarray(0, n)));
          codecError(() => fastDecodeEvent(padded, 0, n));
        }
      }
    });

    it('agrees with the reference on every truncation of a body message (of a long one: its first and last KiB, every 97th cut between)', () => {
      let ok = 0;
      for (const s of SAMPLES.filter((x) => !x.name.startsWith('huge'))) {
        const { envelope, body, bodyField } = parts(s.event, s.revision);
        // a cut inside a long bytes field reads the same way wherever it falls: each costs a decode of the whole
        // body by both codecs, so the 40 KB snapshot sample alone would take seconds
        const edge = 1024;
        for (let n = 0; n <= body.length; n += n < edge || n >= body.length - edge ? 1 : 97) {
          if (agree(cat(envelope, lenField(bodyField, body.subarray(0, n)))) === 'ok') ok++;
        }
      }
      expect(ok).to.be.greaterThan(0); // cuts at field boundaries are valid messages
    });

    it('names what was read and where in its errors', () => {
      const s = makeEvent('typical', { kind: 'vqIndex', index: 3, usedIdx: 4711 });
      const bytes = plain(encodeEvent(s.event, 1));
      // cut inside the 2-byte usedIdx varint, keeping the body length prefix consistent
      const { envelope, bodyField, body } = parts(s.event, 1);
      const cut = cat(envelope, lenField(bodyField, body.subarray(0, body.length - 1)));
      const at = envelope.length + 3 + 2; // envelope, body tag (2) + length (1), field 1 (2 bytes)
      expect(codecError(() => fastDecodeEvent(cut)).message).to.equal(
        `VqIndexChanged.usedIdx: truncated varint at byte ${at} (input ends at byte ${cut.length})`);
      expect(codecError(() => fastDecodeEvent(bytes.subarray(0, bytes.length - 1))).message).to.match(
        /^Event\.vqIndex: length 5 at byte \d+ runs past the end/);
      expect(codecError(() => fastDecodeEvent(cat(fieldBytes(1, 0, [1]), [0x00, 0x01]))).message).to.equal(
        'Event: invalid field number 0 at byte 2');
      expect(codecError(() => fastDecodeEvent(cat(fieldBytes(1, 0, new Array(10).fill(0xff)), [0x01]))).message).to.equal(
        'Event.revision: varint longer than 10 bytes at byte 0');
      expect(codecError(() => fastDecodeEvent(cat(fieldBytes(5, 7, [])))).message).to.equal(
        'Event.source: invalid wire type 7 at byte 0');
      expect(codecError(() => fastDecodeEvent(cat(fieldBytes(1, 0, [1])))).message).to.match(/no body/);
      const badUtf8 = makeEvent('typical', { kind: 'annotation', severity: 'info', code: 'x', message: 'y' });
      const p = parts(badUtf8.event, 1);
      expect(codecError(() => fastDecodeEvent(cat(p.envelope, lenField(p.bodyField, lenField(2, [0xc3, 0x28])))))
        .message).to.match(/^Annotation\.code: invalid UTF-8 in string at byte \d+$/);
    });

    it('only ever throws CodecError on corrupted bytes, and agrees with the reference when both decode', () => {
      let seed = 12345;
      const rnd = (n: number) => {
        seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0;
        return ((seed >>> 0) % n);
      };
      let both = 0;
      let differ = 0;
      for (const s of SAMPLES.filter((x) => !x.name.startsWith('huge'))) {
        const good = plain(encodeEvent(s.event, s.revision));
        for (let k = 0; k < 150; k++) {
          const bytes = good.slice();
          for (let m = 1 + rnd(3); m > 0; m--) bytes[rnd(bytes.length)] = rnd(4) === 0 ? 0x80 | rnd(128) : rnd(256);
          let ref: DeviceEvent | undefined;
          try {
            ref = decodeEvent(bytes);
          } catch {
            ref = undefined;
          }
          let fast: DeviceEvent | undefined;
          try {
            fast = fastDecodeEvent(bytes);
          } catch (err) {
            if (!(err instanceof CodecError)) throw err;
          }
          if (ref && fast) {
            both++;
            expect(fast, `${s.name}: ${hex(bytes)}`).to.deep.equal(ref);
          } else if (ref || fast) {
            differ++;
          }
        }
      }
      expect(both).to.be.greaterThan(100);
      // the decoders may disagree on whether a corrupted input is acceptable (see fast-codec.ts), but rarely
      expect(differ).to.be.lessThan(both / 20);
    });
  });

  describe('batches', () => {
    const events = SAMPLES.filter((s) => !s.name.startsWith('huge'));

    function batch(): { bytes: Uint8Array; offsets: number[] } {
      const w = new EventBatchWriter(64);
      const offsets: number[] = [];
      for (const s of events) {
        offsets.push(w.length);
        w.add(s.event, s.revision);
      }
      return { bytes: w.finish(), offsets };
    }

    it('writes u32-length-prefixed events that decodeBatch reads back', () => {
      const { bytes, offsets } = batch();
      const got: DeviceEvent[] = [];
      expect(decodeBatch(bytes, 0, bytes.length, (e) => got.push(e))).to.equal(events.length);
      events.forEach((s, i) => {
        const one = encodeEvent(s.event, s.revision);
        expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(offsets[i]!, true)).to.equal(one.length);
        expect(hex(bytes.subarray(offsets[i]! + 4, offsets[i]! + 4 + one.length))).to.equal(hex(one));
        expect(got[i]).to.deep.equal(decodeEvent(one));
      });
      expect(decodeBatch(bytes, offsets[3]!, offsets[5]!, () => {})).to.equal(2);
      expect(decodeBatch(bytes, 0, 0, () => {})).to.equal(0);
    });

    it('throws CodecError naming the offset of a corrupt or truncated length', () => {
      const { bytes, offsets } = batch();
      const at = offsets[4]!;
      const huge = bytes.slice();
      new DataView(huge.buffer).setUint32(at, 0xfffffff0, true);
      expect(codecError(() => decodeBatch(huge, 0, huge.length, () => {})).message).to.contain(`at byte ${at} `);
      const short = bytes.slice();
      const len = new DataView(short.buffer).getUint32(at, true);
      new DataView(short.buffer).setUint32(at, len + 1, true); // swallows a byte of the next prefix
      codecError(() => decodeBatch(short, 0, short.length, () => {}));
      expect(codecError(() => decodeBatch(bytes, 0, offsets[6]! + 2, () => {})).message).to.contain(`at byte ${offsets[6]}`);
      for (let n = 1; n < offsets[3]!; n++) {
        if (offsets.includes(n)) continue;
        codecError(() => decodeBatch(bytes, 0, n, () => {}));
      }
    });

    it('keeps views from finish() intact, and a failed add() leaves the batch unchanged', () => {
      const w = new EventBatchWriter(16);
      w.add(events[0]!.event, 1);
      const first = w.finish();
      const firstHex = hex(first);
      w.add(events[1]!.event, 2);
      expect(hex(first)).to.equal(firstHex);
      const before = w.length;
      const bad = makeEvent('typical', { kind: 'queueConfigured', index: 0, desc: -1n }).event;
      codecError(() => w.add(bad, 3));
      expect(w.length).to.equal(before);
      expect(w.events).to.equal(2);
      w.reset();
      w.add(events[2]!.event, 3);
      expect(hex(first)).to.equal(firstHex);
      const again = w.finish();
      expect(decodeBatch(again, 0, again.length, () => {})).to.equal(1);
    });
  });
});

describe('fast codec: generated at build time', () => {
  it('the committed src/events/generated/fast-codec.ts is what the generator writes now (run npm run proto)', () => {
    const committed = readFileSync(new URL('../../src/events/generated/fast-codec.ts', import.meta.url), 'utf8');
    expect(committed === fastCodecSource(), 'src/events/generated/fast-codec.ts is stale: run npm run proto').to.equal(true);
  });

  it('production code compiles nothing at run time and never encodes or decodes through protobufjs', () => {
    const src = new URL('../../src/', import.meta.url);
    const files = (readdirRecursive(src.pathname)).filter((f) => f.endsWith('.ts'));
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      expect(/new Function\(|\beval\(/.test(text), `${f} compiles code at run time`).to.equal(false);
      if (!f.endsWith('/events/codec.ts')) {
        expect(/from '[./]*events\/codec\.js'/.test(text) && /\b(encodeEvent|decodeEvent|encodeMessage|decodeMessageOf)\b/.test(text),
          `${f} uses the protobufjs reference codec`).to.equal(false);
      }
    }
  });
});

describe('fast codec: standalone messages (snapshots, migration records)', () => {
  for (const spec of STANDALONE_MESSAGES) {
    for (const mode of ['typical', 'max', 'zero'] as const) {
      it(`${spec.name} ${mode}: byte-identical to protobufjs, decodes deep-equal to it`, () => {
        const obj = messageSample(spec, mode, spec.name.length);
        const fast = encodeStandalone(spec, obj);
        const ref = encodeMessage(spec, obj);
        expect(hex(fast)).to.equal(hex(ref));
        expect(decodeStandalone(spec, fast)).to.deep.equal(decodeMessageOf(spec, ref));
        expect(decodeStandalone(spec, Buffer.from(fast))).to.deep.equal(withDefaults(spec, obj));
      });
    }
    it(`${spec.name}: every truncation is a CodecError or agrees with protobufjs`, () => {
      const bytes = encodeStandalone(spec, messageSample(spec, 'typical', 3));
      for (let n = 0; n < bytes.length; n++) {
        const cut = bytes.subarray(0, n);
        let ref: unknown;
        try {
          ref = decodeMessageOf(spec, cut);
        } catch {
          codecError(() => decodeStandalone(spec, cut));
          continue;
        }
        expect(decodeStandalone(spec, cut), `${n} bytes`).to.deep.equal(ref);
      }
    });
  }

  it('rejects what the reference rejects, with the same message', () => {
    const state = STANDALONE_MESSAGES.find((m) => m.name === 'DeviceState')!;
    const bad = { ...messageSample(state, 'typical', 1), timestampNs: 5 };
    expect(codecError(() => encodeStandalone(state, bad)).message).to.equal(codecError(() => encodeMessage(state, bad)).message);
  });
});

function readdirRecursive(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => `${dir.replace(/\/$/, '')}/${f}`);
}
