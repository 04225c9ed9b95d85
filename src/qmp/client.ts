// A small QMP (QEMU Machine Protocol) client: connect to `unix:PATH` or `HOST:PORT`, check QEMU's greeting, leave
// capabilities negotiation with `qmp_capabilities`, then run commands one at a time, each with an `id` that its
// answer must carry. Asynchronous events are skipped. Every wait has a deadline, every message a size cap, and every
// failure is a QmpError with one line naming the peer, what was expected and what came.
//
// No npm QMP client was usable here (none is maintained for current Node), so this is ours; the protocol is the one
// QEMU documents in docs/interop/qmp-spec.rst: newline-separated JSON objects, a greeting {"QMP": {"version",
// "capabilities"}}, answers {"return": ...} or {"error": {"class", "desc"}}, events {"event": ...}.
import { type Socket, createConnection } from 'node:net';
import { parseQemuJson } from './json.js';

export class QmpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QmpError';
  }
}

export interface QmpVersion { major: number; minor: number; micro: number; package: string }

export interface QmpOptions {
  /** per step (connect, greeting, each command), default 10 s */
  timeoutMs?: number;
  /** the largest single message accepted, default 16 MiB */
  maxMessageBytes?: number;
}

export type QmpAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** `unix:PATH` or `HOST:PORT` (`[v6]:PORT` too). */
export function parseQmpAddress(text: string): QmpAddress {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (!path) throw new QmpError(`QMP address "${text}": no socket path after unix:`);
    return { kind: 'unix', path };
  }
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new QmpError(`QMP address "${text}": expected unix:PATH or HOST:PORT`);
  return { kind: 'tcp', host: (m[1] ?? m[2])!, port };
}

