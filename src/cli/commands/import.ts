// devrec import <source> ...: one parent command, one subcommand per kind of input. Add a sibling by adding its
// command factory to IMPORT_SUBCOMMANDS (e.g. qemu-trace, qemu-state).
import { Command } from '@commander-js/extra-typings';
import { importStreamCommand } from './import-stream.js';
import { qemuStateSubcommand, qemuTraceSubcommand } from './import-qemu.js';
import { vdpaImportSubcommand } from './vdpa.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const IMPORT_SUBCOMMANDS: (() => Command<any, any, any>)[] = [importStreamCommand, qemuTraceSubcommand, qemuStateSubcommand, vdpaImportSubcommand];

export function importCommand() {
  const cmd = new Command('import').description('bring recordings and migration streams into the store');
  for (const make of IMPORT_SUBCOMMANDS) cmd.addCommand(make().exitOverride());
  return cmd;
}
