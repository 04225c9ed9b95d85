// devrec tail ID | --all [--from N] [--json] [--count N] [--poll-ms N]: follow a device's events (or every
// device's) as they are recorded, in words or as JSON lines. Default: only events recorded from now on; --from N
// starts at revision N (with --all: at global position N). A file: store is opened read-only and polled, so
// another process can record while this one follows. Runs until SIGINT/SIGTERM, or until --count events.
import { Command } from '@commander-js/extra-typings';
import { concatMap, type Observable, type Subscription } from 'rxjs';
import { describeEvent } from '../../events/describe.js';
import { eventToJson } from '../../events/json.js';
import type { StoredEvent } from '../../events/types.js';
import { FileEventStore } from '../../store/file-store.js';
import type { EventStore } from '../../store/types.js';
import { CliError, parseRevision, resolveDeviceSpec, storeOption, withStore } from '../common.js';

const positive = (name: string) => (v: string) => {
  if (!/^[1-9]\d*$/.test(v)) throw new CliError(`${name} "${v}" is not a positive integer`);
  return Number(v);
};

/** The device type (for feature names) from a stream's `identified` event, looked for among its first events. */
async function typeOf(store: EventStore, stream: string): Promise<string | undefined> {
  for await (const e of store.read(stream, { from: 0, maxCount: 32 })) {
    if (e.event.body.kind === 'identified') return e.event.body.type;
  }
  return undefined;
}

export function tailCommand() {
  return new Command('tail')
    .description('follow events as they are recorded (until Ctrl-C), in words or as JSON lines')
    .argument('[id]', 'device ID, or ID@N (from revision N, as --from N)')
    .option('--all', 'every device (each line names its device)')
    .option('--from <n>', 'start at this revision (with --all: global position) instead of at new events', (v) => parseRevision(v, '--from'))
    .option('--count <n>', 'stop after this many events', positive('--count'))
    .option('--poll-ms <n>', 'how often a file: store is checked for appends by another process', positive('--poll-ms'), 100)
    .option('--json', 'one JSON object per line: {stream, position, revision, timestampNs, kind, ...}')
    .addOption(storeOption())
    .action(async (id, opts) => {
      if (!id && !opts.all) throw new CliError('tail: give a device id or --all');
      if (id && opts.all) throw new CliError('tail: give a device id or --all, not both');
      await withStore(opts.store, true, async (store) => {
        let from = opts.from;
        let stream: string | null = null;
        if (!opts.all) {
          // a recorded device by any of its names; a device not recorded yet is followed from its first event
          const r = (await store.head(id!)) >= 0
            ? { id: id!, revision: undefined }
            : await resolveDeviceSpec(store, id!).catch((e: unknown) => {
              if (e instanceof CliError && e.message.startsWith('no device') && !/@\d+$/.test(id!)) return { id: id!, revision: undefined };
              throw e;
            });
          stream = r.id;
          if (r.revision !== undefined) {
            if (from !== undefined) throw new CliError(`${id}: give ID@N or --from N, not both`);
            from = r.revision;
          }
        }
        let skipUpTo: Map<string, number> | undefined;
        if (from === undefined) {
          if (stream !== null) from = (await store.head(stream)) + 1;
          else if (store instanceof FileEventStore) from = store.size;
          else {
            // no global end position in the contract: replay and drop what was there when we started
            from = 0;
            skipUpTo = new Map((await store.streams()).map((s) => [s.stream, s.revision]));
          }
        }
        const types = new Map<string, string | undefined>();
        const live: Observable<StoredEvent> = store.subscribe(stream, { from, pollMs: opts.pollMs });
        let shown = 0;
        const line = async (e: StoredEvent): Promise<void> => {
          if (skipUpTo && e.revision <= (skipUpTo.get(e.stream) ?? -1)) return;
          const b = e.event.body;
          if (b.kind === 'identified') types.set(e.stream, b.type);
          else if (!opts.json && !types.has(e.stream)) types.set(e.stream, await typeOf(store, e.stream));
          const text = opts.json
            ? JSON.stringify({ stream: e.stream, position: e.position, ...eventToJson(e.event) })
            : `${stream === null ? e.stream + ' ' : ''}${describeEvent(e.event, types.get(e.stream))}`;
          shown++;
          if (!process.stdout.write(text + '\n')) await new Promise((r) => process.stdout.once('drain', r));
        };
        process.stderr.write(`devrec: tailing ${stream ?? 'every device'} of ${store.url} from ${stream === null && !skipUpTo ? 'position' : 'revision'} ${from}${skipUpTo ? ' (new events only)' : ''}; Ctrl-C stops\n`);
        await new Promise<void>((resolve, reject) => {
          let sub: Subscription | undefined;
          let finished = false;
          const finish = (err?: unknown) => {
            if (finished) return;
            finished = true;
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            sub?.unsubscribe();
            if (err === undefined) resolve();
            else reject(err);
          };
          const stop = () => finish();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          sub = live.pipe(concatMap(line)).subscribe({
            next: () => {
              if (opts.count !== undefined && shown >= opts.count) finish();
            },
            error: (err) => finish(err),
            complete: () => finish(),
          });
          if (finished) sub.unsubscribe();
        });
        if (!opts.json && process.stderr.isTTY) process.stderr.write(`devrec: ${shown} event(s)\n`);
      });
    });
}
