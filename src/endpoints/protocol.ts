// Shared pieces of the live-migration protocol (docs/endpoints.md): version, messages' JSON shapes, timeouts,
// TLS options, address rules.
import { isIP } from 'node:net';
import { EndpointError } from './frame.js';

export const PROTOCOL_MAGIC = 'devrec-migrate';
export const PROTOCOL_VERSION = 1;

export interface Timeouts {
  /** TCP (and TLS) connect (source) */
  connectMs: number;
  /** longest silence between two messages the peer owes us (both sides) */
  idleMs: number;
  /** from the last byte of STOP_COPY to the ACK (source) */
  ackMs: number;
  /** a whole session, hello to ack (target) */
  sessionMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = { connectMs: 5000, idleMs: 10000, ackMs: 30000, sessionMs: 120000 };

export function timeoutsOf(t: Partial<Timeouts> | undefined): Timeouts {
  return { ...DEFAULT_TIMEOUTS, ...(t ?? {}) };
}

/** PEM text or buffers. Target: its certificate and key, and the CA that signs client certificates. Source: the same the other way round. */
export interface TlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
  ca: string | Buffer;
  /** source: the name to check the target's certificate against (default: the host connected to) */
  servername?: string;
}

export interface Hello {
  magic: string;
  protocol: number;
  session: string;
  /** source stream id */
  device: string;
  /** stream id to create on the target (default: device) */
  as: string;
  deviceType: string;
  transport: string;
  vfioFlags: number;
  /** source revision when the session started */
  revision: number;
}

export interface ProfileMsg {
  protocol: number;
  /** the target's device profile; null: the target takes any device (no check) */
  profile: unknown;
  limits: { maxFrame: number; maxRounds: number };
}

export interface AckMsg {
  session: string;
  device: string;
  /** revision of the target stream's last event */
  revision: number;
  snapshotRevision: number;
  arcs: { from: string; to: string }[];
}

export interface AbortMsg {
  code: string;
  reason: string;
  findings?: unknown[];
}

export interface OutcomeMsg {
  session: string;
  outcome: 'committed' | 'aborted';
  ack?: AckMsg;
  reason?: string;
}

/** Reads `HOST:PORT` (`[v6]:PORT` for IPv6). */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m) throw new EndpointError('bad-address', `"${s}" is not HOST:PORT`);
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new EndpointError('bad-address', `"${s}": port ${m[2]} is not 1..65535`);
  return { host: m[1]!, port };
}

/** 127.0.0.0/8, ::1, ::ffff:127.x and "localhost". */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

export function str(o: Record<string, unknown>, key: string, max = 1024): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length > max) throw new EndpointError('bad-message', `field "${key}" must be a string of at most ${max} characters`);
  return v;
}

export function int(o: Record<string, unknown>, key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new EndpointError('bad-message', `field "${key}" must be an integer in ${min}..${max}`);
  return v;
}
