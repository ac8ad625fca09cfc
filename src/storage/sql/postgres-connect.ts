import postgres, { type Options, type Sql } from 'postgres';
import { UsageError } from '../../core/errors.js';
import { PostgresStorage, type ListenerConnection } from './postgres-storage.js';

/**
 * Connections to the service's PostgreSQL. Timeouts are short on purpose: a request meets an unreachable database
 * as a 503 with Retry-After within seconds (never a hang until the client gives up), and a statement or a lock wait
 * longer than that is a fault, not a queue. Multi-host URLs with `target_session_attrs=primary` reach whichever host
 * is the primary after a failover: postgres.js tries the hosts in order on every new connection. (Not `read-write`:
 * postgres.js judges that by default_transaction_read_only, which a hot standby reports as off.)
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
  const rest = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  // The user info ends at the last '@' of the authority; a password may hold '/', '?' or '#' unencoded, so the
  // authority is what precedes the first '/' after that '@' (or after the start, without one).
  const at = rest.lastIndexOf('@', (rest.indexOf('/', rest.lastIndexOf('@') + 1) + 1 || rest.length + 1) - 1);
  const afterUser = at >= 0 ? rest.slice(at + 1) : rest;
  const hosts = afterUser.split(/[/?#]/, 1)[0] ?? '';
  const database = afterUser.slice(hosts.length).split(/[?#]/, 1)[0] ?? '';
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

/** The connection pool and the replicas' listener connection, with the same URL and options. */
export function postgresConnections(url: string): { sql: Sql; listener: ListenerConnection } {
  let sql: Sql;
  try {
    sql = postgres(url, OPTIONS);
  } catch {
    // postgres.js parses the URL here and throws on what it cannot read; its message would quote the URL.
    throw new UsageError('TOKENCTL_DATABASE_URL is not a URL postgres.js can read; percent-encode special characters (@ : / ? #) in the user and password');
  }
  const listener: ListenerConnection = (events) =>
    // onnotify is postgres.js's own option (what its sql.listen uses), missing from its types.
    postgres(url, {
      ...OPTIONS,
      max: 1,
      idle_timeout: null,
      max_lifetime: null,
      onnotify: events.onnotify,
      onclose: events.onclose,
    } as unknown as Options<Record<string, never>>);
  return { sql, listener };
}

/**
 * Opens the service's storage on PostgreSQL: connects, migrates under the advisory lock, checks the server key.
 * Faults are named (exit 9 or a 503-class error), and the URL in messages has no password.
 */
export async function openPostgresStorage(url: string, masterKey: Buffer): Promise<PostgresStorage> {
  const { sql, listener } = postgresConnections(url);
  try {
    return await PostgresStorage.open(sql, masterKey, describeDatabaseUrl(url), listener);
  } catch (error) {
    await sql.end({ timeout: 0 }).catch(() => undefined);
    throw error;
  }
}
