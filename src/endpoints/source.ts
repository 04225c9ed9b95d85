// The source endpoint of a live migration (docs/endpoints.md). Over one connection per device: HELLO, the target's
// PROFILE, the compatibility check (refused before any VFIO arc when incompatible), RUNNING -> PRE_COPY and the
// precopy rounds, PRE_COPY_P2P -> STOP_COPY and the stop-copy data, STOP, the target's ACK. Every VFIO arc is a
// `vfioState` event in the device's stream; the outcome is an `annotation` event. On any failure before the final
// state left, the device goes back to RUNNING. When the connection is lost after it left, the source asks the
// target (QUERY, on a new connection) whether it applied it: committed -> completed; aborted -> back to RUNNING;
// no answer -> in doubt (the device stays in STOP, recorded, and the error says so).
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import type { NewEvent, Severity, VfioState } from '../events/types.js';
import { encodeChunks } from '../migration/encode.js';
import { hasNoState } from '../migration/exporter.js';
import { VFIO_MIGRATION_ALL, VFIO_MIGRATION_P2P, VFIO_MIGRATION_PRE_COPY, VfioDeviceFsm, type VfioArc, upper } from '../migration/vfio-fsm.js';
import { Projector } from '../project/projector.js';
import type { DeviceState } from '../project/state.js';
import type { EventStore } from '../store/types.js';
import { ProfileError } from '../compat/profile.js';
import { type CheckFn, type CompatVerdict, blockingFindings, defaultCheck, describeFindings, profileFromWire } from './check.js';
import { EndpointError, FramedConnection, JSON_FRAME_CAP, MSG, type Frame, msgName, parseJson } from './frame.js';
import {
  type AckMsg, type OutcomeMsg, PROTOCOL_MAGIC, PROTOCOL_VERSION, type Timeouts, type TlsOptions, int, parseHostPort, str, timeoutsOf,
} from './protocol.js';

export interface MigrateOptions {
  store: EventStore;
  device: string;
  /** "HOST:PORT" or {host, port} */
  to: string | { host: string; port: number };
  /** stream id on the target (default: the same id) */
  as?: string;
  tls?: TlsOptions;
  timeouts?: Partial<Timeouts>;
  /** compatibility check run on the target's profile (default: the endpoints' default check) */
  check?: CheckFn;
  /** VFIO_MIGRATION_* flags of the source device (default: STOP_COPY | P2P | PRE_COPY) */
  flags?: number;
  /** precopy rounds before stop-and-copy even if the device keeps changing (default 8) */
  maxRounds?: number;
  onProgress?: (p: MigrateProgress) => void;
  /** called after each precopy round was sent (tests append events here to make the device change) */
  onRound?: (round: number) => void | Promise<void>;
  now?: () => bigint;
}

export interface MigrateProgress {
  phase: 'connected' | 'checked' | 'precopy' | 'stop-copy' | 'acked' | 'rollback';
  round?: number;
  bytesSent: number;
  message?: string;
}

export interface MigrateResult {
  device: string;
  session: string;
  to: string;
  /** the stream created on the target */
  targetDevice: string;
  targetRevision: number;
  /** source revision whose state was sent */
  sourceRevision: number;
  rounds: number;
  /** precopy bytes sent over all rounds (stream bytes, no framing) */
  precopyBytes: number;
  stopCopyBytes: number;
  bytesSent: number;
  bytesReceived: number;
  /** STOP_COPY arc to ACK */
  downtimeMs: number;
  totalMs: number;
  check: { verdict: CompatVerdict; findings: unknown[] } | null;
  arcs: VfioArc[];
  /** the ACK was lost and the outcome was learned with QUERY */
  resolvedByQuery: boolean;
}

/** The migration did not happen; `side` says who refused it. The source device is RUNNING. */
export class MigrationRefusedError extends EndpointError {
  constructor(code: string, message: string, readonly side: 'source' | 'target', readonly findings: unknown[] = []) {
    super(code, message);
    this.name = 'MigrationRefusedError';
  }
}

