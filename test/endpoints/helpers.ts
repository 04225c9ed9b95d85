// Helpers for the endpoint specs: stores with a real QEMU capture, a frame-aware proxy on 127.0.0.1 that cuts or
// stalls a connection after N messages (or tampers with one), throwaway TLS certificates made with openssl.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { StoredEvent } from '../../src/events/types.js';
import { Projector } from '../../src/project/projector.js';
import type { DeviceState } from '../../src/project/state.js';
import { importQemuTrace } from '../../src/sources/import-trace.js';
import { FileEventStore } from '../../src/store/file-store.js';
import type { EventStore } from '../../src/store/types.js';
import { tmpDir } from '../helpers/tmp.js';

export const TRACE = 'streams/qemu/pc-modern-net-blk/trace.log.gz';
export const NET0 = 'virtio-net-pci@00:02.0';
export const NET1 = 'virtio-net-pci@00:03.0';
export const BLK = 'virtio-blk-pci@00:04.0';
export const LOOPBACK = '127.0.0.1';
/** Short timeouts: the suite stays fast. */
export const FAST = { connectMs: 1000, idleMs: 600, ackMs: 600, sessionMs: 5000 };

const open: EventStore[] = [];
export async function fileStore(): Promise<FileEventStore> {
  const s = await FileEventStore.open(tmpDir('devrec-ep-'));
  open.push(s);
  return s;
}
export async function closeStores(): Promise<void> {
  while (open.length) await open.pop()!.close().catch(() => {});
}

/** A file store holding the three devices of the committed QEMU capture. */
export async function sourceStore(): Promise<FileEventStore> {
  const s = await fileStore();
  await importQemuTrace(s, TRACE);
  return s;
}

export async function stateOf(store: EventStore, device: string): Promise<DeviceState> {
  return new Projector(store).stateAt(device);
}

export async function eventsOf(store: EventStore, device: string, from = 0): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for await (const e of store.read(device, { from })) out.push(e);
  return out;
}

export async function vfioArcs(store: EventStore, device: string, from = 0): Promise<string[]> {
  return (await eventsOf(store, device, from)).flatMap((e) => (e.event.body.kind === 'vfioState' ? [`${e.event.body.from}>${e.event.body.to}`] : []));
}

export interface ProxyOptions {
  target: { host: string; port: number };
  /** messages (both directions, in arrival order) forwarded before the cut; Infinity: never cut */
  cutAfter: number;
  /** 'close' both sides, or 'stall' (keep both open, forward nothing more) */
  mode?: 'close' | 'stall';
  /** bytes of the next message forwarded before the cut */
  partialBytes?: number;
  /** rewrite a message (index = its number on the connection, 0-based) */
  tamper?: (index: number, frame: Buffer) => Buffer;
  /** cut only the first connection (later ones, e.g. QUERY and retries, pass through); default true */
  firstOnly?: boolean;
}

export interface Proxy {
  port: number;
  /** frames seen on the first connection */
  frames: { dir: 'up' | 'down'; type: number; length: number }[];
  close(): Promise<void>;
}

/** A proxy on 127.0.0.1 that understands the endpoint framing (u32 length, u8 type, u32 crc, payload). */
export async function startProxy(o: ProxyOptions): Promise<Proxy> {
  const frames: Proxy['frames'] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((client) => {
    const first = connections++ === 0 || o.firstOnly === false;
    const upstream = net.connect(o.target.port, o.target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    if (!first) {
      client.pipe(upstream);
      upstream.pipe(client);
      return;
    }
    let forwarded = 0;
    let cut = false;
    const doCut = () => {
      cut = true;
      if ((o.mode ?? 'close') === 'close') {
        client.destroy();
        upstream.destroy();
      }
    };
    const pump = (from: net.Socket, to: net.Socket, dir: 'up' | 'down') => {
      let buf: Buffer = Buffer.alloc(0);
      from.on('data', (d: Buffer) => {
        if (cut) return;
        buf = Buffer.concat([buf, d]);
        while (!cut && buf.length >= 9) {
          const len = buf.readUInt32LE(0);
          if (buf.length < 9 + len) break;
          let frame = buf.subarray(0, 9 + len);
          buf = buf.subarray(9 + len);
          if (forwarded >= o.cutAfter) {
            if (o.partialBytes) to.write(frame.subarray(0, o.partialBytes));
            doCut();
            return;
          }
          if (o.tamper) frame = o.tamper(forwarded, Buffer.from(frame));
          frames.push({ dir, type: frame[4]!, length: len });
          to.write(frame);
          forwarded++;
        }
      });
    };
    pump(client, upstream, 'up');
    pump(upstream, client, 'down');
  });
  await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    frames,
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

/** Recomputes a frame's CRC after its payload was changed. */
export function refreshCrc(frame: Buffer): Buffer {
  const type = frame[4]!;
  frame.writeUInt32LE(crc32(frame.subarray(9), crc32(Buffer.of(type))) >>> 0, 5);
  return frame;
}

export function rawFrame(type: number, payload: Buffer, badCrc = false): Buffer {
  const head = Buffer.alloc(9);
  head.writeUInt32LE(payload.length, 0);
  head.writeUInt8(type, 4);
  head.writeUInt32LE(((crc32(payload, crc32(Buffer.of(type))) >>> 0) ^ (badCrc ? 1 : 0)) >>> 0, 5);
  return Buffer.concat([head, payload]);
}

export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface Certs { ca: Buffer; serverCert: Buffer; serverKey: Buffer; clientCert: Buffer; clientKey: Buffer; rogueCert: Buffer; rogueKey: Buffer }

/** A CA, a server certificate for 127.0.0.1, a client certificate from the CA, and a rogue self-signed client. */
export function makeCerts(): Certs {
  const dir = tmpDir('devrec-certs-');
  const f = (n: string) => path.join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=devrec test CA');
  for (const who of ['server', 'client']) {
    ssl('req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=devrec test ${who}`);
    ssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.crt`, '-days', '2', '-extfile', `${who}.ext`);
  }
  ssl('req', '-x509', ...ec, '-keyout', 'rogue.key', '-out', 'rogue.crt', '-days', '2', '-subj', '/CN=devrec test client');
  const r = (n: string) => readFileSync(f(n));
  return {
    ca: r('ca.crt'), serverCert: r('server.crt'), serverKey: r('server.key'), clientCert: r('client.crt'), clientKey: r('client.key'),
    rogueCert: r('rogue.crt'), rogueKey: r('rogue.key'),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
