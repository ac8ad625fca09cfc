import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { manualClock, type ManualClock } from '../../src/core/clock.js';
import { buildServerApp, type ServerAppOptions } from '../../src/server/app.js';
import { openDataDir } from '../../src/server/data-dir.js';
import { ServiceStore } from '../../src/server/service-store.js';
import type { SqliteStorage } from '../../src/storage/sql/sqlite-storage.js';
import { addPrincipal, initServiceAccount } from '../../src/tokens/principals.js';
import type { Role } from '../../src/core/roles.js';
import type { Feature } from '../../src/core/features.js';

export interface TestServer {
  url: string;
  app: FastifyInstance;
  /** What the routes use (the token use cases, lookups). */
  store: ServiceStore;
  /** The SQLite storage behind it. */
  storage: SqliteStorage;
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

/** The real service, in-process, on 127.0.0.1 port 0, with a clock the test moves. */
export async function startTestServer(
  options: Partial<Omit<ServerAppOptions, 'store' | 'clock'>> & { clock?: ManualClock; busyWaitMs?: number } = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tokenctl-server-test-'));
  const clock = options.clock ?? manualClock('2026-03-01T10:00:00.000Z');
  const serverKey = randomBytes(32).toString('base64');
  const { busyWaitMs, ...appOptions } = options;
  const storage = await openDataDir(path.join(dataDir, 'data'), { TOKENCTL_SERVER_KEY: serverKey }, { create: true, busyWaitMs });
  const store = new ServiceStore(storage, clock);
  const logs: string[] = [];
  const app = await buildServerApp({
    logStream: { write: (line) => void logs.push(line) },
    logLevel: 'info',
    authLimit: { maxFailures: 1000 },
    // Last-used times are written when a test flushes (or at close), never behind its back.
    lastUsedFlushMs: 0,
    ...appOptions,
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
      const r = await initServiceAccount(storage, { name: opts.name ?? 'acme', defaultToken: opts.defaultToken ?? true, features: opts.features ?? ['onelink'] }, clock);
      return { credential: r.credential, accountId: r.account.id };
    },
    addPrincipal: async (account, role, name) => (await addPrincipal(storage, account, role, name, clock)).credential,
    async close() {
      await app.close();
      store.close();
      rmSync(dataDir, { recursive: true, force: true });
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
