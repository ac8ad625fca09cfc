import postgres, { type Options, type Sql } from 'postgres';
import { StorageUnavailableError } from '../../../core/errors.js';

/**
 * Where a replica's statements go: the pool of the host that is the primary now. Every statement of the service needs
 * the primary (writes, and reads that must see them), so no statement is ever sent to a standby.
 *
 * postgres.js's own multi-host support (`target_session_attrs`) is not used: with the primary down and a standby up it
 * tries the hosts in turn for ever (its connect timeout restarts at each host, so queries never complete), and replicas
 * relying on it were seen holding sessions on a hot standby (issue 17). Here each host has a pool of its own that
 * accepts only a primary's session (postgres.js's check on one host fails the query instead of moving on), and which
 * host is the primary is found by asking every host `pg_is_in_recovery()` on a short-lived connection: at the first
 * statement, and again after any fault that may mean the primary changed (a lost or refused connection, a read-only
 * refusal, a statement that did not answer). A replica thus moves to a promoted standby, and back to a primary that
 * returns, by itself; while no host is a primary, statements fail at once with a 503-class error.
 */
export interface PrimaryDatabase {
  /** The pool of the primary; rejects with a named fault (503-class) when no host is a reachable primary. */
  primary(): Promise<Sql>;
  /** Something failed in a way that may mean the primary changed: find it again before the next statement. */
  suspect(): void;
  /** Whether a primary is known and nothing has failed since (GET /readyz answers from this, never waiting). */
  readonly healthy: boolean;
  /** A connection of its own on the primary (LISTEN), with these extra options. */
  single(extra: Options<Record<string, never>>): Promise<Sql>;
  end(): Promise<void>;
}

/** One host of a URL; `host` null: none named (postgres.js's defaults, PGHOST or localhost). */
export interface HostAddress {
  host: string | null;
  port: number | null;
}

/**
 * The hosts a PostgreSQL URL names, in order: `postgres://user:pw@db1:5432,db2:5433/db`. IPv6 addresses in brackets.
 * The user info ends at the last '@' before the path (a password may hold '@' unencoded).
 */
export function hostsOf(url: string): HostAddress[] {
  const list = decodeURIComponent(splitAuthority(url).hosts);
  if (list === '') return [{ host: null, port: null }];
  return list.split(',').map((part) => {
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(part);
    if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : null };
    const colon = part.lastIndexOf(':');
    return colon > 0 && /^\d+$/.test(part.slice(colon + 1)) ? { host: part.slice(0, colon), port: Number(part.slice(colon + 1)) } : { host: part, port: null };
  });
}

/**
 * The host list of a URL as written (`db1:5432,db2:5432`), and what follows it (`/db?...`): the user info ends at the
 * last '@' of the authority, and a password may hold '/', '?' or '#' unencoded, so the authority is what precedes the
 * first '/' after that '@' (or after the start, without one).
 */
