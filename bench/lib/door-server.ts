// For bench/introspect.mjs --isolation: tokenctl's introspection door (src/server/introspection) on a node:http server
// of its own, with everything it uses on the service (its SQLite storage and memory, the authentication door and its
// limit, the usage recorder, the connection bounds), in three settings:
//   --mode alone   a process with nothing else: no fastify loaded;
//   --mode beside  the same process also runs the service's whole fastify app (its own storage and memory, listening),
//                  which first answers admin requests, as a service with admin traffic does;
//   --mode worker  the same door in a worker thread (an isolate of its own), the fastify app of `beside` in the main
//                  thread: the design issue 18 proposed for keeping fastify's per-request cost off introspection.
// The request log is off in all three. Bundled from src/ by bench/introspect.mjs (esbuild); prints "port <n>" on stderr
// once the door listens. --data <dir>: a service data directory (a copy of its own); DOOR_SERVER_ADMIN: an admin
// credential for the admin requests of `beside` and `worker` (in the environment: never in a process's arguments).
import http from 'node:http';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../../src/core/clock.js';
import { DEFAULT_AUTH_LIMIT, DEFAULT_LIMITS, buildServerApp } from '../../src/server/app.js';
import { Authenticator } from '../../src/server/auth/authenticator.js';
import { FailedAuthLimiter } from '../../src/server/auth/limiter.js';
import { PrincipalCache } from '../../src/server/auth/principals.js';
import { boundConnections } from '../../src/server/http/plugins/connections.js';
import { createIntrospection } from '../../src/server/introspection/index.js';
import { TokenIndex } from '../../src/server/memory/token-index.js';
import { openServiceStorage } from '../../src/server/storage.js';
import { UsageRecorder } from '../../src/server/usage/recorder.js';

const arg = (name: string): string => {
  const i = process.argv.indexOf(name);
  if (i < 0 || process.argv[i + 1] === undefined) throw new Error(`door-server: ${name} is required`);
  return process.argv[i + 1]!;
};

/** The storage and memory of a service on `dataDir`, read and kept current as `serve` does. */
async function openMemory(dataDir: string) {
  const { storage } = await openServiceStorage({ kind: 'sqlite', dataDir }, process.env, { create: false });
  const memory = new TokenIndex(storage, storage.serverSealer, systemClock);
  await memory.start();
  return { storage, memory };
}

/** The door alone on a server with the service's limits (app.ts); resolves with its port. */
async function door(dataDir: string): Promise<number> {
  const { storage, memory } = await openMemory(dataDir);
  const limiter = new FailedAuthLimiter(DEFAULT_AUTH_LIMIT, Date.now, null);
  const recorder = new UsageRecorder(storage, (error) => console.error(error), 5_000, null);
  const introspection = createIntrospection({
    lookup: memory,
    authenticator: new Authenticator(new PrincipalCache(memory), limiter),
    clock: systemClock,
    recorder,
    bodyLimit: DEFAULT_LIMITS.bodyLimit,
    trustProxy: false,
    failed: (error) => console.error(error),
    logRequest: null,
    publicUrl: null,
  });
  const server = http.createServer({
    requestTimeout: DEFAULT_LIMITS.requestTimeoutMs,
    headersTimeout: DEFAULT_LIMITS.headersTimeoutMs,
    connectionsCheckingInterval: DEFAULT_LIMITS.connectionsCheckingIntervalMs,
    requireHostHeader: false,
  });
  server.keepAliveTimeout = DEFAULT_LIMITS.keepAliveTimeoutMs;
  server.setTimeout(DEFAULT_LIMITS.connectionTimeoutMs);
  const log = { warn: (...args: unknown[]) => console.error(...args) } as unknown as Parameters<typeof boundConnections>[2];
  const connections = boundConnections(
    server,
    {
      maxConnections: DEFAULT_LIMITS.maxConnections,
      maxRequestsInFlight: DEFAULT_LIMITS.maxRequestsInFlightPerConnection,
      unreadResponseTimeoutMs: DEFAULT_LIMITS.unreadResponseTimeoutMs,
      checkEveryMs: DEFAULT_LIMITS.connectionsCheckingIntervalMs,
    },
    log,
  );
  const introspect = introspection.handler(() => false);
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (connections.refuse(req, res) || introspect(req, res)) return;
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** The service's fastify app on its own copy of storage and memory, listening, after answering admin requests. */
async function serviceBeside(dataDir: string, admin: string): Promise<void> {
  const { storage, memory } = await openMemory(dataDir);
  const app = await buildServerApp({ storage, memory, clock: systemClock });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const headers = { authorization: `Bearer ${admin}` };
  for (let i = 0; i < 200; i++) {
    for (const path of ['/v1/tokens', '/v1/audit/events', '/healthz']) {
      const res = await fetch(`${base}${path}`, { headers });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`door-server: GET ${path} answered ${res.status}`);
    }
  }
}

if (!isMainThread) {
  parentPort!.postMessage(await door((workerData as { data: string }).data));
} else {
  const mode = arg('--mode');
  const data = arg('--data');
  if (mode !== 'alone' && mode !== 'beside' && mode !== 'worker') throw new Error(`door-server: --mode ${mode}: alone, beside or worker`);
  if (mode !== 'alone') {
    const admin = process.env.DOOR_SERVER_ADMIN;
    if (!admin) throw new Error('door-server: DOOR_SERVER_ADMIN (an admin credential) is required for --mode beside and worker');
    await serviceBeside(data, admin);
  }
  let port: number;
  if (mode === 'worker') {
    const worker = new Worker(new URL(import.meta.url), { workerData: { data } });
    worker.once('error', (error) => {
      console.error(error);
      process.exit(1);
    });
    port = await new Promise<number>((resolve) => worker.once('message', resolve));
  } else port = await door(data);
  process.on('SIGTERM', () => process.exit(0));
  process.stderr.write(`port ${port}\n`);
}
