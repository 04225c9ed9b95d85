// devrec import stream FILE [--as ID]: the target side of a migration. Validates a devrec (or qemu-vfio wrapped)
// migration stream and starts a new stream from it: VFIO STOP -> RESUMING, the state as a snapshot event,
// RESUMING -> STOP -> RUNNING. Recording continues from there.
import { Command } from '@commander-js/extra-typings';
import { MigrationFormatError } from '../../migration/format.js';
import { MigrationImportError, importStream } from '../../migration/importer.js';
import { upper } from '../../migration/vfio-fsm.js';
import { allOrNothing } from '../../store/all-or-nothing.js';
import { CliError, storeOption, withStore, writeJson } from '../common.js';
import { readMigrationFile } from './inspect.js';

export function importStreamCommand() {
  return new Command('stream')
    .description('resume a devrec migration stream into the store as a new device stream (target side)')
    .argument('<file>', 'migration stream (devrec or qemu-vfio format)')
    .option('--as <id>', 'stream id to create (default: the source stream id in the header)')
    .addOption(storeOption())
    .option('--json', 'JSON summary')
    .action(async (file, opts) => {
      const bytes = readMigrationFile(file);
      await withStore(opts.store, false, async (store) => {
        let r;
        try {
          r = await allOrNothing(store, () => importStream(store, bytes, opts.as !== undefined ? { as: opts.as } : {}));
        } catch (e) {
          if (e instanceof MigrationFormatError || e instanceof MigrationImportError) throw new CliError(`${e.message.startsWith(file) ? e.message : `${file}: ${e.message}`}; nothing was imported`);
          throw e;
        }
        const p = r.parsed;
        const prov = p.header.provenance!;
        const path = [r.arcs[0]!.from, ...r.arcs.map((a) => a.to)].map(upper).join(' -> ');
        const skipped = p.records.filter((x) => x.skipped);
        if (opts.json) {
          return writeJson({
            file, device: r.device, revision: r.revision, snapshotRevision: r.snapshotRevision,
            source: { device: prov.sourceStream || null, revision: Number(prov.sourceRevision) },
            type: p.header.deviceType || null, transport: p.header.transport, format: p.format, version: `${p.major}.${p.minor}`,
            schemaMatches: p.schemaMatches, skippedRecords: skipped.length, vfio: [r.arcs[0]!.from, ...r.arcs.map((a) => a.to)].map(upper),
          });
        }
        process.stdout.write(
          `imported ${file} as ${r.device}: revisions 0..${r.revision}, state of ${prov.sourceStream || '?'}@${prov.sourceRevision} ` +
          `(${p.header.deviceType || '?'}, ${p.header.transport}) in the snapshot at revision ${r.snapshotRevision}\n` +
          `stream: ${p.format} format ${p.major}.${p.minor}${p.schemaMatches ? '' : ', written with another schema'}` +
          `${skipped.length ? `, skipped ${skipped.length} unknown optional record(s)` : ''}\n` +
          `VFIO: ${path}\n`);
      });
    });
}
