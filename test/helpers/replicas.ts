// Replicas of the token service on one PostgreSQL database, for test/replicas/: the built binary's `serve` with
// TOKENCTL_DATABASE_URL and TOKENCTL_SERVER_KEY (the same key for every replica), on 127.0.0.1, port 0. A replica
// is ready once it printed its address and its /readyz answers 200. Its stderr (and stdout, the request log) is
// kept for assertions and shown when a test fails. Everything started here is killed at the end (Deployment.close()
// or stopAll() in the test's own cleanup; the worker's exit hook is a last resort only, since vitest may end a
// worker without running it).
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, onTestFailed } from 'vitest';
import { runBin, startBin, type BinResult } from './bin.js';
import { nginxAvailable, nginxMissing, nginxRequired } from './nginx.js';
import { freePort, postgresAvailable, postgresMissing, postgresRequired, startCluster, type TestCluster } from './postgres.js';

export { freePort };

/**
 * describe() for tests that need a real PostgreSQL (and nginx, with `nginx: true`). Without them the suite is one
 * skipped test, or one failing test when TOKENCTL_REQUIRE_POSTGRES=1 / TOKENCTL_REQUIRE_NGINX=1 says they must run.
 */
export function describeWith(needs: { nginx?: boolean }, name: string, body: () => void): void {
  const missing = [!postgresAvailable && { why: postgresMissing, required: postgresRequired }, needs.nginx && !nginxAvailable && { why: nginxMissing, required: nginxRequired }].filter(
    (m): m is { why: string; required: boolean } => Boolean(m),
  );
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  describe(name, () => {
    const required = missing.some((m) => m.required);
    it.skipIf(!required)(`needs ${missing.map((m) => m.why).join('; ')} (TOKENCTL_REQUIRE_POSTGRES=1 / TOKENCTL_REQUIRE_NGINX=1 make a missing one a failure)`, () => {
      throw new Error(missing.map((m) => m.why).join('\n'));
    });
  });
}

export const newServerKey = (): string => randomBytes(32).toString('base64');

export interface Replica {
  name: string;
  /** http://127.0.0.1:<port> */
  url: string;
  /** 127.0.0.1:<port> (for an upstream block) */
  address: string;
  child: ChildProcess;
  stderr(): string;
  stdout(): string;
  /** Resolves with the exit code (null when killed by a signal) once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (a graceful stop: in-flight requests finish, last-used times are flushed), then waits for the exit. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL: the machine is gone, nothing is flushed. */
  kill9(): Promise<void>;
  /** SIGSTOP / SIGCONT: the process hangs (its connections stay open, nothing is answered), then goes on. */
  pause(): void;
  resume(): void;
}

const started = new Set<Replica>();
let exitHook = false;

/** Shows every replica's stderr when the current test fails (call inside a test). */
export function showOnFailure(...replicas: Replica[]): void {
  onTestFailed(() => {
    for (const r of replicas) console.error(`--- replica ${r.name} (${r.url}) stderr ---\n${r.stderr()}`);
  });
}

export interface ReplicaOptions {
  /** TOKENCTL_DATABASE_URL */
  databaseUrl: string;
  /** TOKENCTL_SERVER_KEY */
  serverKey: string;
  name?: string;
  /** More environment (e.g. TOKENCTL_NOW). */
  env?: Record<string, string>;
  /** More serve arguments (e.g. --trust-proxy 127.0.0.1). */
  args?: string[];
  /** --log-level; silent unless the test reads the request log. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Wait for /readyz to answer 200 (default true). */
  waitReady?: boolean;
  /** A fixed port instead of 0 (a replica restarted on its old address). */
  port?: number;
}

let home: string | undefined;
/** Removes the tokenctl home these tests use (made again when needed): a worker's exit hooks do not always run. */
function removeHome(): void {
  if (home) rmSync(home, { recursive: true, force: true });
  home = undefined;
}
/** The environment every tokenctl process of these tests gets: nothing of the developer's own. */
export function serverEnv(databaseUrl: string, serverKey: string, extra: Record<string, string> = {}): Record<string, string> {
  home ??= mkdtempSync(path.join(tmpdir(), 'tokenctl-replicas-'));
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    TOKENCTL_HOME: home,
    TOKENCTL_KEYCHAIN: 'off',
    NO_COLOR: '1',
    TOKENCTL_DATABASE_URL: databaseUrl,
    TOKENCTL_SERVER_KEY: serverKey,
    ...extra,
  };
}

let replicaCounter = 0;

