// devrec check [FILE] --target PROFILE [--device ID[@N]] [--json]: a recorded device (a devrec migration stream,
// or a device in the store) against a target's profile (docs/compat.md). Exit 2 when incompatible.
import { Command, Option } from '@commander-js/extra-typings';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import pc from 'picocolors';
import { type CompatResult, checkCompatibility } from '../../compat/check.js';
import { sortKeys } from '../../compat/diff.js';
import { type Endian, type Profile, ProfileError, type SourceInfo, parseProfile } from '../../compat/profile.js';
import { MigrationFormatError } from '../../migration/format.js';
import { parseMigrationStream } from '../../migration/importer.js';
import { Projector } from '../../project/projector.js';
import type { DeviceState } from '../../project/state.js';
import type { EventStore } from '../../store/types.js';
import { CliError, EXIT_INCOMPATIBLE, resolveDeviceSpec, setExitCode, storeOption, withStore, writeJson } from '../common.js';

export { resolveDeviceSpec };
import { readMigrationFile } from './inspect.js';
import { readWholeFile } from '../../sources/bounded-input.js';

/** A profile is a small JSON document; 16 MiB is far beyond any. */
const MAX_PROFILE_BYTES = 16 * 1024 * 1024;
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { DeviceEvent } from '../../events/types.js';
import { applyInPlace } from '../../project/reducer.js';
import { initialState } from '../../project/state.js';
import { QemuStreamError, type QemuStreamResult, type QemuVirtioDevice, deviceEvents, isGzip, readQemuStreamFile } from '../../sources/qemu-savevm.js';

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

/** The first bytes of a file, through gunzip when it is gzip (to tell a QEMU stream from a devrec one). */
async function sniff(file: string): Promise<Uint8Array> {
  const head = new Uint8Array(4);
  const fh = await open(file, 'r');
  try {
    await fh.read(head, 0, 4, 0);
  } finally {
    await fh.close();
  }
  if (!isGzip(head)) return head;
  const src = createReadStream(file, { end: 1 << 20 }).pipe(createGunzip());
  try {
    for await (const chunk of src as AsyncIterable<Buffer>) return new Uint8Array(chunk.subarray(0, 4));
  } catch {
    // not readable gzip: let the stream reader say so
  } finally {
    src.destroy();
  }
  return head;
}

export async function isQemuStreamFile(file: string): Promise<boolean> {
  const b = await sniff(file);
  return b.length >= 4 && b[0] === 0x51 && b[1] === 0x45 && b[2] === 0x56 && b[3] === 0x4d; // "QEVM"
}

/**
 * A virtio device of a QEMU savevm / migration stream (raw or .gz). `spec` picks it: the devrec id
 * (virtio-net-pci@00:02.0), the PCI address (00:02.0, 0000:00:02.0), the section idstr (0000:00:02.0/virtio-net), or
 * the target's qdev id when the target profile was read over QMP; without one, the device at the PCI address of a
 * QMP target profile (QEMU matches sections by that address), else the only virtio device.
 */
export async function loadQemuStreamFile(file: string, spec: string | undefined, target?: Profile): Promise<LoadedSource> {
  let r: QemuStreamResult;
  try {
    r = await readQemuStreamFile(file);
  } catch (e) {
    if (e instanceof QemuStreamError) throw new CliError(e.message);
    throw new CliError(`${file}: cannot read: ${(e as Error).message}`);
  }
  const list = r.devices.map((d) => d.id).join(', ') || 'none';
  const byAddr = (a: string) => r.devices.find((d) => d.pciAddress !== undefined && d.pciAddress === a.replace(/^0000:/, '').toLowerCase());
  let dev: QemuVirtioDevice | undefined;
  if (spec !== undefined) {
    dev = r.devices.find((d) => d.id === spec || d.section.idstr === spec) ?? byAddr(spec);
    if (!dev && target?.qemu?.qdevId === spec && target.qemu.pciAddress) dev = byAddr(target.qemu.pciAddress);
    if (!dev) throw new CliError(`${file}: no virtio device "${spec}" in this QEMU stream (devices: ${list}); give a device id or PCI address`);
  } else if (target?.qemu?.pciAddress && byAddr(target.qemu.pciAddress)) {
    dev = byAddr(target.qemu.pciAddress);
  } else if (r.devices.length === 1) {
    dev = r.devices[0];
  } else {
    throw new CliError(`${file}: ${r.devices.length} virtio devices in this QEMU stream (${list}): say which with --device ID`);
  }
  const d = dev!;
  const ev = deviceEvents(d, 0n);
  let state = initialState(d.id);
  ev.events.forEach((e, i) => { state = applyInPlace(state, { ...e, revision: i } as DeviceEvent); });
  return { label: `${file} ${d.id}`, state, info: { qemu: { device: d, configuration: r.configuration } } };
}

