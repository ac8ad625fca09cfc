import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { BackendUnavailableError } from '../core/errors.js';
import type { ServiceStorage } from '../storage/service-port.js';
import { buildServerApp } from './app.js';
import type { LogSink } from './http/plugins/request-log.js';
import { TokenIndex } from './memory/token-index.js';
import { lockDataDir, type ServeLock } from './serve-lock.js';
import { openServiceStorage, whereOf, type StorageChoice } from './storage.js';

export interface ServiceOptions {
  storage: StorageChoice;
  host: string;
  port: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  trustProxy: string[];
  /** The URL resource servers reach the service at (server/public-url.ts); null: issuers are urns. */
  publicUrl: string | null;
  /** Networks beyond the public internet that notifications may reach (`loopback`, `private`, `link-local`, CIDR ranges). */
  webhookAllow?: string[];
  /** One notification attempt's bound (ms); default 10 s. */
  webhookTimeoutMs?: number;
  clock: Clock;
  env: Record<string, string | undefined>;
  /** Structured request logs (JSON lines), batched by the caller (ui/log-writer.ts). */
  log: LogSink;
  /** Human messages (where it listens, a lost database, shutdown). */
  notice(line: string): void;
}

/** A running token service. The process around it (signals, exit codes) is the `serve` command's. */
export interface RunningService {
  /** Where it listens: http://host:port */
  url: string;
  /**
   * Stops it: no new connections, idle ones closed, requests in flight answered (those still open after
   * SHUTDOWN_GRACE_MS, a client trickling its request say, are cut off), then last-used times written and the
   * storage closed.
   */
  stop(): Promise<void>;
  /** Stops it at once: requests in flight cut off, last-used times written (an asynchronous storage gets 2 s). */
  stopNow(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/;

/** How long a shutdown waits for requests in flight (a slow client would otherwise hold it for a minute). */
export const SHUTDOWN_GRACE_MS = 10_000;

/** How often the storage forgets what no longer matters (failed-authentication counts, write operation ids). */
const MAINTAIN_EVERY_MS = 60_000;

/**
 * Closes the app: no new connections, idle ones closed, requests in flight answered; those still open after
 * `graceMs` are cut off. Then last-used times are written (onClose).
 */
export async function shutDown(app: { close(): Promise<unknown>; server: { closeAllConnections(): void } }, graceMs: number): Promise<void> {
  const grace = setTimeout(() => app.server.closeAllConnections(), graceMs);
  grace.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(grace);
  }
}

/**
 * What the service keeps in memory (memory/token-index.ts), read from its storage and kept current by it, with a lost
 * database and its return told once each.
 */
async function startMemory(storage: ServiceStorage, o: ServiceOptions, blocked: (address: string, until: number) => void): Promise<TokenIndex> {
  let degraded = false;
  const memory = new TokenIndex(
    storage,
    storage.serverSealer,
    o.clock,
    {
      blocked,
      failed: (error) => {
        if (degraded) return;
        degraded = true;
        const why = error instanceof Error ? error.message : String(error);
        o.notice(`warning: cannot read changes from the database (${why}); retrying every second, introspection answers from memory meanwhile`);
      },
      resynchronised: () => {
        if (!degraded) return;
        degraded = false;
        o.notice('the database answers again: everything kept in memory was read again');
      },
    },
    storage.sharedAuthFailures ? (nowMs) => storage.sharedAuthFailures!.activeBlocks(nowMs) : null,
  );
  await memory.start();
  return memory;
}

/** `tokenctl serve`'s service: opens its storage, reads its memory, listens; resolves once it answers. */
export async function startService(o: ServiceOptions): Promise<RunningService> {
  const opened = await openServiceStorage(o.storage, o.env, { create: false });
  const storage: ServiceStorage = opened.storage;
  let lock: ServeLock | null = null;
  let memory: TokenIndex | null = null;
  const blocks: { to: ((address: string, until: number) => void) | null } = { to: null };
  const release = async () => {
    await memory?.close();
    await storage.close();
    await lock?.release();
  };
  try {
    // One serve per data directory: SQLite serves one machine; several replicas need PostgreSQL.
    if (opened.kind === 'sqlite') lock = await lockDataDir(path.resolve(whereOf(o.storage)));
    // Another replica's block of a client address reaches this one's limiter (set once the app exists).
    memory = await startMemory(storage, o, (address, until) => blocks.to?.(address, until));
  } catch (error) {
    await release();
    throw error;
  }
  const app = await buildServerApp({
    storage,
    memory,
    clock: o.clock,
    logStream: o.log,
    logLevel: o.logLevel,
    trustProxy: o.trustProxy,
    publicUrl: o.publicUrl,
    notify: { allow: o.webhookAllow ?? [], timeoutMs: o.webhookTimeoutMs },
  }).catch(async (error: unknown) => {
    await release();
    throw error;
  });
  blocks.to = (address, until) => app.authLimiter.block(address, until);
  const shared = storage.sharedAuthFailures;
  // Blocks made before this replica started (its memory read them before the limiter existed).
  if (shared) for (const b of await shared.activeBlocks(Date.now()).catch(() => [])) app.authLimiter.block(b.address, b.untilMs);
  const maintain = setInterval(() => {
    void shared?.pruneAuthFailures(Date.now(), 60_000).catch(() => undefined);
    // Usage and notifications are kept by the service's clock (a drill's).
    void storage.maintain(o.clock.now().getTime()).catch(() => undefined);
  }, MAINTAIN_EVERY_MS);
  maintain.unref();
  app.addHook('onClose', async () => clearInterval(maintain));
  try {
    await app.listen({ host: o.host, port: o.port });
  } catch (cause) {
    await app.close();
    await release();
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'EADDRINUSE' ? 'the address is in use' : code === 'EACCES' ? 'permission denied' : code === 'EADDRNOTAVAIL' ? 'no such address here' : code;
    throw new BackendUnavailableError(`cannot listen on ${o.host}:${o.port} (${why}); pick another --host or --port`, { cause });
  }
  const address = app.server.address();
  const port = address && typeof address === 'object' ? address.port : o.port;
  const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
  o.notice(`tokenctl token service listening on ${url} (${o.storage.kind === 'sqlite' ? `data: ${path.resolve(o.storage.dataDir)}` : `database: ${o.storage.location}`}); stop with Ctrl-C or SIGTERM`);
  if (!LOOPBACK.test(o.host)) {
    o.notice(`warning: listening on ${o.host}, beyond this machine: put a TLS-terminating proxy in front, or credentials cross the network in clear`);
    if (o.publicUrl === null) {
      o.notice(
        'warning: no --public-url (TOKENCTL_PUBLIC_URL): API tokens name their account by urn:tokenctl:account:<id>, and the RFC 8414 metadata is built on each request\'s Host (never cached); set it to the https URL resource servers use',
      );
    }
  }
  if (o.publicUrl !== null) o.notice(`public URL: ${o.publicUrl} (each account's issuer is ${o.publicUrl}/accounts/<account id>)`);
  let stopped: Promise<void> | null = null;
  return {
    url,
    stop: () =>
      (stopped ??= (async () => {
        try {
          await shutDown(app, SHUTDOWN_GRACE_MS);
        } finally {
          await release();
        }
      })()),
    stopNow: async () => {
      // An asynchronous write (PostgreSQL) gets at most 2 s.
      const written = Promise.resolve()
        .then(() => app.flushUsage())
        .catch(() => undefined);
      await Promise.race([written, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    },
  };
}
