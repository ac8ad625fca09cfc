import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerLimits } from '../../../src/server/app.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';

/**
 * Connections that hold resources are bounded (app.ts's limits, short here): silent and slow clients, idle
 * keep-alive connections, clients that pipeline requests or never read the answers, too many connections. Seen
 * from the server's side of each socket: a client socket that does not read never notices its close.
 */
let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(limits: Partial<ServerLimits>) {
  server = await startTestServer({ limits: { connectionsCheckingIntervalMs: 50, ...limits } });
  const serverSockets: net.Socket[] = [];
  server.app.server.on('connection', (s: net.Socket) => serverSockets.push(s));
  return { server, port: Number(new URL(server.url).port), serverSockets };
}

const closed = (socket: net.Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
const connect = (port: number) =>
  new Promise<net.Socket>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => undefined);
  });
const waitFor = async (what: () => boolean, ms: number) => {
  const until = Date.now() + ms;
  while (!what()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('connection bounds', () => {
  it('closes connections that send nothing, or not a whole request, after headersTimeoutMs', async () => {
    const { port, serverSockets } = await start({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const silent = await Promise.all(Array.from({ length: 50 }, () => connect(port)));
    const partial = await connect(port);
    partial.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    await waitFor(() => serverSockets.length === 51, 2_000);
    const started = Date.now();
    await Promise.all(serverSockets.map(closed));
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(2_000);
    for (const s of [...silent, partial]) s.destroy();
  });

  it('keeps a keep-alive connection that goes on sending requests, longer than every limit', async () => {
    // Keep-alive at 2.5 s: Node's client agent does not reuse a connection announced with Keep-Alive: timeout=1 or 0.
    const { server, port, serverSockets } = await start({ headersTimeoutMs: 300, requestTimeoutMs: 400, keepAliveTimeoutMs: 2_500, unreadResponseTimeoutMs: 300 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<number>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => res.resume().on('end', () => resolve(res.statusCode!))).on('error', reject);
      });
    try {
      // 1.5 s of requests every 100 ms, on one connection, never cut off.
      const statuses: number[] = [];
      for (let i = 0; i < 15; i++) {
        statuses.push(await get());
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(statuses.every((s) => s === 200)).toBe(true);
      expect(serverSockets).toHaveLength(1);
      expect(serverSockets[0]!.destroyed).toBe(false);
      expect(server.logs.join('')).not.toContain('connection closed');
    } finally {
      agent.destroy();
    }
  });

  it('closes a keep-alive connection idle for keepAliveTimeoutMs', async () => {
    const { port, serverSockets } = await start({ keepAliveTimeoutMs: 300 });
    const client = await connect(port);
    let data = '';
    client.setEncoding('latin1').on('data', (d) => (data += d));
    client.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => data.includes('{"status":"ok"}'), 2_000);
    const started = Date.now();
    await closed(serverSockets[0]!);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(200);
    expect(elapsed).toBeLessThan(2_500); // measured: about keepAliveTimeoutMs + 1 s on Node 20
    client.destroy();
  });

  it('disconnects a client that pipelines more requests than allowed without reading the answers', async () => {
    const { server, port, serverSockets } = await start({ maxRequestsInFlightPerConnection: 16 });
    const client = await connect(port);
    client.pause(); // never reads
    client.write('GET /openapi.yaml HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(2_000));
    await waitFor(() => serverSockets.length === 1, 2_000);
    const started = Date.now();
    await closed(serverSockets[0]!);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(server.logs.join('')).toContain('connection closed: more than 16 requests in flight on it');
    // What the client got before the cut: at most the allowed answers.
    client.resume();
    let data = '';
    client.setEncoding('latin1').on('data', (d) => (data += d));
    await closed(client);
    expect(data.split('HTTP/1.1 200 OK').length - 1).toBeLessThanOrEqual(16);
  });

  it('closes a connection whose answers have not been read for unreadResponseTimeoutMs', async () => {
    const { server, port, serverSockets } = await start({ maxRequestsInFlightPerConnection: 10_000, unreadResponseTimeoutMs: 300 });
    const client = await connect(port);
    client.pause();
    // ~35 KB answers: a few hundred fill the socket buffers, and the server's writes block.
    client.write('GET /openapi.yaml HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(400));
    await waitFor(() => serverSockets.length === 1, 2_000);
    await waitFor(() => serverSockets[0]!.writableLength > 0, 5_000);
    const started = Date.now();
    await closed(serverSockets[0]!);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(200);
    expect(elapsed).toBeLessThan(2_000);
    expect(server.logs.join('')).toMatch(/connection closed: its client has not read the answers for \d+ s/);
    client.destroy();
  });

  it('accepts at most maxConnections connections at once', async () => {
    const { port, serverSockets } = await start({ maxConnections: 5, headersTimeoutMs: 10_000, requestTimeoutMs: 10_000 });
    const held = await Promise.all(Array.from({ length: 5 }, () => connect(port)));
    await waitFor(() => serverSockets.length === 5, 2_000);
    const extra = await connect(port);
    const started = Date.now();
    extra.resume();
    await closed(extra);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(held.every((s) => !s.destroyed)).toBe(true);
    for (const s of held) s.destroy();
  });
});