/** The final state left but neither an ACK nor a QUERY answer came back. The source device is left in STOP. */
export class MigrationInDoubtError extends EndpointError {
  constructor(message: string, readonly session: string) {
    super('in-doubt', message);
    this.name = 'MigrationInDoubtError';
  }
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

function destOf(to: MigrateOptions['to']): { host: string; port: number } {
  return typeof to === 'string' ? parseHostPort(to) : to;
}

const SOURCE_CAPS = new Map<number, number>([[MSG.PROFILE, JSON_FRAME_CAP], [MSG.ABORT, JSON_FRAME_CAP], [MSG.ACK, JSON_FRAME_CAP], [MSG.OUTCOME, JSON_FRAME_CAP]]);

/** Opens a framed connection (TCP, or TLS with our client certificate and the target's verified). */
export function connectFramed(dest: { host: string; port: number }, tlsOpts: TlsOptions | undefined, connectMs: number): Promise<FramedConnection> {
  return new Promise((resolve, reject) => {
    const socket: net.Socket = tlsOpts
      ? tls.connect({
          host: dest.host, port: dest.port, cert: tlsOpts.cert, key: tlsOpts.key, ca: tlsOpts.ca, rejectUnauthorized: true, minVersion: 'TLSv1.2',
          ...(tlsOpts.servername ? { servername: tlsOpts.servername } : {}),
        })
      : net.connect({ host: dest.host, port: dest.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new EndpointError('timeout', `connect to ${dest.host}:${dest.port}: no connection within ${connectMs} ms`));
    }, connectMs);
    const onError = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new EndpointError('connect', `connect to ${dest.host}:${dest.port}: ${e.message}`));
    };
    socket.once('error', onError);
    socket.once(tlsOpts ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.setNoDelay(true);
      resolve(new FramedConnection(socket, SOURCE_CAPS));
    });
  });
}

function abortOf(f: Frame): { code: string; reason: string; findings: unknown[] } {
  const a = parseJson(f);
  return {
    code: typeof a['code'] === 'string' ? a['code'].slice(0, 64) : 'aborted',
    reason: typeof a['reason'] === 'string' ? a['reason'].slice(0, 4096) : 'no reason given',
    findings: Array.isArray(a['findings']) ? (a['findings'] as unknown[]).slice(0, 256) : [],
  };
}

function ackOf(o: Record<string, unknown>, session: string): AckMsg {
  const ack: AckMsg = {
    session: str(o, 'session', 128), device: str(o, 'device', 512), revision: int(o, 'revision'), snapshotRevision: int(o, 'snapshotRevision'),
    arcs: Array.isArray(o['arcs']) ? (o['arcs'] as AckMsg['arcs']).slice(0, 16) : [],
  };
  if (ack.session !== session) throw new EndpointError('protocol', `ACK is for session ${ack.session}, not ${session}`);
  return ack;
}

