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
          const identity = await projector.identityOf(s.stream);
          // every other name the device answers to (QEMU qdev id, QOM path, savevm idstr...): each works as its ID
          rows.push({ id: s.stream, type: identity.type, transport: identity.transport, revision: s.revision, aliases: identity.aliases.map((a) => ({ kind: a.kind, name: a.name })) });
        }
        if (opts.json) return writeJson(rows);
        if (rows.length === 0) return void process.stdout.write('no devices recorded\n');
        const w = Math.max(2, ...rows.map((r) => r.id.length));
        process.stdout.write(`${'ID'.padEnd(w)}  TYPE     TRANSPORT     REVISION  ALIASES\n`);
        for (const r of rows) {
          const aliases = r.aliases.length ? r.aliases.map((a) => a.name).join(' ') : '-';
          process.stdout.write(`${r.id.padEnd(w)}  ${(r.type || '-').padEnd(7)}  ${r.transport.padEnd(12)}  ${String(r.revision).padEnd(8)}  ${aliases}\n`);
        }
      });
    });
}
