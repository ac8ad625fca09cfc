import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { manualClock, type ManualClock } from '../../src/core/clock.js';
import { buildServerApp, type ServerAppOptions } from '../../src/server/app.js';
import { openDataDir } from '../../src/server/data-dir.js';
import { sqliteDriverEnv } from './sqlite.js';
import { ServiceStore } from '../../src/server/service-store.js';
import type { SqliteStorage } from '../../src/storage/sql/sqlite-storage.js';
import { PostgresStorage } from '../../src/storage/sql/postgres-storage.js';
import { ReplicaIndex } from '../../src/server/replica-index.js';
import type { TestCluster } from './postgres.js';
import { addPrincipal, initServiceAccount } from '../../src/tokens/principals.js';
import type { Role } from '../../src/core/roles.js';
import type { Feature } from '../../src/core/features.js';

export interface TestServer<S = SqliteStorage> {
  url: string;
  app: FastifyInstance;
  /** What the routes use (the token use cases, lookups). */
  store: ServiceStore;
  /** The storage behind it (SQLite, unless started with startPostgresTestServer). */
  storage: S;
  clock: ManualClock;
  dataDir: string;
  logs: string[];
  /** The server master key (base64), so tests can read what the service sealed. */
  serverKey: string;
  /**
   * Creates an account; returns its admin credential. `features`: its premium features, by default OneLink (most tests
   * are not about premium features; `server init` makes an account without any, see test/server/premium.test.ts).
   */
  initAccount(opts?: { name?: string; defaultToken?: boolean; features?: Feature[] }): Promise<{ credential: string; accountId: string }>;
  addPrincipal(account: string, role: Role, name: string): Promise<string>;
  close(): Promise<void>;
}

type TestServerOptions = Partial<Omit<ServerAppOptions, 'store' | 'clock'>> & { clock?: ManualClock; busyWaitMs?: number };

/** The real service, in-process, on 127.0.0.1 port 0, with a clock the test moves. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tokenctl-server-test-'));
  const clock = options.clock ?? manualClock('2026-03-01T10:00:00.000Z');
  const serverKey = randomBytes(32).toString('base64');
  const { busyWaitMs, ...appOptions } = options;
  const storage = await openDataDir(path.join(dataDir, 'data'), { TOKENCTL_SERVER_KEY: serverKey, ...sqliteDriverEnv }, { create: true, busyWaitMs });
  const store = new ServiceStore(storage, clock);
  return listen({ storage, store, clock, serverKey, dataDir, appOptions, afterClose: async () => rmSync(dataDir, { recursive: true, force: true }) });
}

/**
 * The real service as one replica on a real PostgreSQL (test/helpers/postgres.ts): its memory (replica-index.ts)
 * kept current by the database's notifications, as `tokenctl serve` with TOKENCTL_DATABASE_URL runs it. Several
 * of them on the same `database` are several replicas; pass the first one's `serverKey` to the others.
 */
export async function startPostgresTestServer(
  cluster: TestCluster,
  options: TestServerOptions & { database?: string; serverKey?: string } = {},
): Promise<TestServer<PostgresStorage> & { database: string; index: ReplicaIndex; queries: string[] }> {
  const { database: given, serverKey: givenKey, busyWaitMs: _unused, ...appOptions } = options;
  const database = given ?? (await cluster.createDatabase());
  const clock = options.clock ?? manualClock('2026-03-01T10:00:00.000Z');
  const serverKey = givenKey ?? randomBytes(32).toString('base64');
  // Every statement the replica's pool sends, for tests that check what does (not) reach the database.
  const queries: string[] = [];
  const sql = cluster.connect(database, { debug: (_connection: number, query: string) => void queries.push(query) } as never);
  const storage = await PostgresStorage.open(sql, Buffer.from(serverKey, 'base64'), 'PostgreSQL (test)', (extra) => cluster.connect(database, extra));
  // Another replica's block of an address reaches this one's limiter, as in `tokenctl serve` (server/service.ts).
  let limiter: { block(address: string, until: number): void } | undefined;
  const index = new ReplicaIndex(storage, storage.serverSealer, clock, { blocked: (address, until) => limiter?.block(address, until) });
  await index.start();
  const store = new ServiceStore(storage, clock, { lookups: index, afterWrite: (id) => index.refreshAccount(id) });
  const server = await listen({
    storage,
    store,
    clock,
    serverKey,
    dataDir: '',
    appOptions: { sharedAuthFailures: storage, ...appOptions },
    beforeClose: () => index.close(),
  });
  limiter = server.app.authLimiter;
  for (const b of await storage.activeBlocks(Date.now())) limiter.block(b.address, b.untilMs);
  return { ...server, database, index, queries };
}

async function listen<S extends SqliteStorage | PostgresStorage>(o: {
  storage: S;
  store: ServiceStore;
  clock: ManualClock;
  serverKey: string;
  dataDir: string;
  appOptions: Partial<Omit<ServerAppOptions, 'store' | 'clock'>>;
  beforeClose?(): Promise<void>;
  afterClose?(): Promise<void>;
}): Promise<TestServer<S>> {
  const { storage, store, clock, serverKey, dataDir } = o;
  const logs: string[] = [];
  const app = await buildServerApp({
    logStream: { write: (line) => void logs.push(line) },
    logLevel: 'info',
    authLimit: { maxFailures: 1000 },
    // Last-used times are written when a test flushes (or at close), never behind its back.
    lastUsedFlushMs: 0,
    ...o.appOptions,
    store,
    clock,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    app,
    store,
    storage,
    clock,
    dataDir,
    logs,
    serverKey,
    async initAccount(opts = {}) {
      const r = await initServiceAccount(store.storage, { name: opts.name ?? 'acme', defaultToken: opts.defaultToken ?? true, features: opts.features ?? ['onelink'] }, clock);
      // A replica reads what `tokenctl server init` (another process) wrote when notified; a test reads it at once.
      await store.caughtUp(r.account.id);
      return { credential: r.credential, accountId: r.account.id };
    },
    async addPrincipal(account, role, name) {
      const r = await addPrincipal(store.storage, account, role, name, clock);
      await store.caughtUp(r.principal.accountId);
      return r.credential;
    },
    async close() {
      await app.close();
      await o.beforeClose?.();
      await store.close();
      await o.afterClose?.();
    },
  };
}

/** fetch with a credential; returns status, headers and the raw and parsed body. */
export async function call(
  server: { url: string },
  method: string,
  url: string,
  opts: { credential?: string; authorization?: string; json?: unknown; form?: Record<string, string>; raw?: string; contentType?: string } = {},
): Promise<{ status: number; headers: Headers; text: string; body: any }> {
  const headers: Record<string, string> = {};
  if (opts.authorization !== undefined) headers.authorization = opts.authorization;
  else if (opts.credential !== undefined) headers.authorization = `Bearer ${opts.credential}`;
  let body: string | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(opts.form).toString();
  } else if (opts.raw !== undefined) {
    headers['content-type'] = opts.contentType ?? 'application/json';
    body = opts.raw;
  }
  const response = await fetch(`${server.url}${url}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
}
