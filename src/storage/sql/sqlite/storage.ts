import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync } from 'node:fs';
import type { AuditEntry, AuditEvent } from '../../../core/audit.js';
import { chainEntries, eventOf, parseLine, verifyChain, type VerifyResult } from '../../../core/audit-chain.js';
import { StorageUnavailableError, StoreDataError, TokenctlError, TokenNotFoundError } from '../../../core/errors.js';
import { nameKey } from '../../../core/names.js';
import type { RotationRecord } from '../../../core/rotation.js';
import { USAGE } from '../../../core/usage.js';
import { usageCutoffs, type UsageRecords } from '../../../core/usage-records.js';
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
import type { SqliteConnection, SqliteDriver } from './driver.js';
import { sqliteErrorCode } from './errors.js';
import { LATEST_SQLITE_VERSION, SQLITE_MIGRATIONS } from './migrations.js';

type Db = SqliteConnection;

const asBuffer = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

/** How often the storage looks whether another process changed the database (`tokenctl server ...` on the same data). */
const EXTERNAL_CHANGES_EVERY_MS = 1_000;

export interface SqliteStorageOptions {
  /** How long a write waits for the database's write lock (held by another process, say) before it answers 503. */
  busyWaitMs?: number;
}

const sqliteCode = sqliteErrorCode;
const isBusy = (code: string | undefined) => code !== undefined && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));

/**
 * A storage fault, named: the service answers 503 (never 500) and logs what is wrong; the change was not made
 * (SQLite rolls the transaction back). Anything else (a constraint the rules should have prevented) stays a bug.
 * The message goes to clients too, so it names no path of the server's.
 */
export function namedStorageFault(error: unknown): unknown {
  const code = sqliteCode(error);
  if (code === undefined || error instanceof TokenctlError) return error;
  const fault = (message: string, retryAfterSeconds?: number) => new StorageUnavailableError(message, { cause: error, retryAfterSeconds });
  if (isBusy(code)) return fault(`the database is locked by another process; nothing was changed, retry shortly`, 1);
  if (code === 'SQLITE_FULL') return fault(`the disk holding the database is full; nothing was changed. Its operator must free some space`, 30);
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM' || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_AUTH') {
    return fault(`the database cannot be written (${code}); nothing was changed. Its operator must check the data directory's disk and permissions`, 30);
  }
  if (code.startsWith('SQLITE_IOERR')) return fault(`the disk failed while using the database (${code}); nothing was changed. Its operator must check the disk`, 30);
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return fault(`the database is corrupt (${code}); its operator must restore it from a backup`, 60);
  }
  return error;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));


/**
 * The service's storage on SQLite (WAL). Two connections, neither with a busy timeout, so the event loop never
 * waits on a lock: reads go to one and see the last committed state; writes take the other in turn (an in-process
 * queue) and retry SQLite's write lock asynchronously when another process holds it, up to `busyWaitMs`, then give
 * up with a 503. Writes are synchronous to disk (synchronous=FULL): what was acknowledged survives a power cut.
 */
export class SqliteStorage implements ServiceStorage {
  /** One process serves a SQLite data directory: it counts failed authentications on its own. */
  readonly sharedAuthFailures = null;
  readonly location: string;
  private readonly busyWaitMs: number;
  private readonly sealerValue: Sealer;
  private writeQueue: Promise<void> = Promise.resolve();
  private writing = false;
  private changes = 0;
  /** The subscriptions of listen() still open: close() ends them. */
  private readonly subscriptions = new Set<ChangeSubscription>();

  private constructor(
    file: string,
    private readonly db: Db,
    private readonly reader: Db,
    sealer: Sealer,
    options: SqliteStorageOptions,
  ) {
    this.location = file;
    this.sealerValue = sealer;
    this.busyWaitMs = options.busyWaitMs ?? 2_000;
  }

