// Micro benchmark of the event codec: reference (codec.ts, protobufjs) vs fast (fast-codec.ts).
// Run: npx tsx bench/codec.ts [--ms 400] [--rounds 5]
// Prints events/s (median of the rounds) per case; each round cycles through 1024 distinct events so values vary.
import { decodeEvent, encodeEvent } from '../src/events/codec.js';
import { decodeBatch, EventBatchWriter, fastDecodeEvent, fastEncodeEvent } from '../src/events/fast-codec.js';
import type { DeviceEvent, EventBody, NewEvent } from '../src/events/types.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const ROUND_MS = arg('ms', 400);
const ROUNDS = arg('rounds', 5);
const N_EVENTS = 1024;

// A literal, not `{ ...envelope, body }`: in Node 20 objects made by spread mostly get a hidden class each, which
// makes every property read of every consumer megamorphic (both codecs run ~5x slower on such events).
function event(i: number, body: EventBody): NewEvent {
  return { timestampNs: 1_732_200_000_000_000_000n + BigInt(i * 1_337), actor: 'device', path: 'mmio', source: 'qemu-trace', body };
}

const CASES: { name: string; make: (i: number) => EventBody }[] = [
  { name: 'vqIndex (2 fields)', make: (i) => ({ kind: 'vqIndex', index: i & 3, usedIdx: (i * 37) & 0xffff }) },
  {
    name: 'queueConfigured (64-bit addresses)',
    make: (i) => ({
      kind: 'queueConfigured', index: i & 7, size: 256,
      desc: 0x1_2345_0000n + BigInt(i << 12), driver: 0x1_2346_0000n + BigInt(i << 12), device: 0xffff_8000_0001_0000n + BigInt(i),
      enabled: true,
    }),
  },
  {
    name: 'registerAccess',
    make: (i) => ({
      kind: 'registerAccess', transport: 'pci-modern', region: 'common-cfg', bar: 4, offset: 0x1c + (i & 7), width: 2,
      direction: 'write', value: BigInt(i & 0xffff), msixEnabled: true, selectedQueue: i & 3, data: new Uint8Array(0),
      anomalies: [], valueUnseen: false,
    }),
  },
];

let sink: unknown;

/** events/s of `fn` over the sample indices, median of ROUNDS time-boxed rounds (after a warm-up round). */
function measure(fn: (i: number) => void): number {
  const rates: number[] = [];
  for (let r = -1; r < ROUNDS; r++) {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ROUND_MS) {
      for (let i = 0; i < N_EVENTS; i++) fn(i);
      n += N_EVENTS;
      t = performance.now();
    }
    if (r >= 0) rates.push((n / (t - t0)) * 1000);
  }
  rates.sort((a, b) => a - b);
  return rates[rates.length >> 1]!;
}

function fmt(rate: number): string {
  return rate >= 1e6 ? `${(rate / 1e6).toFixed(2)}M/s` : `${(rate / 1e3).toFixed(0)}k/s`;
}

console.log(`node ${process.version}, ${ROUNDS} rounds of ${ROUND_MS} ms, median; ${N_EVENTS} distinct events per case`);
for (const c of CASES) {
  const events: NewEvent[] = Array.from({ length: N_EVENTS }, (_, i) => event(i, c.make(i)));
  const encoded = events.map((e, i) => encodeEvent(e, 1000 + i));
  const encodedPlain = encoded.map((b) => new Uint8Array(b));
  for (let i = 0; i < N_EVENTS; i++) {
    if (Buffer.compare(fastEncodeEvent(events[i]!, 1000 + i), encoded[i]!) !== 0) throw new Error(`${c.name}: bytes differ`);
  }

  const refEnc = measure((i) => { sink = encodeEvent(events[i]!, 1000 + i); });
  const fastEnc = measure((i) => { sink = fastEncodeEvent(events[i]!, 1000 + i); });
  const refDec = measure((i) => { sink = decodeEvent(encoded[i]!); });
  const fastDec = measure((i) => { sink = fastDecodeEvent(encodedPlain[i]!); });

  // batch: append to a reusable writer (one batch of N_EVENTS per call group), and decode a whole batch
  const w = new EventBatchWriter(1 << 20);
  const batchAdd = measure((i) => {
    if (i === 0) w.reset();
    w.add(events[i]!, 1000 + i);
  });
  w.reset();
  events.forEach((e, i) => w.add(e, 1000 + i));
  const batch = w.finish().slice();
  const onEvent = (e: DeviceEvent) => { sink = e; };
  // measure() counts N_EVENTS per pass, and each pass decodes the whole batch once: the rate is events/s
  const batchDec = measure((i) => {
    if (i === 0) decodeBatch(batch, 0, batch.length, onEvent);
  });

  console.log(`\n${c.name}: ${encoded[0]!.length} bytes`);
  console.log(`  encode  reference ${fmt(refEnc).padStart(9)}   fast ${fmt(fastEnc).padStart(9)}   x${(fastEnc / refEnc).toFixed(1)}`);
  console.log(`  decode  reference ${fmt(refDec).padStart(9)}   fast ${fmt(fastDec).padStart(9)}   x${(fastDec / refDec).toFixed(1)}`);
  console.log(`  batch   EventBatchWriter.add ${fmt(batchAdd).padStart(9)}   decodeBatch ${fmt(batchDec).padStart(9)}`);
}
void sink;
