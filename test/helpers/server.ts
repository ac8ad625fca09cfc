import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { manualClock, type ManualClock } from '../../src/core/clock.js';
import { buildServerApp, type ServerAppOptions } from '../../src/server/app.js';
import { openDataDir } from '../../src/server/data-dir.js';
import { sqliteDriverEnv } from './sqlite.js';
import type { Accounts } from '../../src/server/accounts.js';
import { PrincipalCache } from '../../src/server/auth/principals.js';
import type { SqliteStorage } from '../../src/storage/sql/sqlite/storage.js';
import { PostgresStorage } from '../../src/storage/sql/postgres/storage.js';
import { TokenIndex } from '../../src/server/memory/token-index.js';
import type { Principal } from '../../src/tokens/principals.js';
import type { TestCluster } from './postgres.js';
import { addPrincipal, initServiceAccount } from '../../src/tokens/principals.js';
import type { Role } from '../../src/core/roles.js';
import type { Feature } from '../../src/core/features.js';
import type { SigningAlg } from '../../src/core/signing.js';
import { logLines } from './log-lines.js';

export interface TestServer<S = SqliteStorage> {
  url: string;
  app: FastifyInstance;
  /** The token use cases on a principal's account, as the routes run them. */
  accounts: Accounts;
  /** What the service keeps in memory. */
  memory: TokenIndex;
  /** The principal a credential belongs to, as the service's authentication finds it (null: none). */
  principalOf(credential: string): Promise<Principal | null>;
  /** The storage behind it (SQLite, unless started with startPostgresTestServer). */
  storage: S;
  clock: ManualClock;
  dataDir: string;
  logs: string[];
  /** The server master key (base64), so tests can read what the service sealed. */
  serverKey: string;
  /**
   * Creates an account; returns its admin credential. `features`: its premium features, by default OneLink (most tests
   * are not about premium features; `server init` makes an account without any, see test/server/http/premium.test.ts).
   */
  initAccount(opts?: { name?: string; defaultToken?: boolean; features?: Feature[]; signingAlg?: SigningAlg }): Promise<{ credential: string; accountId: string }>;
  addPrincipal(account: string, role: Role, name: string): Promise<string>;
  close(): Promise<void>;
}

type TestServerOptions = Partial<Omit<ServerAppOptions, 'storage' | 'memory' | 'clock'>> & { clock?: ManualClock; busyWaitMs?: number };

/** The real service, in-process, on 127.0.0.1 port 0, with a clock the test moves. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tokenctl-server-test-'));
  const clock = options.clock ?? manualClock('2026-03-01T10:00:00.000Z');
  const serverKey = randomBytes(32).toString('base64');
  const { busyWaitMs, ...appOptions } = options;
  const storage = await openDataDir(path.join(dataDir, 'data'), { TOKENCTL_SERVER_KEY: serverKey, ...sqliteDriverEnv }, { create: true, busyWaitMs });
  const memory = new TokenIndex(storage, storage.serverSealer, clock);
  await memory.start();
  return listen({ storage, memory, clock, serverKey, dataDir, appOptions, afterClose: async () => rmSync(dataDir, { recursive: true, force: true }) });
}

/**
 * The real service as one replica on a real PostgreSQL (test/helpers/postgres.ts): its memory (memory/token-index.ts)
 * kept current by the database's notifications, as `tokenctl serve` with TOKENCTL_DATABASE_URL runs it. Several
 * of them on the same `database` are several replicas; pass the first one's `serverKey` to the others.
 */
export async function startPostgresTestServer(
  cluster: TestCluster,
  options: TestServerOptions & { database?: string; serverKey?: string } = {},
): Promise<TestServer<PostgresStorage> & { database: string; queries: string[] }> {
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
  const memory = new TokenIndex(storage, storage.serverSealer, clock, { blocked: (address, until) => limiter?.block(address, until) }, (now) => storage.activeBlocks(now));
  await memory.start();
  const server = await listen({ storage, memory, clock, serverKey, dataDir: '', appOptions });
  limiter = server.app.authLimiter;
  for (const b of await storage.activeBlocks(Date.now())) limiter.block(b.address, b.untilMs);
  return { ...server, database, queries };
}

async function listen<S extends SqliteStorage | PostgresStorage>(o: {
  storage: S;
  memory: TokenIndex;
  clock: ManualClock;
  serverKey: string;
  dataDir: string;
  appOptions: Partial<Omit<ServerAppOptions, 'storage' | 'memory' | 'clock'>>;
  afterClose?(): Promise<void>;
}): Promise<TestServer<S>> {
  const { storage, memory, clock, serverKey, dataDir } = o;
  const logs: string[] = [];
  const app = await buildServerApp({
    logStream: logLines(logs).sink,
    logLevel: 'info',
    authLimit: { maxFailures: 1000 },
    // Last-used times are written when a test flushes (or at close), never behind its back; notifications are
    // delivered after a commit that enqueued some, or when a test runs them (app.notifications.runOnce()).
    usageFlushMs: 0,
    notify: { everyMs: 0, lifecycleEveryMs: 0 },
    ...o.appOptions,
    storage,
    memory,
    clock,
  });
  const principals = new PrincipalCache(memory);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    app,
    accounts: app.accounts,
    memory,
    principalOf: async (credential) => principals.authenticate(credential),
    storage,
    clock,
    dataDir,
    logs,
    serverKey,
    async initAccount(opts = {}) {
      // As `tokenctl server init` with the service's TOKENCTL_PUBLIC_URL: the default token names the account's issuer.
      const r = await initServiceAccount(
        storage,
        { name: opts.name ?? 'acme', defaultToken: opts.defaultToken ?? true, features: opts.features ?? ['onelink'], signingAlg: opts.signingAlg },
        clock,
        o.appOptions.publicUrl ?? null,
      );
      // The service reads what `tokenctl server init` (another process) wrote when it hears of it; a test reads it at once.
      await app.accounts.caughtUp(r.account.id);
      return { credential: r.credential, accountId: r.account.id };
    },
    async addPrincipal(account, role, name) {
      const r = await addPrincipal(storage, account, role, name, clock);
      await app.accounts.caughtUp(r.principal.accountId);
      return r.credential;
    },
    async close() {
      await app.close();
      await memory.close();
      await storage.close();
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
