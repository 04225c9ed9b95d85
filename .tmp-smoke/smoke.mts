import { MemoryEventStore } from '/work/main/src/store/memory.js';
import { netLifecycle } from '/work/main/src/sim/net-lifecycle.js';
import { exportDevice } from '/work/main/src/migration/exporter.js';
import { parseMigrationStream, importStream } from '/work/main/src/migration/importer.js';
import { Projector } from '/work/main/src/project/projector.js';
import { stateToJson } from '/work/main/src/project/state.js';
const store = new MemoryEventStore();
const evs = [...netLifecycle({ trafficRounds: 10 })].map((s) => s.event);
await store.append('n', evs);
const head = await store.head('n');
for (const fmt of ['devrec', 'qemu-vfio'] as const) {
  const r = await exportDevice(store, 'n', { at: head, format: fmt });
  console.log(fmt, r.bytes.length, r.precopyBytes, r.stopCopyBytes, r.arcs.map(a=>a.to).join('>'));
  const p = parseMigrationStream(r.bytes);
  const a = JSON.stringify({...stateToJson(p.state), vfioState: null});
  const b = JSON.stringify({...stateToJson(await new Projector(store).stateAt('n', head)), vfioState: null});
  console.log('equal', a === b);
  if (a !== b) { console.log(a); console.log(b); }
}
const r = await exportDevice(store, 'n', {});
const t = new MemoryEventStore();
const ir = await importStream(t, r.bytes);
console.log(ir.arcs, ir.revision);
console.log(JSON.stringify(stateToJson(await new Projector(t).stateAt('n'))).slice(0, 400));
