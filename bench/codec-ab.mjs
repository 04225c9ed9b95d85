// A/B of two builds of the fast codec in one process, rounds interleaved (A B A B ...), so the load of a shared
// machine hits both alike. Each argument is a compiled checkout's dist/ directory (npx tsc -p tsconfig.json):
//   git archive <before> | tar -x -C /tmp/before && (cd /tmp/before && ln -s $PWD/node_modules . && npx tsc -p tsconfig.json)
//   node --expose-gc bench/codec-ab.mjs /tmp/before/dist dist [--rounds 15] [--ms 200]
// Prints events/s per case and direction, median of the rounds, and after/before.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [aDir, bDir] = process.argv.slice(2, 4);
if (!aDir || !bDir) {
  console.error('usage: node bench/codec-ab.mjs BEFORE_DIST AFTER_DIST [--rounds N] [--ms MS]');
  process.exit(1);
}
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 15);
const ROUND_MS = arg('ms', 200);
const N = 1024;
const load = (dir) => import(pathToFileURL(path.resolve(dir, 'src/events/fast-codec.js')).href);
const A = await load(aDir);
const B = await load(bDir);

const ev = (i, body) => ({ timestampNs: 1_732_200_000_000_000_000n + BigInt(i * 1_337), actor: 'device', path: 'mmio', source: 'qemu-trace', body });
const CASES = [
  ['vqIndex', (i) => ({ kind: 'vqIndex', index: i & 3, usedIdx: (i * 37) & 0xffff })],
  ['queueConfigured', (i) => ({ kind: 'queueConfigured', index: i & 7, size: 256, desc: 0x1_2345_0000n + BigInt(i << 12), driver: 0x1_2346_0000n + BigInt(i << 12), device: 0xffff_8000_0001_0000n + BigInt(i), enabled: true })],
  ['registerAccess', (i) => ({ kind: 'registerAccess', transport: 'pci-modern', region: 'common-cfg', bar: 4, offset: 0x1c + (i & 7), width: 2, direction: 'write', value: BigInt(i & 0xffff), msixEnabled: true, selectedQueue: i & 3, data: new Uint8Array(0), anomalies: [] })],
];

let sink;
function round(fn) {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ROUND_MS) {
    for (let i = 0; i < N; i++) fn(i);
    n += N;
    t = performance.now();
  }
  return (n / (t - t0)) * 1000;
}
const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
const fmt = (r) => (r >= 1e6 ? `${(r / 1e6).toFixed(2)}M/s` : `${(r / 1e3).toFixed(0)}k/s`);

console.log(`node ${process.version}; A = ${aDir}, B = ${bDir}; ${ROUNDS} interleaved rounds of ${ROUND_MS} ms, median`);
console.log('| case | direction | A | B | B/A |');
console.log('|---|---|---|---|---|');
for (const [name, make] of CASES) {
  const events = Array.from({ length: N }, (_, i) => ev(i, make(i)));
  const bytes = events.map((e, i) => B.fastEncodeEvent(e, 1000 + i));
  for (let i = 0; i < N; i++) if (Buffer.compare(A.fastEncodeEvent(events[i], 1000 + i), bytes[i]) !== 0) throw new Error(`${name}: A and B encode differently`);
  const fns = {
    encode: [(i) => { sink = A.fastEncodeEvent(events[i], 1000 + i); }, (i) => { sink = B.fastEncodeEvent(events[i], 1000 + i); }],
    decode: [(i) => { sink = A.fastDecodeEvent(bytes[i]); }, (i) => { sink = B.fastDecodeEvent(bytes[i]); }],
  };
  for (const [dir, [fa, fb]] of Object.entries(fns)) {
    round(fa); round(fb); // warm-up
    const ra = [];
    const rb = [];
    for (let r = 0; r < ROUNDS; r++) {
      ra.push(round(fa));
      rb.push(round(fb));
    }
    const [ma, mb] = [median(ra), median(rb)];
    console.log(`| ${name} | ${dir} | ${fmt(ma)} | ${fmt(mb)} | ${(mb / ma).toFixed(2)} |`);
  }
}
void sink;
