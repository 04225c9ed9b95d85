// `devrec import vdpa DIR|FILE.json`: a vDPA capture -> one stream per vDPA device, transport `vdpa`.
// A capture directory (scripts/vdpa/capture.sh) holds `vdpa -jp mgmtdev show` (mgmtdev.json), `vdpa -jp dev show`
// (dev.json), and the kprobe events on the parent's vdpa_config_ops (trace.txt, with trace_marker lines naming
// each command the capture ran). A FILE.json is `vdpa -jp dev show` alone (optionally merged with mgmtdev show):
// what was provisioned, without the driver's operations.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { NewEvent } from '../events/types.js';
import { deviceTypeByName } from '../model/index.js';
import { VDPA_CLASS_TYPES, vdpaParent } from '../model/vdpa.js';
import type { EventStore } from '../store/types.js';
import { parseTraceLine, VdpaOpDecoder, VdpaOpError } from '../transport/vdpa.js';
import { type MgmtdevInfo, parseDevAdd, readDevShow, readMgmtdevShow, type VdpaDevInfo, VdpaInputError, vdpaToolFeatureMask } from './vdpa-cli.js';

/** Inputs larger than this are refused (a capture's trace is a few kB). */
export const MAX_VDPA_INPUT_BYTES = 16 * 1024 * 1024;

export interface VdpaImportSummary {
  input: string;
  traceLines: number;
  /** trace lines devrec could not use, by reason (each reason with its first line number) */
  skipped: { reason: string; count: number; firstLine: number }[];
  devices: { id: string; name: string; type: string; mgmtdev: string; events: number; ops: number; kicks: Record<string, number>; provisioned: 'recorded' | 'unknown' }[];
}

export interface ImportVdpaOptions {
  prefix?: string;
}

/** The stream id of a vDPA device: its virtio type and its vDPA device name. */
export function vdpaDeviceId(type: string, name: string): string {
  return `vdpa-${type || 'unknown'}@${name}`;
}

async function readJson(file: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    const st = await stat(file);
    if (st.size > MAX_VDPA_INPUT_BYTES) throw new VdpaInputError(`${file}: ${st.size} bytes, more than the ${MAX_VDPA_INPUT_BYTES} a vdpa capture file may have`);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      if (!required) return undefined;
      throw new VdpaInputError(`${file}: no such file; a capture directory needs it (scripts/vdpa/capture.sh writes it)`);
    }
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    const m = /position (\d+)/.exec((err as Error).message);
    throw new VdpaInputError(`${file}: offset ${m ? m[1] : 0}: not JSON (${(err as Error).message}); give the output of \`vdpa -jp ...\``);
  }
}

function wrap<T>(file: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof VdpaInputError) throw new VdpaInputError(`${file}: offset 0: ${err.message}`);
    throw err;
  }
}

interface DeviceStream {
  info: VdpaDevInfo | undefined;
  name: string;
  decoder: VdpaOpDecoder;
  events: NewEvent[];
  ops: number;
  provisioned: boolean;
}

function typeOf(info: VdpaDevInfo | undefined): string {
  return info ? (VDPA_CLASS_TYPES[info.type] ?? info.type) : '';
}

function headerEvents(info: VdpaDevInfo, mgmt: MgmtdevInfo | undefined, file: string, timestampNs: bigint): NewEvent[] {
  const type = typeOf(info);
  const dt = deviceTypeByName(type);
  const base = { timestampNs, actor: 'management-tool' as const, path: 'netlink' as const, source: 'kprobe-trace' as const };
  const out: NewEvent[] = [{
    ...base,
    body: {
      kind: 'identified', aliases: [], type, ...(dt ? { virtioId: dt.id } : {}), transport: 'vdpa', ...(info.maxVqs !== null && info.maxVqs !== undefined ? { numQueues: info.maxVqs } : {}),
      backend: info.mgmtdev,
    },
  }];
  if (info.maxVqSize !== null) {
    for (let index = 0; index < (info.maxVqs ?? 0); index++) out.push({ ...base, actor: 'device', body: { kind: 'queueConfigured', index, maxSize: info.maxVqSize } });
  }
  // A parent whose devices bring their own features (VDUSE) reports dev_features that bound nothing: not recorded.
  if (mgmt && mgmt.devFeatureNames && !vdpaParent(mgmt.name)?.featuresFromDevice) {
    let value: bigint;
    try {
      value = vdpaToolFeatureMask(mgmt.devFeatureNames, type);
    } catch (err) {
      throw new VdpaInputError(`${file}: offset 0: mgmtdev "${mgmt.name}": dev_features: ${(err as Error).message}; add it to the catalog in src/model/features.ts`);
    }
    out.push({ ...base, body: { kind: 'parentFeatures', mgmtdev: mgmt.name, value, maxVqp: mgmt.maxSupportedVqs ?? 0 } });
  }
  return out;
}

