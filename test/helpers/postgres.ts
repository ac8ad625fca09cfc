import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres, { type Sql } from 'postgres';

/**
 * A real PostgreSQL for tests: Debian's server binaries, a cluster made with initdb in a temporary directory owned
 * by the `postgres` user (PostgreSQL refuses to run as root), listening only on a Unix socket in that directory.
 * Without the binaries (or root to switch users) the tests skip; TOKENCTL_REQUIRE_POSTGRES=1 (CI) makes that a
 * failure.
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

export interface TestCluster {
  /** Socket directory (the host for clients). */
  host: string;
  port: number;
  /** A fresh, empty database; returns its name. */
  createDatabase(): Promise<string>;
  connect(database: string, options?: postgres.Options<Record<string, never>>): Sql;
  stop(): void;
}

const asPostgres = (args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });

let counter = 0;

export async function startCluster(): Promise<TestCluster> {
  if (!bin) throw new Error(postgresMissing);
  const dir = mkdtempSync(path.join(tmpdir(), 'tpg-'));
  const data = path.join(dir, 'data');
  chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()));
  asPostgres([path.join(bin, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = 5432;
  asPostgres([
    path.join(bin, 'pg_ctl'),
    '-D',
    data,
    '-w',
    '-l',
    path.join(dir, 'log'),
    '-o',
    `-k ${dir} -c listen_addresses='' -p ${port} -c fsync=off -c max_connections=200`,
    'start',
  ]);
  const admin = postgres({ host: dir, port, user: 'postgres', database: 'postgres', max: 1, onnotice: () => undefined });
  return {
    host: dir,
    port,
    async createDatabase() {
      const name = `t_${process.pid}_${++counter}`;
      await admin.unsafe(`CREATE DATABASE ${name}`);
      return name;
    },
    connect: (database, options = {}) => postgres({ host: dir, port, user: 'postgres', database, max: 10, onnotice: () => undefined, ...options }),
    stop() {
      void admin.end({ timeout: 1 });
      try {
        asPostgres([path.join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