export function describeAddress(a: QmpAddress): string {
  return a.kind === 'unix' ? `unix:${a.path}` : `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

function preview(bytes: Buffer | string): string {
  const s = typeof bytes === 'string' ? bytes : bytes.subarray(0, 60).toString('latin1');
  const clean = s.replace(/[^\x20-\x7e]/g, '.');
  return JSON.stringify(clean.length > 60 ? clean.slice(0, 57) + '...' : clean);
}

type Waiter = { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void };

export class QmpClient {
  readonly greeting: { version: QmpVersion; capabilities: string[] };
  private nextId = 1;

  private constructor(
    private readonly socket: Socket,
    private readonly reader: MessageReader,
    readonly peer: string,
    private readonly timeoutMs: number,
    greeting: { version: QmpVersion; capabilities: string[] },
  ) {
    this.greeting = greeting;
  }

  /** Connects, reads and checks the greeting, and sends `qmp_capabilities`. */
  static async connect(address: string | QmpAddress, options: QmpOptions = {}): Promise<QmpClient> {
    const addr = typeof address === 'string' ? parseQmpAddress(address) : address;
    const peer = describeAddress(addr);
    const timeoutMs = options.timeoutMs ?? 10_000;
    const socket = await openSocket(addr, peer, timeoutMs);
    const reader = new MessageReader(socket, peer, options.maxMessageBytes ?? 16 * 1024 * 1024);
    try {
      const first = await reader.next(timeoutMs, 'greeting');
      const greeting = parseGreeting(first, peer);
      const client = new QmpClient(socket, reader, peer, timeoutMs, greeting);
      await client.execute('qmp_capabilities');
      return client;
    } catch (e) {
      socket.destroy();
      throw e;
    }
  }

  /** Runs one command and returns its `return` value; a QMP error answer becomes a QmpError naming the command. */
  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const id = `devrec-${this.nextId++}`;
    const msg: Record<string, unknown> = { execute: command, id };
    if (args) msg['arguments'] = args;
    const what = `${command}${args ? ' ' + JSON.stringify(args) : ''}`;
    if (this.socket.destroyed || this.reader.closed) throw new QmpError(`QMP ${this.peer}: the connection is closed; cannot run ${what}`);
    this.socket.write(JSON.stringify(msg) + '\n');
    for (;;) {
      const m = await this.reader.next(this.timeoutMs, `the answer to ${what}`);
      if ('event' in m) continue; // asynchronous event: not ours
      if (m['id'] !== id) {
        throw new QmpError(`QMP ${this.peer}: answer to ${what} carries id ${JSON.stringify(m['id'])}, expected "${id}": ${preview(JSON.stringify(m))} (is this QEMU's QMP?)`);
      }
      if ('return' in m) return m['return'];
      if ('error' in m) {
        const err = m['error'] as Record<string, unknown> | null;
        const cls = err && typeof err['class'] === 'string' ? err['class'] : '?';
        const desc = err && typeof err['desc'] === 'string' ? err['desc'] : JSON.stringify(err);
        throw new QmpError(`QMP ${this.peer}: ${what} failed: ${cls}: ${desc}`);
      }
      throw new QmpError(`QMP ${this.peer}: answer to ${what} has neither "return" nor "error": ${preview(JSON.stringify(m))}`);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

function parseGreeting(m: Record<string, unknown>, peer: string): { version: QmpVersion; capabilities: string[] } {
  const q = m['QMP'];
  if (!q || typeof q !== 'object') throw new QmpError(`QMP ${peer}: the peer's first message is not a QMP greeting: ${preview(JSON.stringify(m))} (is this QEMU's -qmp socket?)`);
  const v = (q as Record<string, unknown>)['version'] as Record<string, unknown> | undefined;
  const qemu = v?.['qemu'] as Record<string, unknown> | undefined;
  const num = (k: string) => (qemu && Number.isInteger(qemu[k]) ? (qemu[k] as number) : NaN);
  if (!qemu || [num('major'), num('minor'), num('micro')].some(Number.isNaN)) {
    throw new QmpError(`QMP ${peer}: the greeting has no QEMU version (QMP.version.qemu.major/minor/micro): ${preview(JSON.stringify(m))}`);
  }
  const caps = (q as Record<string, unknown>)['capabilities'];
  return {
    version: { major: num('major'), minor: num('minor'), micro: num('micro'), package: typeof v?.['package'] === 'string' ? (v['package'] as string) : '' },
    capabilities: Array.isArray(caps) ? caps.filter((c): c is string => typeof c === 'string') : [],
  };
}

function openSocket(addr: QmpAddress, peer: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = addr.kind === 'unix' ? createConnection({ path: addr.path }) : createConnection({ host: addr.host, port: addr.port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new QmpError(`QMP ${peer}: could not connect within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' ? 'no such socket' : e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'EACCES' ? 'permission denied' : e.message;
      reject(new QmpError(`QMP ${peer}: cannot connect: ${why} (is QEMU running with -qmp ${addr.kind === 'unix' ? `unix:${addr.path},server=on,wait=off` : `tcp:${addr.host}:${addr.port},server=on,wait=off`}?)`));
    });
  });
}

/** Splits the byte stream into JSON objects (one per line) with a size cap, and turns close/garbage into errors. */
class MessageReader {
  private buf: Buffer[] = [];
  private bufLen = 0;
  private queue: Record<string, unknown>[] = [];
  private waiter: Waiter | undefined;
  private failure: QmpError | undefined;
  private received = 0;
  closed = false;

  constructor(socket: Socket, private readonly peer: string, private readonly maxBytes: number) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onClose());
    socket.on('close', () => this.onClose());
    socket.on('error', (e) => this.fail(new QmpError(`QMP ${peer}: connection error: ${e.message}`)));
  }

  private onData(chunk: Buffer): void {
    if (this.failure) return;
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] !== 0x0a) continue;
      this.buf.push(chunk.subarray(start, i));
      const line = Buffer.concat(this.buf);
      const at = this.received;
      this.received += this.bufLen + (i - start) + 1;
      this.buf = [];
      this.bufLen = 0;
      start = i + 1;
      const text = line.toString('utf8').trim();
      if (!text) continue;
      let v: unknown;
      try {
        v = parseQemuJson(text);
      } catch {
        return this.fail(new QmpError(`QMP ${this.peer}: byte ${at}: not JSON: ${preview(line)} (is this QEMU's QMP?)`));
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return this.fail(new QmpError(`QMP ${this.peer}: byte ${at}: expected a JSON object, got ${preview(text)}`));
      this.deliver(v as Record<string, unknown>);
    }
    const rest = chunk.subarray(start);
    this.bufLen += rest.length;
    this.buf.push(rest);
    if (this.bufLen > this.maxBytes) {
      this.fail(new QmpError(`QMP ${this.peer}: byte ${this.received}: a message is over the ${this.maxBytes}-byte cap without a line end: ${preview(Buffer.concat(this.buf))}`));
    }
  }

  private deliver(m: Record<string, unknown>): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.resolve(m);
    } else this.queue.push(m);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const partial = this.bufLen ? ` after a partial message ${preview(Buffer.concat(this.buf))}` : '';
    this.fail(new QmpError(`QMP ${this.peer}: the peer closed the connection${partial}`));
  }

  private fail(e: QmpError): void {
    if (!this.failure) this.failure = e;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(this.failure);
  }

  next(timeoutMs: number, what: string): Promise<Record<string, unknown>> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    if (this.failure) {
      return Promise.reject(new QmpError(this.failure.message.replace(/closed the connection/, `closed the connection before ${what}`)));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new QmpError(`QMP ${this.peer}: no ${what} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiter = {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => {
          clearTimeout(timer);
          reject(e instanceof QmpError ? new QmpError(e.message.replace(/closed the connection/, `closed the connection before ${what}`)) : e);
        },
      };
    });
  }
}