/** Reads a capture directory or a `vdpa -jp dev show` file into per-device event lists (nothing is stored). */
export async function readVdpaCapture(input: string): Promise<{ summary: VdpaImportSummary; streams: Map<string, NewEvent[]> }> {
  let isDir: boolean;
  try {
    isDir = (await stat(input)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new VdpaInputError(`${input}: no such file or directory`);
    throw err;
  }
  const summary: VdpaImportSummary = { input, traceLines: 0, skipped: [], devices: [] };
  const skip = (reason: string, line: number) => {
    const s = summary.skipped.find((x) => x.reason === reason);
    if (s) s.count++;
    else summary.skipped.push({ reason, count: 1, firstLine: line });
  };

  let devs: VdpaDevInfo[];
  let mgmts: MgmtdevInfo[] = [];
  let traceText: string | undefined;
  const devFile = isDir ? join(input, 'dev.json') : input;
  const mgmtFile = isDir ? join(input, 'mgmtdev.json') : input;
  const devJson = await readJson(devFile, true);
  devs = wrap(devFile, () => readDevShow(devJson));
  const mgmtJson = isDir ? await readJson(mgmtFile, false) : devJson;
  if (mgmtJson !== undefined && typeof mgmtJson === 'object' && mgmtJson !== null && 'mgmtdev' in mgmtJson) mgmts = wrap(mgmtFile, () => readMgmtdevShow(mgmtJson));
  if (isDir) {
    const traceFile = join(input, 'trace.txt');
    try {
      const st = await stat(traceFile);
      if (st.size > MAX_VDPA_INPUT_BYTES) throw new VdpaInputError(`${traceFile}: ${st.size} bytes, more than ${MAX_VDPA_INPUT_BYTES}; trim the trace to the devices' lifetime`);
      traceText = await readFile(traceFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  const streams = new Map<string, DeviceStream>();
  const streamOf = (name: string): DeviceStream => {
    let s = streams.get(name);
    if (!s) {
      const info = devs.find((d) => d.name === name);
      s = { info, name, decoder: new VdpaOpDecoder(info?.maxVqs ?? undefined), events: [], ops: 0, provisioned: false };
      streams.set(name, s);
    }
    return s;
  };
  const mgmtOf = (info: VdpaDevInfo | undefined) => mgmts.find((m) => m.name === info?.mgmtdev);
  for (const d of devs) streamOf(d.name);

  // A trace without command markers (recorded by other means): the successful adds of commands.txt, if any,
  // provision each device before its first op (their time among the ops is unknown).
  if (isDir && (traceText === undefined || !traceText.includes('tracing_mark_write: devrec: run '))) {
    const cmdFile = join(input, 'commands.txt');
    let text = '';
    try {
      text = await readFile(cmdFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    text.split('\n').forEach((line, i) => {
      const [rc, , command] = line.split('\t');
      const words = command?.split(' ') ?? [];
      if (rc !== '0' || words.slice(0, 3).join(' ') !== 'vdpa dev add') return;
      let add;
      try {
        add = parseDevAdd(words);
      } catch (err) {
        if (err instanceof VdpaInputError) throw new VdpaInputError(`${cmdFile}: line ${i + 1}: ${err.message}`);
        throw err;
      }
      const st = streamOf(add.name);
      if (st.events.length === 0 && st.info) st.events.push(...headerEvents(st.info, mgmtOf(st.info), mgmtFile, 0n));
      st.events.push({ timestampNs: 0n, actor: 'management-tool', path: 'netlink', source: 'kprobe-trace', body: { kind: 'provisioned', ...add } });
      st.provisioned = true;
    });
  }

  if (traceText !== undefined) {
    const traceFile = join(input, 'trace.txt');
    const lines = traceText.split('\n');
    // Pair each "run" marker with its "exit" marker, so a refused `vdpa dev add` provisions nothing.
    const exitOf = new Map<number, number>();
    let open: number | undefined;
    lines.forEach((l, i) => {
      const t = l.includes('tracing_mark_write') ? parseTraceLine(l) : undefined;
      if (t?.kind !== 'marker') return;
      if (t.text.startsWith('devrec: run ')) open = i;
      else if (t.text.startsWith('devrec: exit ') && open !== undefined) {
        exitOf.set(open, Number(t.text.slice('devrec: exit '.length)));
        open = undefined;
      }
    });
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const lineNo = i + 1;
      if (line.trim() === '' || line.startsWith('#')) continue;
      summary.traceLines++;
      let t;
      try {
        t = parseTraceLine(line);
      } catch (err) {
        if (err instanceof VdpaOpError) throw new VdpaInputError(`${traceFile}: line ${lineNo}: ${err.message}; record the ops with scripts/vdpa/ops/*.tsv`);
        throw err;
      }
      if (!t) {
        skip('not a tracefs event line', lineNo);
        continue;
      }
      if (t.kind === 'marker') {
        const cmd = t.text.startsWith('devrec: run ') ? t.text.slice('devrec: run '.length).split(/\s+/) : undefined;
        if (cmd && cmd[0] === 'vdpa' && cmd[1] === 'dev' && (cmd[2] === 'add' || cmd[2] === 'del')) {
          const rc = exitOf.get(i);
          if (rc !== 0) continue; // refused or never finished: the kernel kept nothing
          if (cmd[2] === 'del') {
            const s = streamOf(cmd[3] ?? '');
            s.events.push({ timestampNs: t.timestampNs, actor: 'management-tool', path: 'netlink', source: 'kprobe-trace', body: { kind: 'annotation', severity: 'info', code: 'vdpa-dev-del', message: t.text.slice('devrec: run '.length) } });
            continue;
          }
          let add;
          try {
            add = parseDevAdd(cmd);
          } catch (err) {
            if (err instanceof VdpaInputError) throw new VdpaInputError(`${traceFile}: line ${lineNo}: the recorded command: ${err.message}`);
            throw err;
          }
          const s = streamOf(add.name);
          if (s.events.length === 0 && s.info) s.events.push(...headerEvents(s.info, mgmtOf(s.info), mgmtFile, t.timestampNs));
          s.events.push({ timestampNs: t.timestampNs, actor: 'management-tool', path: 'netlink', source: 'kprobe-trace', body: { kind: 'provisioned', ...add } });
          s.provisioned = true;
        } else if (!t.text.startsWith('devrec: ')) skip('trace_marker line that is not a devrec command marker', lineNo);
        continue;
      }
      const s = streamOf(t.device);
      if (s.events.length === 0 && s.info) s.events.push(...headerEvents(s.info, mgmtOf(s.info), mgmtFile, t.record.timestampNs));
      if (s.decoder.meaning(t.record) === undefined) {
        skip(`op "${t.record.op}" is not a vdpa_config_ops member devrec models`, lineNo);
        continue;
      }
      try {
        s.events.push(...s.decoder.decode(t.record));
      } catch (err) {
        if (err instanceof VdpaOpError) throw new VdpaInputError(`${traceFile}: line ${lineNo}: ${err.message}; check the probe definitions (scripts/vdpa/ops/*.tsv)`);
        throw err;
      }
      s.ops++;
    }
  }

  const out = new Map<string, NewEvent[]>();
  const unlisted = [...streams.values()].filter((s) => !s.info && s.ops > 0).map((s) => s.name);
  if (unlisted.length) throw new VdpaInputError(`${devFile}: offset 0: the trace has ops of ${unlisted.join(', ')}, which \`vdpa -jp dev show\` does not list; run dev show while every recorded device exists`);
  for (const s of streams.values()) {
    if (s.events.length === 0 && s.info) s.events.push(...headerEvents(s.info, mgmtOf(s.info), mgmtFile, 0n));
    if (s.events.length === 0) continue;
    const type = typeOf(s.info);
    const id = vdpaDeviceId(type, s.name);
    out.set(id, s.events);
    summary.devices.push({
      id, name: s.name, type, mgmtdev: s.info?.mgmtdev ?? '', events: s.events.length, ops: s.ops,
      kicks: Object.fromEntries([...s.decoder.kicks].map(([q, n]) => [String(q), n])), provisioned: s.provisioned ? 'recorded' : 'unknown',
    });
  }
  if (out.size === 0) throw new VdpaInputError(`${isDir ? devFile : input}: offset 0: no vDPA device (an empty "dev" object); capture after \`vdpa dev add\``);
  return { summary, streams: out };
}

export async function importVdpa(store: EventStore, input: string, options: ImportVdpaOptions = {}): Promise<VdpaImportSummary> {
  const { summary, streams } = await readVdpaCapture(input);
  // All or nothing: refuse before writing when any stream exists already.
  for (const id of streams.keys()) {
    const full = (options.prefix ?? '') + id;
    if ((await store.head(full)) >= 0) throw new VdpaInputError(`${input}: device ${full} is already in the store; import into another store or give a --prefix`);
  }
  await store.appendMany([...streams].map(([id, events]) => ({ stream: (options.prefix ?? '') + id, events, expectedRevision: 'no-stream' as const })));
  for (const d of summary.devices) d.id = (options.prefix ?? '') + d.id;
  return summary;
}
