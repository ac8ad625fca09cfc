import net from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { shutDown } from '../../src/server/service.js';
import { call, startTestServer } from '../helpers/server.js';

describe('shutDown', () => {
  it('answers requests in flight, and cuts off a client still trickling its request after the grace period', async () => {
    const server = await startTestServer();
    try {
      const { credential } = await server.initAccount({ name: 'acme' });
      const { port } = new URL(server.url);
      const slow = net.connect(Number(port), '127.0.0.1');
      await new Promise((resolve) => slow.once('connect', resolve));
      slow.on('error', () => undefined);
      const closed = new Promise((resolve) => slow.once('close', resolve));
      slow.write(`POST /v1/introspect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${credential}\r\n`); // headers never end
      // In flight: the server has read the request's headers (its 'request' event) before it shuts down; a request
      // it has not read yet is answered 503 by design (another replica answers it).
      const received = new Promise<void>((resolve) => {
        const onRequest = (req: { url?: string }) => {
          if (req.url !== '/v1/tokens') return;
          server.app.server.off('request', onRequest);
          resolve();
        };
        server.app.server.on('request', onRequest);
      });
      const inFlight = call(server, 'GET', '/v1/tokens', { credential });
      await received;
      // The trickling connection accepted too.
      const connections = () => new Promise<number>((resolve) => server.app.server.getConnections((_e, n) => resolve(n)));
      await vi.waitFor(async () => expect(await connections()).toBeGreaterThanOrEqual(2), { interval: 5 });
      const started = Date.now();
      await shutDown(server.app, 300);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect((await inFlight).status).toBe(200);
      await closed;
    } finally {
      await server.close().catch(() => undefined);
    }
  });
});
