// devrec export ID [--at N] -o FILE [--format devrec|qemu-vfio]: the source side of a migration. Runs the device's
// VFIO state machine (recorded in its stream) and writes the migration stream (docs/migration-format.md).
import { Command, Option } from '@commander-js/extra-typings';
import { writeFileSync } from 'node:fs';
import { EXPORT_FORMATS, type ExportFormat, exportDevice } from '../../migration/exporter.js';
import { FORMAT_MAJOR, FORMAT_MINOR, MigrationExportError } from '../../migration/format.js';
import { VfioFsmError, upper } from '../../migration/vfio-fsm.js';
import { CliError, parseRevision, storeOption, withStore } from '../common.js';
import { withProgress } from '../progress.js';

export function exportCommand() {
  return new Command('export')
    .description("write a device's state as a VFIO-style migration stream (records the VFIO state changes in its stream)")
    .argument('<id>', 'device id')
    .option('--at <n>', 'export the state after event N (default: the last)', (v) => parseRevision(v, '--at'))
    .requiredOption('-o, --output <file>', 'file to write')
    .addOption(new Option('--format <format>', 'stream format').choices(EXPORT_FORMATS).default('devrec' as ExportFormat))
    .addOption(storeOption())
    .action(async (id, opts) => {
      await withStore(opts.store, false, async (store) => {
        let result;
        try {
          result = await withProgress(`exporting ${id}`, {}, () => exportDevice(store, id, { ...(opts.at !== undefined ? { at: opts.at } : {}), format: opts.format as ExportFormat }));
        } catch (e) {
          if (e instanceof MigrationExportError || e instanceof VfioFsmError) throw new CliError(`export ${id}: ${e.message}`);
          throw e;
        }
        try {
          writeFileSync(opts.output, result.bytes);
        } catch (e) {
          throw new CliError(`${opts.output}: cannot write: ${(e as Error).message}`);
        }
        const path = [result.arcs[0]?.from, ...result.arcs.map((a) => a.to)].filter((s) => s !== undefined).map((s) => upper(s!)).join(' -> ');
        process.stdout.write(
          `exported ${id} at revision ${result.revision} to ${opts.output}: ${result.bytes.length} bytes, ` +
          `${result.format} format ${FORMAT_MAJOR}.${FORMAT_MINOR} (precopy ${result.precopyBytes} + stop-copy ${result.stopCopyBytes} bytes of device data)\n` +
          `VFIO: ${path}\n`);
      });
    });
}
