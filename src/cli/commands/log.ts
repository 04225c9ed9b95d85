// devrec log ID [--from N] [--to N] [--json]   (--json prints NDJSON, one event per line, readable by `record`)
import { Command } from '@commander-js/extra-typings';
import { describeEvent } from '../../events/describe.js';
import { explainEvents } from '../../events/explain.js';
import { eventToJson } from '../../events/json.js';
import { Projector } from '../../project/projector.js';
import { type DriverSession, DriverSessions } from '../../project/rules/sessions.js';
import { CliError, parseRevision, resolveDeviceSpec, storeOption, withStore } from '../common.js';

export function logCommand() {
  return new Command('log')
    .description("print a device's events")
    .argument('<id>', 'device ID, or ID@N (events 0..N; --from/--to narrow it)')
    .option('--from <n>', 'first revision', (v) => parseRevision(v, '--from'))
    .option('--to <n>', 'last revision', (v) => parseRevision(v, '--to'))
    .addOption(storeOption())
    .option('--json', 'NDJSON output (one event per line)')
    .option('--explain', 'each event in words, with the raw access it was decoded from')
    .action(async (spec, opts) => {
      await withStore(opts.store, true, async (store) => {
        if (opts.from !== undefined && opts.to !== undefined && opts.from > opts.to) {
          throw new CliError(`--from ${opts.from} is after --to ${opts.to}: no revision is in that range (swap them)`);
        }
        const r = await resolveDeviceSpec(store, spec);
        const id = r.id;
        const head = r.revision ?? r.head;
        if (opts.to !== undefined && opts.to > head) throw new CliError(`--to ${opts.to}: ${spec} has revisions 0..${head}`);
        const type = opts.json ? undefined : (await new Projector(store).stateAt(id, Math.min(opts.from ?? 0, head))).type;
        const sessions = opts.json || opts.explain ? undefined : await sessionStarts(store, id, opts.to ?? head);
        let out = '';
        for await (const chunk of store.readChunks(id, { from: opts.from ?? 0, to: opts.to ?? head })) {
          if (opts.explain) for (const l of explainEvents(chunk.map((e) => e.event), type)) out += l + '\n';
          else if (opts.json) for (const e of chunk) out += JSON.stringify(eventToJson(e.event)) + '\n';
          else {
            for (const e of chunk) {
              // the reset that starts a driver session says which session, and its driver when the signs name it
              const s = sessions?.get(e.revision);
              out += describeEvent(e.event, type) + (s ? `  [session ${s.session}${s.driver ? `: ${s.driver}` : ''}]` : '') + '\n';
            }
          }
          if (!process.stdout.write(out)) await new Promise((r) => process.stdout.once('drain', r));
          out = '';
        }
      });
    });
}

/** The driver sessions of revisions 0..to, by the revision of the reset that starts each (a first pass). */
async function sessionStarts(store: Parameters<Parameters<typeof withStore>[2]>[0], id: string, to: number): Promise<Map<number, DriverSession>> {
  const sessions = new DriverSessions();
  for await (const chunk of store.readChunks(id, { from: 0, to })) for (const e of chunk) sessions.step(e.event);
  return new Map(sessions.list().filter((s) => s.start !== null).map((s) => [s.start!, s]));
}
