// devrec check [FILE] --target PROFILE [--device ID[@N]] [--json]: a recorded device (a devrec migration stream,
// or a device in the store) against a target's profile (docs/compat.md). Exit 2 when incompatible.
import { Command, Option } from '@commander-js/extra-typings';
import { existsSync, readFileSync, statSync } from 'node:fs';
import pc from 'picocolors';
import { type CompatResult, checkCompatibility } from '../../compat/check.js';
import { sortKeys } from '../../compat/diff.js';
import { type Endian, type Profile, ProfileError, type SourceInfo, parseProfile } from '../../compat/profile.js';
import { MigrationFormatError } from '../../migration/format.js';
import { parseMigrationStream } from '../../migration/importer.js';
import { Projector } from '../../project/projector.js';
import type { DeviceState } from '../../project/state.js';
import type { EventStore } from '../../store/types.js';
import { CliError, EXIT_INCOMPATIBLE, storeOption, withStore, writeJson } from '../common.js';
import { readMigrationFile } from './inspect.js';
import { readWholeFile } from '../../sources/bounded-input.js';

/** A profile is a small JSON document; 16 MiB is far beyond any. */
const MAX_PROFILE_BYTES = 16 * 1024 * 1024;

/** Colours for stdout: only on a terminal, never with NO_COLOR (https://no-color.org) or TERM=dumb. */
export function colors(json = false) {
  const env = process.env;
  const on = !json && !('NO_COLOR' in env) && (('FORCE_COLOR' in env && env['FORCE_COLOR'] !== '0') || (process.stdout.isTTY === true && env['TERM'] !== 'dumb'));
  return pc.createColors(on);
}

export interface LoadedSource {
  /** what the user named, for messages */
  label: string;
  state: DeviceState;
  info: SourceInfo;
  /** set when the source is a device in the store */
  store?: { id: string; revision: number };
}

export function isFile(p: string): boolean {
  try {
    return existsSync(p) && statSync(p).isFile();
  } catch {
    return false;
  }
}

/** A devrec (or qemu-vfio wrapped) migration stream file: its state and what its header says. */
export function loadStreamFile(file: string): LoadedSource {
  const bytes = readMigrationFile(file);
  try {
    const parsed = parseMigrationStream(bytes);
    const h = parsed.header;
    const info: SourceInfo = {};
    if (h.personaId || h.personaVersion) info.persona = { id: h.personaId, version: h.personaVersion };
    if (h.vfioMigrationFlags) info.vfioFlags = h.vfioMigrationFlags;
    return { label: file, state: parsed.state, info };
  } catch (e) {
    if (e instanceof MigrationFormatError) throw new CliError(`${file}: not a devrec migration stream: ${e.message}`);
    throw e;
  }
}

/** `ID` or `ID@N` (device ids contain '@' themselves: `virtio-net-pci@00:02.0@12`). */
export async function resolveDeviceSpec(store: EventStore, spec: string): Promise<{ id: string; revision?: number }> {
  if ((await store.head(spec)) >= 0) return { id: spec };
  const m = /^(.*)@(\d+)$/.exec(spec);
  if (m && (await store.head(m[1]!)) >= 0) return { id: m[1]!, revision: Number(m[2]) };
  throw new CliError(`no device "${spec}" in the store`);
}

export async function loadStoreDevice(store: EventStore, spec: string): Promise<LoadedSource> {
  const { id, revision } = await resolveDeviceSpec(store, spec);
  const head = await store.head(id);
  if (revision !== undefined && revision > head) throw new CliError(`${spec}: device ${id} has revisions 0..${head}`);
  const state = await new Projector(store).stateAt(id, revision);
  return { label: revision !== undefined ? `${id}@${revision}` : id, state, info: {}, store: { id, revision: state.revision } };
}

export function readProfile(file: string): Profile {
  const text = Buffer.from(readWholeFile(file, MAX_PROFILE_BYTES, 'profile')).toString('utf8');
  try {
    return parseProfile(text, file);
  } catch (e) {
    if (e instanceof ProfileError) throw new CliError(e.message);
    throw e;
  }
}

export function checkResultJson(source: LoadedSource, targetFile: string, r: CompatResult): unknown {
  return sortKeys({
    source: { input: source.label, device: source.state.device, revision: source.state.revision, type: source.state.type, transport: source.state.transport },
    target: targetFile,
    ...r,
  });
}

export function renderCheck(source: LoadedSource, targetFile: string, r: CompatResult, c = colors()): string {
  const out: string[] = [];
  const verdict = r.verdict === 'compatible' ? c.green(c.bold('COMPATIBLE')) : r.verdict === 'incompatible' ? c.red(c.bold('INCOMPATIBLE')) : c.yellow(c.bold('COMPATIBLE WITH WARNINGS'));
  out.push(`${source.state.device || source.label} (${source.state.type || '?'}, ${source.state.transport}, revision ${source.state.revision}, from ${source.label}) -> ${targetFile}: ${verdict}`);
  out.push(`allowed moves: ${r.moves.length ? r.moves.join(', ') : 'none'} (0x${r.allowedMoves.toString(16)})` + (r.limitingFactors.length ? `; limited by ${r.limitingFactors.join(', ')}` : ''));
  for (const f of r.findings) {
    const sev = f.severity === 'error' ? c.red('error  ') : f.severity === 'warning' ? c.yellow('warning') : c.cyan('info   ');
    out.push(`  ${sev} ${c.bold(f.rule)}: ${f.message}`);
    out.push(c.dim(`          fix: ${f.fix}`));
    out.push(c.dim(`          ref: ${f.reference}`));
  }
  if (!r.findings.length) out.push('  no findings');
  return out.join('\n') + '\n';
}

export function checkCommand() {
  return new Command('check')
    .description('check a recorded device against a target profile (exit 2 when incompatible)')
    .argument('[file]', 'devrec migration stream (devrec or qemu-vfio format)')
    .requiredOption('--target <profile>', 'target device profile (JSON, docs/compat.md)')
    .option('--device <id[@n]>', 'check a device in the store instead of a stream file')
    .option('--guest-arch <arch>', "the guest's architecture (legacy limits), e.g. x86_64")
    .addOption(new Option('--guest-endian <endian>', "the guest's byte order (legacy limits)").choices(['little', 'big']))
    .addOption(storeOption())
    .option('--json', 'JSON output')
    .action(async (file, opts) => {
      if ((file === undefined) === (opts.device === undefined)) throw new CliError('give a migration stream FILE or --device ID[@N] (one of them)');
      const target = readProfile(opts.target);
      const source = file !== undefined
        ? loadStreamFile(file)
        : await withStore(opts.store, true, (store) => loadStoreDevice(store, opts.device!));
      if (opts.guestArch) source.info.guestArch = opts.guestArch;
      if (opts.guestEndian) source.info.guestEndian = opts.guestEndian as Endian;
      const result = checkCompatibility(source.state, target, source.info);
      if (opts.json) writeJson(checkResultJson(source, opts.target, result));
      else process.stdout.write(renderCheck(source, opts.target, result));
      if (result.verdict === 'incompatible') process.exitCode = EXIT_INCOMPATIBLE;
    });
}
