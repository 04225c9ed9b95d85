// devrec diff A B [--json]: two device states, each a devrec migration stream file or ID[@N] in the store.
// Differences are classed ABI-breaking, runtime-only or provenance (src/compat/diff.ts); for two devices in the
// store, also the first revision where their event logs part.
import { Command } from '@commander-js/extra-typings';
import { type DiffClass, type Difference, type Divergence, diffStates, firstDivergence, sortKeys } from '../../compat/diff.js';
import { openStore, storeUrlFromEnv } from '../../store/open.js';
import type { EventStore } from '../../store/types.js';
import { CliError, storeOption, writeJson } from '../common.js';
import { type LoadedSource, colors, isFile, isQemuStreamFile, loadQemuStreamFile, loadStoreDevice, loadStreamFile } from './check.js';

const CLASS_TITLE: Record<DiffClass, string> = { abi: 'ABI-breaking', runtime: 'runtime-only', provenance: 'provenance' };

function show(v: unknown): string {
  return v === undefined || v === null ? '-' : typeof v === 'string' ? v : JSON.stringify(v);
}

function line(d: Difference): string {
  if (d.bit !== undefined) return `${d.path}: ${d.name} (bit ${d.bit}) ${d.change === 'only-in-a' ? 'only in A' : 'only in B'}`;
  if (d.change === 'only-in-a') return `${d.path}: only in A (${show(d.a)})`;
  if (d.change === 'only-in-b') return `${d.path}: only in B (${show(d.b)})`;
  return `${d.path}: ${show(d.a)} -> ${show(d.b)}`;
}

export function diffCommand() {
  return new Command('diff')
    .description('compare two device states: devrec or QEMU stream files (raw or .gz), or ID[@N] in the store')
    .argument('<a>', 'devrec or QEMU stream file, or device ID[@revision]')
    .argument('<b>', 'devrec or QEMU stream file, or device ID[@revision]')
    .option('--device <id>', 'the device of QEMU streams with several (device id or PCI address)')
    .addOption(storeOption())
    .option('--json', 'JSON output (sorted keys, no colour)')
    .action(async (a, b, opts) => {
      let store: EventStore | undefined;
      const load = async (spec: string, which: string): Promise<LoadedSource> => {
        if (isFile(spec)) {
          if (await isQemuStreamFile(spec)) return loadQemuStreamFile(spec, opts.device);
          return loadStreamFile(spec);
        }
        store ??= await openStore(storeUrlFromEnv(opts.store), { readOnly: true });
        try {
          return await loadStoreDevice(store, spec);
        } catch (e) {
          if (e instanceof CliError) throw new CliError(`${which} "${spec}": no such file, and ${e.message}`);
          throw e;
        }
      };
      try {
        const sa = await load(a, 'A');
        const sb = await load(b, 'B');
        const result = diffStates(sa.state, sb.state);
        let divergence: Divergence | undefined;
        if (store && sa.store && sb.store) divergence = await firstDivergence(store, sa.store.id, sb.store.id, sa.store.revision, sb.store.revision);
        if (opts.json) {
          writeJson(sortKeys({ a: sa.label, b: sb.label, ...result, ...(divergence ? { divergence } : {}) }));
          return;
        }
        const c = colors();
        const out: string[] = [`A: ${sa.label} (${sa.state.type || '?'}, ${sa.state.transport}, revision ${sa.state.revision})`, `B: ${sb.label} (${sb.state.type || '?'}, ${sb.state.transport}, revision ${sb.state.revision})`];
        if (!result.differences.length) out.push(c.green('no differences'));
        for (const k of ['abi', 'runtime', 'provenance'] as const) {
          const ds = result.differences.filter((d) => d.class === k);
          if (!ds.length) continue;
          const title = `${CLASS_TITLE[k]} (${ds.length})`;
          out.push(k === 'abi' ? c.red(c.bold(title)) : k === 'runtime' ? c.yellow(title) : c.dim(title));
          for (const d of ds) out.push('  ' + line(d));
        }
        if (result.netHeader) {
          const { a: ha, b: hb } = result.netHeader;
          const same = ha.size === hb.size && ha.decidedBy === hb.decidedBy;
          out.push(`net header: A ${ha.size} bytes (${ha.decidedBy}), B ${hb.size} bytes (${hb.decidedBy})${same ? '' : ha.size === hb.size ? ': same size, decided by another feature' : ': ' + c.red('sizes differ')}`);
        }
        if (divergence) {
          out.push(divergence.revision === null
            ? `event logs: identical over ${divergence.compared} events (timestamps ignored)`
            : `event logs: diverge at revision ${divergence.revision}: A ${divergence.a ? JSON.stringify(divergence.a) : '(ends)'}; B ${divergence.b ? JSON.stringify(divergence.b) : '(ends)'}`);
        }
        process.stdout.write(out.join('\n') + '\n');
      } finally {
        await (store as EventStore | undefined)?.close();
      }
    });
}