  /**
   * Opens (and on first use creates) the database: checks it (SQLite's quick check: a corrupt one is refused, exit 9),
   * applies the migrations it lacks, and checks that `masterKey` is the key it was created with.
   */
  static open(driver: SqliteDriver, file: string, masterKey: Buffer, options: SqliteStorageOptions = {}): SqliteStorage {
    const fresh = !existsSync(file);
    let db: Db | undefined;
    let reader: Db | undefined;
    try {
      db = driver.open(file);
      if (fresh && process.platform !== 'win32') chmodSync(file, 0o600);
      // Opening may wait (once, before any request) for another process's write; requests never do.
      db.exec('PRAGMA busy_timeout = 5000');
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = FULL');
      db.exec('PRAGMA foreign_keys = ON');
      const check = Object.values(db.prepare<[], Record<string, unknown>>('PRAGMA quick_check').get() ?? {})[0];
      if (check !== 'ok') throw new StoreDataError(`the database ${file} failed SQLite's integrity check (${String(check).slice(0, 200)}); restore it from a backup`);
      migrate(db, file);
      const sealer = createSealer(masterKey);
      const meta = db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?');
      const keyCheck = meta.get('key_check')?.value;
      if (keyCheck === undefined) db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run('key_check', sealer.keyCheck);
      else if (!keyCheckMatches(sealer, keyCheck)) {
        throw new StoreDataError(`the server key is not the key the database ${file} was created with; restore the right key`);
      }
      db.exec('PRAGMA busy_timeout = 0');
      reader = driver.open(file);
      reader.exec('PRAGMA busy_timeout = 0');
      reader.exec('PRAGMA query_only = ON');
      return new SqliteStorage(file, db, reader, sealer, options);
    } catch (error) {
      reader?.close();
      db?.close();
      const code = sqliteCode(error);
      if (code?.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
        throw new StoreDataError(`the database ${file} is not a readable tokenctl database (${code}); restore it from a backup`, { cause: error });
      }
      const fault = namedStorageFault(error);
      // At start the operator is the reader: name the file.
      throw fault instanceof StorageUnavailableError ? new StorageUnavailableError(`${file}: ${fault.message}`, { cause: error }) : fault;
    }
  }

  /** Ends every subscription and closes both connections; idempotent. Afterwards every operation answers a 503. */
  close(): void {
    for (const s of this.subscriptions) void s.close();
    this.reader.close();
    this.db.close();
  }

  async sealer(): Promise<Sealer> {
    return this.sealerValue;
  }

  /** The server key's sealer, for the service's synchronous hot paths (introspection). */
  get serverSealer(): Sealer {
    return this.sealerValue;
  }

  /** Counts this process's committed changes to tokens, so caches over lookups (introspection) forget at once. */
  get tokenGeneration(): number {
    return this.changes;
  }

  /** A synchronous read on the reading connection; a storage fault is named (a lock never makes it wait). */
  private query<T>(fn: (db: Db) => T): T {
    if (!this.reader.open) throw storageClosed();
    try {
      return fn(this.reader);
    } catch (error) {
      throw namedStorageFault(error);
    }
  }

  // ---- transactions -----------------------------------------------------------------------------------------

