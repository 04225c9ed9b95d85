import { importQemuTrace } from '/work/wt/13/src/sources/import-trace.js';
import { MemoryEventStore } from '/work/wt/13/src/store/memory.js';
for (const v of process.argv.slice(2)) {
  try {
    const s = await importQemuTrace(new MemoryEventStore(), `/tmp/cap13/${v}/trace.log.gz`);
    console.log(v, JSON.stringify({ ...s, input: undefined }));
  } catch (e) { console.log(v, 'ERR', (e as Error).message); }
}
