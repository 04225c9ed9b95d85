// Runs the devrec CLI as a user would, but inside the test process: main(argv) with its own stdout, stderr, stdin,
// exit code and environment, so a spec pays for no Node start-up per call. Calls may overlap (a `migrate listen`
// while a `migrate send` runs): each call's writes and exit code are kept apart through AsyncLocalStorage.
// `devrecProcess` runs bin/devrec in a child process, for the few smoke tests that need a real process.
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Readable } from 'node:stream';

export interface Run { code: number; stdout: string; stderr: string }

interface Call { stdout: string; stderr: string; stdin: Readable; env: Record<string, string | undefined> }

const calls = new AsyncLocalStorage<Call>();
let installed = false;

/** Routes process.stdout/stderr writes, process.stdin and process.env (main() keeps each call's exit code) to the running call. */
function install(): void {
  if (installed) return;
  installed = true;
  for (const name of ['stdout', 'stderr'] as const) {
    const stream = process[name];
    const original = stream.write.bind(stream) as (...a: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const call = calls.getStore();
      if (!call) return original(chunk, ...rest);
      call[name] += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      if (cb) queueMicrotask(cb);
      return true;
    }) as typeof stream.write;
    // a call writes to a pipe, as in a child process: no colours, no progress, whatever runs the tests
    const tty = Object.getOwnPropertyDescriptor(stream, 'isTTY');
    Object.defineProperty(stream, 'isTTY', {
      configurable: true,
      enumerable: true,
      get: () => (calls.getStore() ? undefined : tty?.get ? tty.get.call(stream) : tty?.value),
    });
  }
  const stdin = Object.getOwnPropertyDescriptor(process, 'stdin')!;
  Object.defineProperty(process, 'stdin', {
    configurable: true,
    enumerable: stdin.enumerable ?? true,
    get: () => calls.getStore()?.stdin ?? (stdin.get ? stdin.get.call(process) : stdin.value),
  });
  const realEnv = process.env;
  // Reads and writes of process.env inside a call see the call's copy (the real environment plus its `env`).
  Object.defineProperty(process, 'env', {
    configurable: true,
    enumerable: true,
    get: () => calls.getStore()?.env ?? realEnv,
    set: () => {
      throw new Error('test/helpers/cli.ts: process.env cannot be replaced while the CLI helper is installed');
    },
  });
}

/** `devrec ARGS` in process: stdin is `input`, the environment is the test's plus `env`. */
export async function devrec(args: string[], input = '', env: Record<string, string> = {}): Promise<Run> {
  install();
  const call: Call = { stdout: '', stderr: '', stdin: Readable.from(input === '' ? [] : [Buffer.from(input)]), env: { ...process.env, ...env } };
  // import(), not a static import: mocha may load specs as CommonJS, and the commands are ESM modules loaded with
  // import() by main; one module graph keeps one CliError class and one exit-code context
  const { main } = await import('../../src/cli/main.js');
  return calls.run(call, async () => {
    const code = await main([process.execPath, 'devrec', ...args]);
    return { code, stdout: call.stdout, stderr: call.stderr };
  });
}

/** `bin/devrec ARGS` as a child process (compiled: run `npm run build` first; `npm test` does). */
export function devrecProcess(args: string[], input = '', env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.resolve('bin/devrec'), ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}