  /**
   * Runs `fn` inside BEGIN IMMEDIATE ... COMMIT on the writing connection, after every earlier write of this process,
   * giving up with a 503 when the write lock cannot be had within busyWaitMs (counted from the call).
   */
  private async transaction<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.busyWaitMs;
    const previous = this.writeQueue;
    let release!: () => void;
    this.writeQueue = new Promise<void>((resolve) => (release = resolve));
    try {
      await previous;
      if (!this.db.open) throw storageClosed();
      this.writing = true;
      for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
        try {
          this.db.exec('BEGIN IMMEDIATE');
          break;
        } catch (error) {
          if (!isBusy(sqliteCode(error)) || Date.now() + delay > deadline) throw namedStorageFault(error);
        }
        await sleep(delay);
      }
      try {
        const result = await fn(this.db);
        this.db.exec('COMMIT');
        return result;
      } catch (error) {
        this.db.rollback();
        throw namedStorageFault(error);
      }
    } finally {
      this.writing = false;
      release();
    }
  }

  async read<T>(accountId: string, fn: (tx: ServiceAccountReader) => Promise<T> | T): Promise<T> {
    if (!this.reader.open) throw storageClosed();
    return fn(this.accountTx(this.reader, accountId, null, { dirty: false }));
  }

  async write<T>(accountId: string, change: ChangeContext, fn: (tx: ServiceAccountWriter) => Promise<T> | T): Promise<T> {
    const state = { dirty: false };
    try {
      return await this.transaction(async (db) => {
        if (!db.prepare('SELECT 1 FROM accounts WHERE id = ?').get(accountId)) throw new TokenNotFoundError(`no account with id ${accountId}`);
        return fn(this.accountTx(db, accountId, change, state));
      });
    } finally {
      // Caches over lookups (introspection) are keyed by the generation: bumped once the change is visible.
      if (state.dirty) this.changes++;
    }
  }

  async createAccount<T>(input: NewAccount, change: ChangeContext, fn: (tx: ServiceAccountWriter, sealer: Sealer) => Promise<T> | T): Promise<T> {
    const state = { dirty: false };
    const { account } = input;
    try {
      return await this.transaction(async (db) => {
        if (db.prepare('SELECT 1 FROM accounts WHERE name_key = ?').get(nameKey(account.name))) {
          throw accountTaken(account.name);
        }
        db.prepare('INSERT INTO accounts (id, name, name_key, created_at, features) VALUES (?, ?, ?, ?, ?)').run(
          account.id,
          account.name,
          nameKey(account.name),
          account.createdAt,
          featuresColumn(account),
        );
        const key = input.signingKey(this.sealerValue);
        db.prepare('INSERT INTO signing_keys (kid, account_id, public_jwk, private_key, created_at) VALUES (?, ?, ?, ?, ?)').run(
          key.kid,
          account.id,
          JSON.stringify(key.publicJwk),
          key.privateKey,
          key.createdAt,
        );
        return fn(this.accountTx(db, account.id, change, state), this.sealerValue);
      });
    } finally {
      if (state.dirty) this.changes++;
    }
  }

  /** One account's rows through `db`; with a change context it writes (inside a transaction), without, it only reads. */
  private accountTx(db: Db, accountId: string, change: ChangeContext | null, state: { dirty: boolean }): ServiceAccountWriter {
    const writable = () => {
      if (!change) throw new Error('a read transaction cannot write');
      state.dirty = true;
      return change;
    };
    const run = <T>(fn: () => T): Promise<T> => {
      try {
        return Promise.resolve(fn());
      } catch (error) {
        return Promise.reject(namedStorageFault(error));
      }
    };
    return {
      accountId,
      account: () =>
        run(() => {
          const row = db.prepare<[string], AccountRow>('SELECT id, name, created_at, features FROM accounts WHERE id = ?').get(accountId);
          if (!row) throw new TokenNotFoundError(`no account with id ${accountId}`);
          return toStoredAccount(row);
        }),
      tokens: () => run(() => db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE account_id = ? ORDER BY created_at, rowid').all(accountId).map(toStoredToken)),
      rotations: () =>
        run(() =>
          db
            .prepare<[string], { body: string }>('SELECT body FROM rotations WHERE account_id = ? ORDER BY rowid')
            .all(accountId)
            .map((r) => JSON.parse(r.body) as RotationRecord),
        ),
      signingKey: () =>
        run(() => {
          const row = db
            .prepare<[string], SigningKeySecretRow>('SELECT kid, public_jwk, private_key, created_at FROM signing_keys WHERE account_id = ? ORDER BY created_at DESC LIMIT 1')
            .get(accountId);
          if (!row) throw noSigningKey(accountId);
          return toStoredSigningKey(row);
        }),
      signingKeys: () =>
        run(() =>
          db
            .prepare<[string], SigningKeySecretRow>('SELECT kid, public_jwk, private_key, created_at FROM signing_keys WHERE account_id = ? ORDER BY created_at, kid')
            .all(accountId)
            .map(toStoredSigningKey),
        ),
      insertSigningKey: (key) =>
        run(() => {
          writable();
          db.prepare('INSERT INTO signing_keys (kid, account_id, public_jwk, private_key, created_at) VALUES (?, ?, ?, ?, ?)').run(
            key.kid,
            accountId,
            JSON.stringify(key.publicJwk),
            key.privateKey,
            key.createdAt,
          );
        }),
      insertToken: (t) =>
        run(() => {
          writable();
          db.prepare(
            `INSERT INTO tokens (id, account_id, name, name_key, type, created_at, activates_at, deleted_at, last_used_at, masked, fingerprint, secret)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          ).run(t.id, accountId, t.name, nameKey(t.name), t.type, t.createdAt, t.activatesAt, t.deletedAt, t.lastUsedAt, t.masked, t.fingerprint, t.secret);
        }),
      updateToken: (t) =>
        run(() => {
          writable();
          const r = db.prepare('UPDATE tokens SET name = ?, name_key = ?, deleted_at = ?, secret = ? WHERE id = ? AND account_id = ?').run(t.name, nameKey(t.name), t.deletedAt, t.secret, t.id, accountId);
          if (r.changes !== 1) throw tokenNotInAccount(t.id);
        }),
      insertRotation: (r) =>
        run(() => {
          writable();
          db.prepare('INSERT INTO rotations (id, account_id, body) VALUES (?, ?, ?)').run(r.id, accountId, JSON.stringify(r));
        }),
      updateRotation: (r) =>
        run(() => {
          writable();
          db.prepare('UPDATE rotations SET body = ? WHERE id = ? AND account_id = ?').run(JSON.stringify(r), r.id, accountId);
        }),
      audit: (entries) =>
        run(() => {
          const ctx = writable();
          this.appendAudit(db, accountId, ctx, entries);
        }),
      setFeatures: (features) =>
        run(() => {
          writable();
          db.prepare('UPDATE accounts SET features = ? WHERE id = ?').run(setFeaturesColumn(features), accountId);
        }),
      principals: () => run(() => db.prepare<[string], PrincipalRow>('SELECT * FROM principals WHERE account_id = ? ORDER BY created_at, name').all(accountId).map(toPrincipal)),
      insertPrincipal: (p, credentialHash) =>
        run(() => {
          writable();
          try {
            db.prepare('INSERT INTO principals (id, account_id, name, name_key, role, credential_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
              p.id,
              accountId,
              p.name,
              nameKey(p.name),
              p.role,
              credentialHash,
              p.createdAt,
            );
          } catch (error) {
            if (sqliteCode(error) === 'SQLITE_CONSTRAINT_UNIQUE') throw principalTaken(p.name);
            throw error;
          }
        }),
      deletePrincipal: (id) =>
        run(() => {
          writable();
          db.prepare('DELETE FROM principals WHERE id = ? AND account_id = ?').run(id, accountId);
        }),
      webhookEndpoints: () => run(() => endpointsOf(db, accountId)),
      insertWebhookEndpoint: (e) =>
        run(() => {
          writable();
          db.prepare('INSERT INTO webhook_endpoints (id, account_id, url, events, description, secret, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
            e.id,
            accountId,
            e.url,
            JSON.stringify(e.events),
            e.description,
            e.secret,
            e.createdAt,
            e.createdBy,
          );
        }),
      deleteWebhookEndpoint: (id) =>
        run(() => {
          writable();
          return Number(db.prepare('DELETE FROM webhook_endpoints WHERE id = ? AND account_id = ?').run(id, accountId).changes) === 1;
        }),
      enqueueNotifications: (entries) =>
        run(() => {
          writable();
          insertOutbox(db, entries);
        }),
    };
  }

  /** Appends events to the account's chain, inside the caller's write transaction (fail closed). */
  private appendAudit(db: Db, accountId: string, change: ChangeContext, entries: readonly AuditEntry[]): void {
    if (entries.length === 0) return;
    const head = db.prepare<[string], { seq: number; mac: string }>('SELECT seq, mac FROM audit_heads WHERE account_id = ?').get(accountId) ?? null;
    const chained = chainEntries(head, entries, change, (t) => this.sealerValue.mac(t));
    const insert = db.prepare('INSERT INTO audit_events (account_id, seq, line) VALUES (?, ?, ?)');
    for (const line of chained.lines) insert.run(accountId, line.seq, JSON.stringify(line));
    db.prepare('INSERT INTO audit_heads (account_id, seq, mac) VALUES (?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET seq = excluded.seq, mac = excluded.mac').run(accountId, chained.head!.seq, chained.head!.mac);
  }

  private auditLines(accountId: string): string[] {
    return this.query((db) =>
      db
        .prepare<[string], { line: string }>('SELECT line FROM audit_events WHERE account_id = ? ORDER BY seq')
        .all(accountId)
        .map((r) => r.line),
    );
  }

  async auditEvents(accountId: string): Promise<AuditEvent[]> {
    return this.auditLines(accountId).map((text, i) => {
      const line = parseLine(text);
      if (!line) throw unreadableAuditEvent(i + 1);
      return eventOf(line);
    });
  }

  /** Checks every event's MAC and its link to the one before, then that the recorded head is in the chain. */
  async verifyAudit(accountId: string): Promise<VerifyResult> {
    const lines = this.auditLines(accountId);
    const head = this.query((db) => db.prepare<[string], { seq: number; mac: string }>('SELECT seq, mac FROM audit_heads WHERE account_id = ?').get(accountId));
    return verifyChain(lines, (t) => this.sealerValue.mac(t), head ?? null);
  }

  // ---- what only the service needs: accounts, principals, lookups by value, last-used times -----------------

  async accountByName(name: string): Promise<StoredAccount | null> {
    const row = this.query((db) => db.prepare<[string], AccountRow>('SELECT id, name, created_at, features FROM accounts WHERE name_key = ?').get(nameKey(name.trim().normalize('NFC'))));
    return row ? toStoredAccount(row) : null;
  }

  /** Whether the database answers (GET /readyz): a local file, asked at once. */
  async ready(): Promise<boolean> {
    try {
      this.query((db) => db.prepare('SELECT 1').get());
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Forgets usage beyond its retention (30 days, 48 hours; callers unseen for 30 days, or beyond the 50 most recent of a
   * token), notifications finished for a week, and delivery logs older than 30 days (or beyond 1,000 per endpoint).
   * Sessions are pruned by the page; failure counts are in memory.
   */
  async maintain(nowMs: number): Promise<void> {
    const cut = usageCutoffs(new Date(nowMs));
    await this.transaction(async (db) => {
      db.prepare('DELETE FROM usage_days WHERE day < ?').run(cut.day);
      db.prepare('DELETE FROM usage_hours WHERE hour < ?').run(cut.hour);
      db.prepare('DELETE FROM usage_callers WHERE last_at < ?').run(cut.caller);
      db.prepare('DELETE FROM usage_callers AS c WHERE (SELECT count(*) FROM usage_callers x WHERE x.token_id = c.token_id AND x.last_at > c.last_at) >= ?').run(USAGE.maxCallers);
      db.prepare(
        `DELETE FROM webhook_messages WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = webhook_messages.id AND d.state = 'pending')`,
      ).run(new Date(nowMs - KEEP_FINISHED_MESSAGES_MS).toISOString());
      db.prepare('DELETE FROM webhook_attempts WHERE at < ?').run(new Date(nowMs - KEEP_ATTEMPTS_MS).toISOString());
      db.prepare(
        'DELETE FROM webhook_attempts AS a WHERE rowid <= (SELECT rowid FROM webhook_attempts x WHERE x.endpoint_id = a.endpoint_id ORDER BY rowid DESC LIMIT 1 OFFSET ?)',
      ).run(KEEP_ATTEMPTS_PER_ENDPOINT);
    });
  }

  // ---- what the service keeps in memory (server/memory/token-index.ts), and how it hears of changes ----------

  /** One read transaction: the tokens, principals and keys of one moment (WAL: writers go on meanwhile). */
  async indexSnapshot(accountId: string | null, revokedBefore: string): Promise<IndexSnapshot> {
    return this.query((db) => {
      db.exec('BEGIN');
      try {
        return this.snapshotRows(db, accountId, revokedBefore);
      } finally {
        db.rollback(); // it only read
      }
    });
  }

  private snapshotRows(db: Db, accountId: string | null, revokedBefore: string): IndexSnapshot {
    const where = accountId === null ? '' : ' AND account_id = ?';
    const args = accountId === null ? [] : [accountId];
    const tokens = db
      .prepare<unknown[], TokenRow>(`SELECT id, account_id, type, created_at, activates_at, deleted_at, fingerprint FROM tokens WHERE (deleted_at IS NULL OR deleted_at >= ?)${where}`)
      .all(revokedBefore, ...args);
    const principals = db.prepare<unknown[], PrincipalRow>(`SELECT * FROM principals WHERE 1 = 1${where}`).all(...args);
    const keys = db.prepare<unknown[], SigningKeyRow>(`SELECT kid, account_id, public_jwk FROM signing_keys WHERE 1 = 1${where} ORDER BY created_at, kid`).all(...args);
    return {
      tokens: tokens.map((r) => ({ id: r.id, accountId: r.account_id, type: r.type, createdAt: r.created_at, activatesAt: r.activates_at, deletedAt: r.deleted_at, fingerprint: r.fingerprint })),
      principals: principals.map((r) => ({ ...toPrincipal(r), credentialHash: asBuffer(r.credential_hash) })),
      signingKeys: keys.map((r) => toPublicSigningKey(r)),
    };
  }

  /**
   * Tells `listener` when another process changed the database: SQLite has no notifications, so its data version is
   * looked at every second (a counter of commits by other connections, read on the writing connection: this
   * process's own writes do not move it, and its memory is told of them by the service directly). What changed is not
   * known: everything is read again (`connected`), which for the data of one machine is quick.
   */
  listen(listener: ChangeListener): ChangeSubscription {
    if (!this.db.open) throw storageClosed();
    const statement = this.db.prepare<[], { data_version: number }>('PRAGMA data_version');
    const version = () => Number(statement.get()?.data_version);
    let last = version();
    let closed = false;
    // Listening from now on; told once listen() has returned, as a source that must connect first tells it.
    queueMicrotask(() => {
      if (!closed) listener.connected();
    });
    const look = (): boolean => {
      if (closed || !this.db.open) return false;
      try {
        const now = version();
        if (now === last) return false;
        last = now;
      } catch {
        return false; // the database cannot be read now: the next look is in a second
      }
      listener.connected();
      return true;
    };
    const timer = setInterval(look, EXTERNAL_CHANGES_EVERY_MS);
    timer.unref();
    const subscription: ChangeSubscription = {
      close: async () => {
        closed = true;
        clearInterval(timer);
        this.subscriptions.delete(subscription);
      },
      lookNow: look,
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  /**
   * Writes a batch of usage in one transaction: last-used times (never moving backwards), calls per hour and per day
   * and per caller (added to what is there), and the notification of a caller first seen presenting a deleted token
   * while it drains. Synchronous and never waiting: while a write of this process is under way, or another process
   * holds the lock, it fails (a named fault) and the caller keeps the batch for its next try.
   */
  recordUsage(batch: readonly TokenUsageDelta[], onDrainingUse: DrainingUseBuilder | null): void {
    if (batch.length === 0) return;
    if (!this.db.open) throw storageClosed();
    if (this.writing) throw new StorageUnavailableError('a write is under way; usage is written on the next try', { retryAfterSeconds: 1 });
    try {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const db = this.db;
        const touch = db.prepare('UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)');
        const hour = db.prepare('INSERT INTO usage_hours (token_id, hour, calls) VALUES (?, ?, ?) ON CONFLICT (token_id, hour) DO UPDATE SET calls = calls + excluded.calls');
        const day = db.prepare('INSERT INTO usage_days (token_id, day, calls) VALUES (?, ?, ?) ON CONFLICT (token_id, day) DO UPDATE SET calls = calls + excluded.calls');
        const caller = db.prepare<unknown[], { draining_calls: number }>(
          `INSERT INTO usage_callers (token_id, kind, principal_id, address, principal_name, first_at, last_at, calls, draining_calls, draining_last_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (token_id, kind, principal_id, address) DO UPDATE SET
             principal_name = CASE WHEN excluded.last_at >= usage_callers.last_at THEN excluded.principal_name ELSE usage_callers.principal_name END,
             first_at = min(usage_callers.first_at, excluded.first_at),
             last_at = max(usage_callers.last_at, excluded.last_at),
             calls = usage_callers.calls + excluded.calls,
             draining_calls = usage_callers.draining_calls + excluded.draining_calls,
             draining_last_at = CASE WHEN usage_callers.draining_last_at IS NULL THEN excluded.draining_last_at
                                     WHEN excluded.draining_last_at IS NULL THEN usage_callers.draining_last_at
                                     ELSE max(usage_callers.draining_last_at, excluded.draining_last_at) END
           RETURNING draining_calls`,
        );
        for (const t of batch) {
          if (t.lastUsedAt !== null) touch.run(t.lastUsedAt, t.tokenId, t.lastUsedAt);
          const days = new Map<string, number>();
          for (const h of t.hours) {
            hour.run(t.tokenId, h.hour, h.calls);
            days.set(h.hour.slice(0, 10), (days.get(h.hour.slice(0, 10)) ?? 0) + h.calls);
          }
          for (const [d, calls] of days) day.run(t.tokenId, d, calls);
          for (const c of t.callers) {
            const after = caller.get(t.tokenId, c.kind, c.principalId, c.address, c.principalName, c.firstAt, c.lastAt, c.calls, c.drainingCalls, c.drainingLastAt);
            // The first draining calls of this caller (the row had none before): notified once, in this transaction.
            if (onDrainingUse && c.drainingCalls > 0 && Number(after?.draining_calls) === c.drainingCalls) {
              const row = db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE id = ?').get(t.tokenId);
              const entry = row ? onDrainingUse(toStoredToken(row), row.account_id, c, endpointsOf(db, row.account_id)) : null;
              if (entry) insertOutbox(db, [entry]);
            }
          }
        }
        db.exec('COMMIT');
      } catch (error) {
        this.db.rollback();
        throw error;
      }
    } catch (error) {
      throw namedStorageFault(error);
    }
  }

  async usageOf(accountId: string, tokenIds: readonly string[] | null, since: { day: string; hour: string }): Promise<Map<string, UsageRecords>> {
    return this.query((db) => {
      const only = tokenIds === null ? '' : ` AND t.id IN (${tokenIds.map(() => '?').join(', ') || "''"})`;
      const ids = tokenIds ?? [];
      const tokens = db.prepare<unknown[], { id: string; last_used_at: string | null }>(`SELECT t.id, t.last_used_at FROM tokens t WHERE t.account_id = ?${only}`).all(accountId, ...ids);
      const days = db
        .prepare<unknown[], { token_id: string; day: string; calls: number }>(`SELECT u.token_id, u.day, u.calls FROM usage_days u JOIN tokens t ON t.id = u.token_id WHERE t.account_id = ?${only} AND u.day >= ?`)
        .all(accountId, ...ids, since.day);
      const hours = db
        .prepare<unknown[], { token_id: string; hour: string; calls: number }>(`SELECT u.token_id, u.hour, u.calls FROM usage_hours u JOIN tokens t ON t.id = u.token_id WHERE t.account_id = ?${only} AND u.hour >= ?`)
        .all(accountId, ...ids, since.hour);
      const callers = db.prepare<unknown[], UsageCallerRow>(`SELECT u.* FROM usage_callers u JOIN tokens t ON t.id = u.token_id WHERE t.account_id = ?${only}`).all(accountId, ...ids);
      return gatherUsage(tokens, days, hours, callers);
    });
  }

  // ---- notifications: deliveries claimed one attempt at a time, the delivery log, time-based events ----------------

  async claimDeliveries(nowMs: number, leaseMs: number, limit: number): Promise<ClaimedDelivery[]> {
    return this.transaction(async (db) => {
      const due = db
        .prepare<unknown[], { message_id: string; endpoint_id: string; account_id: string; attempts: number; type: string; body: string; url: string; secret: string }>(
          `SELECT d.message_id, d.endpoint_id, d.account_id, d.attempts, m.type, m.body, e.url, e.secret
           FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id JOIN webhook_endpoints e ON e.id = d.endpoint_id
           WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND (d.lease_until IS NULL OR d.lease_until <= ?)
           ORDER BY d.next_attempt_at LIMIT ?`,
        )
        .all(nowMs, nowMs, limit);
      const owner = randomUUID();
      const leaseUntilMs = nowMs + leaseMs;
      const claim = db.prepare('UPDATE webhook_deliveries SET attempts = attempts + 1, lease_owner = ?, lease_until = ? WHERE message_id = ? AND endpoint_id = ?');
      return due.map((d) => {
        claim.run(owner, leaseUntilMs, d.message_id, d.endpoint_id);
        return { messageId: d.message_id, endpointId: d.endpoint_id, accountId: d.account_id, attempt: Number(d.attempts) + 1, type: d.type, body: d.body, url: d.url, secret: d.secret, owner, leaseUntilMs };
      });
    });
  }

  async finishDelivery(claim: ClaimedDelivery, o: AttemptOutcome): Promise<void> {
    await this.transaction(async (db) => {
      // The endpoint may have been removed meanwhile: its log went with it.
      if (!db.prepare('SELECT 1 FROM webhook_endpoints WHERE id = ?').get(claim.endpointId)) return;
      db.prepare('INSERT INTO webhook_attempts (endpoint_id, message_id, type, attempt, at, ok, status, error, ms, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
        claim.endpointId,
        claim.messageId,
        claim.type,
        claim.attempt,
        o.at,
        o.ok ? 1 : 0,
        o.status,
        o.error,
        Math.round(o.ms),
        o.nextAttemptAtMs === null ? null : new Date(o.nextAttemptAtMs).toISOString(),
      );
      const state = o.ok ? 'delivered' : o.nextAttemptAtMs === null ? 'failed' : 'pending';
      db.prepare(
        'UPDATE webhook_deliveries SET state = ?, next_attempt_at = ?, lease_owner = NULL, lease_until = NULL WHERE message_id = ? AND endpoint_id = ? AND lease_owner = ?',
      ).run(state, o.nextAttemptAtMs ?? 0, claim.messageId, claim.endpointId, claim.owner);
    });
  }

  async webhookAttempts(accountId: string, endpointId: string, limit: number): Promise<WebhookAttemptRecord[]> {
    return this.query((db) =>
      db
        .prepare<unknown[], WebhookAttemptRow>(
          `SELECT a.* FROM webhook_attempts a JOIN webhook_endpoints e ON e.id = a.endpoint_id
           WHERE e.account_id = ? AND a.endpoint_id = ? ORDER BY a.rowid DESC LIMIT ?`,
        )
        .all(accountId, endpointId, limit)
        .map(toWebhookAttempt),
    );
  }

  async webhookDeliveryStats(accountId: string): Promise<WebhookDeliveryStats[]> {
    return this.query((db) => {
      const endpoints = endpointsOf(db, accountId);
      const counts = db
        .prepare<[string], { endpoint_id: string; state: string; n: number }>('SELECT endpoint_id, state, count(*) AS n FROM webhook_deliveries WHERE account_id = ? GROUP BY endpoint_id, state')
        .all(accountId);
      const lastOf = db.prepare<[string], WebhookAttemptRow & { endpoint_id: string }>('SELECT * FROM webhook_attempts WHERE endpoint_id = ? ORDER BY rowid DESC LIMIT 1');
      const last = endpoints.flatMap((e) => lastOf.all(e.id));
      return deliveryStats(endpoints, counts, last);
    });
  }

  async recordLifecycleNotices(due: readonly DueNotice[], build: NoticeBuilder): Promise<DueNotice[]> {
    if (due.length === 0) return [];
    return this.transaction(async (db) => {
      // Whoever marks it first notifies it; later runs find it marked.
      const mark = db.prepare(
        `INSERT INTO token_notices (token_id, marks) SELECT id, ? FROM tokens WHERE id = ? AND account_id = ?
         ON CONFLICT (token_id) DO UPDATE SET marks = token_notices.marks || excluded.marks WHERE instr(token_notices.marks, excluded.marks) = 0`,
      );
      const endpoints = new Map<string, WebhookEndpointRecord[]>();
      const marked: DueNotice[] = [];
      for (const d of due) {
        const letter = NOTICE_MARKS[d.notice];
        if (Number(mark.run(letter, d.tokenId, d.accountId).changes) !== 1) continue;
        marked.push(d);
        const row = db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE id = ?').get(d.tokenId)!;
        if (!endpoints.has(d.accountId)) endpoints.set(d.accountId, endpointsOf(db, d.accountId));
        const entry = build(toStoredToken(row), d.accountId, d.notice, endpoints.get(d.accountId)!);
        if (entry) insertOutbox(db, [entry]);
      }
      return marked;
    });
  }

  // ---- the Tokens page's sign-in sessions (issue 13): by the hash of their id, never the id itself -------------

  async createWebSession(s: WebSessionRecord): Promise<void> {
    await this.transaction(async (db) => {
      db.prepare('INSERT INTO web_sessions (id_hash, principal_id, account_id, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)').run(
        s.idHash,
        s.principalId,
        s.accountId,
        s.createdAt,
        s.lastSeenAt,
      );
    });
  }

  /** The session with this id hash and its principal as it is now (a removed principal has no sessions), or null. */
  async webSession(idHash: Buffer): Promise<(WebSessionRecord & { principal: PrincipalRecord }) | null> {
    const row = this.query((db) =>
      db
        .prepare<[Buffer], PrincipalRow & { s_created_at: string; last_seen_at: string }>(
          'SELECT p.*, s.created_at AS s_created_at, s.last_seen_at FROM web_sessions s JOIN principals p ON p.id = s.principal_id WHERE s.id_hash = ?',
        )
        .get(idHash),
    );
    if (!row) return null;
    return { idHash, principalId: row.id, accountId: row.account_id, createdAt: row.s_created_at, lastSeenAt: row.last_seen_at, principal: toPrincipal(row) };
  }

  async touchWebSession(idHash: Buffer, lastSeenAt: string): Promise<void> {
    await this.transaction(async (db) => {
      db.prepare('UPDATE web_sessions SET last_seen_at = ? WHERE id_hash = ? AND last_seen_at < ?').run(lastSeenAt, idHash, lastSeenAt);
    });
  }

  async deleteWebSession(idHash: Buffer): Promise<void> {
    await this.transaction(async (db) => {
      db.prepare('DELETE FROM web_sessions WHERE id_hash = ?').run(idHash);
    });
  }

  /** Forgets sessions idle since before `idleBefore` or started before `startedBefore`; returns how many. */
  async deleteExpiredWebSessions(idleBefore: string, startedBefore: string): Promise<number> {
    return this.transaction(async (db) => Number(db.prepare('DELETE FROM web_sessions WHERE last_seen_at < ? OR created_at < ?').run(idleBefore, startedBefore).changes));
  }
}

/** The account's webhook endpoints, oldest first. */
function endpointsOf(db: Db, accountId: string): WebhookEndpointRecord[] {
  return db.prepare<[string], WebhookEndpointRow>('SELECT * FROM webhook_endpoints WHERE account_id = ? ORDER BY rowid').all(accountId).map(toWebhookEndpoint);
}

/** The outbox: each notification that goes somewhere, and one delivery per endpoint, due at once. */
function insertOutbox(db: Db, entries: readonly OutboxEntry[]): void {
  for (const e of entries) {
    if (e.endpointIds.length === 0) continue;
    db.prepare('INSERT INTO webhook_messages (id, account_id, type, body, created_at) VALUES (?, ?, ?, ?, ?)').run(e.id, e.accountId, e.type, e.body, e.createdAt);
    const delivery = db.prepare(`INSERT INTO webhook_deliveries (message_id, endpoint_id, account_id, state, attempts, next_attempt_at) VALUES (?, ?, ?, 'pending', 0, ?)`);
    for (const endpoint of e.endpointIds) delivery.run(e.id, endpoint, e.accountId, e.dueAtMs);
  }
}

/** Applies the migrations the database lacks, each in the transaction that records it; refuses a newer schema. */
function migrate(db: Db, file: string): void {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
  const current = hasMeta ? Number(db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").get()?.value ?? 0) : 0;
  if (!Number.isInteger(current) || current > LATEST_SQLITE_VERSION) {
    throw new StoreDataError(`the database ${file} has schema version ${current}; this tokenctl knows versions up to ${LATEST_SQLITE_VERSION}: upgrade tokenctl`);
  }
  for (const m of SQLITE_MIGRATIONS.filter((x) => x.version > current)) {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(m.sql);
      db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run('schema_version', String(m.version));
      db.exec('COMMIT');
    } catch (error) {
      db.rollback();
      throw error;
    }
  }
}
