// An in-process QMP peer on a real TCP socket (127.0.0.1, a free port): the handler writes the greeting and answers
// each newline-separated JSON message as the test wants (QEMU-like, or not QEMU at all).
import { type Server, type Socket, createServer } from 'node:net';

export type QmpPeerHandler = (sock: Socket, line: (cb: (msg: Record<string, unknown>) => void) => void) => void;

export async function serveQmp(handler: QmpPeerHandler): Promise<{ server: Server; address: string }> {
  const server = createServer((sock) => {
    let buf = '';
    const listeners: ((m: Record<string, unknown>) => void)[] = [];
    sock.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (l.trim()) for (const cb of listeners) cb(JSON.parse(l));
      }
    });
    sock.on('error', () => {});
    handler(sock, (cb) => listeners.push(cb));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { server, address: `127.0.0.1:${port}` };
}
