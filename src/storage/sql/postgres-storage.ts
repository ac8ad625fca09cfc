import { randomUUID } from 'node:crypto';
import type { Sql, TransactionSql } from 'postgres';
import type { AuditEvent } from '../../core/audit.js';
import { chainEntries, eventOf, parseLine, verifyChain, type VerifyResult } from '../../core/audit-chain.js';
import { StorageUnavailableError, StoreDataError, TokenctlError, TokenNotFoundError } from '../../core/errors.js';
import { FEATURES } from '../../core/features.js';
import { nameKey } from '../../core/names.js';
import type { Role } from '../../core/roles.js';
import type { RotationRecord } from '../../core/rotation.js';
import { TOKEN_TYPES, type TokenType } from '../../core/tokens.js';
import { createSealer, keyCheckMatches, type Sealer } from '../../secrets/seal.js';
import type { ChangeContext, NewAccount, StoredAccount, StoredSigningKey, StoredToken, TokenStorage } from '../port.js';
import { FixedDatabase, type PrimaryDatabase } from './postgres-hosts.js';
import { LATEST_POSTGRES_VERSION, POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import {
  featuresColumn,
  toStoredAccount,
  type PrincipalRecord,
  type PublicSigningKey,
  type SqlAccountReader,
  type SqlAccountWriter,
  type WebSessionRecord,
} from './sqlite-storage.js';

/** What a replica keeps in memory of a token to introspect it (replica-index.ts): no name, no value, no sealed secret. */
export interface IndexedToken {
  id: string;
  accountId: string;
  type: TokenType;
  createdAt: string;
  activatesAt: string;
  deletedAt: string | null;
  fingerprint: string;
}

export interface IndexedPrincipal extends PrincipalRecord {
  credentialHash: Buffer;
}

/** Everything a replica keeps in memory, of every account or of one. */
export interface IndexSnapshot {
  tokens: IndexedToken[];
  principals: IndexedPrincipal[];
  signingKeys: PublicSigningKey[];
}

/** What a replica is told by the database's notifications (LISTEN/NOTIFY). */
export interface ChangeListener {
  /** An account's tokens, principals or keys changed (committed). */
  changed(accountId: string): void;
  /** Another replica blocked a client address (failed authentications) until this time (epoch ms). */
  blocked(address: string, untilMs: number): void;
  /** Listening (again): notifications sent while it was not are lost, so everything kept must be read again. */
  connected(): void;
  disconnected(): void;
}

/** What the connection a replica listens on reports: notifications, and its own loss. */
export interface ListenerEvents {
  onnotify(channel: string, payload: string): void;
  onclose(): void;
}

/** The channels replicas listen on. Payloads: an account id; `<until ms> <address>`. */
export const CHANGES_CHANNEL = 'tokenctl_changes';
export const BLOCKS_CHANNEL = 'tokenctl_blocks';

interface TokenRow {
  id: string;
  account_id: string;
  name: string;
  type: TokenType;
  created_at: string;
  activates_at: string;
  deleted_at: string | null;
  last_used_at: string | null;
  masked: string;
  fingerprint: string;
  secret: string | null;
}

interface PrincipalRow {
  id: string;
  account_id: string;
  name: string;
  role: Role;
  credential_hash: Buffer;
  created_at: string;
}

const toStored = (r: TokenRow): StoredToken => ({
  id: r.id,
  name: r.name,
  type: r.type,
  createdAt: r.created_at,
  activatesAt: r.activates_at,
  deletedAt: r.deleted_at,
  lastUsedAt: r.last_used_at,
  masked: r.masked,
  fingerprint: r.fingerprint,
  secret: r.secret,
});

const toPrincipal = (r: PrincipalRow): PrincipalRecord => ({ id: r.id, accountId: r.account_id, name: r.name, role: r.role, createdAt: r.created_at });

/** No storage operation keeps a request waiting longer (statements time out at 8 s, connections at 5 s). */
const OPERATION_DEADLINE_MS = 10_000;

/** How often a replica asks again how a write whose COMMIT lost its connection ended, while nothing answers. */
const OUTCOME_POLL_MS = 100;

/** How long a write's operation id is kept: far longer than it can be asked for (OPERATION_DEADLINE_MS). */
const KEEP_OPERATIONS = '1 hour';

/** The listener's heartbeat: how often, and how long it may take before the connection counts as lost. */
const HEARTBEAT_MS = 1_000;
const HEARTBEAT_TIMEOUT_MS = 1_500;

/** The advisory lock that serialises schema migrations across replicas (an arbitrary, fixed 64-bit key). */
const MIGRATION_LOCK = 7_303_884_211_001;

// ENOENT and EACCES: a Unix socket that is not there (the server is down) or not ours.
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN', 'ENETUNREACH', 'ECONNABORTED', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED']);

