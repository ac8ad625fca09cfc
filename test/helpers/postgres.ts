import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres, { type Sql } from 'postgres';

/**
 * A real PostgreSQL for tests: Debian's server binaries, a cluster made with initdb in a temporary directory owned
 * by the `postgres` user (PostgreSQL refuses to run as root), listening on a Unix socket in that directory and,
 * with `{ tcp: true }`, on 127.0.0.1 at a free port (the replica tests give the service TCP URLs, some with two
 * hosts). A cluster can be stopped and started again on the same port, and can have a streaming-replication
 * standby (pg_basebackup -R) that a test promotes. fsync is off: nothing here survives a power cut, by design.
 * Without the binaries (or root to switch users) the tests skip; TOKENCTL_REQUIRE_POSTGRES=1 (CI) makes that a
 * failure. Every cluster is removed by stop(), which tests call in afterAll or finally; the worker's exit hook
 * removes any left behind only as a last resort (vitest may end a worker without running it).
 */
function findBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : null;
}

const bin = findBin();
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasPostgresUser = spawnSync('id', ['-u', 'postgres']).status === 0;

export const postgresAvailable = bin !== null && isRoot && hasPostgresUser;
export const postgresRequired = process.env.TOKENCTL_REQUIRE_POSTGRES === '1';
export const postgresMissing = `PostgreSQL is not available here (needs Debian's postgresql package, root and the postgres user; found bin=${bin ?? 'none'}, root=${isRoot}, postgres user=${hasPostgresUser})`;

export interface ClusterOptions {
  /** Also listen on 127.0.0.1 at a free TCP port (url() needs it). Default: the Unix socket only. */
  tcp?: boolean;
  /** More server settings (`-c name=value`), e.g. log_statement. */
  settings?: Record<string, string>;
}

export interface StandbyOptions {
  /** The port to listen on (a failed primary's, rebuilt as the new primary's standby); a free one by default. */
  port?: number;
  /** More server settings (`-c name=value`), e.g. log_statement. */
  settings?: Record<string, string>;
}

export interface TestCluster {
  /** Socket directory (the host for clients). */
  host: string;
  port: number;
  /** The cluster's data directory. */
  data: string;
  /** A fresh, empty database; returns its name. */
  createDatabase(): Promise<string>;
  connect(database: string, options?: postgres.Options<Record<string, never>>): Sql;
  /** `postgres://postgres@127.0.0.1:<port>/<database>` (a tcp cluster only). */
  url(database: string): string;
  /** `127.0.0.1:<port>`, for multi-host URLs (a tcp cluster only). */
  hostPort: string;
  /** Is the server running (as this helper left it)? */
  readonly running: boolean;
  /** pg_ctl -m fast stop: clients are disconnected, the data stays; start() brings it back on the same port. */
  stopFast(): Promise<void>;
  start(): Promise<void>;
  /** A streaming-replication standby of this cluster (pg_basebackup -R), running on its own port, caught up. */
  standby(options?: StandbyOptions): Promise<StandbyCluster>;
  /** pg_ctl -m immediate stop: the server dies at once, as in a crash (no checkpoint, clients get no answer). */
  crash(): Promise<void>;
  /** Makes commits wait for a standby (synchronous_standby_names = '*'), then reloads. */
  synchronous(): Promise<void>;
  /** true when the server is a standby (pg_is_in_recovery()). */
  inRecovery(): Promise<boolean>;
  /** The server's log so far (to show on failure). */
  log(): string;
  /** Stops the server at once and removes the cluster (idempotent). */
  stop(): void;
}

export interface StandbyCluster extends TestCluster {
  /** pg_ctl promote, waiting until the standby accepts writes. */
  promote(): Promise<void>;
  /** Waits until the standby has replayed everything the primary had written when it was called. */
  caughtUp(timeoutMs?: number): Promise<void>;
}

