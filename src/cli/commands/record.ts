// devrec record --device ID [--type T] [--transport T] [--input FILE] < events.ndjson
import { Command, Option } from '@commander-js/extra-typings';
import { createReadStream } from 'node:fs';
import { readLines } from '../../sources/bounded-input.js';
import { ENUMS } from '../../events/event-spec.js';
import { FieldError, eventFromJson } from '../../events/json.js';
import type { NewEvent, Transport } from '../../events/types.js';
import { deviceTypeByName } from '../../model/index.js';
import { Recorder, wallClockNs } from '../../record/recorder.js';
import { CliError, storeOption, withStore } from '../common.js';

export interface RecordSummary { device: string; events: number; firstRevision: number; lastRevision: number }

/** Reads NDJSON events and records them; a bad line stops the run after everything before it is durable. */
export async function recordNdjson(
  lines: AsyncIterable<string>, inputName: string, device: string,
  recorder: Recorder, head: number, identity?: NewEvent,
): Promise<RecordSummary> {
  let count = 0;
  if (identity) {
    recorder.record(device, identity);
    count++;
  }
  let lineNo = 0;
  let failure: CliError | undefined;
  const it = lines[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<string>;
    try {
      next = await it.next();
    } catch (err) {
      if ((err as Error).name !== 'InputLimitError') throw err;
      lineNo++;
      failure = new CliError((err as Error).message);
      break;
    }
    if (next.done) break;
    const raw = next.value;
    lineNo++;
    const line = raw.trim();
    if (line === '') continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      failure = new CliError(`${inputName}: line ${lineNo}: not valid JSON: ${(err as Error).message}`);
      break;
    }
    try {
      recorder.record(device, eventFromJson(obj, { source: 'ndjson', timestampNs: wallClockNs }));
      count++;
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      failure = new CliError(`${inputName}: line ${lineNo}: ${err.message}`);
      break;
    }
  }
  await recorder.flush();
  if (failure) {
    throw new CliError(`${failure.message} (${count} event(s) were recorded to ${device} before line ${lineNo}; nothing from line ${lineNo} on)`);
  }
  return { device, events: count, firstRevision: head + 1, lastRevision: head + count };
}

export function recordCommand() {
  return new Command('record')
    .description('record NDJSON events (docs/ndjson.md) from stdin into a device stream')
    .requiredOption('--device <id>', 'device id, e.g. virtio-net-pci@00:02.0')
    .option('--type <type>', 'virtio device type (net, blk, ...) for a new device')
    .addOption(new Option('--transport <transport>', 'transport for a new device').choices([...ENUMS.transport.numbers.keys()].filter((t) => t !== 'unspecified')))
    .option('--input <file>', 'read this file instead of stdin')
    .addOption(storeOption())
    .option('--json', 'print the summary as JSON')
    .action(async (opts) => {
      if (opts.device.trim() === '') throw new CliError('--device "": a device id cannot be empty (e.g. --device virtio-net-pci@00:02.0)');
      if (opts.type && !deviceTypeByName(opts.type)) throw new CliError(`--type "${opts.type}" is not a virtio device type`);
      await withStore(opts.store, false, async (store) => {
        const head = await store.head(opts.device);
        const identity: NewEvent | undefined = head < 0 && (opts.type || opts.transport)
          ? {
              timestampNs: wallClockNs(), actor: 'recorder', path: 'internal', source: 'ndjson',
              body: {
                kind: 'identified', aliases: [], type: opts.type ?? '', ...(opts.type ? { virtioId: deviceTypeByName(opts.type)!.id } : {}),
                transport: (opts.transport ?? 'unspecified') as Transport, backend: '',
              },
            }
          : undefined;
        const input = opts.input ? createReadStream(opts.input) : process.stdin;
        const inputName = opts.input ?? 'stdin';
        input.on('error', () => undefined);
        // our own splitter: a line has a length cap (readline buffers any length and throws RangeError)
        const lines = readLines(input, inputName);
        const recorder = new Recorder(store, { source: 'ndjson' });
        try {
          const summary = await recordNdjson(lines, inputName, opts.device, recorder, head, identity);
          if (opts.json) process.stdout.write(JSON.stringify(summary) + '\n');
          else if (summary.events === 0) process.stdout.write(`no events in ${inputName}\n`);
          else process.stdout.write(`recorded ${summary.events} event(s) to ${summary.device} (revisions ${summary.firstRevision}..${summary.lastRevision})\n`);
        } finally {
          await recorder.close().catch(() => undefined);
        }
      });
    });
}
