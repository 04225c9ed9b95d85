// A writer process for the crash and lock tests: `tsx test/helpers/store-writer.ts DIR STREAM BATCHES [HOLD_MS]`.
// Opens the file store, appends BATCHES batches of 1..8 events to STREAM and prints `ack <head>` after each append
// resolves (the event is acknowledged: it must survive a kill -9 from then on). Prints `locked` and exits 3 when
// another process holds the store.
import { FileEventStore } from '../../src/store/file-store.js';
import { StoreLockedError } from '../../src/store/types.js';

const [dir, stream, batchesText, holdText] = process.argv.slice(2);
const batches = Number(batchesText);
const write = (line: string) => new Promise<void>((r) => process.stdout.write(line + '\n', () => r()));
let store: FileEventStore;
try {
  store = await FileEventStore.open(dir!);
} catch (err) {
  if (err instanceof StoreLockedError) {
    await write('locked');
    process.exit(3);
  }
  throw err;
}
await write('open');
for (let i = 0; i < batches; i++) {
  const n = 1 + (i % 8);
  const events = Array.from({ length: n }, (_, k) => ({
    timestampNs: BigInt(i * 8 + k), actor: 'guest-driver' as const, path: 'mmio' as const, source: 'api' as const,
    body: { kind: 'statusWritten' as const, status: (i + k) & 0xff },
  }));
  const r = await store.append(stream!, events);
  await write(`ack ${r.nextExpectedRevision}`);
}
if (holdText) await new Promise((r) => setTimeout(r, Number(holdText)));
await store.close();
await write('closed');
