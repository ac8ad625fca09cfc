import { UsageError } from '../core/errors.js';
import { parseMasterKey } from '../secrets/master-key.js';
import type { PostgresStorage } from '../storage/sql/postgres/storage.js';
import type { SqliteStorage } from '../storage/sql/sqlite/storage.js';
import { openDataDir, type DataDirOptions } from './data-dir.js';

type Env = Record<string, string | undefined>;

/** Where the service keeps its data: SQLite in a data directory (one machine), or PostgreSQL (several replicas). */
export type StorageChoice = { kind: 'sqlite'; dataDir: string } | { kind: 'postgres'; url: string; location: string };

/**
 * `--data <dir>`, or `--database <url>` / TOKENCTL_DATABASE_URL. An explicit flag wins over the environment; both
 * flags at once is a mistake. A password in `--database` is refused: the process list would show it to every user
 * of the machine (TOKENCTL_DATABASE_URL, PGPASSWORD or a secret mount keep it out of sight).
 */
export async function chooseStorage(opts: { data?: string; database?: string }, env: Env): Promise<StorageChoice> {
  if (opts.data !== undefined && opts.database !== undefined) throw new UsageError('--data (SQLite) and --database (PostgreSQL) name two different stores; pass one');
  if (opts.data !== undefined) return { kind: 'sqlite', dataDir: opts.data };
  const { checkDatabaseUrl, describeDatabaseUrl } = await import('../storage/sql/postgres/connect.js');
  if (opts.database !== undefined) {
    const url = checkDatabaseUrl(opts.database, '--database');
    if (/^[^/]*\/\/[^/@]*:[^/@]*@/.test(url)) {
      throw new UsageError('--database has a password in it, which every user of this machine can read in the process list; set TOKENCTL_DATABASE_URL instead, or the password in PGPASSWORD');
    }
    return { kind: 'postgres', url, location: describeDatabaseUrl(url) };
  }
  const fromEnv = env.TOKENCTL_DATABASE_URL;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    const url = checkDatabaseUrl(fromEnv, 'TOKENCTL_DATABASE_URL');
    return { kind: 'postgres', url, location: describeDatabaseUrl(url) };
  }
  throw new UsageError('say where the service keeps its data: --data <dir> (SQLite, one machine) or TOKENCTL_DATABASE_URL=postgres://... (PostgreSQL, several replicas)');
}

/**
 * The server key of a PostgreSQL store: TOKENCTL_SERVER_KEY, the same on every replica (a key file on one machine
 * cannot serve several). Without it nothing is opened.
 */
export function postgresServerKey(env: Env): Buffer {
  const text = env.TOKENCTL_SERVER_KEY;
  if (text === undefined || text.trim() === '') {
    throw new UsageError(
      'TOKENCTL_SERVER_KEY is not set: with PostgreSQL every replica needs the same server key; generate one once with: openssl rand -base64 32 (and back it up: the database is useless without it)',
    );
  }
  return parseMasterKey(text, 'TOKENCTL_SERVER_KEY');
}

export type OpenedStorage = { kind: 'sqlite'; storage: SqliteStorage } | { kind: 'postgres'; storage: PostgresStorage };

/** Opens the chosen store (migrating it); the driver each needs is loaded only here. */
export async function openServiceStorage(choice: StorageChoice, env: Env, options: DataDirOptions): Promise<OpenedStorage> {
  if (choice.kind === 'sqlite') return { kind: 'sqlite', storage: await openDataDir(choice.dataDir, env, options) };
  const key = postgresServerKey(env);
  const { openPostgresStorage } = await import('../storage/sql/postgres/connect.js');
  return { kind: 'postgres', storage: await openPostgresStorage(choice.url, key) };
}

/** Where the data is, for messages: the directory, or the database URL without its password. */
export function whereOf(choice: StorageChoice): string {
  return choice.kind === 'sqlite' ? choice.dataDir : choice.location;
}
