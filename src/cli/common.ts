// Shared CLI plumbing: the --store option, opening stores, exit codes and error reporting.
import { Option } from '@commander-js/extra-typings';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { EventStore } from '../store/types.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_INCOMPATIBLE = 2;

// Set only when a caller runs command lines in its own process, possibly several at once (tests, a program
// embedding the CLI); a whole `devrec` process runs one and keeps its exit code in process.exitCode. Not made
// otherwise: an AsyncLocalStorage turns on Node 20's promise hooks, which every later await then pays for.
let runs: AsyncLocalStorage<{ exitCode: number }> | undefined;

/**
 * Runs one command line; its exit code is what the command set with setExitCode (0 when it set none).
 * `wholeProcess`: the only command line of this process (bin/devrec), so process.exitCode can carry the code.
 */
export async function runWithExitCode(fn: () => Promise<unknown>, wholeProcess = false): Promise<number> {
  if (wholeProcess) {
    process.exitCode = undefined;
    await fn();
    return Number(process.exitCode ?? 0);
  }
  runs ??= new AsyncLocalStorage();
  const run = { exitCode: 0 };
  await runs.run(run, fn);
  return run.exitCode;
}

/** The exit code of the running command line (process.exitCode outside main()). */
export function setExitCode(code: number): void {
  const run = runs?.getStore();
  if (run) run.exitCode = code;
  else process.exitCode = code;
}

/** An error whose message is complete for the user (names the input, offset and reason). */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = EXIT_ERROR) {
    super(message);
    this.name = 'CliError';
  }
}

export const storeOption = () =>
  new Option('--store <url>', 'event store: file:<dir>, memory:, kurrentdb://host:2113?tls=false (env DEVREC_STORE; default file:./.devrec)');

/**
 * A device as the user names it, in every command: `ID` or `ID@N` (the state after revision N). Device ids may
 * hold '@' themselves (`virtio-net-pci@00:02.0`), so the whole text is tried as an id first. Other names work when
 * exactly one recorded device has them: the device's address alone (`00:02.0`, the part after the id's '@': the
 * guest PCI address or mmio base), and the aliases its sources gave (QEMU's qdev id `net0`, QOM path
 * `/machine/peripheral/net0`, savevm idstr `0000:00:02.0/virtio-net`, topological path; `devrec devices` lists them).
 */
export async function resolveDeviceSpec(store: EventStore, spec: string): Promise<{ id: string; revision?: number; head: number }> {
  let aliasIndex: Map<string, { id: string; head: number }[]> | undefined;
  const exact = async (name: string): Promise<{ id: string; head: number } | undefined> => {
    const head = await store.head(name);
    if (head >= 0) return { id: name, head };
    if (name === '') return undefined;
    const hits = name.includes('@') ? [] : (await store.streams()).filter((s) => s.stream.endsWith(`@${name}`)).map((s) => ({ id: s.stream, head: s.revision }));
    if (hits.length === 0) {
      aliasIndex ??= await deviceAliases(store);
      hits.push(...(aliasIndex.get(name) ?? []));
    }
    if (hits.length > 1) throw new CliError(`"${name}" names ${hits.length} devices (${hits.map((h) => h.id).join(', ')}); give the whole id`);
    return hits[0];
  };
  const whole = await exact(spec);
  if (whole) return whole;
  const m = /^(.*)@(\d+)$/.exec(spec);
  if (m) {
    const dev = await exact(m[1]!);
    if (dev) {
      const revision = Number(m[2]);
      if (revision > dev.head) throw new CliError(`${spec}: device ${dev.id} has revisions 0..${dev.head}; give ${m[1]}@N with N at most ${dev.head}`);
      return { ...dev, revision };
    }
  }
  throw new CliError(`no device "${spec}" in ${store.url}; \`devrec devices\` lists the recorded ones`);
}

/** Every alias of every recorded device (from its identity events): alias -> the devices that have it. */
export async function deviceAliases(store: EventStore): Promise<Map<string, { id: string; head: number }[]>> {
  const { Projector } = await import('../project/projector.js');
  const projector = new Projector(store);
  const out = new Map<string, { id: string; head: number }[]>();
  for (const s of await store.streams()) {
    const identity = await projector.identityOf(s.stream);
    for (const name of new Set(identity.aliases.map((a) => a.name))) {
      const list = out.get(name) ?? [];
      list.push({ id: s.stream, head: s.revision });
      out.set(name, list);
    }
  }
  return out;
}

/** `ID[@N]` with an optional `--at N` beside it (one of the two, not both). */
export async function resolveDeviceAt(store: EventStore, spec: string, at?: number): Promise<{ id: string; revision?: number; head: number }> {
  const r = await resolveDeviceSpec(store, spec);
  if (at === undefined) return r;
  if (r.revision !== undefined) throw new CliError(`${spec}: give ID@N or --at N, not both`);
  if (at > r.head) throw new CliError(`--at ${at}: device ${r.id} has revisions 0..${r.head}`);
  return { ...r, revision: at };
}

export async function withStore<T>(url: string | undefined, readOnly: boolean, fn: (store: EventStore) => Promise<T>): Promise<T> {
  // loaded here, not at the top: `devrec --version` and commands without a store never load a store
  const [{ openStore, storeUrlFromEnv }, { FileEventStore }] = await Promise.all([import('../store/open.js'), import('../store/file-store.js')]);
  const store = await openStore(storeUrlFromEnv(url), { readOnly });
  if (store instanceof FileEventStore && store.recovery) {
    const r = store.recovery;
    process.stderr.write(`devrec: recovered ${store.dir}: cut a torn tail of ${r.droppedBytes} bytes at ${r.segment} offset ${r.offset} (${r.reason})\n`);
  }
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function parseRevision(value: string, name = 'revision'): number {
  if (!/^\d+$/.test(value)) throw new CliError(`${name} "${value}" is not a non-negative integer`);
  return Number(value);
}

export function writeJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