/** Asks the target what became of a session whose ACK was lost. */
export async function queryOutcome(dest: { host: string; port: number }, session: string, tlsOpts: TlsOptions | undefined, t: Timeouts): Promise<OutcomeMsg> {
  const conn = await connectFramed(dest, tlsOpts, t.connectMs);
  try {
    conn.sendJson(MSG.QUERY, { protocol: PROTOCOL_VERSION, session });
    const f = await conn.next(t.ackMs, 'OUTCOME');
    if (f.type !== MSG.OUTCOME) throw new EndpointError('protocol', `expected OUTCOME, got ${msgName(f.type)}`);
    const o = parseJson(f);
    const outcome = o['outcome'];
    if (outcome === 'committed') {
      return { session, outcome, ack: ackOf((o['ack'] ?? {}) as Record<string, unknown>, session) };
    }
    if (outcome === 'aborted') return { session, outcome, reason: typeof o['reason'] === 'string' ? o['reason'].slice(0, 4096) : '' };
    throw new EndpointError('bad-message', `OUTCOME "${String(outcome)}" is not committed or aborted`);
  } finally {
    conn.destroy();
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function isDeviceReset(e: NewEvent): boolean {
  const b = e.body;
  return (b.kind === 'statusWritten' && b.status === 0) || (b.kind === 'resetRequested' && b.scope !== 'queue-reset');
}

export async function migrateDevice(options: MigrateOptions): Promise<MigrateResult> {
  const { store, device } = options;
  const t = timeoutsOf(options.timeouts);
  const dest = destOf(options.to);
  const toText = `${dest.host}:${dest.port}`;
  const flags = options.flags ?? VFIO_MIGRATION_ALL;
  const maxRounds = options.maxRounds ?? 8;
  const check = options.check ?? defaultCheck;
  const now = options.now ?? nowNs;
  const started = performance.now();
  const projector = new Projector(store);
  const progress = (p: Omit<MigrateProgress, 'bytesSent'>, conn?: FramedConnection) => options.onProgress?.({ ...p, bytesSent: conn?.bytesOut ?? 0 });

  const head = await store.head(device);
  if (head < 0) throw new EndpointError('no-device', `no device "${device}" in the store`);
  const initialState = await projector.stateAt(device, head);
  if (hasNoState(initialState)) throw new EndpointError('no-state', `device ${device} has no state: no identity, features, queues or config recorded`);
  const initial: VfioState = initialState.vfioState ?? 'running';
  if (initial !== 'running') {
    throw new EndpointError('not-running', `device ${device} is in VFIO ${upper(initial)}; a migration starts from RUNNING`);
  }

  const annotate = async (severity: Severity, code: string, message: string) => {
    await store.append(device, [{ timestampNs: now(), actor: 'vmm', path: 'internal', source: 'api', body: { kind: 'annotation', severity, code, message } }]);
  };

  const session = randomUUID();
  const targetId = options.as ?? device;
  const conn = await connectFramed(dest, options.tls, t.connectMs);
  progress({ phase: 'connected', message: toText }, conn);

  // ---- handshake and check: nothing is stopped yet ----
  let checkResult: MigrateResult['check'] = null;
  try {
    conn.sendJson(MSG.HELLO, {
      magic: PROTOCOL_MAGIC, protocol: PROTOCOL_VERSION, session, device, as: targetId, deviceType: initialState.type,
      transport: initialState.transport, vfioFlags: flags, revision: head,
    });
    const f = await conn.next(t.idleMs, 'PROFILE');
    if (f.type === MSG.ABORT) {
      const a = abortOf(f);
      throw new MigrationRefusedError(a.code, `the target ${toText} refused ${device}: ${a.reason}`, 'target', a.findings);
    }
    if (f.type !== MSG.PROFILE) throw new EndpointError('protocol', `expected PROFILE, got ${msgName(f.type)}`);
    const pm = parseJson(f);
    if (pm['protocol'] !== PROTOCOL_VERSION) throw new EndpointError('version', `the target speaks protocol ${String(pm['protocol'])}, this source ${PROTOCOL_VERSION}`);
    const wire = pm['profile'] ?? null;
    if (wire !== null) {
      let profile;
      try {
        profile = profileFromWire(wire, `the profile sent by ${toText}`);
      } catch (e) {
        if (!(e instanceof ProfileError)) throw e;
        const reason = `the target's profile is not valid: ${e.message}`;
        await conn.closeWith(MSG.ABORT, { code: 'bad-profile', reason });
        throw new MigrationRefusedError('bad-profile', `${reason} (nothing was stopped)`, 'source');
      }
      const r = await check(initialState, profile, { vfioFlags: flags });
      checkResult = { verdict: r.verdict, findings: [...r.findings] };
      if (r.verdict === 'incompatible') {
        const why = describeFindings(blockingFindings(r.findings));
        const reason = `${device} is incompatible with the target's profile: ${why.join('; ')}`;
        await conn.closeWith(MSG.ABORT, { code: 'incompatible', reason, findings: r.findings });
        throw new MigrationRefusedError('incompatible', `${reason} (nothing was stopped)`, 'source', [...r.findings]);
      }
    }
    progress({ phase: 'checked', message: wire === null ? 'the target sent no profile: no check' : checkResult!.verdict }, conn);
  } catch (e) {
    conn.destroy();
    if (options.tls && e instanceof EndpointError && e.code === 'connection-lost' && conn.bytesIn === 0) {
      throw new EndpointError('tls', `${toText} closed the TLS connection before answering: a target refuses a client certificate it cannot verify against its CA (${e.message})`);
    }
    if (e instanceof MigrationRefusedError) {
      await annotate('warning', 'migration-refused', `migration to ${toText} refused before any VFIO state change: ${e.message}`).catch(() => {});
    }
    throw e;
  }

  // ---- the VFIO state machine: every arc is an event ----
  const own = new Set<number>();
  let lastArcRev = -1;
  let firstArcRev = -1;
  const fsm = new VfioDeviceFsm('running', flags, async (arc) => {
    const r = await store.append(device, [{ timestampNs: now(), actor: 'vmm', path: 'vfio-ioctl', source: 'api', body: { kind: 'vfioState', from: arc.from, to: arc.to } }]);
    own.add(r.firstRevision);
    lastArcRev = r.firstRevision;
    if (firstArcRev < 0) firstArcRev = r.firstRevision;
  });
  /** The device's own revision at or before `rev`: our vfioState arcs do not change what is migrated. */
  const deviceRevision = (rev: number) => {
    let r = rev;
    while (r > 0 && own.has(r)) r--;
    return r;
  };
  const checkWindow = async () => {
    for await (const e of store.read(device, { from: firstArcRev })) {
      if (!own.has(e.revision) && isDeviceReset(e.event)) {
        throw new EndpointError('reset', `device ${device} was reset during the migration (revision ${e.revision}): the migration data is void`);
      }
    }
  };
  const meta = { vfioFlags: flags, exportedAtNs: now() };
  let finalSent = false;
  let rounds = 0;
  let precopyBytes = 0;
  let stopCopyBytes = 0;
  let stopAt = 0;
  let ack: AckMsg | undefined;
  let resolvedByQuery = false;
  let final: DeviceState | undefined;
  try {
    const precopy = (flags & VFIO_MIGRATION_PRE_COPY) !== 0;
    let lastPre: Uint8Array | undefined;
    if (precopy) {
      await fsm.set('pre-copy');
      for (let round = 1; round <= maxRounds; round++) {
        const h = await store.head(device);
        const s = await projector.stateAt(device, deviceRevision(h));
        const chunks = encodeChunks(s, meta);
        if (!sameBytes(lastPre, chunks.precopy)) {
          const payload = Buffer.allocUnsafe(4 + chunks.precopy.length);
          payload.writeUInt32LE(round, 0);
          payload.set(chunks.precopy, 4);
          conn.send(MSG.PRECOPY, payload);
          lastPre = chunks.precopy;
          precopyBytes += chunks.precopy.length;
          rounds++;
          progress({ phase: 'precopy', round }, conn);
        }
        await options.onRound?.(round);
        if (conn.error) throw conn.error;
        if ((await store.head(device)) === h) break; // converged: nothing changed during the round
      }
      await checkWindow();
      if (flags & VFIO_MIGRATION_P2P) await fsm.set('pre-copy-p2p');
    }
    stopAt = performance.now();
    await fsm.set('stop-copy');
    const stopRev = lastArcRev;
    await checkWindow();
    final = await projector.stateAt(device, deviceRevision(stopRev - 1));
    const chunks = encodeChunks(final, meta);
    const resend = !sameBytes(lastPre, chunks.precopy);
    const pre = resend ? chunks.precopy : new Uint8Array(0);
    const payload = Buffer.allocUnsafe(4 + pre.length + chunks.stopCopy.length);
    payload.writeUInt32LE(pre.length, 0);
    payload.set(pre, 4);
    payload.set(chunks.stopCopy, 4 + pre.length);
    if (resend) precopyBytes += pre.length;
    stopCopyBytes = chunks.stopCopy.length;
    if (conn.error) throw conn.error;
    finalSent = true; // from here the target may apply it: a lost connection is resolved with QUERY
    await conn.sendFlushed(MSG.STOP_COPY, payload);
    progress({ phase: 'stop-copy', message: `${payload.length} bytes` }, conn);
    await fsm.set('stop'); // end of the data session (QEMU's save_cleanup)
    const f = await conn.next(t.ackMs, 'ACK');
    if (f.type === MSG.ABORT) {
      const a = abortOf(f);
      finalSent = false; // the target says it applied nothing (and fenced the session)
      throw new MigrationRefusedError(a.code, `the target ${toText} refused the final state of ${device}: ${a.reason}`, 'target', a.findings);
    }
    if (f.type !== MSG.ACK) throw new EndpointError('protocol', `expected ACK, got ${msgName(f.type)}`);
    ack = ackOf(parseJson(f), session);
  } catch (e) {
    let err = e as Error;
    if (!finalSent && !conn.error) {
      // Tell the target why (it applies nothing either way).
      await conn.closeWith(MSG.ABORT, { code: (e as EndpointError).code ?? 'source-error', reason: `the source gave up: ${err.message}` });
    }
    conn.destroy();
    if (finalSent) {
      try {
        let outcome: OutcomeMsg | undefined;
        for (let attempt = 0; attempt < 3 && !outcome; attempt++) {
          try {
            outcome = await queryOutcome(dest, session, options.tls, t);
          } catch (qe) {
            if (attempt === 2) throw qe;
            await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
          }
        }
        if (outcome!.outcome === 'committed') {
          ack = outcome!.ack!;
          resolvedByQuery = true;
        } else {
          err = new EndpointError((e as EndpointError).code ?? 'failed', `${(e as Error).message}; the target confirms it applied nothing (${outcome!.reason})`);
        }
      } catch (qe) {
        // In doubt: the target may have applied the state. Leave the device stopped (it must not run twice).
        if (fsm.state === 'stop-copy') await fsm.set('stop').catch(() => {});
        const msg = `migration of ${device} to ${toText} is in doubt: ${(e as Error).message}; asking the target failed: ${(qe as Error).message}. ` +
          `The device stays in STOP: check the target for stream "${targetId}" (session ${session}) before resuming it.`;
        await annotate('error', 'migration-in-doubt', msg).catch(() => {});
        throw new MigrationInDoubtError(msg, session);
      }
    }
    if (!ack) {
      progress({ phase: 'rollback', message: err.message });
      try {
        await fsm.set('running');
      } catch (fe) {
        err = new EndpointError('rollback', `${err.message}; and returning the device to RUNNING failed: ${(fe as Error).message}`);
      }
      await annotate('warning', 'migration-failed', `migration to ${toText} failed, the device is back in RUNNING: ${err.message}`).catch(() => {});
      throw err;
    }
  }
  // ---- completed ----
  const ackAt = performance.now();
  conn.end();
  if (fsm.state !== 'stop') await fsm.set('stop');
  const downtimeMs = ackAt - stopAt;
  const bytesSent = conn.bytesOut;
  progress({ phase: 'acked', message: `target ${ack!.device}@${ack!.revision}` }, conn);
  await annotate('info', 'migration-completed',
    `migrated to ${toText} as ${ack!.device} (target revision ${ack!.revision}, session ${session}): ${rounds} precopy round(s), ` +
    `${bytesSent} bytes sent, downtime ${downtimeMs.toFixed(1)} ms${resolvedByQuery ? ' (acknowledgement recovered by query)' : ''}`);
  return {
    device, session, to: toText, targetDevice: ack!.device, targetRevision: ack!.revision, sourceRevision: final!.revision,
    rounds, precopyBytes, stopCopyBytes, bytesSent, bytesReceived: conn.bytesIn, downtimeMs, totalMs: performance.now() - started,
    check: checkResult, arcs: fsm.arcs, resolvedByQuery,
  };
}
