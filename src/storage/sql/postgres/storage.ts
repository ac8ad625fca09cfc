import { randomUUID } from 'node:crypto';
import type { Sql, TransactionSql } from 'postgres';
import type { AuditEvent } from '../../../core/audit.js';
import { chainEntries, eventOf, parseLine, verifyChain, type VerifyResult } from '../../../core/audit-chain.js';
import { StoreDataError, TokenNotFoundError } from '../../../core/errors.js';
import { nameKey } from '../../../core/names.js';
import type { RotationRecord } from '../../../core/rotation.js';
import { USAGE } from '../../../core/usage.js';
import { usageCutoffs, type UsageRecords } from '../../../core/usage-records.js';
import { TOKEN_TYPES } from '../../../core/tokens.js';
import { createSealer, keyCheckMatches, type Sealer } from '../../../secrets/seal.js';
import type { ChangeContext, NewAccount, StoredAccount } from '../../port.js';
import type {
  AttemptOutcome,
  ChangeListener,
  ChangeSubscription,
  ClaimedDelivery,
  DrainingUseBuilder,
  DueNotice,
  IndexSnapshot,
  NoticeBuilder,
  OutboxEntry,
  PrincipalRecord,
  ServiceAccountReader,
  ServiceAccountWriter,
  ServiceStorage,
  SharedAuthFailures,
  TokenUsageDelta,
  WebhookAttemptRecord,
  WebhookDeliveryStats,
  WebhookEndpointRecord,
  WebSessionRecord,
} from '../../service-port.js';
import {
  accountTaken,
  deliveryStats,
  featuresColumn,
  gatherUsage,
  KEEP_ATTEMPTS_MS,
  KEEP_ATTEMPTS_PER_ENDPOINT,
  KEEP_FINISHED_MESSAGES_MS,
  NOTICE_MARKS,
  toWebhookAttempt,
  toWebhookEndpoint,
  noSigningKey,
  principalTaken,
  setFeaturesColumn,
  storageClosed,
  toPrincipal,
  toPublicSigningKey,
  toStoredAccount,
  toStoredSigningKey,
  toStoredToken,
  tokenNotInAccount,
  unreadableAuditEvent,
  type AccountRow,
  type PrincipalRow,
  type SigningKeyRow,
  type SigningKeySecretRow,
  type TokenRow,
  type UsageCallerRow,
  type WebhookAttemptRow,
  type WebhookEndpointRow,
} from '../rows.js';
import { DeadlineError, mayMeanNewPrimary, namedPostgresFault } from './faults.js';
import { FixedDatabase, type PrimaryDatabase } from './hosts.js';
import { BLOCKS_CHANNEL, CHANGES_CHANNEL, listenForChanges } from './listener.js';
import { migrate } from './migrations.js';
import { writeTransaction } from './writes.js';

/** No storage operation keeps a request waiting longer (statements time out at 8 s, connections at 5 s). */
const OPERATION_DEADLINE_MS = 10_000;


/** How long a write's operation id is kept: far longer than it can be asked for (OPERATION_DEADLINE_MS). */
const KEEP_OPERATIONS = '1 hour';

/**
 * The token service's storage on PostgreSQL, for any number of replicas sharing one database: the same port as the
 * JSON file and SQLite, proven by the same contract suite. A write locks its account's row (SELECT ... FOR UPDATE),
 * which serialises an account's changes across every replica; the audit chain is appended in that transaction.
 * Every statement goes to the primary (hosts.ts), never to a standby.
 */