/** Starts `tokenctl serve` on the database; resolves once it listens (and, by default, once /readyz is 200). */
export async function startReplica(o: ReplicaOptions): Promise<Replica> {
  const name = o.name ?? `r${++replicaCounter}`;
  const env = serverEnv(o.databaseUrl, o.serverKey, o.env);
  const child = startBin(['serve', '--host', '127.0.0.1', '--port', String(o.port ?? 0), '--log-level', o.logLevel ?? 'silent', ...(o.args ?? [])], { env });
  let stderr = '';
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const r of started) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
      if (home) rmSync(home, { recursive: true, force: true });
    });
  }
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`replica ${name} did not print its address within 20 s:\n${stderr}`));
    }, 20_000);
    const onData = () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stderr!.on('data', onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`replica ${name} exited (${code ?? signal}) before listening:\n${stderr}`));
    });
  });
  const replica: Replica = {
    name,
    url,
    address: url.replace('http://', ''),
    child,
    stderr: () => stderr,
    stdout: () => stdout,
    exited,
    async stop(timeoutMs = 20_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        const r = await exited;
        clearTimeout(timer);
        started.delete(replica);
        return r;
      }
      started.delete(replica);
      return exited;
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      started.delete(replica);
    },
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
  };
  started.add(replica);
  if (o.waitReady !== false) await waitReady(replica);
  return replica;
}

/** Polls GET /readyz until 200 {"status":"ready"}. */
export async function waitReady(r: Pick<Replica, 'url' | 'name' | 'stderr'>, timeoutMs = 20_000): Promise<number> {
  const t0 = Date.now();
  let last = '';
  for (;;) {
    try {
      const res = await fetch(`${r.url}/readyz`, { signal: AbortSignal.timeout(2_000) });
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return Date.now() - t0;
    } catch (e) {
      last = String(e);
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`replica ${r.name} (${r.url}) not ready within ${timeoutMs} ms (last: ${last}):\n${r.stderr()}`);
    await sleep(50);
  }
}

/** Kills (SIGKILL) every replica still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...started].map((r) => r.kill9()));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `tokenctl server ...` on the database (init, add-principal, remove-principal, migrate). */
export async function serverCommand(databaseUrl: string, serverKey: string, args: string[], extra: Record<string, string> = {}): Promise<BinResult> {
  return runBin(['server', ...args], { env: serverEnv(databaseUrl, serverKey, extra) });
}

/** One PostgreSQL cluster on TCP and a fresh database with its URL and a server key. */
export interface Deployment {
  cluster: TestCluster;
  database: string;
  url: string;
  key: string;
  /** `server init --account <account>`: the admin credential. */
  initAccount(account: string, extra?: Record<string, string>): Promise<string>;
  /** `server add-principal`: the credential. */
  addPrincipal(account: string, role: 'admin' | 'user' | 'partner' | 'service', name: string): Promise<string>;
  removePrincipal(account: string, name: string): Promise<void>;
  replica(o?: Partial<ReplicaOptions>): Promise<Replica>;
  /** Kills the replicas, stops and removes the cluster. */
  close(): Promise<void>;
}

