// devrec CLI entry: one commander module per command (src/cli/commands/).
import { Command, CommanderError } from '@commander-js/extra-typings';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CliError, EXIT_ERROR } from './common.js';
import { guardClosedPipes, reportError } from './errors.js';
import { copyCommand } from './commands/copy.js';
import { demoCommand } from './commands/demo.js';
import { devicesCommand } from './commands/devices.js';
import { logCommand } from './commands/log.js';
import { bisectCommand, lintCommand } from './commands/lint.js';
import { recordCommand } from './commands/record.js';
import { stateCommand } from './commands/state.js';
import { verifyCommand } from './commands/verify.js';
import { exportCommand } from './commands/export.js';
import { importCommand } from './commands/import.js';
import { inspectCommand } from './commands/inspect.js';
import { migrateCommand } from './commands/migrate.js';
import { profileCommand } from './commands/profile.js';
import { checkCommand } from './commands/check.js';
import { diffCommand } from './commands/diff.js';
import { reportCommand } from './commands/report.js';
import { tailCommand } from './commands/tail.js';

export const VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command('devrec')
    .description('record, replay and compare virtio device state (QEMU, vDPA, VFIO)')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  for (const c of [recordCommand(), devicesCommand(), logCommand(), stateCommand(), lintCommand(), bisectCommand(), verifyCommand(), copyCommand(), demoCommand(), exportCommand(), inspectCommand(), importCommand(), reportCommand(), tailCommand(), profileCommand(), checkCommand(), diffCommand(), migrateCommand()]) {
    program.addCommand(c.exitOverride());
  }
  return program;
}

export async function main(argv: string[]): Promise<number> {
  guardClosedPipes();
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_ERROR;
    reportError(err);
    return err instanceof CliError ? err.exitCode : EXIT_ERROR;
  }
}

const self = fileURLToPath(import.meta.url);
const invoked = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (invoked === self || process.env['DEVREC_CLI_MAIN'] === '1') {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
