import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { BackendUnavailableError } from '../core/errors.js';
import type { PostgresStorage } from '../storage/sql/postgres-storage.js';
import { buildServerApp } from './app.js';
import type { ReplicaIndex } from './replica-index.js';
import { lockDataDir, type ServeLock } from './serve-lock.js';
import { openServiceStorage, whereOf, type StorageChoice } from './service-storage.js';
import { ServiceStore } from './service-store.js';

export interface ServiceOptions {
  storage: StorageChoice;
  host: string;
  port: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  trustProxy: string[];
  clock: Clock;
  env: Record<string, string | undefined>;
  /** Structured request logs (JSON lines). */
  log(line: string): void;
  /** Human messages (where it listens, shutdown). */
  notice(line: string): void;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/;

/**
 * Request log lines, written in batches: a write to stdout is a system call, and one per request cost about a sixth
 * of the service's time under load (bench/introspect.mjs). A line waits at most `maxDelayMs`, or less when the batch
 * reaches `maxBytes`; flush() writes the rest, at shutdown and when the process exits.
 */
export function batchLines(write: (text: string) => void, opts: { maxDelayMs: number; maxBytes: number }): { write(line: string): void; flush(): void } {
  let pending: string[] = [];
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    bytes = 0;
    write(text);
  };
  return {
    write(line) {
      pending.push(line);
      bytes += line.length;
      if (bytes >= opts.maxBytes) flush();
      else if (timer === undefined) {
        timer = setTimeout(flush, opts.maxDelayMs);
        timer.unref();
      }
    },
    flush,
  };
}

/** How long a shutdown waits for requests in flight (a slow client would otherwise hold it for a minute). */
export const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Closes the service: no new connections, idle ones closed, requests in flight answered; those still open after
 * `graceMs` (a client trickling its request, say) are cut off. Then last-used times are written (onClose).
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

/** How often a replica forgets failed-authentication counts and write operation ids that no longer matter. */
const PRUNE_MS = 60_000;

/**
 * A replica on PostgreSQL: what it keeps in memory (replica-index.ts), kept current by the database's notifications,
 * with the lost-connection and recovery told on stderr once each.
 */
async function replicaStore(
  storage: PostgresStorage,
  o: ServiceOptions,
  blocked: (address: string, until: number) => void,
): Promise<{ store: ServiceStore; index: ReplicaIndex }> {
  const { ReplicaIndex } = await import('./replica-index.js');
  let degraded = false;
  const index = new ReplicaIndex(storage, storage.serverSealer, o.clock, {
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
  });
  await index.start();
  const store = new ServiceStore(storage, o.clock, { lookups: index, afterWrite: (accountId) => index.refreshAccount(accountId) });
  return { store, index };
}

/** `tokenctl serve`: runs until SIGTERM or SIGINT, then finishes in-flight requests and flushes last-used times. */
export async function runService(o: ServiceOptions): Promise<void> {
  const opened = await openServiceStorage(o.storage, o.env, { create: false });
  let lock: ServeLock | null = null;
  let store: ServiceStore;
  let index: ReplicaIndex | null = null;
  const blocks: { to: ((address: string, until: number) => void) | null } = { to: null };
  if (opened.kind === 'sqlite') {
    try {
      // One serve per data directory: SQLite serves one machine; several replicas need PostgreSQL.
      lock = await lockDataDir(path.resolve(whereOf(o.storage)));
    } catch (error) {
      opened.storage.close();
      throw error;
    }
    store = new ServiceStore(opened.storage, o.clock);
  } else {
    try {
      // Another replica's block of a client address reaches this one's limiter (set once the app exists).
      const replica = await replicaStore(opened.storage, o, (address, until) => blocks.to?.(address, until));
      store = replica.store;
      index = replica.index;
    } catch (error) {
      await opened.storage.close();
      throw error;
    }
  }
  const pg = opened.kind === 'postgres' ? opened.storage : null;
  const logs = batchLines(o.log, { maxDelayMs: 100, maxBytes: 16 * 1024 });
  // Lines still waiting when the process ends for another reason than a signal (a crash, say) are written too.
  process.on('exit', logs.flush);
  try {
    const app = await buildServerApp({
      store,
      clock: o.clock,
      logStream: logs,
      logLevel: o.logLevel,
      trustProxy: o.trustProxy,
      sharedAuthFailures: pg ?? undefined,
    });
    blocks.to = (address, until) => app.authLimiter.block(address, until);
    // Blocks made before this replica started (its index read them before the limiter existed).
    if (pg) for (const b of await pg.activeBlocks(Date.now()).catch(() => [])) app.authLimiter.block(b.address, b.untilMs);
    const prune = pg
      ? setInterval(() => {
          void pg.pruneAuthFailures(Date.now(), 60_000).catch(() => undefined);
          void pg.forgetOperations().catch(() => undefined);
        }, PRUNE_MS)
      : null;
    prune?.unref();
    app.addHook('onClose', async () => {
      if (prune) clearInterval(prune);
    });
    try {
      await app.listen({ host: o.host, port: o.port });
    } catch (cause) {
      await app.close();
      const code = (cause as NodeJS.ErrnoException).code ?? 'error';
      const why = code === 'EADDRINUSE' ? 'the address is in use' : code === 'EACCES' ? 'permission denied' : code === 'EADDRNOTAVAIL' ? 'no such address here' : code;
      throw new BackendUnavailableError(`cannot listen on ${o.host}:${o.port} (${why}); pick another --host or --port`, { cause });
    }
    const address = app.server.address();
    const port = address && typeof address === 'object' ? address.port : o.port;
    const host = o.host.includes(':') ? `[${o.host}]` : o.host;
    o.notice(`tokenctl token service listening on http://${host}:${port} (${o.storage.kind === 'sqlite' ? `data: ${path.resolve(o.storage.dataDir)}` : `database: ${o.storage.location}`}); stop with Ctrl-C or SIGTERM`);
    if (!LOOPBACK.test(o.host)) {
      o.notice(`warning: listening on ${o.host}, beyond this machine: put a TLS-terminating proxy in front, or credentials cross the network in clear`);
    }
    const signal = await new Promise<string>((resolve) => {
      // The CLI treats Ctrl-C as "cancel a prompt"; for a server it means "shut down cleanly".
      process.removeAllListeners('SIGINT');
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    logs.flush();
    // A second signal: stop now, with the last-used times and log lines written, in-flight requests cut off.
    const stopNow = (second: NodeJS.Signals) => {
      o.notice(`${second} again: stopping now, without waiting for in-flight requests`);
      const exit = () => {
        logs.flush();
        process.exit(second === 'SIGINT' ? 130 : 143);
      };
      try {
        // An asynchronous write (PostgreSQL) gets at most 2 s.
        const written = app.flushLastUsed();
        if (written) void Promise.race([written, new Promise((resolve) => setTimeout(resolve, 2_000))]).finally(exit);
        else exit();
      } catch {
        exit();
      }
    };
    process.once('SIGINT', stopNow);
    process.once('SIGTERM', stopNow);
    o.notice(`${signal}: finishing in-flight requests (at most ${SHUTDOWN_GRACE_MS / 1000} s) and writing last-used times...`);
    await shutDown(app, SHUTDOWN_GRACE_MS);
    process.off('SIGINT', stopNow);
    process.off('SIGTERM', stopNow);
    o.notice('stopped');
  } finally {
    logs.flush();
    process.off('exit', logs.flush);
    await index?.close();
    await store.close();
    await lock?.release();
  }
}
