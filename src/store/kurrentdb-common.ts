// What the KurrentDB store shares with code that must not load the gRPC client (open.ts, the copy command):
// store URLs, the stream naming scheme and the connection error. docs/stores.md describes all of it.

/** URL schemes the KurrentDB client accepts; each also has a `+discover` variant (gossip seeds). */
export const KURRENTDB_SCHEMES = ['kurrentdb', 'kurrent', 'kdb', 'esdb'] as const;

/** devrec's own query parameters on a KurrentDB URL (removed before the URL reaches the client). */
export const PREFIX_PARAM = 'devrecPrefix';
export const MAX_APPEND_PARAM = 'devrecMaxAppendBytes';
export const DEFAULT_PREFIX = 'devrec';

export function isKurrentDbUrl(url: string): boolean {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  return scheme !== undefined && (KURRENTDB_SCHEMES as readonly string[]).includes(scheme.replace(/\+discover$/, ''));
}

/** The URL with any password replaced by `***`, for messages and `store.url`. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/?#:]*):([^@/?#]*)@/i, (_m, scheme: string, user: string) => `${scheme}${user}:***@`);
}

/** Splits devrec's own parameters off a KurrentDB URL: the rest is the client's connection string. */
export function parseKurrentDbUrl(url: string): { clientUrl: string; prefix: string; maxAppendBytes?: number } {
  const q = url.indexOf('?');
  if (q < 0) return { clientUrl: url, prefix: DEFAULT_PREFIX };
  let prefix = DEFAULT_PREFIX;
  let maxAppendBytes: number | undefined;
  const kept: string[] = [];
  for (const pair of url.slice(q + 1).split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = (eq < 0 ? pair : pair.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    if (key === PREFIX_PARAM.toLowerCase()) prefix = value;
    else if (key === MAX_APPEND_PARAM.toLowerCase()) {
      if (!/^[1-9]\d*$/.test(value)) throw new Error(`${MAX_APPEND_PARAM}=${value}: not a positive number of bytes`);
      maxAppendBytes = Number(value);
    } else kept.push(pair);
  }
  return { clientUrl: kept.length ? `${url.slice(0, q)}?${kept.join('&')}` : url.slice(0, q), prefix, ...(maxAppendBytes ? { maxAppendBytes } : {}) };
}

/**
 * Stream names of one devrec namespace on a KurrentDB server:
 *   `<prefix>-device-<encodeURIComponent(id)>`     the device's events (revision = devrec revision)
 *   `<prefix>-snapshots-<encodeURIComponent(id)>`  the projector's snapshots of that device
 * The prefix is `devrec` unless `?devrecPrefix=` says otherwise (tests use a random one per run). Listing
 * devices reads `$all` filtered by the stream-name prefix `<prefix>-device-`.
 */
export class StreamNames {
  readonly devicePrefix: string;
  readonly snapshotPrefix: string;
  constructor(readonly prefix: string = DEFAULT_PREFIX) {
    checkPrefix(prefix);
    this.devicePrefix = `${prefix}-device-`;
    this.snapshotPrefix = `${prefix}-snapshots-`;
  }

  device(id: string): string {
    checkId(id);
    return this.devicePrefix + encodeURIComponent(id);
  }

  snapshots(id: string): string {
    checkId(id);
    return this.snapshotPrefix + encodeURIComponent(id);
  }

  /** The device id of a device stream name, or undefined for any other stream. */
  deviceOf(streamName: string): string | undefined {
    if (!streamName.startsWith(this.devicePrefix)) return undefined;
    try {
      return decodeURIComponent(streamName.slice(this.devicePrefix.length));
    } catch {
      return undefined;
    }
  }
}

function checkId(id: string): void {
  if (typeof id !== 'string' || id.length === 0) throw new Error('stream id must be a non-empty string');
}

/**
 * A prefix is dash-separated words of [A-Za-z0-9_.]; no word may be `device` or `snapshots`, so that no
 * namespace's stream names start with another namespace's `<prefix>-device-`.
 */
export function checkPrefix(prefix: string): void {
  const words = prefix.split('-');
  if (!/^[A-Za-z0-9_.]+(-[A-Za-z0-9_.]+)*$/.test(prefix) || words.some((w) => w === 'device' || w === 'snapshots')) {
    throw new Error(`stream-name prefix "${prefix}" is not allowed: use dash-separated words of letters, digits, "_" and "." (not "device" or "snapshots")`);
  }
}

export type ConnectionProblem = 'unreachable' | 'timeout' | 'access-denied' | 'not-kurrentdb' | 'tls' | 'bad-url';

const HINTS: Record<ConnectionProblem, string> = {
  unreachable: 'no KurrentDB node answered (is it running and reachable? an insecure dev node needs ?tls=false)',
  timeout: 'the server did not answer in time (raise ?defaultDeadline=<ms> for a slow link)',
  'access-denied': 'access denied (check the user and password in the URL, and the stream ACLs)',
  'not-kurrentdb': 'something answered, but not the KurrentDB gRPC API (wrong host or port? the gRPC port is usually 2113)',
  tls: 'TLS could not be set up or its handshake failed (use ?tls=false for an insecure node, or ?tlsCaFile=<ca.crt> / ?tlsVerifyCert=false for a self-signed one)',
  'bad-url': 'not a valid KurrentDB connection string',
};

/** The store could not be reached or refused us: the message names the URL (password hidden) and the reason. */
export class StoreConnectionError extends Error {
  readonly url: string;
  constructor(url: string, readonly problem: ConnectionProblem, readonly detail: string, options?: { cause?: unknown }) {
    const shown = redactUrl(url);
    super(`KurrentDB store ${shown}: ${HINTS[problem]}${detail ? ` [${oneLine(detail)}]` : ''}`, options);
    this.name = 'StoreConnectionError';
    this.url = shown;
    // A user-facing error: the CLI prints `stack` for errors it does not know by name, and a stack says
    // nothing here. The client's own error stays reachable as `cause`.
    this.stack = this.message;
  }
}

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 200 ? `${t.slice(0, 197)}...` : t;
}

