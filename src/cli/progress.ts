// Progress for commands that can take more than a second: an ora spinner on stderr, only on a terminal with a
// width, never under CI (CI set to anything but "" / "0" / "false") nor with --json. Off, it costs nothing and
// loads nothing.
import type { Ora } from 'ora';

export interface Progress {
  /** new text for the spinner (rate-limited to ~10 updates a second) */
  update(text: string): void;
  /** stops and clears the spinner */
  stop(): void;
}

const NONE: Progress = { update: () => {}, stop: () => {} };

export function progressEnabled(opts: { json?: boolean | undefined } = {}): boolean {
  const ci = process.env['CI'];
  const underCi = ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
  return !opts.json && !underCi && process.stderr.isTTY === true && (process.stderr.columns ?? 0) > 0;
}

export async function startProgress(text: string, opts: { json?: boolean | undefined } = {}): Promise<Progress> {
  if (!progressEnabled(opts)) return NONE;
  const { default: ora } = await import('ora');
  const spinner: Ora = ora({ stream: process.stderr, text, discardStdin: false }).start();
  let last = 0;
  return {
    update(t: string) {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      spinner.text = t;
    },
    stop() {
      spinner.stop();
    },
  };
}

/** Runs `work` with a spinner showing `text` (when progress is enabled); the one-line form for commands. */
export async function withProgress<T>(text: string, opts: { json?: boolean | undefined }, work: (p: Progress) => Promise<T>): Promise<T> {
  const p = await startProgress(text, opts);
  try {
    return await work(p);
  } finally {
    p.stop();
  }
}

/**
 * "12,345 / 50,000 events (24%), 81,000/s": what a progress line says about work under way; `total` when known,
 * `unit` what is counted. The rate is since `startMs` (performance.now()).
 */
export function progressText(done: number, total: number | undefined, unit: string, startMs: number): string {
  const secs = (performance.now() - startMs) / 1000;
  const rate = secs > 0.2 ? `, ${Math.round(done / secs).toLocaleString('en-US')}/s` : '';
  const of = total !== undefined && total > 0 ? ` / ${total.toLocaleString('en-US')} ${unit} (${Math.floor((done * 100) / total)}%)` : ` ${unit}`;
  return `${done.toLocaleString('en-US')}${of}${rate}`;
}
