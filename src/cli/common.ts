// Shared CLI plumbing: the --store option, opening stores, exit codes and error reporting.
import { Option } from '@commander-js/extra-typings';
import { openStore, storeUrlFromEnv } from '../store/open.js';
import type { EventStore } from '../store/types.js';
import { FileEventStore } from '../store/file-store.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_INCOMPATIBLE = 2;

/** An error whose message is complete for the user (names the input, offset and reason). */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = EXIT_ERROR) {
    super(message);
    this.name = 'CliError';
  }
}

export const storeOption = () =>
  new Option('--store <url>', 'event store: file:<dir>, memory: (env DEVREC_STORE; default file:./.devrec)');

export async function withStore<T>(url: string | undefined, readOnly: boolean, fn: (store: EventStore) => Promise<T>): Promise<T> {
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