export async function deployment(o: { cluster?: TestCluster; url?: (database: string) => string } = {}): Promise<Deployment> {
  const cluster = o.cluster ?? (await startCluster({ tcp: true }));
  const database = await cluster.createDatabase();
  const url = (o.url ?? cluster.url)(database);
  const key = newServerKey();
  const checked = async (args: string[], extra?: Record<string, string>) => {
    const r = await serverCommand(url, key, args, extra);
    if (r.code !== 0) throw new Error(`tokenctl server ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
    return r.stdout.trim();
  };
  return {
    cluster,
    database,
    url,
    key,
    initAccount: (account, extra) => checked(['init', '--account', account], extra),
    addPrincipal: (account, role, name) => checked(['add-principal', '--account', account, '--role', role, '--name', name]),
    removePrincipal: async (account, name) => void (await checked(['remove-principal', '--account', account, '--name', name])),
    replica: (r = {}) => startReplica({ databaseUrl: url, serverKey: key, ...r }),
    async close() {
      await stopAll();
      if (!o.cluster) cluster.stop();
      removeHome();
    },
  };
}

export interface Answer<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
  ms: number;
}

/**
 * A small client of the service's HTTP API for one credential. Every request is bounded (default 15 s); `headers`
 * go with every request (X-Forwarded-For: a client address of the test's own, for replicas run with --trust-proxy).
 */
export function api(baseUrl: string, credential: string, o: { timeoutMs?: number; headers?: Record<string, string> } = {}) {
  const timeoutMs = o.timeoutMs ?? 15_000;
  const call = async <T = Record<string, unknown>>(method: string, route: string, body?: unknown, form?: Record<string, string>, headers: Record<string, string> = {}): Promise<Answer<T>> => {
    const t0 = performance.now();
    const res = await fetch(`${baseUrl}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${credential}`,
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...o.headers,
        ...headers,
      },
      body: form ? new URLSearchParams(form).toString() : body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (an nginx error page): kept as text
    }
    return { status: res.status, body: parsed as T, headers: res.headers, ms: performance.now() - t0 };
  };
  return {
    call,
    create: (type: string, name: string) => call<{ token: TokenJson; value: string }>('POST', '/v1/tokens', { type, name }),
    list: () => call<{ tokens: TokenJson[] }>('GET', '/v1/tokens'),
    get: (ref: string) => call<{ token: TokenJson }>('GET', `/v1/tokens/${encodeURIComponent(ref)}`),
    rename: (ref: string, name: string) => call<{ token: TokenJson }>('PATCH', `/v1/tokens/${encodeURIComponent(ref)}`, { name }),
    remove: (ref: string) => call<{ token: TokenJson }>('DELETE', `/v1/tokens/${encodeURIComponent(ref)}`, { confirmation: 'Delete token' }),
    reveal: (ref: string) => call<{ token: TokenJson; value: string }>('POST', `/v1/tokens/${encodeURIComponent(ref)}/reveal`, { allowPending: true }),
    introspect: (token: string) => call<Introspection>('POST', '/v1/introspect', undefined, { token }),
    whoami: () => call('GET', '/v1/whoami'),
    verify: () => call<{ ok: boolean; events?: number; line?: number; reason?: string }>('GET', '/v1/audit/verify'),
    events: () => call<{ events: AuditEventJson[] }>('GET', '/v1/audit/events'),
  };
}
export type Api = ReturnType<typeof api>;

export interface TokenJson {
  id: string;
  name: string;
  type: string;
  status: 'pending' | 'active' | 'draining' | 'revoked';
  createdAt: string;
  activatesAt: string;
  deletedAt: string | null;
  lastUsedAt: string | null;
}
export interface Introspection {
  active: boolean;
  status?: string;
  jti?: string;
}
export interface AuditEventJson {
  seq: number;
  at: string;
  actor: string;
  action: string;
  token: { id: string; name: string; type: string } | null;
  detail: Record<string, string> | null;
}

/** Polls `check` every few ms until it holds; resolves with the time it took, rejects after `timeoutMs`. */
export async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await check()) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** The p-th percentile (0..100) of the samples, nearest-rank. */
export function percentile(samples: readonly number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export interface TcpProxy {
  port: number;
  /** 127.0.0.1:<port> */
  hostPort: string;
  /** Cuts every connection through the proxy at once (both sides see a reset), as a network failure would. */
  cut(): void;
  /** While on, new connections are reset as soon as they arrive (the database is unreachable for this client). */
  refuse(on: boolean): void;
  /**
   * The next `times` connections that send `pattern` (a statement's text, say) are reset at that moment, both sides,
   * instead of forwarding it: a connection lost in the middle of what the client sends then.
   */
  resetOn(pattern: string, times: number): void;
  /** Connections reset by resetOn so far. */
  readonly resets: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

/**
 * A TCP forwarder on 127.0.0.1 to a local port: one replica's way to its database, which a test can cut without
 * touching the database or the other replicas.
 */
export async function tcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let refusing = false;
  let accepted = 0;
  let trap: { pattern: Buffer; left: number } | null = null;
  let resets = 0;
  const server = net.createServer((client) => {
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    accepted++;
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    // What the client sends, forwarded (as pipe() would, with its backpressure), unless a trap is set for it.
    client.on('data', (chunk: Buffer) => {
      if (trap !== null && trap.left > 0 && chunk.includes(trap.pattern)) {
        trap.left--;
        resets++;
        client.resetAndDestroy();
        upstream.resetAndDestroy();
        return;
      }
      if (!upstream.write(chunk)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const cut = () => {
    for (const s of sockets) s.resetAndDestroy();
    sockets.clear();
  };
  return {
    port,
    hostPort: `127.0.0.1:${port}`,
    cut,
    refuse: (on) => void (refusing = on),
    resetOn: (pattern, times) => void (trap = { pattern: Buffer.from(pattern), left: times }),
    get resets() {
      return resets;
    },
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
}
