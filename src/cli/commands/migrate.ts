// devrec migrate listen --port P [--host H] [--profile F] [--tls-cert F --tls-key F --tls-ca F] [--once] [--json]
// devrec migrate send ID --to HOST:PORT [--as ID] [--tls-cert F --tls-key F --tls-ca F] [--json]
// Live migration endpoints over TCP (docs/endpoints.md). Exit codes: 0 migrated, 1 error, 2 incompatible.
import { Command } from '@commander-js/extra-typings';
import { readWholeFile } from '../../sources/bounded-input.js';
import { ProfileError, parseProfile } from '../../compat/profile.js';
import { EndpointError } from '../../endpoints/frame.js';
import type { TlsOptions } from '../../endpoints/protocol.js';
import { MigrationInDoubtError, MigrationRefusedError, migrateDevice } from '../../endpoints/source.js';
import { type TargetSessionReport, startTarget } from '../../endpoints/target.js';
import { upper } from '../../migration/vfio-fsm.js';
import { CliError, EXIT_ERROR, EXIT_INCOMPATIBLE, resolveDeviceSpec, setExitCode, storeOption, withStore, writeJson } from '../common.js';
import { progressEnabled } from '../progress.js';

function readFile(file: string, what: string): Buffer {
  return Buffer.from(readWholeFile(file, 16 * 1024 * 1024, what));
}

function tlsOf(o: { tlsCert?: string; tlsKey?: string; tlsCa?: string }): TlsOptions | undefined {
  const given = [o.tlsCert, o.tlsKey, o.tlsCa].filter((x) => x !== undefined).length;
  if (given === 0) return undefined;
  if (given !== 3) throw new CliError('TLS needs all three of --tls-cert, --tls-key and --tls-ca');
  return { cert: readFile(o.tlsCert!, 'the TLS certificate'), key: readFile(o.tlsKey!, 'the TLS key'), ca: readFile(o.tlsCa!, 'the TLS CA') };
}

function ms(v: string, name: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new CliError(`${name} "${v}" is not a positive number of milliseconds`);
  return Number(v);
}

function sessionLine(r: TargetSessionReport): string {
  const who = `${r.device ?? '?'}${r.as && r.as !== r.device ? ` as ${r.as}` : ''} from ${r.remote}`;
  switch (r.outcome) {
    case 'committed': return `committed ${who}: revision ${r.revision}, ${r.rounds} precopy round(s), ${r.bytesIn} bytes, ${r.durationMs} ms\n`;
    case 'query': return `answered a query from ${r.remote}\n`;
    default: return `${r.outcome} ${who}: ${r.code ? `[${r.code}] ` : ''}${r.reason ?? ''}\n`;
  }
}

function listenCommand() {
  return new Command('listen')
    .description('target: take devices over TCP (127.0.0.1 by default; any other address needs TLS) into the store')
    .requiredOption('--port <port>', 'TCP port (0: any free port, printed)', (v) => {
      if (!/^\d+$/.test(v) || Number(v) > 65535) throw new CliError(`--port "${v}" is not 0..65535`);
      return Number(v);
    })
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--profile <file>', 'device profile sent to sources (devrec profile); without it any device is taken')
    .option('--tls-cert <file>', 'TLS certificate (PEM)')
    .option('--tls-key <file>', 'TLS key (PEM)')
    .option('--tls-ca <file>', 'CA that signs client certificates (PEM)')
    .option('--once', 'exit after the first migration session ends (exit code: 0 committed, 2 incompatible, 1 otherwise)')
    .option('--idle-timeout <ms>', 'longest silence from a source', (v) => ms(v, '--idle-timeout'))
    .option('--json', 'NDJSON: one line when listening, one per session')
    .addOption(storeOption())
    .action(async (opts) => {
      const profile = opts.profile !== undefined ? (() => {
        try {
          return parseProfile(readFile(opts.profile!, 'the profile').toString('utf8'), opts.profile!);
        } catch (e) {
          if (e instanceof ProfileError) throw new CliError(e.message);
          throw e;
        }
      })() : null;
      const tls = tlsOf(opts);
      await withStore(opts.store, false, async (store) => {
        let finish!: (code: number) => void;
        const done = new Promise<number>((r) => (finish = r));
        const out = (line: string, json: unknown) => process.stdout.write(opts.json ? JSON.stringify(json) + '\n' : line);
        let handle;
        try {
          handle = await startTarget({
            store, port: opts.port, host: opts.host, profile, ...(tls ? { tls } : {}),
            ...(opts.idleTimeout ? { timeouts: { idleMs: opts.idleTimeout } } : {}),
            onSession: (r) => {
              out(sessionLine(r), { event: 'session', ...r });
              // --once waits for a migration session: a stray connection that never said HELLO is not one
              if (opts.once && r.outcome !== 'query' && r.session !== undefined) {
                finish(r.outcome === 'committed' ? 0 : r.code === 'incompatible' ? EXIT_INCOMPATIBLE : EXIT_ERROR);
              }
            },
          });
        } catch (e) {
          if (e instanceof EndpointError) throw new CliError(`migrate listen: ${e.message}`);
          throw new CliError(`migrate listen on ${opts.host}:${opts.port}: ${(e as Error).message}`);
        }
        out(`listening on ${handle.host}:${handle.port}${profile ? ` (profile ${opts.profile})` : ' (no profile: any device is taken)'}${tls ? ', TLS with client certificates' : ''}\n`,
          { event: 'listening', host: handle.host, port: handle.port, tls: !!tls, profile: opts.profile ?? null });
        const stop = () => finish(0);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        const code = await done;
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await handle.close();
        setExitCode(code);
      });
    });
}

