// The target endpoint of a live migration (docs/endpoints.md): one TCP (or TLS) connection per device. It sends
// its profile, collects the precopy rounds and the stop-copy data, checks the stream's integrity (and the profile
// again, when it has one), and applies it with one atomic append (importStream: a new stream, 'no-stream') before
// it acknowledges. On any error, timeout or lost connection it applies nothing.
import net from 'node:net';
import tls from 'node:tls';
import { MigrationFormatError } from '../migration/format.js';
import { MigrationImportError, importStream, parseMigrationStream } from '../migration/importer.js';
import { VFIO_MIGRATION_ALL } from '../migration/vfio-fsm.js';
import type { EventStore } from '../store/types.js';
import type { Profile } from '../compat/profile.js';
import { type CheckFn, blockingFindings, defaultCheck, describeFindings, profileToWire } from './check.js';
import { DEFAULT_MAX_FRAME, EndpointError, FramedConnection, JSON_FRAME_CAP, MSG, PRE_HELLO_FRAME_CAP, msgName, parseJson } from './frame.js';
import {
  type AbortMsg, type AckMsg, type Hello, type OutcomeMsg, PROTOCOL_MAGIC, PROTOCOL_VERSION, type Timeouts, type TlsOptions, int,
  isLoopback, str, timeoutsOf,
} from './protocol.js';

export interface TargetOptions {
  store: EventStore;
  /** 0 picks a free port */
  port: number;
  /** default 127.0.0.1; any other address needs `tls` */
  host?: string;
  /** the device profile sent to sources; absent/null: this target takes any device (sources run no check) */
  profile?: Profile | null;
  /** TLS with verified client certificates (required off loopback) */
  tls?: TlsOptions;
  timeouts?: Partial<Timeouts>;
  /** cap on a PRECOPY / STOP_COPY frame (default 16 MiB) */
  maxFrame?: number;
  /** precopy rounds accepted per session (default 64) */
  maxRounds?: number;
  /** sessions past HELLO at once (default DEFAULT_MAX_SESSIONS); each may buffer frames up to maxFrame */
  maxSessions?: number;
  /** connections served at once (default 512) */
  maxConnections?: number;
  /** re-run on the received state when the target has a profile (default: the endpoints' default check) */
  check?: CheckFn;
  /** VFIO_MIGRATION_* flags of the target device */
  flags?: number;
  /** one report per connection, when it ends */
  onSession?: (r: TargetSessionReport) => void;
}

export interface TargetSessionReport {
  remote: string;
  session?: string;
  device?: string;
  /** stream id on the target */
  as?: string;
  outcome: 'committed' | 'refused' | 'aborted-by-source' | 'failed' | 'query';
  /** error or refusal code (docs/endpoints.md) */
  code?: string;
  reason?: string;
  findings?: unknown[];
  revision?: number;
  rounds: number;
  bytesIn: number;
  durationMs: number;
}

export interface TargetHandle {
  host: string;
  port: number;
  close(): Promise<void>;
}

type SessionStatus = 'open' | 'committing' | 'committed' | 'aborted';
interface SessionEntry { status: SessionStatus; done?: Promise<OutcomeMsg>; ack?: AckMsg }

const MAX_REMEMBERED_SESSIONS = 10000;
/** Migrations taken at once: bounds the memory of big frames (16 x 16 MiB) whatever the connection count. */
export const DEFAULT_MAX_SESSIONS = 16;