/** A lost or refused connection, or a backend that was terminated (the 08 and 57P classes). */
function isConnectionFault(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08') || code.startsWith('57P'));
}

/** A statement refused because its host is a standby (read-only), or a recovery under way. */
function isReadOnlyFault(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '25006' || (code === '55000' && /recovery/i.test(String((error as { message?: unknown }).message)));
}

/** A fault after which the primary may be another host (or none): connections, read-only refusals, silence. */
function mayMeanNewPrimary(error: unknown): boolean {
  return isConnectionFault(error) || isReadOnlyFault(error) || error instanceof DeadlineError;
}

/** The operation's deadline passed (the database did not answer in time). */
class DeadlineError extends StorageUnavailableError {}

/**
 * A database fault, named: the service answers 503 (never 500), nothing was changed (PostgreSQL rolled the
 * transaction back). Anything else, a constraint the rules should have prevented, stays a bug. No server address or
 * path in the message: clients read it.
 */
export function namedPostgresFault(error: unknown): unknown {
  if (error instanceof TokenctlError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return error;
  const fault = (message: string, retryAfterSeconds: number) => new StorageUnavailableError(message, { cause: error, retryAfterSeconds });
  if (isConnectionFault(error)) return fault('the database cannot be reached; nothing was changed, retry shortly', 2);
  if (code === '40001' || code === '40P01' || code === '55P03' || code === '57014' || code === '25P03') return fault('the database is busy; nothing was changed, retry', 1);
  if (isReadOnlyFault(error)) return fault('the database has no primary to write to now (only a standby answers: a failover under way?); nothing was changed, retry shortly', 2);
  // Refused at connection: what the operator must fix in TOKENCTL_DATABASE_URL or the database (no URL in the message).
  if (code === '3D000') return fault('the database named in TOKENCTL_DATABASE_URL does not exist (yet, on this host); create it (createdb), or fix the URL', 5);
  if (code === '28P01' || code === '28000') return fault('PostgreSQL refused the user or password of TOKENCTL_DATABASE_URL; fix them, or the server\'s pg_hba.conf', 5);
  if (code === '42501') return fault('the database user may not do this (insufficient privilege); the service\'s user must own its database', 5);
  if (code === '53100') return fault('the disk holding the database is full; nothing was changed. Its operator must free some space', 30);
  if (code.startsWith('53')) return fault(`the database is out of resources (${code}); nothing was changed, retry`, 5);
  return error;
}

/**
 * The token service's storage on PostgreSQL, for any number of replicas sharing one database: the same port as the
 * JSON file and SQLite, proven by the same contract suite. A write locks its account's row (SELECT ... FOR UPDATE),
 * which serialises an account's changes across every replica; the audit chain is appended in that transaction.
 * Every statement goes to the primary (postgres-hosts.ts), never to a standby.
 */
export class PostgresStorage implements TokenStorage<SqlAccountWriter, SqlAccountReader> {
  readonly location: string;

  private constructor(
    private readonly db: PrimaryDatabase,
    private readonly sealerValue: Sealer,
    location: string,
  ) {
    this.location = location;
  }

  /** The sealer of the server key (synchronous: the hot path fingerprints with it). */
  get serverSealer(): Sealer {
    return this.sealerValue;
  }

  /**
   * Finds the primary, applies the migrations the database lacks (under an advisory lock: one replica migrates, the
   * others wait and find nothing to do), and checks `masterKey` is the key the database was created with (exit 9 if
   * not). `database` is the URL's hosts (postgres-connect.ts), or one pool used as it is (tests), with a way to make
   * the replicas' listening connection.
   */
  static async open(database: PrimaryDatabase | Sql, masterKey: Buffer, location = 'PostgreSQL', single?: ConstructorParameters<typeof FixedDatabase>[1]): Promise<PostgresStorage> {
    const db = typeof database === 'function' ? new FixedDatabase(database, single) : database;
    try {
      const sql = await db.primary();
      await migrate(sql);
      const sealer = createSealer(masterKey);
      await sql`INSERT INTO meta (key, value) VALUES ('key_check', ${sealer.keyCheck}) ON CONFLICT (key) DO NOTHING`;
      const [row] = await sql<{ value: string }[]>`SELECT value FROM meta WHERE key = 'key_check'`;
      if (!row || !keyCheckMatches(sealer, row.value)) {
        throw new StoreDataError('TOKENCTL_SERVER_KEY is not the key this database was sealed with; start every replica with the same key');
      }
      return new PostgresStorage(db, sealer, location);
    } catch (error) {
      throw namedPostgresFault(error);
    }
  }

  async close(): Promise<void> {
    await this.db.end();
  }

  async sealer(): Promise<Sealer> {
    return this.sealerValue;
  }

  /**
   * Runs a storage operation on the primary, with its faults named, within OPERATION_DEADLINE_MS whatever the client
   * does: past it the caller gets a 503 (the database's own timeouts, shorter, normally answer first). A write may
   * then still commit, which the message says. A fault that may mean the primary changed has it found again.
   */
  private async run<T>(fn: (sql: Sql) => Promise<T>, started = performance.now()): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DeadlineError(`the database did not answer within ${OPERATION_DEADLINE_MS / 1000} s; a change may or may not have been made: check before retrying`, {
              retryAfterSeconds: 2,
            }),
          ),
        Math.max(0, started + OPERATION_DEADLINE_MS - performance.now()),
      );
      timer.unref();
    });
    try {
      const operation = this.db.primary().then(fn);
      operation.catch(() => undefined); // failing after the deadline answered, it must not be an unhandled rejection
      return await Promise.race([operation, deadline]);
    } catch (error) {
      if (mayMeanNewPrimary(error)) this.db.suspect();
      throw namedPostgresFault(error);
    } finally {
      clearTimeout(timer);
    }
  }

  read<T>(accountId: string, fn: (tx: SqlAccountReader) => Promise<T> | T): Promise<T> {
    return this.run(async (sql) => fn(this.accountTx(sql, accountId, null)));
  }

  write<T>(accountId: string, change: ChangeContext, fn: (tx: SqlAccountWriter) => Promise<T> | T): Promise<T> {
    return this.transaction(async (tx, operation) => {
      const [found] = await tx`WITH op AS (INSERT INTO write_operations (id) VALUES (${operation}))
                               SELECT 1 AS one FROM accounts WHERE id = ${accountId} FOR UPDATE`;
      if (!found) throw new TokenNotFoundError(`no account with id ${accountId}`);
      const result = await fn(this.accountTx(tx, accountId, change));
      await this.beforeCommit(tx, accountId);
      return result;
    });
  }

  /**
   * The last statement of every write: its notification (delivered to every replica when, and only if, the
   * transaction commits), and no statement timeout for the COMMIT that follows. A COMMIT waiting for a synchronous
   * standby must not be cancelled: PostgreSQL would then keep it committed on the primary alone and report success,
   * and a failover would lose an acknowledged write. The operation's deadline answers the client meanwhile.
   */
  private async beforeCommit(tx: TransactionSql, accountId: string): Promise<void> {
    await tx`SELECT pg_notify(${CHANGES_CHANNEL}, ${accountId}), set_config('statement_timeout', '0', true)`;
  }

  /**
   * A write transaction whose outcome is never guessed. Each write records a random operation id in its first
   * statement (write_operations), so the write itself says whether it happened. When the connection is lost after
   * everything but the COMMIT was done, the COMMIT may or may not have taken effect: the id is then looked for on the
   * primary that answers now (the same host, or a standby promoted meanwhile), and the write answers as it ended,
   * committed or not. Only when no primary can say within the operation's deadline is the answer "may or may not have
   * been made". (Not the transaction id: after a failover, the new primary reuses ids the old one had committed.)
   */
  private transaction<T>(body: (tx: TransactionSql, operation: string) => Promise<T>): Promise<T> {
    const began = performance.now();
    const operation = randomUUID();
    let bodyDone = false;
    let result: T | undefined;
    return this.run(async (sql) => {
      try {
        return (await sql.begin(async (tx) => {
          result = await body(tx, operation);
          bodyDone = true;
          return result;
        })) as T;
      } catch (error) {
        if (!bodyDone || !isConnectionFault(error)) throw error;
        this.db.suspect(); // the primary may be another host now
        const outcome = await this.outcome(operation, began + OPERATION_DEADLINE_MS - 500);
        if (outcome === 'committed') return result as T;
        if (outcome === 'not committed') throw error; // nothing was changed, as the fault says
        throw new StorageUnavailableError(
          'the connection to the database was lost while a change was being committed, and the database did not say in time whether it was made: check before retrying',
          { cause: error, retryAfterSeconds: 2 },
        );
      }
    }, began);
  }

  /**
   * How the write with this operation id ended, on the primary that answers (asked until `until`, performance.now()).
   * Inserting the same id again waits for a transaction still holding it (a COMMIT in progress on that host), then
   * finds it committed (a conflict: nothing inserted) or not (inserted); the probe is always rolled back.
   */
  private async outcome(operation: string, until: number): Promise<'committed' | 'not committed' | 'unknown'> {
    const rollback = Symbol('rollback');
    while (performance.now() < until) {
      try {
        const sql = await this.db.primary();
        let inserted = false;
        await sql
          .begin(async (tx) => {
            inserted = (await tx`INSERT INTO write_operations (id) VALUES (${operation}) ON CONFLICT (id) DO NOTHING RETURNING id`).length === 1;
            throw rollback;
          })
          .catch((e: unknown) => {
            if (e !== rollback) throw e;
          });
        return inserted ? 'not committed' : 'committed';
      } catch (error) {
        if (mayMeanNewPrimary(error)) this.db.suspect();
        // Not decided yet (no primary, or the lock still held past lock_timeout): ask again.
      }
      await new Promise((resolve) => setTimeout(resolve, OUTCOME_POLL_MS));
    }
    return 'unknown';
  }

  createAccount<T>(input: NewAccount, change: ChangeContext, fn: (tx: SqlAccountWriter, sealer: Sealer) => Promise<T> | T): Promise<T> {
    const { account } = input;
    const conflict = () =>
      new TokenctlError('conflict', `an account named '${account.name}' already exists on this service; pick another --account, or add a principal to it with: tokenctl server add-principal`);
    return this.transaction(async (tx, operation) => {
      const [first] = await tx<{ taken: boolean }[]>`
        WITH op AS (INSERT INTO write_operations (id) VALUES (${operation}))
        SELECT EXISTS (SELECT 1 FROM accounts WHERE name_key = ${nameKey(account.name)}) AS taken`;
      if (first!.taken) throw conflict();
      await tx`INSERT INTO accounts (id, name, name_key, created_at, features)
               VALUES (${account.id}, ${account.name}, ${nameKey(account.name)}, ${account.createdAt}, ${featuresColumn(account)})`;
      const key = input.signingKey(this.sealerValue);
      await tx`INSERT INTO signing_keys (kid, account_id, public_jwk, private_key, created_at)
               VALUES (${key.kid}, ${account.id}, ${JSON.stringify(key.publicJwk)}, ${key.privateKey}, ${key.createdAt})`;
      const result = await fn(this.accountTx(tx, account.id, change), this.sealerValue);
      await this.beforeCommit(tx, account.id);
      return result;
    }).catch((error: unknown) => {
      // Two replicas creating the same account at once: the second one's insert meets the unique name.
      if ((error as { code?: string }).code === '23505' && (error as { constraint_name?: string }).constraint_name === 'accounts_name_key_key') throw conflict();
      throw error;
    });
  }

  private accountTx(sql: Sql | TransactionSql, accountId: string, change: ChangeContext | null): SqlAccountWriter {
    const writable = () => {
      if (!change) throw new Error('a read transaction cannot write');
      return change;
    };
    return {
      accountId,
      account: async () => {
        const [row] = await sql<{ id: string; name: string; created_at: string; features: string }[]>`SELECT id, name, created_at, features FROM accounts WHERE id = ${accountId}`;
        if (!row) throw new TokenNotFoundError(`no account with id ${accountId}`);
        return toStoredAccount(row);
      },
      tokens: async () => (await sql<TokenRow[]>`SELECT * FROM tokens WHERE account_id = ${accountId} ORDER BY created_at, seq`).map(toStored),
      rotations: async () => (await sql<{ body: string }[]>`SELECT body FROM rotations WHERE account_id = ${accountId} ORDER BY seq`).map((r) => JSON.parse(r.body) as RotationRecord),
      signingKey: async () => {
        const [row] = await sql<{ kid: string; public_jwk: string; private_key: string; created_at: string }[]>`
          SELECT kid, public_jwk, private_key, created_at FROM signing_keys WHERE account_id = ${accountId} ORDER BY created_at DESC LIMIT 1`;
        if (!row) throw new StoreDataError(`account ${accountId} has no signing key; restore the database from a backup`);
        return { kid: row.kid, publicJwk: JSON.parse(row.public_jwk) as StoredSigningKey['publicJwk'], privateKey: row.private_key, createdAt: row.created_at };
      },
      insertToken: async (t) => {
        writable();
        await sql`INSERT INTO tokens (id, account_id, name, name_key, type, created_at, activates_at, deleted_at, last_used_at, masked, fingerprint, secret)
                  VALUES (${t.id}, ${accountId}, ${t.name}, ${nameKey(t.name)}, ${t.type}, ${t.createdAt}, ${t.activatesAt}, ${t.deletedAt}, ${t.lastUsedAt}, ${t.masked}, ${t.fingerprint}, ${t.secret})`;
      },
      updateToken: async (t) => {
        writable();
        const r = await sql`UPDATE tokens SET name = ${t.name}, name_key = ${nameKey(t.name)}, deleted_at = ${t.deletedAt}, secret = ${t.secret} WHERE id = ${t.id} AND account_id = ${accountId}`;
        if (r.count !== 1) throw new StoreDataError(`token ${t.id} is not in this account's rows`);
      },
      insertRotation: async (r) => {
        writable();
        await sql`INSERT INTO rotations (id, account_id, body) VALUES (${r.id}, ${accountId}, ${JSON.stringify(r)})`;
      },
      updateRotation: async (r) => {
        writable();
        await sql`UPDATE rotations SET body = ${JSON.stringify(r)} WHERE id = ${r.id} AND account_id = ${accountId}`;
      },
      audit: async (entries) => {
        const ctx = writable();
        if (entries.length === 0) return;
        // The account row is locked by this transaction (write), so the head cannot move under it.
        const [head] = await sql<{ seq: number; mac: string }[]>`SELECT seq, mac FROM audit_heads WHERE account_id = ${accountId}`;
        const chained = chainEntries(head ?? null, entries, ctx, (t) => this.sealerValue.mac(t));
        for (const line of chained.lines) await sql`INSERT INTO audit_events (account_id, seq, line) VALUES (${accountId}, ${line.seq}, ${JSON.stringify(line)})`;
        const next = chained.head!;
        await sql`INSERT INTO audit_heads (account_id, seq, mac) VALUES (${accountId}, ${next.seq}, ${next.mac})
                  ON CONFLICT (account_id) DO UPDATE SET seq = excluded.seq, mac = excluded.mac`;
      },
      principals: async () => (await sql<PrincipalRow[]>`SELECT * FROM principals WHERE account_id = ${accountId} ORDER BY created_at, id`).map(toPrincipal),
      insertPrincipal: async (p, credentialHash) => {
        writable();
        const [taken] = await sql`SELECT 1 FROM principals WHERE account_id = ${accountId} AND name_key = ${nameKey(p.name)}`;
        if (taken) throw new TokenctlError('usage', `a principal named '${p.name}' already exists in this account; choose another --name`);
        await sql`INSERT INTO principals (id, account_id, name, name_key, role, credential_hash, created_at)
                  VALUES (${p.id}, ${accountId}, ${p.name}, ${nameKey(p.name)}, ${p.role}, ${credentialHash}, ${p.createdAt})`;
      },
      setFeatures: async (features) => {
        writable();
        await sql`UPDATE accounts SET features = ${JSON.stringify(FEATURES.filter((f) => features.includes(f)))} WHERE id = ${accountId}`;
      },
      deletePrincipal: async (id) => {
        writable();
        await sql`DELETE FROM principals WHERE id = ${id} AND account_id = ${accountId}`;
      },
    };
  }

  private async auditLines(sql: Sql, accountId: string): Promise<string[]> {
    return (await sql<{ line: string }[]>`SELECT line FROM audit_events WHERE account_id = ${accountId} ORDER BY seq`).map((r) => r.line);
  }

  auditEvents(accountId: string): Promise<AuditEvent[]> {
    return this.run(async (sql) =>
      (await this.auditLines(sql, accountId)).map((text, i) => {
        const line = parseLine(text);
        if (!line) throw new StoreDataError(`audit event ${i + 1} of this account is unreadable; check the trail with: tokenctl log --verify`);
        return eventOf(line);
      }),
    );
  }

  verifyAudit(accountId: string): Promise<VerifyResult> {
    return this.run(async (sql) => {
      // One snapshot: lines and head as of the same moment, whatever another replica appends meanwhile.
      const { lines, head } = await sql.begin('isolation level repeatable read read only', async (tx) => ({
        lines: (await tx<{ line: string }[]>`SELECT line FROM audit_events WHERE account_id = ${accountId} ORDER BY seq`).map((r) => r.line),
        head: (await tx<{ seq: number; mac: string }[]>`SELECT seq, mac FROM audit_heads WHERE account_id = ${accountId}`)[0] ?? null,
      }));
      return verifyChain(lines, (t) => this.sealerValue.mac(t), head);
    });
  }

  // ---- what only the service needs --------------------------------------------------------------------------

  accountByName(name: string): Promise<StoredAccount | null> {
    return this.run(async (sql) => {
      const [row] = await sql<{ id: string; name: string; created_at: string; features: string }[]>`
        SELECT id, name, created_at, features FROM accounts WHERE name_key = ${nameKey(name.trim().normalize('NFC'))}`;
      return row ? toStoredAccount(row) : null;
    });
  }

  /** Writes a batch of last-used times in one statement; a time never moves backwards, whichever replica wrote last. */
  recordLastUsed(batch: ReadonlyMap<string, string>): Promise<void> {
    if (batch.size === 0) return Promise.resolve();
    const ids = [...batch.keys()];
    const times = [...batch.values()];
    return this.run(async (sql) => {
      await sql`UPDATE tokens SET last_used_at = b.at FROM unnest(${ids}::text[], ${times}::text[]) AS b(id, at)
                     WHERE tokens.id = b.id AND (tokens.last_used_at IS NULL OR tokens.last_used_at < b.at)`;
    });
  }

  // ---- what replicas keep in memory, and how they hear of changes (issue 10) ----------------------------------

  /**
   * Every token a replica must know to introspect (live ones, and deleted ones until an hour after they stopped
   * draining: older ones answer exactly as an unknown value does), every principal and every public signing key;
   * or those of one account. One snapshot (repeatable read), so the three agree.
   */
  indexSnapshot(accountId: string | null, revokedBefore: string): Promise<IndexSnapshot> {
    const read = async (q: Sql | TransactionSql): Promise<IndexSnapshot> => {
      const where = accountId === null ? q`` : q`AND account_id = ${accountId}`;
      // Three statements at once (an account's: on three pooled connections, one round trip of latency).
      const [tokens, principals, keys] = await Promise.all([
        q<{ id: string; account_id: string; type: TokenType; created_at: string; activates_at: string; deleted_at: string | null; fingerprint: string }[]>`
          SELECT id, account_id, type, created_at, activates_at, deleted_at, fingerprint FROM tokens
          WHERE (deleted_at IS NULL OR deleted_at >= ${revokedBefore}) ${where}`,
        q<PrincipalRow[]>`SELECT * FROM principals WHERE true ${where}`,
        q<{ kid: string; account_id: string; public_jwk: string }[]>`SELECT kid, account_id, public_jwk FROM signing_keys WHERE true ${where} ORDER BY created_at, kid`,
      ]);
      // One string per account id and per type, shared by every token that has it (memory per token kept).
      const ids = new Map<string, string>();
      const intern = (id: string) => ids.get(id) ?? (ids.set(id, id), id);
      return {
        tokens: tokens.map((r) => ({
          id: r.id,
          accountId: intern(r.account_id),
          type: TOKEN_TYPES.find((t) => t === r.type) ?? r.type,
          createdAt: r.created_at,
          activatesAt: r.activates_at === r.created_at ? r.created_at : r.activates_at,
          deletedAt: r.deleted_at,
          fingerprint: r.fingerprint,
        })),
        principals: principals.map((r) => ({ ...toPrincipal(r), accountId: intern(r.account_id), credentialHash: r.credential_hash })),
        signingKeys: keys.map((r) => ({
          kid: r.kid,
          accountId: intern(r.account_id),
          publicJwk: { ...(JSON.parse(r.public_jwk) as StoredSigningKey['publicJwk']), kid: r.kid, alg: 'EdDSA' as const, use: 'sig' as const },
        })),
      };
    };
    // An account's rows need no common snapshot (any later change is notified and read again); everything, at
    // start or after a lost connection, is read in one (repeatable read), so it is one moment of every account.
    return this.run((sql) => (accountId === null ? (sql.begin('isolation level repeatable read read only', (tx) => read(tx)) as Promise<IndexSnapshot>) : read(sql)));
  }

  /**
   * Listens for changes on a connection of its own (on the primary), and listens again after that connection is lost
   * (every second until the database answers: postgres.js re-subscribes once, and gives up if the database is still
   * away), telling `connected` each time so the caller reads everything again. A heartbeat every second tells whether
   * it still answers (a connection that died without a word closes only when TCP keep-alive gives up, minutes later):
   * readiness (ready()) is decided from it, never by asking the database while a health check waits.
   */
  listen(listener: ChangeListener): { close(): Promise<void> } {
    let listening = false;
    let closed = false;
    let attempting = false;
    let beating = false;
    let lastAnswer = -Infinity;
    let sql: Sql | null = null;
    const lost = (connection: Sql) => {
      if (closed || sql !== connection) return;
      listening = false;
      sql = null;
      void connection.end({ timeout: 0 }).catch(() => undefined);
      this.db.suspect(); // the primary may have changed (or be gone)
      listener.disconnected();
      void attempt();
    };
    const events: ListenerEvents = {
      onnotify: (channel, payload) => {
        if (channel === CHANGES_CHANNEL) listener.changed(payload);
        else if (channel === BLOCKS_CHANNEL) {
          const space = payload.indexOf(' ');
          const until = Number(payload.slice(0, space));
          if (space > 0 && Number.isFinite(until)) listener.blocked(payload.slice(space + 1), until);
        }
      },
      onclose: () => {
        if (listening && sql) lost(sql);
      },
    };
    const attempt = async () => {
      if (closed || listening || attempting) return;
      attempting = true;
      let connection: Sql | null = null;
      try {
        // Bounded like every storage operation: an attempt that never settles must not stop the next ones.
        await this.run(async () => {
          // Named, so that an operator (and the tests) can tell it from the pool's sessions in pg_stat_activity.
          connection = await this.db.single({
            max: 1,
            idle_timeout: null,
            max_lifetime: null,
            onnotify: events.onnotify,
            onclose: events.onclose,
            connection: { application_name: 'tokenctl listener' },
          } as never);
          await connection`LISTEN tokenctl_changes`;
          await connection`LISTEN tokenctl_blocks`;
        });
        if (closed) return void (await connection!.end({ timeout: 0 }).catch(() => undefined));
        sql = connection;
        lastAnswer = performance.now();
        listening = true;
        listener.connected();
      } catch {
        // The database is away: the next attempt is in a second. A connection that failed is made anew.
        void (connection as Sql | null)?.end({ timeout: 0 }).catch(() => undefined);
      } finally {
        attempting = false;
      }
    };
    const heartbeat = async () => {
      if (!listening || beating || closed || !sql) return;
      beating = true;
      const connection = sql;
      let timer: NodeJS.Timeout | undefined;
      try {
        const beat = connection`SELECT 1`;
        beat.catch(() => undefined); // failing after the timeout, it must not be an unhandled rejection
        await Promise.race([beat, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no answer')), HEARTBEAT_TIMEOUT_MS)))]);
        if (sql === connection) lastAnswer = performance.now();
      } catch {
        lost(connection);
      } finally {
        clearTimeout(timer);
        beating = false;
      }
    };
    const timer = setInterval(() => {
      void heartbeat();
      void attempt();
    }, HEARTBEAT_MS);
    timer.unref();
    void attempt();
    this.listening = () => listening && performance.now() - lastAnswer < HEARTBEAT_MS + HEARTBEAT_TIMEOUT_MS + 500;
    return {
      close: async () => {
        closed = true;
        clearInterval(timer);
        this.listening = null;
        await sql?.end({ timeout: 1 }).catch(() => undefined);
      },
    };
  }

  /** Whether the listening connection answers its heartbeat (null: nothing listens). */
  private listening: (() => boolean) | null = null;

  /**
   * Whether this replica can serve now (GET /readyz), from what it already knows, at once: a primary is known and
   * nothing failed since, and the listening connection (if any) answered its heartbeat within the last 3 s.
   */
  async ready(): Promise<boolean> {
    return this.db.healthy && (this.listening?.() ?? true);
  }

  /**
   * Counts a failed authentication from `address` for every replica: returns until when it is blocked (epoch ms; 0
   * if not), the replica that blocks it telling the others (BLOCKS_CHANNEL).
   */
  recordAuthFailure(address: string, nowMs: number, o: { maxFailures: number; windowMs: number; blockMs: number }): Promise<{ untilMs: number; failures: number }> {
    return this.run(async (sql) => {
      const [row] = await sql<{ failures: number; blocked_until: string }[]>`
        INSERT INTO auth_failures AS f (address, window_start, failures, blocked_until) VALUES (${address}, ${nowMs}, 1, ${o.maxFailures <= 1 ? nowMs + o.blockMs : 0})
        ON CONFLICT (address) DO UPDATE SET
          window_start = CASE WHEN ${nowMs} - f.window_start > ${o.windowMs} THEN ${nowMs} ELSE f.window_start END,
          failures = CASE WHEN ${nowMs} - f.window_start > ${o.windowMs} THEN 1 ELSE f.failures + 1 END,
          blocked_until = CASE WHEN (CASE WHEN ${nowMs} - f.window_start > ${o.windowMs} THEN 1 ELSE f.failures + 1 END) >= ${o.maxFailures}
                               THEN GREATEST(f.blocked_until, ${nowMs + o.blockMs}) ELSE f.blocked_until END
        RETURNING failures, blocked_until`;
      const until = Number(row?.blocked_until ?? 0);
      if (row && row.failures === o.maxFailures) await sql`SELECT pg_notify(${BLOCKS_CHANNEL}, ${`${until} ${address}`})`;
      return { untilMs: until > nowMs ? until : 0, failures: row?.failures ?? 0 };
    });
  }

  /** Addresses blocked now (a replica that starts, or listens again, learns the blocks it missed). */
  activeBlocks(nowMs: number): Promise<{ address: string; untilMs: number }[]> {
    return this.run(async (sql) =>
      (await sql<{ address: string; blocked_until: string }[]>`SELECT address, blocked_until FROM auth_failures WHERE blocked_until > ${nowMs}`).map((r) => ({
        address: r.address,
        untilMs: Number(r.blocked_until),
      })),
    );
  }

  /** Forgets failure counts whose window and block have both ended. */
  pruneAuthFailures(nowMs: number, windowMs: number): Promise<void> {
    return this.run(async (sql) => {
      await sql`DELETE FROM auth_failures WHERE blocked_until < ${nowMs} AND window_start < ${nowMs - windowMs}`;
    });
  }

  /** Forgets operation ids older than any write can still be asked about (see transaction()). */
  forgetOperations(): Promise<void> {
    return this.run(async (sql) => {
      await sql`DELETE FROM write_operations WHERE at < now() - ${KEEP_OPERATIONS}::interval`;
    });
  }

  // ---- the Tokens page's sign-in sessions, shared by every replica ---------------------------------------------

  createWebSession(s: WebSessionRecord): Promise<void> {
    return this.run(async (sql) => {
      await sql`INSERT INTO web_sessions (id_hash, principal_id, account_id, created_at, last_seen_at)
                     VALUES (${s.idHash}, ${s.principalId}, ${s.accountId}, ${s.createdAt}, ${s.lastSeenAt})`;
    });
  }

  webSession(idHash: Buffer): Promise<(WebSessionRecord & { principal: PrincipalRecord }) | null> {
    return this.run(async (sql) => {
      const [row] = await sql<(PrincipalRow & { s_created_at: string; last_seen_at: string })[]>`
        SELECT p.*, s.created_at AS s_created_at, s.last_seen_at FROM web_sessions s JOIN principals p ON p.id = s.principal_id WHERE s.id_hash = ${idHash}`;
      if (!row) return null;
      return { idHash, principalId: row.id, accountId: row.account_id, createdAt: row.s_created_at, lastSeenAt: row.last_seen_at, principal: toPrincipal(row) };
    });
  }

  touchWebSession(idHash: Buffer, lastSeenAt: string): Promise<void> {
    return this.run(async (sql) => {
      await sql`UPDATE web_sessions SET last_seen_at = ${lastSeenAt} WHERE id_hash = ${idHash} AND last_seen_at < ${lastSeenAt}`;
    });
  }

  deleteWebSession(idHash: Buffer): Promise<void> {
    return this.run(async (sql) => {
      await sql`DELETE FROM web_sessions WHERE id_hash = ${idHash}`;
    });
  }

  deleteExpiredWebSessions(idleBefore: string, startedBefore: string): Promise<number> {
    return this.run(async (sql) => (await sql`DELETE FROM web_sessions WHERE last_seen_at < ${idleBefore} OR created_at < ${startedBefore}`).count);
  }
}

/** The schema version of the database (0: none yet), and the one this tokenctl brings it to. */
export async function schemaVersions(sql: Sql): Promise<{ current: number; latest: number }> {
  try {
    const [hasMeta] = await sql`SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'meta'`;
    const current = hasMeta ? Number((await sql<{ value: string }[]>`SELECT value FROM meta WHERE key = 'schema_version'`)[0]?.value ?? 0) : 0;
    return { current, latest: LATEST_POSTGRES_VERSION };
  } catch (error) {
    throw namedPostgresFault(error);
  }
}

/** Applies the migrations the database lacks (`tokenctl server migrate`; every replica does it at start too). */
export async function migratePostgres(sql: Sql): Promise<void> {
  try {
    await migrate(sql);
  } catch (error) {
    throw namedPostgresFault(error);
  }
}

/** Applies the migrations the database lacks, under an advisory lock; refuses a schema newer than this tokenctl's. */
async function migrate(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    // Not under the request-sized timeouts: an index on a large table, or replicas waiting for the one migrating.
    await tx`SET LOCAL statement_timeout = 0`;
    await tx`SET LOCAL lock_timeout = 0`;
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    const [hasMeta] = await tx`SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'meta'`;
    const current = hasMeta ? Number((await tx<{ value: string }[]>`SELECT value FROM meta WHERE key = 'schema_version'`)[0]?.value ?? 0) : 0;
    if (!Number.isInteger(current) || current > LATEST_POSTGRES_VERSION) {
      throw new StoreDataError(`the database has schema version ${current}; this tokenctl knows versions up to ${LATEST_POSTGRES_VERSION}: upgrade tokenctl on every replica`);
    }
    for (const m of POSTGRES_MIGRATIONS.filter((x) => x.version > current)) {
      await tx.unsafe(m.sql);
      await tx`INSERT INTO meta (key, value) VALUES ('schema_version', ${String(m.version)}) ON CONFLICT (key) DO UPDATE SET value = excluded.value`;
    }
  });
}