export class PostgresStorage implements ServiceStorage, SharedAuthFailures {
  /** Failed authentications are counted for every replica, in the database (this storage is its own counter). */
  get sharedAuthFailures(): SharedAuthFailures {
    return this;
  }

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
   * not). `database` is the URL's hosts (connect.ts), or one pool used as it is (tests), with a way to make
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

  /** Ends every subscription (listen) and then the pool; idempotent. Afterwards every operation answers a 503. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.subscriptions.keys()].map((s) => s.close()));
      await this.db.end();
    })();
    return this.closing;
  }

  private closing: Promise<void> | null = null;

  /** The open subscriptions of listen(), each with whether its connection answers its heartbeat. */
  private readonly subscriptions = new Map<ChangeSubscription, () => boolean>();

  async sealer(): Promise<Sealer> {
    return this.sealerValue;
  }

  /**
   * Runs a storage operation on the primary, with its faults named, within OPERATION_DEADLINE_MS whatever the client
   * does: past it the caller gets a 503 (the database's own timeouts, shorter, normally answer first). A write may
   * then still commit, which the message says. A fault that may mean the primary changed has it found again.
   */
  private async run<T>(fn: (sql: Sql) => Promise<T>, started = performance.now()): Promise<T> {
    if (this.closing) throw storageClosed();
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

  read<T>(accountId: string, fn: (tx: ServiceAccountReader) => Promise<T> | T): Promise<T> {
    return this.run(async (sql) => fn(this.accountTx(sql, accountId, null)));
  }

  write<T>(accountId: string, change: ChangeContext, fn: (tx: ServiceAccountWriter) => Promise<T> | T): Promise<T> {
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

  /** A write transaction whose outcome is never guessed (writes.ts). */
  private transaction<T>(body: (tx: TransactionSql, operation: string) => Promise<T>): Promise<T> {
    const began = performance.now();
    return this.run((sql) => writeTransaction(this.db, sql, body, began + OPERATION_DEADLINE_MS - 500), began);
  }

  createAccount<T>(input: NewAccount, change: ChangeContext, fn: (tx: ServiceAccountWriter, sealer: Sealer) => Promise<T> | T): Promise<T> {
    const { account } = input;
    const conflict = () =>
      accountTaken(account.name);
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

  private accountTx(sql: Sql | TransactionSql, accountId: string, change: ChangeContext | null): ServiceAccountWriter {
    const writable = () => {
      if (!change) throw new Error('a read transaction cannot write');
      return change;
    };
    return {
      accountId,
      account: async () => {
        const [row] = await sql<AccountRow[]>`SELECT id, name, created_at, features FROM accounts WHERE id = ${accountId}`;
        if (!row) throw new TokenNotFoundError(`no account with id ${accountId}`);
        return toStoredAccount(row);
      },
      tokens: async () => (await sql<TokenRow[]>`SELECT * FROM tokens WHERE account_id = ${accountId} ORDER BY created_at, seq`).map(toStoredToken),
      rotations: async () => (await sql<{ body: string }[]>`SELECT body FROM rotations WHERE account_id = ${accountId} ORDER BY seq`).map((r) => JSON.parse(r.body) as RotationRecord),
      signingKey: async () => {
        const [row] = await sql<SigningKeySecretRow[]>`
          SELECT kid, public_jwk, private_key, created_at FROM signing_keys WHERE account_id = ${accountId} ORDER BY created_at DESC LIMIT 1`;
        if (!row) throw noSigningKey(accountId);
        return toStoredSigningKey(row);
      },
      signingKeys: async () =>
        (await sql<SigningKeySecretRow[]>`
          SELECT kid, public_jwk, private_key, created_at FROM signing_keys WHERE account_id = ${accountId} ORDER BY created_at, kid`).map(toStoredSigningKey),
      insertSigningKey: async (key) => {
        writable();
        await sql`INSERT INTO signing_keys (kid, account_id, public_jwk, private_key, created_at)
                  VALUES (${key.kid}, ${accountId}, ${JSON.stringify(key.publicJwk)}, ${key.privateKey}, ${key.createdAt})`;
      },
      insertToken: async (t) => {
        writable();
        await sql`INSERT INTO tokens (id, account_id, name, name_key, type, created_at, activates_at, deleted_at, last_used_at, masked, fingerprint, secret)
                  VALUES (${t.id}, ${accountId}, ${t.name}, ${nameKey(t.name)}, ${t.type}, ${t.createdAt}, ${t.activatesAt}, ${t.deletedAt}, ${t.lastUsedAt}, ${t.masked}, ${t.fingerprint}, ${t.secret})`;
      },
      updateToken: async (t) => {
        writable();
        const r = await sql`UPDATE tokens SET name = ${t.name}, name_key = ${nameKey(t.name)}, deleted_at = ${t.deletedAt}, secret = ${t.secret} WHERE id = ${t.id} AND account_id = ${accountId}`;
        if (r.count !== 1) throw tokenNotInAccount(t.id);
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
      principals: async () => (await sql<PrincipalRow[]>`SELECT * FROM principals WHERE account_id = ${accountId} ORDER BY created_at, name COLLATE "C"`).map(toPrincipal),
      insertPrincipal: async (p, credentialHash) => {
        writable();
        const [taken] = await sql`SELECT 1 FROM principals WHERE account_id = ${accountId} AND name_key = ${nameKey(p.name)}`;
        if (taken) throw principalTaken(p.name);
        await sql`INSERT INTO principals (id, account_id, name, name_key, role, credential_hash, created_at)
                  VALUES (${p.id}, ${accountId}, ${p.name}, ${nameKey(p.name)}, ${p.role}, ${credentialHash}, ${p.createdAt})`;
      },
      setFeatures: async (features) => {
        writable();
        await sql`UPDATE accounts SET features = ${setFeaturesColumn(features)} WHERE id = ${accountId}`;
      },
      deletePrincipal: async (id) => {
        writable();
        await sql`DELETE FROM principals WHERE id = ${id} AND account_id = ${accountId}`;
      },
      webhookEndpoints: () => endpointsOf(sql, accountId),
      insertWebhookEndpoint: async (e) => {
        writable();
        await sql`INSERT INTO webhook_endpoints (id, account_id, url, events, description, secret, created_at, created_by)
                  VALUES (${e.id}, ${accountId}, ${e.url}, ${JSON.stringify(e.events)}, ${e.description}, ${e.secret}, ${e.createdAt}, ${e.createdBy})`;
      },
      deleteWebhookEndpoint: async (id) => {
        writable();
        return (await sql`DELETE FROM webhook_endpoints WHERE id = ${id} AND account_id = ${accountId}`).count === 1;
      },
      enqueueNotifications: async (entries) => {
        writable();
        await insertOutbox(sql, entries);
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
        if (!line) throw unreadableAuditEvent(i + 1);
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
      const [row] = await sql<AccountRow[]>`
        SELECT id, name, created_at, features FROM accounts WHERE name_key = ${nameKey(name.trim().normalize('NFC'))}`;
      return row ? toStoredAccount(row) : null;
    });
  }

  /**
   * Writes a batch of usage in one transaction: last-used times (never backwards, whichever replica wrote last), calls
   * per hour, day and caller added to what every replica wrote, and the notification of a caller first seen presenting
   * a deleted token while it drains. Its outcome is never guessed (writes.ts): a batch is counted once.
   */
  recordUsage(batch: readonly TokenUsageDelta[], onDrainingUse: DrainingUseBuilder | null): Promise<void> {
    if (batch.length === 0) return Promise.resolve();
    // Rows are written in one order (by key), whichever replica writes: two batches never wait on each other in a cycle.
    const byKey = <T>(key: (x: T) => string) => (a: T, b: T) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
    const used = batch.filter((t) => t.lastUsedAt !== null).sort(byKey((t) => t.tokenId));
    const hours = batch.flatMap((t) => t.hours.map((h) => ({ token: t.tokenId, hour: h.hour, calls: h.calls }))).sort(byKey((h) => `${h.token} ${h.hour}`));
    const days = new Map<string, { token: string; day: string; calls: number }>();
    for (const h of hours) {
      const key = `${h.token} ${h.hour.slice(0, 10)}`;
      const d = days.get(key);
      if (d) d.calls += h.calls;
      else days.set(key, { token: h.token, day: h.hour.slice(0, 10), calls: h.calls });
    }
    const callers = batch.flatMap((t) => t.callers.map((c) => ({ ...c, token: t.tokenId }))).sort(byKey((c) => `${c.token} ${c.kind} ${c.principalId} ${c.address}`));
    const col = <T, V>(rows: readonly T[], f: (r: T) => V) => rows.map(f);
    return this.transaction(async (tx, operation) => {
      await tx`INSERT INTO write_operations (id) VALUES (${operation})`;
      if (used.length > 0) {
        await tx`UPDATE tokens SET last_used_at = b.at FROM unnest(${col(used, (t) => t.tokenId)}::text[], ${col(used, (t) => t.lastUsedAt!)}::text[]) AS b(id, at)
                 WHERE tokens.id = b.id AND (tokens.last_used_at IS NULL OR tokens.last_used_at < b.at)`;
      }
      if (hours.length > 0) {
        await tx`INSERT INTO usage_hours (token_id, hour, calls)
                 SELECT * FROM unnest(${col(hours, (h) => h.token)}::text[], ${col(hours, (h) => h.hour)}::text[], ${col(hours, (h) => h.calls)}::bigint[]) ORDER BY 1, 2
                 ON CONFLICT (token_id, hour) DO UPDATE SET calls = usage_hours.calls + excluded.calls`;
        const d = [...days.values()].sort(byKey((x) => `${x.token} ${x.day}`));
        await tx`INSERT INTO usage_days (token_id, day, calls)
                 SELECT * FROM unnest(${col(d, (x) => x.token)}::text[], ${col(d, (x) => x.day)}::text[], ${col(d, (x) => x.calls)}::bigint[]) ORDER BY 1, 2
                 ON CONFLICT (token_id, day) DO UPDATE SET calls = usage_days.calls + excluded.calls`;
      }
      if (callers.length === 0) return;
      const after = await tx<{ token_id: string; kind: string; principal_id: string; address: string; draining_calls: string }[]>`
        INSERT INTO usage_callers AS u (token_id, kind, principal_id, address, principal_name, first_at, last_at, calls, draining_calls, draining_last_at)
        SELECT token_id, kind, principal_id, address, principal_name, first_at, last_at, calls, draining_calls, NULLIF(draining_last_at, '')
        FROM unnest(${col(callers, (c) => c.token)}::text[], ${col(callers, (c) => c.kind)}::text[], ${col(callers, (c) => c.principalId)}::text[],
                    ${col(callers, (c) => c.address)}::text[], ${col(callers, (c) => c.principalName)}::text[], ${col(callers, (c) => c.firstAt)}::text[],
                    ${col(callers, (c) => c.lastAt)}::text[], ${col(callers, (c) => c.calls)}::bigint[], ${col(callers, (c) => c.drainingCalls)}::bigint[],
                    ${col(callers, (c) => c.drainingLastAt ?? '')}::text[])
             AS b(token_id, kind, principal_id, address, principal_name, first_at, last_at, calls, draining_calls, draining_last_at)
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (token_id, kind, principal_id, address) DO UPDATE SET
          principal_name = CASE WHEN excluded.last_at >= u.last_at THEN excluded.principal_name ELSE u.principal_name END,
          first_at = LEAST(u.first_at, excluded.first_at),
          last_at = GREATEST(u.last_at, excluded.last_at),
          calls = u.calls + excluded.calls,
          draining_calls = u.draining_calls + excluded.draining_calls,
          draining_last_at = GREATEST(u.draining_last_at, excluded.draining_last_at)
        RETURNING token_id, kind, principal_id, address, draining_calls`;
      if (!onDrainingUse) return;
      // The first draining calls of a caller (its row had none before: this batch's are all it has), notified once.
      const first = callers.filter(
        (c) => c.drainingCalls > 0 && after.some((r) => r.token_id === c.token && r.kind === c.kind && r.principal_id === c.principalId && r.address === c.address && Number(r.draining_calls) === c.drainingCalls),
      );
      if (first.length === 0) return;
      const rows = await tx<TokenRow[]>`SELECT * FROM tokens WHERE id = ANY(${[...new Set(first.map((c) => c.token))]}::text[])`;
      const endpoints = new Map<string, WebhookEndpointRecord[]>();
      for (const c of first) {
        const row = rows.find((r) => r.id === c.token);
        if (!row) continue;
        if (!endpoints.has(row.account_id)) endpoints.set(row.account_id, await endpointsOf(tx, row.account_id));
        const entry = onDrainingUse(toStoredToken(row), row.account_id, c, endpoints.get(row.account_id)!);
        if (entry) await insertOutbox(tx, [entry]);
      }
    });
  }

  usageOf(accountId: string, tokenIds: readonly string[] | null, since: { day: string; hour: string }): Promise<Map<string, UsageRecords>> {
    return this.run(async (sql) => {
      const only = tokenIds === null ? sql`` : sql`AND t.id = ANY(${[...tokenIds]}::text[])`;
      const [tokens, days, hours, callers] = await Promise.all([
        sql<{ id: string; last_used_at: string | null }[]>`SELECT t.id, t.last_used_at FROM tokens t WHERE t.account_id = ${accountId} ${only}`,
        sql<{ token_id: string; day: string; calls: string }[]>`
          SELECT u.token_id, u.day, u.calls FROM usage_days u JOIN tokens t ON t.id = u.token_id WHERE t.account_id = ${accountId} ${only} AND u.day >= ${since.day}`,
        sql<{ token_id: string; hour: string; calls: string }[]>`
          SELECT u.token_id, u.hour, u.calls FROM usage_hours u JOIN tokens t ON t.id = u.token_id WHERE t.account_id = ${accountId} ${only} AND u.hour >= ${since.hour}`,
        sql<UsageCallerRow[]>`SELECT u.* FROM usage_callers u JOIN tokens t ON t.id = u.token_id WHERE t.account_id = ${accountId} ${only}`,
      ]);
      return gatherUsage(tokens, days, hours, callers);
    });
  }

  // ---- notifications: each attempt claimed by one replica (SKIP LOCKED and a lease), the log, time-based events ----

  claimDeliveries(nowMs: number, leaseMs: number, limit: number): Promise<ClaimedDelivery[]> {
    const owner = randomUUID();
    const leaseUntilMs = nowMs + leaseMs;
    return this.run(async (sql) => {
      const rows = await sql<{ message_id: string; endpoint_id: string; account_id: string; attempts: number; type: string; body: string; url: string; secret: string }[]>`
        WITH due AS (
          SELECT message_id, endpoint_id FROM webhook_deliveries
          WHERE state = 'pending' AND next_attempt_at <= ${nowMs} AND (lease_until IS NULL OR lease_until <= ${nowMs})
          ORDER BY next_attempt_at LIMIT ${limit}
          FOR UPDATE SKIP LOCKED
        ), claimed AS (
          UPDATE webhook_deliveries d SET attempts = d.attempts + 1, lease_owner = ${owner}, lease_until = ${leaseUntilMs}
          FROM due WHERE d.message_id = due.message_id AND d.endpoint_id = due.endpoint_id
          RETURNING d.message_id, d.endpoint_id, d.account_id, d.attempts
        )
        SELECT c.message_id, c.endpoint_id, c.account_id, c.attempts, m.type, m.body, e.url, e.secret
        FROM claimed c JOIN webhook_messages m ON m.id = c.message_id JOIN webhook_endpoints e ON e.id = c.endpoint_id`;
      return rows.map((d) => ({ messageId: d.message_id, endpointId: d.endpoint_id, accountId: d.account_id, attempt: Number(d.attempts), type: d.type, body: d.body, url: d.url, secret: d.secret, owner, leaseUntilMs }));
    });
  }

  finishDelivery(claim: ClaimedDelivery, o: AttemptOutcome): Promise<void> {
    const state = o.ok ? 'delivered' : o.nextAttemptAtMs === null ? 'failed' : 'pending';
    const next = o.nextAttemptAtMs === null ? null : new Date(o.nextAttemptAtMs).toISOString();
    return this.run(async (sql) => {
      await sql.begin(async (tx) => {
        // The endpoint may have been removed meanwhile: its log went with it.
        await tx`INSERT INTO webhook_attempts (endpoint_id, message_id, type, attempt, at, ok, status, error, ms, next_attempt_at)
                 SELECT ${claim.endpointId}, ${claim.messageId}, ${claim.type}, ${claim.attempt}, ${o.at}, ${o.ok}, ${o.status}, ${o.error}, ${Math.round(o.ms)}, ${next}
                 WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = ${claim.endpointId})`;
        await tx`UPDATE webhook_deliveries SET state = ${state}, next_attempt_at = ${o.nextAttemptAtMs ?? 0}, lease_owner = NULL, lease_until = NULL
                 WHERE message_id = ${claim.messageId} AND endpoint_id = ${claim.endpointId} AND lease_owner = ${claim.owner}`;
      });
    });
  }

  webhookAttempts(accountId: string, endpointId: string, limit: number): Promise<WebhookAttemptRecord[]> {
    return this.run(async (sql) =>
      (
        await sql<WebhookAttemptRow[]>`
          SELECT a.* FROM webhook_attempts a JOIN webhook_endpoints e ON e.id = a.endpoint_id
          WHERE e.account_id = ${accountId} AND a.endpoint_id = ${endpointId} ORDER BY a.seq DESC LIMIT ${limit}`
      ).map(toWebhookAttempt),
    );
  }

  webhookDeliveryStats(accountId: string): Promise<WebhookDeliveryStats[]> {
    return this.run(async (sql) => {
      const [endpoints, counts, last] = await Promise.all([
        endpointsOf(sql, accountId),
        sql<{ endpoint_id: string; state: string; n: string }[]>`
          SELECT endpoint_id, state, count(*) AS n FROM webhook_deliveries WHERE account_id = ${accountId} GROUP BY endpoint_id, state`,
        sql<(WebhookAttemptRow & { endpoint_id: string })[]>`
          SELECT DISTINCT ON (a.endpoint_id) a.* FROM webhook_attempts a JOIN webhook_endpoints e ON e.id = a.endpoint_id
          WHERE e.account_id = ${accountId} ORDER BY a.endpoint_id, a.seq DESC`,
      ]);
      return deliveryStats(endpoints, counts, last);
    });
  }

  recordLifecycleNotices(due: readonly DueNotice[], build: NoticeBuilder): Promise<DueNotice[]> {
    if (due.length === 0) return Promise.resolve([]);
    return this.transaction(async (tx, operation) => {
      await tx`INSERT INTO write_operations (id) VALUES (${operation})`;
      const endpoints = new Map<string, WebhookEndpointRecord[]>();
      const marked: DueNotice[] = [];
      for (const d of due) {
        const letter = NOTICE_MARKS[d.notice];
        // Whichever replica marks it first notifies it; the others find it marked.
        const [claimed] = await tx`
          INSERT INTO token_notices AS n (token_id, marks) SELECT id, ${letter} FROM tokens WHERE id = ${d.tokenId} AND account_id = ${d.accountId}
          ON CONFLICT (token_id) DO UPDATE SET marks = n.marks || excluded.marks WHERE strpos(n.marks, excluded.marks) = 0
          RETURNING token_id`;
        if (!claimed) continue;
        const [row] = await tx<TokenRow[]>`SELECT * FROM tokens WHERE id = ${d.tokenId}`;
        if (!row) continue;
        marked.push(d);
        if (!endpoints.has(d.accountId)) endpoints.set(d.accountId, await endpointsOf(tx, d.accountId));
        const entry = build(toStoredToken(row), d.accountId, d.notice, endpoints.get(d.accountId)!);
        if (entry) await insertOutbox(tx, [entry]);
      }
      return marked;
    });
  }

  // ---- what replicas keep in memory, and how they hear of changes (issue 10) ----------------------------------

  /**
   * Every token a replica must know to introspect (live ones, and deleted ones until an hour after they stopped
   * draining: older ones answer exactly as an unknown value does), every principal and every public signing key;
   * or those of one account. Everything is one snapshot (repeatable read); an account's three lists are read at once
   * on three connections, each as committed then (see IndexSource).
   */
  indexSnapshot(accountId: string | null, revokedBefore: string): Promise<IndexSnapshot> {
    const read = async (q: Sql | TransactionSql): Promise<IndexSnapshot> => {
      const where = accountId === null ? q`` : q`AND account_id = ${accountId}`;
      // Three statements at once (an account's: on three pooled connections, one round trip of latency).
      const [tokens, principals, keys] = await Promise.all([
        q<TokenRow[]>`
          SELECT id, account_id, type, created_at, activates_at, deleted_at, fingerprint FROM tokens
          WHERE (deleted_at IS NULL OR deleted_at >= ${revokedBefore}) ${where}`,
        q<PrincipalRow[]>`SELECT * FROM principals WHERE true ${where}`,
        q<SigningKeyRow[]>`SELECT kid, account_id, public_jwk FROM signing_keys WHERE true ${where} ORDER BY created_at, kid`,
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
        signingKeys: keys.map((r) => toPublicSigningKey(r, intern(r.account_id))),
      };
    };
    // An account's rows need no common snapshot (any later change is notified and read again); everything, at
    // start or after a lost connection, is read in one (repeatable read), so it is one moment of every account.
    return this.run((sql) => (accountId === null ? (sql.begin('isolation level repeatable read read only', (tx) => read(tx)) as Promise<IndexSnapshot>) : read(sql)));
  }

  /**
   * Listens for changes on a connection of its own, on the primary (listener.ts), and tells readiness from its
   * heartbeat.
   */
  listen(listener: ChangeListener): ChangeSubscription {
    if (this.closing) throw storageClosed();
    const listening = listenForChanges(this.db, (fn) => this.run(fn), listener);
    const subscription: ChangeSubscription = {
      close: async () => {
        this.subscriptions.delete(subscription);
        await listening.close();
      },
    };
    this.subscriptions.set(subscription, listening.alive);
    return subscription;
  }

  /**
   * Whether this replica can serve now (GET /readyz), from what it already knows, at once: not closed, a primary is
   * known and nothing failed since, and every listening connection answered its heartbeat within the last 3 s.
   */
  async ready(): Promise<boolean> {
    return !this.closing && this.db.healthy && [...this.subscriptions.values()].every((alive) => alive());
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

  /**
   * Forgets operation ids older than any write can still be asked about (see transaction()); usage beyond its retention
   * (30 days, 48 hours; callers unseen for 30 days, or beyond the 50 most recent of a token); notifications finished
   * for a week; delivery logs older than 30 days (or beyond 1,000 per endpoint). `nowMs` is the service's clock.
   */
  maintain(nowMs: number): Promise<void> {
    const cut = usageCutoffs(new Date(nowMs));
    return this.run(async (sql) => {
      await sql`DELETE FROM write_operations WHERE at < now() - ${KEEP_OPERATIONS}::interval`;
      await sql`DELETE FROM usage_days WHERE day < ${cut.day}`;
      await sql`DELETE FROM usage_hours WHERE hour < ${cut.hour}`;
      await sql`DELETE FROM usage_callers WHERE last_at < ${cut.caller}`;
      await sql`DELETE FROM usage_callers c USING (
                  SELECT token_id, kind, principal_id, address, row_number() OVER (PARTITION BY token_id ORDER BY last_at DESC) AS n FROM usage_callers
                ) r WHERE r.n > ${USAGE.maxCallers} AND c.token_id = r.token_id AND c.kind = r.kind AND c.principal_id = r.principal_id AND c.address = r.address`;
      await sql`DELETE FROM webhook_messages m WHERE m.created_at < ${new Date(nowMs - KEEP_FINISHED_MESSAGES_MS).toISOString()}
                AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id AND d.state = 'pending')`;
      await sql`DELETE FROM webhook_attempts WHERE at < ${new Date(nowMs - KEEP_ATTEMPTS_MS).toISOString()}`;
      await sql`DELETE FROM webhook_attempts a USING (
                  SELECT seq, row_number() OVER (PARTITION BY endpoint_id ORDER BY seq DESC) AS n FROM webhook_attempts
                ) r WHERE r.n > ${KEEP_ATTEMPTS_PER_ENDPOINT} AND a.seq = r.seq`;
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

/** The account's webhook endpoints, oldest first. */
async function endpointsOf(sql: Sql | TransactionSql, accountId: string): Promise<WebhookEndpointRecord[]> {
  return (await sql<WebhookEndpointRow[]>`SELECT * FROM webhook_endpoints WHERE account_id = ${accountId} ORDER BY seq`).map(toWebhookEndpoint);
}

/** The outbox: each notification that goes somewhere, and one delivery per endpoint, due at once. */
async function insertOutbox(sql: Sql | TransactionSql, entries: readonly OutboxEntry[]): Promise<void> {
  for (const e of entries) {
    if (e.endpointIds.length === 0) continue;
    await sql`INSERT INTO webhook_messages (id, account_id, type, body, created_at) VALUES (${e.id}, ${e.accountId}, ${e.type}, ${e.body}, ${e.createdAt})`;
    await sql`INSERT INTO webhook_deliveries (message_id, endpoint_id, account_id, state, attempts, next_attempt_at)
              SELECT ${e.id}, endpoint, ${e.accountId}, 'pending', 0, ${e.dueAtMs} FROM unnest(${[...e.endpointIds]}::text[]) AS endpoint`;
  }
}
