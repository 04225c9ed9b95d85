// `npm run soak`: the long forms of the durability tests (issue 15). kill -9 at random moments (200 trials by
// default), writer processes racing for a store whose LOCK names a dead process (20 rounds of 4), and disk full on
// a small tmpfs (needs mount(8) as root; said when refused). Prints the numbers; exit 1 on any lost event.
import { crashTrial, diskFullRun, lockRounds, smallTmpfs } from '../test/helpers/durability.js';
import { tmpDir } from '../test/helpers/tmp.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const trials = arg('--trials', 200);
const rounds = arg('--lock-rounds', 20);
let seed = arg('--seed', 1);
const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);

let lost = 0;
let recovered = 0;
let acked = 0;
for (let t = 0; t < trials; t++) {
  const dir = tmpDir('devrec-soak-');
  const r = await crashTrial(dir, 1 + Math.floor(rand() * 200), rand);
  if (r.found < r.acked) {
    lost += r.acked - r.found;
    console.log(`trial ${t}: acknowledged revision ${r.acked}, found ${r.found}`);
  }
  if (r.recovered) recovered++;
  acked += r.acked + 1;
  if ((t + 1) % 20 === 0) console.log(`kill -9: ${t + 1}/${trials} trials, ${acked} events acknowledged, ${lost} lost, ${recovered} torn tails cut`);
}
console.log(`kill -9: ${trials} trials, ${acked} acknowledged events, ${lost} lost, ${recovered} opens cut a torn tail`);

await lockRounds(rounds, 4);
console.log(`lock: ${rounds} rounds of 4 writers against a dead holder's LOCK: one store, verify clean, every acknowledged event present`);

const fs = smallTmpfs(1024 * 1024);
if (!fs) console.log('disk full: mount -t tmpfs refused here; the fs-shim ENOSPC test of npm test covers the write path');
else {
  try {
    for (const batch of [1, 16, 200]) {
      const root = tmpDir('devrec-full-');
      void root;
      const r = await diskFullRun(fs.dir, batch);
      console.log(`disk full (1 MiB tmpfs, batches of ${batch}): ENOSPC ${r.enospc}, acknowledged up to revision ${r.acked}, found ${r.found}, appends again after freeing space: ${r.appendedAfterFree}`);
      if (r.found !== r.acked || !r.enospc || !r.appendedAfterFree) lost++;
      const { rmSync } = await import('node:fs');
      rmSync(`${fs.dir}/store`, { recursive: true, force: true });
    }
  } finally {
    fs.unmount();
  }
}
process.exit(lost ? 1 : 0);
