// A webhook receiver for tests, on 127.0.0.1 port 0: it verifies every delivery with the `standardwebhooks` package
// (the specification's reference implementation, not a copy of its algorithm) and records what arrived. It can be
// told to refuse (answer an error status), to hold requests unanswered, or to stop listening and come back on the
// same port, as a receiver that is down for a while.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Delivery {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** Whether `standardwebhooks` accepted it (signature and timestamp). */
  verified: boolean;
  /** The parsed payload when verified. */
  payload: { type: string; timestamp: string; data: Record<string, any> } | null;
  /** What the receiver answered (0: held, then dropped). */
  answered: number;
  /** The client's port (which process sent it, see socketOwner). */
  remotePort: number;
}

export interface Receiver {
  url: string;
  port: number;
  deliveries: Delivery[];
  /** Ids acknowledged with a 2xx (each notification, however often it came). */
  acknowledged(): Set<string>;
  /** Sets the secret deliveries are verified with (the one `webhooks add` printed). */
  useSecret(secret: string): void;
  /** Answer every request with this status (200 by default). */
  answer(status: number): void;
  /** Hold requests unanswered while on (released with 200 when turned off, unless their client went away). */
  hold(on: boolean): void;
  /** Held requests now. */
  held(): { delivery: Delivery; socket: Socket }[];
  /** Stops listening (connections refused), closing open connections. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(o: { path?: string } = {}): Promise<Receiver> {
  let secret = '';
  let status = 200;
  let holding = false;
  const deliveries: Delivery[] = [];
  const held: { delivery: Delivery; res: http.ServerResponse; socket: Socket }[] = [];
  const sockets = new Set<Socket>();
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = { 'webhook-id': String(req.headers['webhook-id'] ?? ''), 'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''), 'webhook-signature': String(req.headers['webhook-signature'] ?? '') };
      let payload: Delivery['payload'] = null;
      try {
        payload = new Webhook(secret).verify(body, headers) as Delivery['payload'];
      } catch {
        payload = null;
      }
      const d: Delivery = { id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], signature: headers['webhook-signature'], body, verified: payload !== null, payload, answered: 0, remotePort: req.socket.remotePort ?? 0 };
      deliveries.push(d);
      if (o.path !== undefined && req.url !== o.path) {
        d.answered = 404;
        res.writeHead(404).end();
      } else if (holding) {
        held.push({ delivery: d, res, socket: req.socket });
      } else {
        d.answered = status;
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
      }
    });
  };
  let server = http.createServer(handler);
  const track = (s: http.Server) => s.on('connection', (socket: Socket) => (sockets.add(socket), socket.on('close', () => sockets.delete(socket))));
  track(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const release = () => {
    for (const h of held.splice(0)) {
      if (h.socket.destroyed) continue;
      h.delivery.answered = 200;
      h.res.writeHead(200).end('ok');
    }
  };
  return {
    url: `http://127.0.0.1:${port}${o.path ?? '/hook'}`,
    port,
    deliveries,
    acknowledged: () => new Set(deliveries.filter((d) => d.answered >= 200 && d.answered < 300).map((d) => d.id)),
    useSecret: (s) => void (secret = s),
    answer: (s) => void (status = s),
    hold: (on) => {
      holding = on;
      if (!on) release();
    },
    held: () => held.filter((h) => !h.socket.destroyed).map((h) => ({ delivery: h.delivery, socket: h.socket })),
    async down() {
      held.splice(0);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
    async up() {
      server = http.createServer(handler);
      track(server);
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    async close() {
      holding = false;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}
