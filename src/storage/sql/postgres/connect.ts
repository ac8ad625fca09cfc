import type { Options } from 'postgres';
import { UsageError } from '../../../core/errors.js';
import { PrimaryHosts, splitAuthority, type PrimaryDatabase } from './hosts.js';
import { PostgresStorage } from './storage.js';

/**
 * Connections to the service's PostgreSQL. Timeouts are short on purpose: a request meets an unreachable database
 * as a 503 with Retry-After within seconds (never a hang until the client gives up), and a statement or a lock wait
 * longer than that is a fault, not a queue. A multi-host URL reaches whichever host is the primary, before and after
 * a failover (hosts.ts: tokenctl finds it, not postgres.js); `target_session_attrs` is not needed.
 */
const OPTIONS: Options<Record<string, never>> = {
  max: 10,
  connect_timeout: 5,
  idle_timeout: 60,
  // Seconds before a connection that failed is tried again. postgres.js counts one failure per connection that
  // closes, so an outage that closes the whole pool counts ten, and its default (3^n / 100 s, up to 20 s) then kept
  // queries waiting up to 20 s, even after the database was back. At most a second here: a refused connection
  // costs nothing, and a replica should be writing again as soon as its database is.
  backoff: (retries: number) => Math.min(retries, 10) / 10,
  onnotice: () => undefined,
  connection: {
    application_name: 'tokenctl',
    statement_timeout: 8_000,
    lock_timeout: 5_000,
    idle_in_transaction_session_timeout: 10_000,
  } as Record<string, unknown> as Options<Record<string, never>>['connection'],
};

const SCHEMES = /^postgres(ql)?:\/\//i;

/**
 * The URL as messages may show it: scheme, hosts, port and database; never the user's password, nor the query
 * (which may carry sslpassword, say).
 */
export function describeDatabaseUrl(url: string): string {
  const { hosts, rest } = splitAuthority(url);
  const database = rest.split(/[?#]/, 1)[0] ?? '';
  return `postgres://${hosts}${database}`;
}

/** Checks a database URL before anything connects with it; `where` names where it came from for the message. */
export function checkDatabaseUrl(url: string, where: string): string {
  const trimmed = url.trim();
  // Never the value itself: it may carry a password.
  if (!SCHEMES.test(trimmed)) throw new UsageError(`${where} must be a PostgreSQL URL, postgres://user@host:5432/database (its scheme is not postgres:// or postgresql://)`);
  try {
    new URL(trimmed.replace(/@[^/?#]*,[^/?#]*/, '@host')); // several hosts are not a URL's; one stands in for them
  } catch {
    throw new UsageError(`${where} is not a valid URL; percent-encode special characters (@ : / ? #) in the user and password`);
  }
  return trimmed;
}

/** The service's database: the primary among the URL's hosts, each with a pool of these options. */
export function postgresDatabase(url: string): PrimaryDatabase {
  try {
    return new PrimaryHosts(url, OPTIONS);
  } catch {
    // postgres.js's message would quote the URL (and its password).
    throw new UsageError('TOKENCTL_DATABASE_URL is not a URL postgres.js can read; percent-encode special characters (@ : / ? #) in the user and password');
  }
}

/**
 * Opens the service's storage on PostgreSQL: finds the primary, migrates under the advisory lock, checks the server
 * key. Faults are named (exit 9 or a 503-class error), and the URL in messages has no password.
 */
export async function openPostgresStorage(url: string, masterKey: Buffer): Promise<PostgresStorage> {
  const database = postgresDatabase(url);
  try {
    return await PostgresStorage.open(database, masterKey, describeDatabaseUrl(url));
  } catch (error) {
    await database.end().catch(() => undefined);
    throw error;
  }
}