export async function loadStoreDevice(store: EventStore, spec: string): Promise<LoadedSource> {
  const { id, revision } = await resolveDeviceSpec(store, spec);
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
    allowedMoves: '0x' + r.allowedMoves.toString(16), // a mask: bit 0 cold, bit 1 live
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
    if (f.qemu?.length) {
      out.push(c.dim('          QEMU prints:'));
      for (const l of f.qemu) out.push(`          ${l}`);
    }
    out.push(c.dim(`          fix: ${f.fix}`));
    out.push(c.dim(`          ref: ${f.reference}`));
  }
  if (!r.findings.length) out.push('  no findings');
  return out.join('\n') + '\n';
}

/** A source for check / diff: a QEMU stream file (device picked by `device`), a devrec stream file, or ID[@N]. */
export async function loadSource(spec: string, device: string | undefined, storeUrl: string | undefined, target?: Profile): Promise<LoadedSource> {
  // a device or pipe (/dev/zero) never ends: refuse it rather than read without bound
  if (spec.startsWith('/') && existsSync(spec) && !statSync(spec).isFile() && !statSync(spec).isDirectory()) {
    throw new CliError(`${spec}: is not a regular file (a device, pipe or socket); save it to a file first`);
  }
  if (isFile(spec)) {
    if (await isQemuStreamFile(spec)) return loadQemuStreamFile(spec, device, target);
    if (device !== undefined) throw new CliError(`${spec}: --device picks a device of a QEMU stream; this is a devrec migration stream (one device)`);
    return loadStreamFile(spec);
  }
  return withStore(storeUrl, true, async (store) => {
    try {
      return await loadStoreDevice(store, spec);
    } catch (e) {
      if (e instanceof CliError) throw new CliError(`"${spec}": no such file, and ${e.message}`);
      throw e;
    }
  });
}

export function checkCommand() {
  return new Command('check')
    .description('check a device against a target profile (exit 2 when incompatible)')
    .argument('[source]', 'devrec migration stream, QEMU savevm / migration stream (raw or .gz), or device ID[@N] in the store')
    .requiredOption('--target <profile>', 'target device profile (JSON, docs/compat.md; devrec profile --qmp reads one from a live QEMU)')
    .option('--device <id>', 'the device of a QEMU stream (device id, PCI address, or the target qdev id); without SOURCE: a device ID[@N] in the store')
    .option('--guest-arch <arch>', "the guest's architecture (legacy limits), e.g. x86_64")
    .addOption(new Option('--guest-endian <endian>', "the guest's byte order (legacy limits)").choices(['little', 'big']))
    .addOption(storeOption())
    .option('--json', 'JSON output')
    .action(async (file, opts) => {
      if (file === undefined && opts.device === undefined) throw new CliError('give a SOURCE (stream file or ID[@N]) or --device ID[@N]');
      const target = readProfile(opts.target);
      const source = file !== undefined
        ? await loadSource(file, opts.device, opts.store, target)
        : await withStore(opts.store, true, (store) => loadStoreDevice(store, opts.device!));
      if (opts.guestArch) source.info.guestArch = opts.guestArch;
      if (opts.guestEndian) source.info.guestEndian = opts.guestEndian as Endian;
      const result = checkCompatibility(source.state, target, source.info);
      if (opts.json) writeJson(checkResultJson(source, opts.target, result));
      else process.stdout.write(renderCheck(source, opts.target, result));
      if (result.verdict === 'incompatible') setExitCode(EXIT_INCOMPATIBLE);
    });
}