const run = promisify(execFile);
const asPostgres = (args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
const asPostgresAsync = async (args: string[]) => {
  await run('runuser', ['-u', 'postgres', '--', ...args], { timeout: 60_000 });
};

/** A TCP port that was free on 127.0.0.1 a moment ago (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

let counter = 0;
const live = new Set<TestCluster>();
let exitHook = false;
function removeOnExit(cluster: TestCluster): void {
  live.add(cluster);
  if (exitHook) return;
  exitHook = true;
  // A test that failed before its cleanup ran (or a worker torn down early) still leaves no cluster behind.
  process.once('exit', () => {
    for (const c of live) c.stop();
  });
}

function ownedByPostgres(dir: string): void {
  chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()));
}

interface Paths {
  dir: string;
  data: string;
  logFile: string;
  port: number;
  tcp: boolean;
  settings?: Record<string, string>;
}

/** The cluster object over a data directory that exists (made by initdb or pg_basebackup), started here. */
async function open(p: Paths, extra: { standby: false } | { standby: true; primary: TestCluster }): Promise<TestCluster & Partial<StandbyCluster>> {
  const b = bin!;
  const listen = p.tcp ? '127.0.0.1' : '';
  const options = `-k ${p.dir} -c listen_addresses='${listen}' -p ${p.port} -c fsync=off -c max_connections=200 -c wal_level=replica -c max_wal_senders=10 -c hot_standby=on -c wal_keep_size=256MB${Object.entries(
    p.settings ?? {},
  )
    .map(([k, v]) => ` -c ${k}=${v}`)
    .join('')}`;
  let running = false;
  let removed = false;
  const pgCtl = (...args: string[]) => [path.join(b, 'pg_ctl'), '-D', p.data, ...args];
  const startArgs = () => pgCtl('-w', '-t', '60', '-l', p.logFile, '-o', options, 'start');
  const adminOptions = { host: p.dir, port: p.port, user: 'postgres', database: 'postgres', max: 1, onnotice: () => undefined, connect_timeout: 5 };
  let admin = postgres(adminOptions);
  const requireTcp = () => {
    if (!p.tcp) throw new Error('this cluster listens on a Unix socket only: start it with { tcp: true } for URLs');
  };

  const cluster: TestCluster & Partial<StandbyCluster> = {
    host: p.dir,
    port: p.port,
    data: p.data,
    get hostPort() {
      requireTcp();
      return `127.0.0.1:${p.port}`;
    },
    get running() {
      return running;
    },
    async createDatabase() {
      const name = `t_${process.pid}_${++counter}`;
      await admin.unsafe(`CREATE DATABASE ${name}`);
      return name;
    },
    connect: (database, options = {}) => postgres({ host: p.dir, port: p.port, user: 'postgres', database, max: 10, onnotice: () => undefined, ...options }),
    url(database) {
      requireTcp();
      return `postgres://postgres@127.0.0.1:${p.port}/${database}`;
    },
    async stopFast() {
      await admin.end({ timeout: 1 });
      await asPostgresAsync(pgCtl('-w', '-t', '60', '-m', 'fast', 'stop'));
      running = false;
    },
    async start() {
      await asPostgresAsync(startArgs());
      running = true;
      admin = postgres(adminOptions);
    },
    async crash() {
      void admin.end({ timeout: 0 });
      await asPostgresAsync(pgCtl('-w', '-t', '60', '-m', 'immediate', 'stop'));
      running = false;
    },
    async synchronous() {
      await admin.unsafe(`ALTER SYSTEM SET synchronous_standby_names = '*'`);
      await admin`SELECT pg_reload_conf()`;
    },
    async standby(o: StandbyOptions = {}) {
      requireTcp();
      const dir = mkdtempSync(path.join(tmpdir(), 'tpg-standby-'));
      ownedByPostgres(dir);
      const data = path.join(dir, 'data');
      const port = o.port ?? (await freePort());
      // Over TCP, as a standby on another machine would; -R writes standby.signal and primary_conninfo.
      await asPostgresAsync([path.join(b, 'pg_basebackup'), '-D', data, '-h', '127.0.0.1', '-p', String(p.port), '-U', 'postgres', '-R', '-X', 'stream', '--no-sync', '-c', 'fast']);
      const s = (await open({ dir, data, logFile: path.join(dir, 'log'), port, tcp: true, settings: o.settings }, { standby: true, primary: cluster })) as StandbyCluster;
      await s.caughtUp();
      return s;
    },
    async inRecovery() {
      const [row] = await admin<{ r: boolean }[]>`SELECT pg_is_in_recovery() AS r`;
      return row!.r;
    },
    log: () => (existsSync(p.logFile) ? readFileSync(p.logFile, 'utf8') : ''),
    stop() {
      if (removed) return;
      removed = true;
      live.delete(cluster);
      void admin.end({ timeout: 1 });
      try {
        if (existsSync(path.join(p.data, 'postmaster.pid'))) asPostgres(pgCtl('-m', 'immediate', 'stop'));
      } catch {
        // Already stopping or stopped: removing the directory is what matters.
      } finally {
        running = false;
        rmSync(p.dir, { recursive: true, force: true });
      }
    },
  };

  if (extra.standby) {
    const primary = extra.primary;
    cluster.promote = async () => {
      await asPostgresAsync(pgCtl('-w', '-t', '60', 'promote'));
      const deadline = Date.now() + 30_000;
      while (await cluster.inRecovery()) {
        if (Date.now() > deadline) throw new Error(`the standby did not leave recovery within 30 s:\n${cluster.log()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    cluster.caughtUp = async (timeoutMs = 30_000) => {
      const p0 = primary.connect('postgres', { max: 1 });
      try {
        const [{ lsn }] = (await p0`SELECT pg_current_wal_lsn()::text AS lsn`) as unknown as [{ lsn: string }];
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const [row] = await admin<{ behind: boolean | null }[]>`SELECT pg_last_wal_replay_lsn() < ${lsn}::pg_lsn AS behind`;
          if (row && row.behind === false) return;
          if (Date.now() > deadline) throw new Error(`the standby did not replay up to ${lsn} within ${timeoutMs} ms:\n${cluster.log()}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        await p0.end({ timeout: 1 });
      }
    };
  }

  removeOnExit(cluster);
  try {
    asPostgres(startArgs());
    running = true;
  } catch (error) {
    const log = cluster.log();
    cluster.stop();
    throw new Error(`PostgreSQL did not start (${(error as Error).message}):\n${log}`);
  }
  return cluster;
}

export async function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  if (!bin) throw new Error(postgresMissing);
  const dir = mkdtempSync(path.join(tmpdir(), 'tpg-'));
  const data = path.join(dir, 'data');
  ownedByPostgres(dir);
  try {
    asPostgres([path.join(bin, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  // A socket-only cluster keeps the default port: its socket is in its own directory, so clusters never clash.
  const port = options.tcp ? await freePort() : 5432;
  return open({ dir, data, logFile: path.join(dir, 'log'), port, tcp: options.tcp === true, settings: options.settings }, { standby: false });
}