export function splitAuthority(url: string): { hosts: string; rest: string } {
  const rest = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const at = rest.lastIndexOf('@', (rest.indexOf('/', rest.lastIndexOf('@') + 1) + 1 || rest.length + 1) - 1);
  const afterUser = at >= 0 ? rest.slice(at + 1) : rest;
  const hosts = afterUser.split(/[/?#]/, 1)[0] ?? '';
  return { hosts, rest: afterUser.slice(hosts.length) };
}

/** The URL without `target_session_attrs` (which host is used is decided here; postgres.js would read it again). */
function withoutSessionAttrs(url: string): string {
  return url.replace(/([?&])target_session_attrs=[^&#]*&?/i, '$1').replace(/[?&]$/, '');
}

/** How long a host has to say whether it is the primary. */
const PROBE_CONNECT_S = 2;
const PROBE_ANSWER_MS = 3_000;
/** A failed search is reused this long: a burst of requests in an outage asks the hosts once, not once each. */
const FAILED_SEARCH_REUSED_MS = 250;

type Probe = { role: 'primary' | 'standby' } | { role: 'down'; error: unknown };

/** The primary among a URL's hosts (one host or several), as described above. */
export class PrimaryHosts implements PrimaryDatabase {
  private readonly url: string;
  private readonly hosts: HostAddress[];
  private readonly pools = new Map<number, Sql>();
  private current: number | null = null;
  private suspected = true;
  private searching: Promise<number> | null = null;
  private lastFailure: { at: number; error: unknown } | null = null;
  private ended = false;

  constructor(
    url: string,
    private readonly options: Options<Record<string, never>>,
  ) {
    this.url = withoutSessionAttrs(url);
    this.hosts = hostsOf(url);
    // postgres.js parses the URL when a pool is made (nothing connects yet), and throws on what it cannot read.
    void postgres(this.url, { ...options, max: 1 });
  }

  get healthy(): boolean {
    return this.current !== null && !this.suspected;
  }

  async primary(): Promise<Sql> {
    const index = this.current !== null && !this.suspected ? this.current : await this.search();
    return this.pool(index);
  }

  suspect(): void {
    this.suspected = true;
    // Found again now, not at the next statement: readiness (healthy) recovers without traffic.
    void this.search().catch(() => undefined);
  }

  async single(extra: Options<Record<string, never>>): Promise<Sql> {
    const index = this.current !== null && !this.suspected ? this.current : await this.search();
    return postgres(this.url, {
      ...this.options,
      ...this.addressOf(index),
      ...extra,
      connection: { ...(this.options.connection ?? {}), ...(extra.connection ?? {}) },
      target_session_attrs: 'primary',
    } as Options<Record<string, never>>);
  }

  async end(): Promise<void> {
    this.ended = true;
    await Promise.all([...this.pools.values()].map((p) => p.end({ timeout: 5 }).catch(() => undefined)));
    this.pools.clear();
  }

  private addressOf(index: number): Options<Record<string, never>> {
    const h = this.hosts[index]!;
    if (h.host === null) return {};
    const port = h.port ?? 5432;
    // Arrays: postgres.js splits a string host on ':' (an IPv6 address) and ','.
    if (h.host.startsWith('/')) return { path: `${h.host}/.s.PGSQL.${port}` };
    // postgres.js reads arrays of hosts and ports as they are (a string it splits on ',' and ':', which would cut an
    // IPv6 address); its type declarations know only the string.
    const address: Options<Record<string, never>> = {};
    Reflect.set(address, 'host', [h.host]);
    Reflect.set(address, 'port', [port]);
    return address;
  }

  private pool(index: number): Sql {
    let pool = this.pools.get(index);
    if (!pool) {
      // A session on a standby is refused by postgres.js itself (one host: the query fails, nothing is sent).
      pool = postgres(this.url, { ...this.options, ...this.addressOf(index), target_session_attrs: 'primary' } as Options<Record<string, never>>);
      this.pools.set(index, pool);
    }
    return pool;
  }

  /** Asks every host at once; the first (in the URL's order) that is a primary becomes the current one. */
  private search(): Promise<number> {
    if (this.searching) return this.searching;
    if (this.ended) return Promise.reject(new StorageUnavailableError('the service is stopping', { retryAfterSeconds: 1 }));
    const last = this.lastFailure;
    if (last && performance.now() - last.at < FAILED_SEARCH_REUSED_MS) return Promise.reject(last.error);
    const run = (async () => {
      const probes = await Promise.all(this.hosts.map((_, i) => this.probe(i)));
      const found = probes.findIndex((p) => p.role === 'primary');
      if (found >= 0) {
        const before = this.current;
        this.current = found;
        this.suspected = false;
        this.lastFailure = null;
        if (before !== null && before !== found) {
          // The old primary's pool: its sessions are on a host that is no longer the primary (or gone).
          const old = this.pools.get(before);
          this.pools.delete(before);
          void old?.end({ timeout: 5 }).catch(() => undefined);
        }
        return found;
      }
      this.current = null;
      const down = probes.find((p): p is { role: 'down'; error: unknown } => p.role === 'down');
      const error = probes.some((p) => p.role === 'standby')
        ? // Only standbys answer: a failover under way (or the primary down), never a place to write.
          Object.assign(new Error('no host of the database URL is a primary now (only a standby answers)'), { code: '25006' })
        : down!.error;
      this.lastFailure = { at: performance.now(), error };
      throw error;
    })();
    this.searching = run;
    void run.finally(() => (this.searching = null)).catch(() => undefined);
    return run;
  }

  private async probe(index: number): Promise<Probe> {
    const sql = postgres(this.url, {
      ...this.options,
      ...this.addressOf(index),
      max: 1,
      connect_timeout: PROBE_CONNECT_S,
      idle_timeout: 1,
      fetch_types: false,
      prepare: false,
      target_session_attrs: undefined,
      connection: { ...(this.options.connection ?? {}), application_name: 'tokenctl probe' },
    } as Options<Record<string, never>>);
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = sql<{ r: boolean }[]>`SELECT pg_is_in_recovery() AS r`;
      answer.catch(() => undefined); // settled after the timeout, it must not be an unhandled rejection
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('no answer'), { code: 'CONNECT_TIMEOUT' })), PROBE_ANSWER_MS);
      });
      const [row] = await Promise.race([answer, timeout]);
      return { role: row?.r ? 'standby' : 'primary' };
    } catch (error) {
      return { role: 'down', error };
    } finally {
      clearTimeout(timer);
      void sql.end({ timeout: 0 }).catch(() => undefined);
    }
  }
}

/** One pool used as it is (tests, and callers that made their own): no search; a fault is the pool's own to recover. */
export class FixedDatabase implements PrimaryDatabase {
  readonly healthy = true;

  constructor(
    private readonly sql: Sql,
    private readonly makeSingle?: (extra: Options<Record<string, never>>) => Sql,
  ) {}

  async primary(): Promise<Sql> {
    return this.sql;
  }

  suspect(): void {}

  async single(extra: Options<Record<string, never>>): Promise<Sql> {
    if (!this.makeSingle) throw new Error('this database was opened without a way to make a connection of its own');
    return this.makeSingle(extra);
  }

  async end(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}