/**
 * Which connection problem a KurrentDB client error is, or undefined when it is not one (a domain error such
 * as WrongExpectedVersion, or a bug). Works on the client's CommandError classes (by their `type`), raw gRPC
 * ServiceErrors (by `code`) and the Rust read bridge's errors (by `name`/message).
 */
export function connectionProblemOf(err: unknown): ConnectionProblem | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { type?: unknown; code?: unknown };
  const message = e.message ?? '';
  if (e.constructor?.name === 'ParseError') return 'bad-url';
  if (/certificate|SSL|TLS|handshake/i.test(message)) return 'tls';
  switch (e.type) {
    case 'unavailable': return 'unreachable';
    case 'deadline-exceeded':
    case 'timeout': return 'timeout';
    case 'access-denied': return 'access-denied';
    default: break;
  }
  switch (e.code) {
    case 14: return 'unreachable'; // UNAVAILABLE
    case 4: return 'timeout'; // DEADLINE_EXCEEDED
    case 7: // PERMISSION_DENIED
    case 16: return 'access-denied'; // UNAUTHENTICATED
    case 12: return 'not-kurrentdb'; // UNIMPLEMENTED
    default: break;
  }
  if (/Failed to discover/i.test(message)) return 'unreachable';
  if (/unsupported by the server|UNIMPLEMENTED/i.test(message)) return 'not-kurrentdb';
  if (/NotAuthenticated|Unauthenticated/i.test(message) || e.name === 'AccessDeniedError') return 'access-denied';
  if (e.name === 'UnavailableError' || /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ECONNRESET/.test(message)) return 'unreachable';
  if (e.name === 'DeadlineExceededError' || /deadline exceeded/i.test(message)) return 'timeout';
  return undefined;
}
