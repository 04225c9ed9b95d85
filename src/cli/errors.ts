// Every error a user can cause is one line: the input, the offset or line, the reason, the next step. This module
// is the one place that turns any thrown value into that line, and keeps a closed pipe (`devrec log ID | head`)
// from becoming an unhandled 'error' event.

/** A mistake in the user's input or environment, with where it is and what to do about it. */
export class UserError extends Error {
  constructor(
    readonly input: string | undefined,
    readonly reason: string,
    readonly where?: { offset?: number; line?: number },
    readonly next?: string,
  ) {
    super([input, where?.line !== undefined ? `line ${where.line}` : where?.offset !== undefined ? `offset ${where.offset}` : undefined, reason]
      .filter((p) => p !== undefined && p !== '').join(': ') + (next ? ` (${next})` : ''));
    this.name = 'UserError';
  }
}

/** Errors whose message is already complete for a user (they name input, offset or line, and reason). */
const USER_ERROR_NAMES = new Set([
  'UserError', 'CliError', 'StorePathError', 'StoreCorruptError', 'StoreLockedError', 'StoreWriteError', 'StoreConnectionError',
  'MigrationFormatError', 'MigrationExportError', 'MigrationImportError', 'VfioFsmError', 'TraceFormatError',
  'QemuStreamError', 'WrongExpectedRevisionError', 'UnknownDeviceError', 'FieldError', 'CodecError', 'ProfileError',
  'QmpNameError', 'ReportRangeError', 'CopyError', 'CopyMismatchError', 'CopyInterruptedError', 'CopyVerifyError',
  'PartialAppendError', 'EndpointError', 'MigrationRefusedError', 'MigrationInDoubtError', 'InputLimitError',
]);

/** What the operating system's error codes mean to a user, and what to do next. */
const SYSTEM_ERRORS: Record<string, [reason: string, next?: string]> = {
  ENOENT: ['no such file or directory', 'check the path'],
  EISDIR: ['is a directory, not a file', 'name a file inside it'],
  ENOTDIR: ['a part of the path is not a directory', 'check the path'],
  EACCES: ['permission denied', 'check the file\'s permissions'],
  EPERM: ['operation not permitted', 'check the file\'s permissions'],
  EROFS: ['the file system is read-only', 'use a writable location'],
  ENOSPC: ['no space left on the device', 'free some space and retry'],
  EDQUOT: ['disk quota exceeded', 'free some space and retry'],
  EMFILE: ['too many open files', 'raise the open-file limit (ulimit -n)'],
  EEXIST: ['already exists', 'choose another name or remove it'],
  ENAMETOOLONG: ['file name too long', 'use a shorter path'],
  ELOOP: ['too many symbolic links', 'check the path'],
  EIO: ['input/output error', 'check the device and its kernel log'],
  ECONNREFUSED: ['connection refused', 'is the other side listening?'],
  ECONNRESET: ['connection reset by the peer', 'retry'],
  ETIMEDOUT: ['connection timed out', 'check the address and the network'],
  EADDRINUSE: ['address already in use', 'choose another port'],
  EADDRNOTAVAIL: ['address not available on this host', 'check the address'],
  ENOTFOUND: ['host not found', 'check the host name'],
};

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, '; ').trim();
}

/** The one line (without "devrec: " and newline) that describes `err` to a user. */
export function formatError(err: unknown): string {
  if (!(err instanceof Error)) return oneLine(`error: ${String(err)}`);
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  if (USER_ERROR_NAMES.has(e.name)) return oneLine(e.message);
  if (typeof e.code === 'string' && SYSTEM_ERRORS[e.code]) {
    const [reason, next] = SYSTEM_ERRORS[e.code]!;
    const input = e.path ?? e.hostname ?? (e.address !== undefined ? `${e.address}${e.port !== undefined ? `:${e.port}` : ''}` : undefined);
    return oneLine(`${input ? `${input}: ` : ''}${reason}${e.syscall ? ` (${e.syscall})` : ''}${next ? `; ${next}` : ''}`);
  }
  if (e.name === 'RangeError' || e.name === 'TypeError' || e.name === 'SyntaxError' || e.name === 'Error') {
    // Not a known user error: still one line, and the stack only on request.
    return oneLine(`${e.message} (unexpected ${e.name}; set DEVREC_DEBUG=1 to see where)`);
  }
  return oneLine(`${e.name}: ${e.message}`);
}

/** Writes the error line (and, with DEVREC_DEBUG=1, the stack) to stderr. */
export function reportError(err: unknown, stderr: NodeJS.WritableStream = process.stderr): void {
  stderr.write(`devrec: ${formatError(err)}\n`);
  if (process.env['DEVREC_DEBUG'] === '1' && err instanceof Error && err.stack) stderr.write(err.stack + '\n');
}

let pipeGuarded = false;
/** A reader that went away (`| head -1`) ends output quietly: the user got what they asked for. */
export function guardClosedPipes(): void {
  if (pipeGuarded) return;
  pipeGuarded = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
}
