// devrec devices [--json]
import { Command } from '@commander-js/extra-typings';
import { Projector } from '../../project/projector.js';
import { storeOption, withStore, writeJson } from '../common.js';

export function devicesCommand() {
  return new Command('devices')
    .description('list recorded devices')
    .addOption(storeOption())
    .option('--json', 'JSON output')
    .action(async (opts) => {
      await withStore(opts.store, true, async (store) => {
        const projector = new Projector(store);
        const rows = [];
        for (const s of await store.streams()) {
          const state = await projector.stateAt(s.stream);
          rows.push({ id: s.stream, type: state.type, transport: state.transport, revision: s.revision });
        }
        if (opts.json) return writeJson(rows);
        if (rows.length === 0) return void process.stdout.write('no devices recorded\n');
        const w = Math.max(2, ...rows.map((r) => r.id.length));
        process.stdout.write(`${'ID'.padEnd(w)}  TYPE     TRANSPORT     REVISION\n`);
        for (const r of rows) process.stdout.write(`${r.id.padEnd(w)}  ${(r.type || '-').padEnd(7)}  ${r.transport.padEnd(12)}  ${r.revision}\n`);
      });
    });
}
