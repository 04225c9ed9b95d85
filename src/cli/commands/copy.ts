// devrec copy --from URL --to URL [ID...] [--json]: move recordings between stores (file: <-> kurrentdb://),
// resumable (a second run copies only the missing tail, after comparing what the target has byte for byte) and
// verified (event count and SHA-256 of the event bytes per device). Progress is a spinner on stderr, shown only
// on a terminal, never under CI or with --json.
import { Command } from '@commander-js/extra-typings';
import path from 'node:path';
import type { Ora } from 'ora';
import { copyStores, type CopyProgress, type CopyReport } from '../../store/copy.js';
import { FileEventStore } from '../../store/file-store.js';
import { openStore } from '../../store/open.js';
import type { EventStore } from '../../store/types.js';
import { CliError, resolveDeviceSpec, writeJson } from '../common.js';

/** Errors whose message is complete for the user: shown as one line, never with a stack. */
const USER_ERRORS = new Set(['CopyError', 'StoreConnectionError', 'CopyMismatchError', 'CopyInterruptedError', 'CopyVerifyError', 'WrongExpectedRevisionError', 'PartialAppendError', 'StoreLockedError', 'StoreCorruptError']);

function sameStore(a: string, b: string): boolean {
  const norm = (u: string) => (u.startsWith('file:') ? `file:${path.resolve(u.slice('file:'.length).replace(/^\/\/(?=\/)/, ''))}` : u);
  return norm(a) === norm(b);
}

async function open(url: string, readOnly: boolean, role: string): Promise<EventStore> {
  try {
    const store = await openStore(url, { readOnly });
    if (store instanceof FileEventStore && store.recovery) {
      const r = store.recovery;
      process.stderr.write(`devrec: recovered ${store.dir}: cut a torn tail of ${r.droppedBytes} bytes at ${r.segment} offset ${r.offset} (${r.reason})\n`);
    }
    return store;
  } catch (err) {
    const e = err as Error;
    throw new CliError(`--${role} ${USER_ERRORS.has(e.name) ? e.message : `${url}: ${e.message}`}`);
  }
}

function progressText(p: CopyProgress): string {
  const what = p.phase === 'compare' ? 'comparing' : p.phase === 'copy' ? 'copying' : 'verifying';
  return `[${p.index + 1}/${p.streams}] ${p.stream}: ${what} ${p.done}/${p.total}`;
}

function renderReport(r: CopyReport): string {
  const lines = [`copied ${r.from} -> ${r.to}: ${r.streams.length} device(s), ${r.copied} event(s) appended, ${r.events} event(s) verified`];
  const w = Math.max(2, ...r.streams.map((s) => s.stream.length));
  for (const s of r.streams) {
    const had = s.targetRevisionBefore + 1;
    const what = s.status === 'up-to-date' ? `up to date (${s.events} events)` : `copied ${s.copied} (target had ${had} of ${s.events})`;
    lines.push(`  ${s.stream.padEnd(w)}  ${what}  sha256 ${s.sha256.slice(0, 16)}  ok`);
  }
  return lines.join('\n') + '\n';
}

export function copyCommand() {
  return new Command('copy')
    .description('copy device recordings between stores (file: <-> kurrentdb://); resumes where a previous copy stopped and verifies every event')
    .argument('[ids...]', 'device ids to copy (default: every device of the source)')
    .requiredOption('--from <url>', 'source store (file:<dir>, kurrentdb://host:2113?tls=false, ...)')
    .requiredOption('--to <url>', 'target store')
    .option('--batch <n>', 'events per append on the target', (v) => {
      if (!/^[1-9]\d*$/.test(v)) throw new CliError(`--batch "${v}" is not a positive integer`);
      return Number(v);
    }, 2048)
    .option('--json', 'print a JSON summary on stdout (and no progress)')
    .action(async (ids, opts) => {
      if (sameStore(opts.from, opts.to)) throw new CliError(`--from and --to name the same store (${opts.from})`);
      // A terminal with a width (a pty of 0 columns makes the spinner redraw without end); never under CI or --json.
      const showProgress = !opts.json && process.stderr.isTTY === true && (process.stderr.columns ?? 0) > 0 && !process.env['CI'];
      const source = await open(opts.from, true, 'from');
      let target: EventStore | undefined;
      let spinner: Ora | undefined;
      const abort = new AbortController();
      const onSigint = () => abort.abort();
      process.once('SIGINT', onSigint);
      try {
        target = await open(opts.to, false, 'to');
        if (showProgress) {
          const { default: ora } = await import('ora'); // only on a terminal: nothing to load otherwise
          spinner = ora({ stream: process.stderr, text: `copying ${source.url} -> ${target.url}`, discardStdin: false }).start();
        }
        let last = 0;
        const report = await copyStores(source, target, {
          // a device named by an alias (qdev id, address...) is copied by its stream id
          ...(ids.length ? { streams: await Promise.all(ids.map(async (i) => (await resolveDeviceSpec(source, i)).id)) } : {}),
          batchSize: opts.batch,
          signal: abort.signal,
          onProgress: (p) => {
            const now = Date.now();
            if (spinner && (now - last > 100 || p.done === p.total)) {
              last = now;
              spinner.text = progressText(p);
            }
          },
        });
        spinner?.stop();
        if (opts.json) writeJson(report);
        else process.stdout.write(renderReport(report));
      } catch (err) {
        spinner?.stop();
        const e = err as Error;
        if (e instanceof CliError) throw e;
        if (USER_ERRORS.has(e.name)) throw new CliError(e.message);
        throw e;
      } finally {
        process.off('SIGINT', onSigint);
        await target?.close();
        await source.close();
      }
    });
}