function sendCommand() {
  return new Command('send')
    .description('source: migrate a recorded device to a target (records its VFIO state changes and the outcome)')
    .argument('<id>', 'device id')
    .requiredOption('--to <host:port>', 'target endpoint')
    .option('--as <id>', 'stream id on the target (default: the same id)')
    .option('--tls-cert <file>', 'client certificate (PEM)')
    .option('--tls-key <file>', 'client key (PEM)')
    .option('--tls-ca <file>', "CA that signs the target's certificate (PEM)")
    .option('--timeout <ms>', 'longest silence from the target, and the wait for its acknowledgement', (v) => ms(v, '--timeout'))
    .option('--json', 'JSON summary')
    .addOption(storeOption())
    .action(async (spec, opts) => {
      const tls = tlsOf(opts);
      const tty = progressEnabled(opts);
      await withStore(opts.store, false, async (store) => {
        const { id, revision } = await resolveDeviceSpec(store, spec);
        if (revision !== undefined) throw new CliError(`migrate send ${spec}: a migration sends the device as it is now; give ${id} without @N`);
        let r;
        try {
          r = await migrateDevice({
            store, device: id, to: opts.to, ...(opts.as !== undefined ? { as: opts.as } : {}), ...(tls ? { tls } : {}),
            ...(opts.timeout ? { timeouts: { idleMs: opts.timeout, ackMs: opts.timeout } } : {}),
            onProgress: tty ? (p) => {
              const what = p.phase === 'precopy' ? `precopy round ${p.round}` : p.phase;
              process.stderr.write(`\r\x1b[K${id}: ${what}, ${p.bytesSent} bytes sent${p.message ? ` (${p.message})` : ''}`);
              if (p.phase === 'acked' || p.phase === 'rollback') process.stderr.write('\n');
            } : undefined,
          });
        } catch (e) {
          if (tty) process.stderr.write('\n');
          if (e instanceof MigrationRefusedError) {
            throw new CliError(`migrate ${id}: ${e.message}`, e.code === 'incompatible' ? EXIT_INCOMPATIBLE : EXIT_ERROR);
          }
          if (e instanceof MigrationInDoubtError || e instanceof EndpointError) throw new CliError(`migrate ${id}: ${e.message}`);
          throw e;
        }
        if (opts.json) {
          return writeJson({
            device: r.device, to: r.to, targetDevice: r.targetDevice, targetRevision: r.targetRevision, session: r.session,
            sourceRevision: r.sourceRevision, rounds: r.rounds, downtimeMs: Number(r.downtimeMs.toFixed(3)), totalMs: Number(r.totalMs.toFixed(3)),
            bytesSent: r.bytesSent, bytesReceived: r.bytesReceived, precopyBytes: r.precopyBytes, stopCopyBytes: r.stopCopyBytes,
            check: r.check ? { verdict: r.check.verdict, findings: r.check.findings } : null,
            vfio: [r.arcs[0]?.from, ...r.arcs.map((a) => a.to)].filter((s) => s !== undefined).map((s) => upper(s!)),
            resolvedByQuery: r.resolvedByQuery,
          });
        }
        process.stdout.write(
          `migrated ${id} to ${r.to} as ${r.targetDevice} (target revision ${r.targetRevision}): ${r.rounds} precopy round(s), ` +
          `${r.bytesSent} bytes sent, downtime ${r.downtimeMs.toFixed(1)} ms, total ${r.totalMs.toFixed(1)} ms\n` +
          `check: ${r.check ? r.check.verdict : 'none (the target sent no profile)'}\n` +
          `VFIO: ${[r.arcs[0]!.from, ...r.arcs.map((a) => a.to)].map(upper).join(' -> ')}\n`);
      });
    });
}

export function migrateCommand() {
  const cmd = new Command('migrate').description('live migration endpoints over TCP (docs/endpoints.md)');
  cmd.addCommand(listenCommand().exitOverride());
  cmd.addCommand(sendCommand().exitOverride());
  return cmd;
}
