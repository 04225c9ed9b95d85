// devrec export ID[@N] [--at N] -o FILE [--format devrec|qemu-vfio] [--record] [--json]: the source side of a
// migration. Walks the device's VFIO state machine and writes the migration stream (docs/migration-format.md).
// Read-only by default: the recording under investigation is left as it is. `--record` appends the VFIO arcs to
// the device's stream as a real migration does (`migrate send` always does); `devrec vfio resume ID` takes a
// device left in STOP back to RUNNING.
import { Command, Option } from '@commander-js/extra-typings';
import { writeFileSync } from 'node:fs';
import { EXPORT_FORMATS, type ExportFormat, exportDevice } from '../../migration/exporter.js';
import { FORMAT_MAJOR, FORMAT_MINOR, MigrationExportError } from '../../migration/format.js';
import { VfioFsmError, upper } from '../../migration/vfio-fsm.js';
import { CliError, parseRevision, resolveDeviceAt, storeOption, withStore, writeJson } from '../common.js';
import { withProgress } from '../progress.js';

export function exportCommand() {
  return new Command('export')
    .description("write a device's state as a VFIO-style migration stream (read-only unless --record)")
    .argument('<id>', 'device ID or ID@N')
    .option('--at <n>', 'export the state after event N (default: the last)', (v) => parseRevision(v, '--at'))
    .requiredOption('-o, --output <file>', 'file to write')
    .addOption(new Option('--format <format>', 'stream format').choices(EXPORT_FORMATS).default('devrec' as ExportFormat))
    .option('--record', "append the VFIO state changes to the device's stream, as `migrate send` does (leaves it in STOP; `devrec vfio resume ID` takes it back)")
    .addOption(storeOption())
    .option('--json', 'JSON summary')
    .action(async (spec, opts) => {
      await withStore(opts.store, !opts.record, async (store) => {
        const { id, revision } = await resolveDeviceAt(store, spec, opts.at);
        let result;
        try {
          result = await withProgress(`exporting ${id}`, opts, () => exportDevice(store, id, { ...(revision !== undefined ? { at: revision } : {}), format: opts.format as ExportFormat, record: opts.record === true }));
        } catch (e) {
          if (e instanceof MigrationExportError || e instanceof VfioFsmError) throw new CliError(`export ${id}: ${e.message}`);
          throw e;
        }
        try {
          writeFileSync(opts.output, result.bytes);
        } catch (e) {
          throw new CliError(`${opts.output}: cannot write: ${(e as Error).message}`);
        }
        const vfio = [result.arcs[0]?.from, ...result.arcs.map((a) => a.to)].filter((s) => s !== undefined).map((s) => upper(s!));
        if (opts.json) {
          return writeJson({
            device: id, revision: result.revision, file: opts.output, bytes: result.bytes.length, format: result.format,
            version: `${FORMAT_MAJOR}.${FORMAT_MINOR}`, precopyBytes: result.precopyBytes, stopCopyBytes: result.stopCopyBytes,
            vfio, recorded: opts.record === true,
          });
        }
        process.stdout.write(
          `exported ${id} at revision ${result.revision} to ${opts.output}: ${result.bytes.length} bytes, ` +
          `${result.format} format ${FORMAT_MAJOR}.${FORMAT_MINOR} (precopy ${result.precopyBytes} + stop-copy ${result.stopCopyBytes} bytes of device data)\n` +
          `VFIO: ${vfio.join(' -> ')}${opts.record ? ` (recorded in ${id}'s stream; it is now in ${vfio[vfio.length - 1]}: \`devrec vfio resume ${id}\` takes it back to RUNNING)` : ' (walked, not recorded: the store is unchanged)'}\n`);
      });
    });
}