export async function startTarget(options: TargetOptions): Promise<TargetHandle> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host) && !options.tls) {
    throw new EndpointError('insecure-bind', `refusing to listen on ${host} without TLS: off loopback the target needs --tls-cert, --tls-key and --tls-ca (client certificates are verified)`);
  }
  const t = timeoutsOf(options.timeouts);
  const maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
  const maxRounds = options.maxRounds ?? 64;
  const check = options.check ?? defaultCheck;
  const profile = options.profile ?? null;
  const wireProfile = profile ? profileToWire(profile) : null;
  const flags = options.flags ?? VFIO_MIGRATION_ALL;
  const store = options.store;
  const sessions = new Map<string, SessionEntry>();
  const inflight = new Set<string>();
  const sockets = new Set<net.Socket>();
  const report = (r: TargetSessionReport) => {
    try {
      options.onSession?.(r);
    } catch {
      // a reporting callback cannot break the endpoint
    }
  };
  const remember = (id: string, e: SessionEntry) => {
    sessions.set(id, e);
    if (sessions.size > MAX_REMEMBERED_SESSIONS) {
      for (const [k, v] of sessions) {
        if (v.status === 'committed' || v.status === 'aborted') {
          sessions.delete(k);
          break;
        }
      }
    }
  };

  // Before HELLO only HELLO or QUERY, small; the big PRECOPY / STOP_COPY caps only for an accepted session.
  const preHelloCaps = new Map<number, number>([[MSG.HELLO, PRE_HELLO_FRAME_CAP], [MSG.QUERY, PRE_HELLO_FRAME_CAP]]);
  const maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  const caps = new Map<number, number>([
    [MSG.HELLO, JSON_FRAME_CAP], [MSG.QUERY, JSON_FRAME_CAP], [MSG.ABORT, JSON_FRAME_CAP],
    [MSG.PRECOPY, maxFrame], [MSG.STOP_COPY, maxFrame],
  ]);

  async function answerQuery(conn: FramedConnection, q: Record<string, unknown>): Promise<void> {
    const id = str(q, 'session', 128);
    let e = sessions.get(id);
    if (!e) {
      // Never seen: fence it, so a HELLO for it arriving late is refused.
      e = { status: 'aborted' };
      remember(id, e);
    }
    let out: OutcomeMsg;
    if (e.status === 'open') {
      e.status = 'aborted'; // the fence: a STOP_COPY still in flight for this session is refused
      out = { session: id, outcome: 'aborted', reason: 'the target had not received the final state; nothing was applied' };
    } else if (e.status === 'committing' || e.status === 'committed') {
      out = await e.done!;
    } else {
      out = { session: id, outcome: 'aborted', reason: 'nothing was applied for this session' };
    }
    await conn.sendFlushed(MSG.OUTCOME, Buffer.from(JSON.stringify(out)));
    conn.end();
  }

  async function handle(socket: net.Socket): Promise<void> {
    const started = Date.now();
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const conn = new FramedConnection(socket, preHelloCaps);
    const rep: TargetSessionReport = { remote, outcome: 'failed', rounds: 0, bytesIn: 0, durationMs: 0 };
    let entry: SessionEntry | undefined;
    let claimed: string | undefined;
    const sessionTimer = setTimeout(() => conn.destroy(), t.sessionMs);
    const refuse = async (code: string, reason: string, findings?: unknown[]) => {
      Object.assign(rep, { outcome: 'refused', code, reason, ...(findings ? { findings } : {}) });
      const msg: AbortMsg = { code, reason, ...(findings ? { findings } : {}) };
      await conn.closeWith(MSG.ABORT, msg);
    };
    try {
      const first = await conn.next(t.idleMs, 'HELLO');
      if (first.type === MSG.QUERY) {
        rep.outcome = 'query';
        await answerQuery(conn, parseJson(first));
        return;
      }
      if (first.type !== MSG.HELLO) throw new EndpointError('protocol', `expected HELLO, got ${msgName(first.type)}`);
      const h = parseJson(first);
      if (h['magic'] !== PROTOCOL_MAGIC) return refuse('protocol', `not a devrec migration peer (magic ${JSON.stringify(h['magic'])})`);
      const version = int(h, 'protocol', 0, 0xffff);
      if (version !== PROTOCOL_VERSION) return refuse('version', `protocol version ${version} is not supported (this target speaks ${PROTOCOL_VERSION})`);
      const hello: Hello = {
        magic: PROTOCOL_MAGIC, protocol: version, session: str(h, 'session', 128), device: str(h, 'device', 512), as: str(h, 'as', 512),
        deviceType: str(h, 'deviceType', 64), transport: str(h, 'transport', 64), vfioFlags: int(h, 'vfioFlags', 0, 0xffffffff),
        revision: int(h, 'revision'),
      };
      const id = hello.as || hello.device;
      Object.assign(rep, { session: hello.session, device: hello.device, as: id });
      if (!hello.session || !hello.device) return refuse('bad-message', 'HELLO names no session or device');
      if (sessions.has(hello.session)) return refuse('session', `session ${hello.session} was already used`);
      entry = { status: 'open' };
      remember(hello.session, entry);
      if (inflight.has(id)) return refuse('exists', `stream "${id}" is being migrated into this target by another session`);
      if ((await store.head(id)) >= 0) return refuse('exists', `stream "${id}" already exists in the target store`);
      if (inflight.has(id)) return refuse('exists', `stream "${id}" is being migrated into this target by another session`);
      if (inflight.size >= maxSessions) return refuse('busy', `${inflight.size} migrations are in flight on this target (at most ${maxSessions}); retry later`);
      inflight.add(id);
      claimed = id;
      conn.setCaps(caps);
      conn.sendJson(MSG.PROFILE, { protocol: PROTOCOL_VERSION, profile: wireProfile, limits: { maxFrame, maxRounds } });

      let precopy: Buffer | undefined;
      for (;;) {
        const f = await conn.next(t.idleMs, 'PRECOPY or STOP_COPY');
        if (f.type === MSG.ABORT) {
          const a = parseJson(f);
          const findings = Array.isArray(a['findings']) ? (a['findings'] as unknown[]).slice(0, 256) : undefined;
          Object.assign(rep, {
            outcome: 'aborted-by-source', code: typeof a['code'] === 'string' ? a['code'].slice(0, 64) : 'aborted',
            reason: typeof a['reason'] === 'string' ? a['reason'].slice(0, 4096) : 'the source aborted', ...(findings ? { findings } : {}),
          });
          conn.end();
          return;
        }
        if (f.type === MSG.PRECOPY) {
          if (f.payload.length < 4) throw new EndpointError('bad-message', 'PRECOPY payload is shorter than its round number');
          rep.rounds++;
          if (rep.rounds > maxRounds) throw new EndpointError('limit', `more than ${maxRounds} precopy rounds`);
          precopy = f.payload.subarray(4);
          continue;
        }
        if (f.type !== MSG.STOP_COPY) throw new EndpointError('protocol', `expected PRECOPY or STOP_COPY, got ${msgName(f.type)}`);
        // The fence: a source that already asked about this session (and was told "aborted") gets nothing applied.
        if (entry.status !== 'open') throw new EndpointError('fenced', 'the session was declared aborted before its final state arrived');
        entry.status = 'committing';
        let resolveDone!: (o: OutcomeMsg) => void;
        entry.done = new Promise<OutcomeMsg>((r) => (resolveDone = r));
        let outcome: OutcomeMsg = { session: hello.session, outcome: 'aborted', reason: 'the final state was refused' };
        try {
          const p = f.payload;
          if (p.length < 4) throw new EndpointError('bad-message', 'STOP_COPY payload is shorter than its precopy length');
          const plen = p.readUInt32LE(0);
          if (plen > p.length - 4) throw new EndpointError('bad-message', `STOP_COPY says ${plen} bytes of precopy data, the frame has ${p.length - 4}`);
          const pre = plen > 0 ? p.subarray(4, 4 + plen) : precopy;
          if (!pre) throw new EndpointError('protocol', 'STOP_COPY without precopy data, and no precopy round came before it');
          const bytes = Buffer.concat([pre, p.subarray(4 + plen)]);
          let parsed;
          try {
            parsed = parseMigrationStream(bytes);
          } catch (e) {
            if (e instanceof MigrationFormatError) throw new EndpointError('bad-stream', `migration stream rejected: ${e.message}`);
            throw e;
          }
          const prov = parsed.header.provenance!;
          if (prov.sourceStream !== hello.device) {
            throw new EndpointError('bad-stream', `the stream is of "${prov.sourceStream}", the session is for "${hello.device}"`);
          }
          if (parsed.header.deviceType !== hello.deviceType) {
            throw new EndpointError('bad-stream', `the stream is a "${parsed.header.deviceType}" device, HELLO said "${hello.deviceType}"`);
          }
          if (profile !== null) {
            const verdict = await check(parsed.state, profile, { vfioFlags: parsed.header.vfioMigrationFlags });
            if (verdict.verdict === 'incompatible') {
              const why = describeFindings(blockingFindings(verdict.findings));
              await refuse('incompatible', `the received state is incompatible with this target's profile: ${why.join('; ')}`, [...verdict.findings]);
              return;
            }
          }
          let imp;
          try {
            imp = await importStream(store, bytes, { as: id, flags });
          } catch (e) {
            if (e instanceof MigrationImportError) throw new EndpointError('exists', e.message);
            if (e instanceof MigrationFormatError) throw new EndpointError('bad-stream', `migration stream rejected: ${e.message}`);
            throw e;
          }
          const ack: AckMsg = { session: hello.session, device: imp.device, revision: imp.revision, snapshotRevision: imp.snapshotRevision, arcs: imp.arcs };
          entry.status = 'committed';
          entry.ack = ack;
          outcome = { session: hello.session, outcome: 'committed', ack };
          Object.assign(rep, { outcome: 'committed', revision: imp.revision });
          try {
            await conn.sendFlushed(MSG.ACK, Buffer.from(JSON.stringify(ack)));
          } catch {
            // Applied, but the source did not hear it: it asks with QUERY and learns it was committed.
          }
          conn.end();
          return;
        } finally {
          if (entry.status !== 'committed') entry.status = 'aborted';
          resolveDone(outcome);
        }
      }
    } catch (e) {
      const err = e instanceof EndpointError ? e : new EndpointError('internal', (e as Error).message);
      if (err.code !== 'connection-lost') await refuse(err.code, err.message);
      else conn.destroy();
      Object.assign(rep, { outcome: 'failed', code: err.code, reason: err.message });
    } finally {
      clearTimeout(sessionTimer);
      if (entry && entry.status === 'open') entry.status = 'aborted';
      if (claimed) inflight.delete(claimed);
      rep.bytesIn = conn.bytesIn;
      rep.durationMs = Date.now() - started;
      report(rep);
    }
  }

  const onSocket = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    void handle(socket);
  };
  let server: net.Server;
  if (options.tls) {
    const tserver = tls.createServer({
      cert: options.tls.cert, key: options.tls.key, ca: options.tls.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2',
      handshakeTimeout: t.connectMs,
    }, onSocket);
    tserver.on('tlsClientError', (err, s) => {
      report({
        remote: `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`, outcome: 'refused', code: 'tls', reason: `TLS handshake refused: ${err.message}`,
        rounds: 0, bytesIn: 0, durationMs: 0,
      });
    });
    server = tserver;
  } else {
    server = net.createServer(onSocket);
  }
  server.maxConnections = options.maxConnections ?? 512;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => { /* per-connection errors are handled on the sockets */ });
  const addr = server.address() as net.AddressInfo;
  return {
    host, port: addr.port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
