// devrec CLI entry: one commander module per command (src/cli/commands/), each loaded only when its command runs,
// so `devrec devices` does not pay for the KurrentDB client, the report or the migration endpoints.
import { Command, CommanderError } from '@commander-js/extra-typings';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CliError, EXIT_ERROR, runWithExitCode } from './common.js';
import { guardClosedPipes, reportError } from './errors.js';

export const VERSION = '0.1.0';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCommand = Command<any, any, any>;

interface CommandEntry {
  name: string;
  /** the one line `devrec --help` lists (the command's own --help has the full text) */
  summary: string;
  load: () => Promise<AnyCommand>;
}

/** Every command, in the order `devrec --help` lists them. */
export const COMMANDS: CommandEntry[] = [
  { name: 'record', summary: 'record NDJSON events (docs/ndjson.md) from stdin into a device stream', load: async () => (await import('./commands/record.js')).recordCommand() },
  { name: 'devices', summary: 'list recorded devices', load: async () => (await import('./commands/devices.js')).devicesCommand() },
  { name: 'log', summary: "print a device's events", load: async () => (await import('./commands/log.js')).logCommand() },
  { name: 'state', summary: "a device's state at a revision or time (default: now)", load: async () => (await import('./commands/state.js')).stateCommand() },
  { name: 'lint', summary: "check a device's events against the virtio rules (exit 2 on an error)", load: async () => (await import('./commands/lint.js')).lintCommand() },
  { name: 'bisect', summary: 'the first event at which a rule fails, and the events that led there', load: async () => (await import('./commands/lint.js')).bisectCommand() },
  { name: 'verify', summary: 'check every record of the store (CRC, framing, order); exit 1 on damage', load: async () => (await import('./commands/verify.js')).verifyCommand() },
  { name: 'copy', summary: 'copy device recordings between stores (file: <-> kurrentdb://), resumable and verified', load: async () => (await import('./commands/copy.js')).copyCommand() },
  { name: 'demo', summary: 'record a simulated virtio-net lifecycle on a fresh embedded store and show its state over time', load: async () => (await import('./commands/demo.js')).demoCommand() },
  { name: 'export', summary: "write a device's state as a VFIO-style migration stream (read-only unless --record)", load: async () => (await import('./commands/export.js')).exportCommand() },
  { name: 'inspect', summary: 'decode a devrec (or qemu-vfio wrapped) migration stream, or a QEMU savevm stream', load: async () => (await import('./commands/inspect.js')).inspectCommand() },
  { name: 'import', summary: 'bring recordings and migration streams into the store (stream, qemu-trace, qemu-state, vdpa)', load: async () => (await import('./commands/import.js')).importCommand() },
  { name: 'report', summary: "write a device's timeline as one self-contained HTML file", load: async () => (await import('./commands/report.js')).reportCommand() },
  { name: 'tail', summary: 'follow events as they are recorded (until Ctrl-C), in words or as JSON lines', load: async () => (await import('./commands/tail.js')).tailCommand() },
  { name: 'profile', summary: 'write the device profile of a recorded device (what a target must offer to take it)', load: async () => (await import('./commands/profile.js')).profileCommand() },
  { name: 'check', summary: 'check a recorded device against a target profile (exit 2 when incompatible)', load: async () => (await import('./commands/check.js')).checkCommand() },
  { name: 'diff', summary: 'compare two device states: migration stream files or ID[@N] in the store', load: async () => (await import('./commands/diff.js')).diffCommand() },
  { name: 'migrate', summary: 'live migration endpoints over TCP (listen, send)', load: async () => (await import('./commands/migrate.js')).migrateCommand() },
  { name: 'vdpa', summary: 'vDPA targets: the profile of a parent, and the kernel\'s answer to a planned `vdpa dev add`', load: async () => (await import('./commands/vdpa.js')).vdpaCommand() },
  { name: 'vfio', summary: "a recorded device's VFIO migration state (show, resume a source left in STOP)", load: async () => (await import('./commands/vfio.js')).vfioCommand() },
];

/** The command a command line names: its first word that is not an option (`help X` names X). */
function commandNamed(args: string[]): string | undefined {
  const words = args.filter((a) => !a.startsWith('-'));
  return words[0] === 'help' ? words[1] : words[0];
}

/** The program with the named command loaded in full and every other one as a name and a line of help. */
export async function buildProgram(args: string[] = process.argv.slice(2)): Promise<Command> {
  const program = new Command('devrec')
    .description('record, replay and compare virtio device state (QEMU, vDPA, VFIO)')
    .version(VERSION)
    .exitOverride();
  const wanted = commandNamed(args);
  for (const entry of COMMANDS) {
    const cmd = entry.name === wanted ? await entry.load() : new Command(entry.name).description(entry.summary).allowUnknownOption().allowExcessArguments();
    cmd.summary(entry.summary);
    program.addCommand(cmd.exitOverride());
  }
  oneLineUsageErrors(program, 'devrec');
  return program;
}

/**
 * A usage error (unknown command or option, missing argument) is one line that names where to look next, here
 * and in every subcommand, instead of commander's error followed by a page of help.
 */
function oneLineUsageErrors(cmd: AnyCommand, path: string): void {
  cmd.configureOutput({
    outputError: (message, write) => write(`${message.trim().replace(/\s*\n\s*/g, ' ')} (\`${path} --help\` shows the usage)\n`),
  });
  for (const sub of cmd.commands) oneLineUsageErrors(sub as AnyCommand, `${path} ${sub.name()}`);
}

/**
 * Runs one command line and resolves to its exit code. `wholeProcess`: this process runs nothing else (bin/devrec);
 * without it, calls may overlap in one process and each keeps its own exit code.
 */
export async function main(argv: string[], { wholeProcess = false } = {}): Promise<number> {
  guardClosedPipes();
  try {
    const program = await buildProgram(argv.slice(2));
    return await runWithExitCode(() => program.parseAsync(argv), wholeProcess);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_ERROR;
    reportError(err);
    return err instanceof CliError || (err as Error).name === 'CliError' ? (err as CliError).exitCode : EXIT_ERROR;
  }
}

const self = fileURLToPath(import.meta.url);
const invoked = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (invoked === self) {
  main(process.argv, { wholeProcess: true }).then((code) => {
    process.exitCode = code;
  });
}
