import { chmodSync, existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StoreDataError, TokenctlError, TokenNotFoundError, UsageError } from '../core/errors.js';
import { nameKey, normalizeTokenName } from '../core/names.js';
import {
  assertRetrievable,
  isDeletePhrase,
  planCreateToken,
  planDeleteToken,
  planRenameToken,
  resolveToken,
  POLICY,
  type TokenRecord,
  type TokenType,
} from '../core/tokens.js';
import { generateSigningKey, issuerFor, mintApiToken } from '../secrets/jwt.js';
import { maskValue, mintOpaqueToken, randomBase62 } from '../secrets/opaque.js';
import { createSealer, keyCheckMatches, type Sealer } from '../secrets/seal.js';
import type { AccountInfo, AccountKeys, AuditVerification, RevealedToken, RotationStart } from '../backends/token-backend.js';
import { tokenRef, type AuditEntry, type AuditEvent } from '../core/audit.js';
import { eventOf, GENESIS, parseLine, toLine, verifyChain } from '../core/audit-chain.js';
import {
  assertCanComplete,
  assertRotationSlot,
  deriveReplacementName,
  findUnfinishedRotation,
  planRotation,
  RotationError,
  type RotationRecord,
} from '../core/rotation.js';
import { credentialHashMatches, hashCredential, mintCredential, type Role } from './credentials.js';

export const DB_FILE = 'tokenctl.db';
const PRINCIPAL_CACHE_MS = 5_000;
const SCHEMA_VERSION = '1';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS signing_keys (
  kid TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  public_jwk TEXT NOT NULL,
  private_key TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS principals (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'user', 'partner', 'service')),
  credential_hash BLOB NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  UNIQUE (account_id, name_key)
);
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('api', 'onelink', 's2s')),
  created_at TEXT NOT NULL,
  activates_at TEXT NOT NULL,
  deleted_at TEXT,
  last_used_at TEXT,
  masked TEXT NOT NULL,
  fingerprint TEXT NOT NULL UNIQUE,
  secret TEXT
);
-- A safety net under the core's rule: live names are unique per account, ignoring case.
CREATE UNIQUE INDEX IF NOT EXISTS tokens_live_name ON tokens (account_id, name_key) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS tokens_account ON tokens (account_id);
CREATE TABLE IF NOT EXISTS rotations (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rotations_account ON rotations (account_id);
-- The audit trail: per account, each event chained to the one before by a MAC under the server key; the
-- account row keeps the head, so cutting events off the end is detected too.
CREATE TABLE IF NOT EXISTS audit_events (
  account_id TEXT NOT NULL REFERENCES accounts(id),
  seq INTEGER NOT NULL,
  line TEXT NOT NULL,
  PRIMARY KEY (account_id, seq)
);
CREATE TABLE IF NOT EXISTS audit_heads (
  account_id TEXT PRIMARY KEY REFERENCES accounts(id),
  seq INTEGER NOT NULL,
  mac TEXT NOT NULL
);
`;

interface TokenRow {
  id: string;
  account_id: string;
  name: string;
  name_key: string;
  type: TokenType;
  created_at: string;
  activates_at: string;
  deleted_at: string | null;
  last_used_at: string | null;
  masked: string;
  fingerprint: string;
  secret: string | null;
}

interface AccountRow {
  id: string;
  name: string;
  created_at: string;
}

interface PrincipalRow {
  id: string;
  account_id: string;
  name: string;
  role: Role;
  credential_hash: Buffer;
  created_at: string;
}

export interface Principal {
  id: string;
  accountId: string;
  name: string;
  role: Role;
}

export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

export interface SigningKeyInfo {
  kid: string;
  accountId: string;
  publicJwk: PublicJwk;
}

/** A token found by its value (for introspection), with the account it belongs to. */
export interface TokenMatch {
  token: TokenRecord;
  accountId: string;
}

const toRecord = (r: TokenRow): TokenRecord => ({
  id: r.id,
  name: r.name,
  type: r.type,
  createdAt: r.created_at,
  activatesAt: r.activates_at,
  deletedAt: r.deleted_at,
  lastUsedAt: r.last_used_at,
  masked: r.masked,
});

const toAccount = (r: AccountRow): AccountInfo => ({ id: r.id, name: r.name, createdAt: r.created_at });

const newId = (prefix: string) => `${prefix}_${randomBase62(16)}`;

/** The actor recorded for changes made with `tokenctl server ...` on the service's own machine. */
export const SERVER_ACTOR = 'server:operator';

/** The actor recorded for a principal's changes. */
export function actorOf(p: { name: string; role: string; id: string }): string {
  return `${p.role}:${p.name} (${p.id})`;
}


/**
 * The service's storage: SQLite (WAL) through better-sqlite3. Every change that a rule guards runs the core's
 * plan inside an IMMEDIATE transaction, so the 2-per-type limit and unique names hold across concurrent
 * requests and across processes sharing the data directory. Token values are sealed (AES-GCM) under the
 * server's master key and found by keyed fingerprint; principals' credentials are stored as hashes.
 */
export class ServerStore {
  private readonly db: Database.Database;
  private readonly sealer: Sealer;
  private readonly stmt;
  private readonly principalCache = new Map<string, { principal: Principal; until: number }>();
  private tokenChanges = 0;

  private constructor(db: Database.Database, sealer: Sealer) {
    this.db = db;
    this.sealer = sealer;
    this.stmt = {
      tokensOf: db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE account_id = ? ORDER BY created_at, rowid'),
      tokenById: db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE id = ?'),
      tokenByFingerprint: db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE fingerprint = ?'),
      insertToken: db.prepare(
        `INSERT INTO tokens (id, account_id, name, name_key, type, created_at, activates_at, deleted_at, last_used_at, masked, fingerprint, secret)
         VALUES (@id, @account_id, @name, @name_key, @type, @created_at, @activates_at, NULL, NULL, @masked, @fingerprint, @secret)`,
      ),
      renameToken: db.prepare('UPDATE tokens SET name = ?, name_key = ? WHERE id = ?'),
      deleteToken: db.prepare('UPDATE tokens SET deleted_at = ?, secret = NULL WHERE id = ?'),
      touchToken: db.prepare('UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)'),
      accountById: db.prepare<[string], AccountRow>('SELECT id, name, created_at FROM accounts WHERE id = ?'),
      accountByNameKey: db.prepare<[string], AccountRow>('SELECT id, name, created_at FROM accounts WHERE name_key = ?'),
      principalByHash: db.prepare<[Buffer], PrincipalRow>('SELECT * FROM principals WHERE credential_hash = ?'),
      signingKeyOf: db.prepare<[string], { kid: string; private_key: string }>(
        'SELECT kid, private_key FROM signing_keys WHERE account_id = ? ORDER BY created_at DESC LIMIT 1',
      ),
      allSigningKeys: db.prepare<[], { kid: string; account_id: string; public_jwk: string }>(
        'SELECT kid, account_id, public_jwk FROM signing_keys ORDER BY created_at, kid',
      ),
    };
  }

  /** Opens (and on first use creates) the database in `dir`, which the caller has made private. */
  static open(dir: string, masterKey: Buffer): ServerStore {
    const file = path.join(dir, DB_FILE);
    const fresh = !existsSync(file);
    const db = new Database(file);
    try {
      if (fresh && process.platform !== 'win32') chmodSync(file, 0o600);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      db.exec(SCHEMA);
      const sealer = createSealer(masterKey);
      const meta = db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?');
      const check = meta.get('key_check')?.value;
      if (check === undefined) {
        db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?), (?, ?)').run('key_check', sealer.keyCheck, 'schema_version', SCHEMA_VERSION);
      } else if (!keyCheckMatches(sealer, check)) {
        throw new StoreDataError(`the server master key is not the key the database in ${dir} was created with; restore the right key`);
      }
      const version = meta.get('schema_version')?.value;
      if (version !== undefined && version !== SCHEMA_VERSION) {
        throw new StoreDataError(`the database in ${dir} has schema version ${version}; this tokenctl understands version ${SCHEMA_VERSION}`);
      }
      return new ServerStore(db, sealer);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // ---- accounts and principals -------------------------------------------------------------------------

  /** Creates an account with its signing key, its first admin and (by default) the `default` API token. */
  async createAccount(
    input: { name: string; defaultToken: boolean; adminName?: string },
    now: Date,
  ): Promise<{ account: AccountInfo; admin: Principal; credential: string; tokens: TokenRecord[] }> {
    const name = normalizeTokenName(input.name);
    const accountId = newId('acc');
    const signing = generateSigningKey();
    const credential = mintCredential();
    const adminName = input.adminName ?? 'admin';
    const createdAt = now.toISOString();
    this.db
      .transaction(() => {
        if (this.stmt.accountByNameKey.get(nameKey(name))) {
          throw new TokenctlError('conflict', `an account named '${name}' already exists on this service; pick another --account, or add a principal to it with: tokenctl server add-principal`);
        }
        this.db.prepare('INSERT INTO accounts (id, name, name_key, created_at) VALUES (?, ?, ?, ?)').run(accountId, name, nameKey(name), createdAt);
        this.db
          .prepare('INSERT INTO signing_keys (kid, account_id, public_jwk, private_key, created_at) VALUES (?, ?, ?, ?, ?)')
          .run(signing.kid, accountId, JSON.stringify(signing.publicJwk), this.sealer.seal(signing.privatePkcs8Pem, `${accountId}:signing-key`), createdAt);
        this.audit(accountId, SERVER_ACTOR, now, [{ action: 'account.init', token: null, fingerprint: null, detail: { account: accountId, name } }]);
      })
      .immediate();
    const admin = this.insertPrincipal(accountId, adminName, 'admin', credential, now);
    const tokens = input.defaultToken ? [(await this.createToken(accountId, { type: 'api', name: 'default' }, SERVER_ACTOR, now, true)).token] : [];
    return { account: { id: accountId, name, createdAt }, admin, credential, tokens };
  }

  accountByName(name: string): AccountInfo {
    const row = this.stmt.accountByNameKey.get(nameKey(name.trim().normalize('NFC')));
    if (!row) throw new TokenNotFoundError(`no account named '${name}' on this service; create one with: tokenctl server init --data <dir> --account <name>`);
    return toAccount(row);
  }

  account(id: string): AccountInfo {
    const row = this.stmt.accountById.get(id);
    if (!row) throw new TokenNotFoundError(`no account with id ${id}`);
    return toAccount(row);
  }

  addPrincipal(accountName: string, role: Role, name: string, now: Date): { principal: Principal; credential: string } {
    const account = this.accountByName(accountName);
    const credential = mintCredential();
    return { principal: this.insertPrincipal(account.id, name, role, credential, now), credential };
  }

  listPrincipals(accountName: string): (Principal & { createdAt: string })[] {
    const account = this.accountByName(accountName);
    return this.db
      .prepare<[string], PrincipalRow>('SELECT * FROM principals WHERE account_id = ? ORDER BY created_at, rowid')
      .all(account.id)
      .map((r) => ({ id: r.id, accountId: r.account_id, name: r.name, role: r.role, createdAt: r.created_at }));
  }

  /**
   * Removes a principal, so its credential stops working (a leaked one, say). A running service notices within
   * the few seconds it remembers authentications. The last admin of an account stays: add another first.
   */
  removePrincipal(accountName: string, name: string): Principal {
    return this.db
      .transaction(() => {
        const principals = this.listPrincipals(accountName);
        const p = principals.find((x) => nameKey(x.name) === nameKey(name.trim().normalize('NFC')) || x.id === name.trim());
        if (!p) throw new TokenNotFoundError(`no principal named '${name}' in account '${accountName}'; see them with: tokenctl server principals --data <dir> --account ${accountName}`);
        if (p.role === 'admin' && principals.filter((x) => x.role === 'admin').length === 1) {
          throw new TokenctlError('conflict', `'${p.name}' is the last admin of account '${accountName}'; add another admin first (tokenctl server add-principal --role admin)`);
        }
        this.db.prepare('DELETE FROM principals WHERE id = ?').run(p.id);
        this.principalCache.clear();
        return { id: p.id, accountId: p.accountId, name: p.name, role: p.role };
      })
      .immediate();
  }

  private insertPrincipal(accountId: string, rawName: string, role: Role, credential: string, now: Date): Principal {
    const name = normalizeTokenName(rawName);
    const id = newId('prn');
    try {
      this.db
        .prepare('INSERT INTO principals (id, account_id, name, name_key, role, credential_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(id, accountId, name, nameKey(name), role, hashCredential(credential), now.toISOString());
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new UsageError(`a principal named '${name}' already exists in this account; choose another --name`);
      }
      throw error;
    }
    return { id, accountId, name, role };
  }

  /**
   * The principal a credential belongs to, or null. Found by hash, then compared in constant time. Successful
   * lookups are remembered for a few seconds (by hash, bounded), sparing a query on every introspection; a
   * principal changed by another process is seen again within that time.
   */
  authenticate(credential: string, nowMs: number = Date.now()): Principal | null {
    const key = hashCredential(credential, 'base64');
    const cached = this.principalCache.get(key);
    if (cached && cached.until > nowMs) return cached.principal;
    const presented = Buffer.from(key, 'base64');
    const row = this.stmt.principalByHash.get(presented);
    if (!row || !credentialHashMatches(row.credential_hash, presented)) {
      this.principalCache.delete(key);
      return null;
    }
    const principal: Principal = { id: row.id, accountId: row.account_id, name: row.name, role: row.role };
    if (this.principalCache.size >= 1_000) this.principalCache.delete(this.principalCache.keys().next().value!);
    this.principalCache.set(key, { principal, until: nowMs + PRINCIPAL_CACHE_MS });
    return principal;
  }

  // ---- audit trail ---------------------------------------------------------------------------------------

  /** Appends events to the account's chain; callers run it inside their write transaction (fail closed). */
  private audit(accountId: string, actor: string, now: Date, entries: readonly AuditEntry[]): void {
    let head = this.db.prepare<[string], { seq: number; mac: string }>('SELECT seq, mac FROM audit_heads WHERE account_id = ?').get(accountId) ?? {
      seq: 0,
      mac: GENESIS,
    };
    const insert = this.db.prepare('INSERT INTO audit_events (account_id, seq, line) VALUES (?, ?, ?)');
    for (const entry of entries) {
      const line = toLine({ seq: head.seq + 1, at: now.toISOString(), actor, ...entry }, head.mac, (t) => this.sealer.mac(t));
      insert.run(accountId, line.seq, JSON.stringify(line));
      head = { seq: line.seq, mac: line.mac };
    }
    this.db.prepare('INSERT INTO audit_heads (account_id, seq, mac) VALUES (?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET seq = excluded.seq, mac = excluded.mac').run(
      accountId,
      head.seq,
      head.mac,
    );
  }

  private auditLines(accountId: string): string[] {
    return this.db
      .prepare<[string], { line: string }>('SELECT line FROM audit_events WHERE account_id = ? ORDER BY seq')
      .all(accountId)
      .map((r) => r.line);
  }

  auditEvents(accountId: string): AuditEvent[] {
    return this.auditLines(accountId).map((text, i) => {
      const line = parseLine(text);
      if (!line) throw new StoreDataError(`audit event ${i + 1} of this account is unreadable; check the trail with: tokenctl log --verify`);
      return eventOf(line);
    });
  }

  /** Checks every event's MAC and its link to the one before, then that the recorded head is in the chain. */
  verifyAudit(accountId: string): AuditVerification {
    const head = this.db.prepare<[string], { seq: number; mac: string }>('SELECT seq, mac FROM audit_heads WHERE account_id = ?').get(accountId);
    return verifyChain(this.auditLines(accountId), (t) => this.sealer.mac(t), head ?? null);
  }

  accountKeys(accountId: string): AccountKeys {
    return { accountId, issuer: issuerFor(accountId), keys: this.signingKeys().filter((k) => k.accountId === accountId).map((k) => k.publicJwk) };
  }

  // ---- tokens ------------------------------------------------------------------------------------------

  listTokens(accountId: string): TokenRecord[] {
    return this.stmt.tokensOf.all(accountId).map(toRecord);
  }

  findToken(accountId: string, ref: string): TokenRecord {
    return resolveToken(this.listTokens(accountId), ref);
  }

  private async mint(accountId: string, id: string, type: TokenType, now: Date, activatesAt: Date): Promise<string> {
    if (type !== 'api') return mintOpaqueToken(type);
    const key = this.stmt.signingKeyOf.get(accountId);
    if (!key) throw new StoreDataError(`account ${accountId} has no signing key`);
    const pem = this.sealer.open(key.private_key, `${accountId}:signing-key`);
    return mintApiToken({ kid: key.kid, privatePkcs8Pem: pem }, { accountId, tokenId: id, issuedAt: now, notBefore: activatesAt });
  }

  private async mintFor(accountId: string, input: { type: TokenType; name: string }, now: Date, activeImmediately: boolean) {
    const id = newId('tok');
    // The core's plan runs here to fail fast before minting (an API token is signed asynchronously), and again
    // inside the write transaction (insertPlanned), which is what makes the limit hold under concurrency.
    planCreateToken(this.listTokens(accountId), { id, type: input.type, name: input.name, masked: 'x', activeImmediately }, now);
    const activatesAt = activeImmediately ? now : new Date(now.getTime() + POLICY.pendingMs);
    return { id, value: await this.mint(accountId, id, input.type, now, activatesAt) };
  }

  /** Inside a transaction: plans against the current rows and inserts, or throws (limit reached, name taken). */
  private insertPlanned(accountId: string, minted: { id: string; value: string }, input: { type: TokenType; name: string }, now: Date, activeImmediately: boolean) {
    const planned = planCreateToken(
      this.listTokens(accountId),
      { id: minted.id, type: input.type, name: input.name, masked: maskValue(input.type, minted.value), activeImmediately },
      now,
    );
    const fingerprint = this.sealer.fingerprint(minted.value);
    this.tokensChanged();
    this.stmt.insertToken.run({
      id: minted.id,
      account_id: accountId,
      name: planned.name,
      name_key: nameKey(planned.name),
      type: planned.type,
      created_at: planned.createdAt,
      activates_at: planned.activatesAt,
      masked: planned.masked,
      fingerprint,
      secret: this.sealer.seal(minted.value, `${accountId}:${minted.id}`),
    });
    const event: AuditEntry = { action: 'token.create', token: tokenRef(planned), fingerprint, detail: null };
    return { planned, event };
  }

  async createToken(
    accountId: string,
    input: { type: TokenType; name: string },
    actor: string,
    now: Date,
    activeImmediately = false,
  ): Promise<RevealedToken> {
    const minted = await this.mintFor(accountId, input, now, activeImmediately);
    const record = this.db
      .transaction(() => {
        const { planned, event } = this.insertPlanned(accountId, minted, input, now, activeImmediately);
        this.audit(accountId, actor, now, [event]);
        return planned;
      })
      .immediate();
    return { token: record, value: minted.value };
  }

  private openValue(accountId: string, tokenId: string): { value: string; fingerprint: string } {
    const row = this.stmt.tokenById.get(tokenId);
    if (!row || row.secret === null) throw new TokenNotFoundError(`token ${tokenId} was deleted; its value is gone`);
    const value = this.sealer.open(row.secret, `${accountId}:${tokenId}`);
    if (this.sealer.fingerprint(value) !== row.fingerprint) {
      throw new StoreDataError(`the value of token ${tokenId} does not match its fingerprint (tampered database)`);
    }
    return { value, fingerprint: row.fingerprint };
  }

  /** Every retrieval is recorded in the trail first: no record, no value. */
  revealToken(accountId: string, ref: string, allowPending: boolean, actor: string, now: Date): RevealedToken {
    return this.db
      .transaction(() => {
        const token = this.findToken(accountId, ref);
        assertRetrievable(token, now, allowPending);
        const { value, fingerprint } = this.openValue(accountId, token.id);
        this.audit(accountId, actor, now, [{ action: 'token.reveal', token: tokenRef(token), fingerprint, detail: null }]);
        return { token, value };
      })
      .immediate();
  }

  renameToken(accountId: string, ref: string, newName: string, actor: string, now: Date): TokenRecord {
    return this.db
      .transaction(() => {
        const tokens = this.listTokens(accountId);
        const token = resolveToken(tokens, ref);
        const renamed = planRenameToken(tokens, token, newName);
        this.tokensChanged();
        this.stmt.renameToken.run(renamed.name, nameKey(renamed.name), renamed.id);
        this.audit(accountId, actor, now, [{ action: 'token.rename', token: tokenRef(renamed), fingerprint: null, detail: { from: token.name, to: renamed.name } }]);
        return renamed;
      })
      .immediate();
  }

  private deleteRow(token: TokenRecord, now: Date): { deleted: TokenRecord; event: AuditEntry } {
    const deleted = planDeleteToken(token, now);
    this.tokensChanged();
    this.stmt.deleteToken.run(deleted.deletedAt, deleted.id);
    const fingerprint = this.stmt.tokenById.get(token.id)?.fingerprint ?? null;
    return { deleted, event: { action: 'token.delete', token: tokenRef(deleted), fingerprint, detail: null } };
  }

  deleteToken(accountId: string, ref: string, confirmation: string, actor: string, now: Date): TokenRecord {
    if (!isDeletePhrase(confirmation)) throw new UsageError(`deleting needs the exact confirmation phrase "${POLICY.deletePhrase}"`);
    return this.db
      .transaction(() => {
        const { deleted, event } = this.deleteRow(resolveToken(this.listTokens(accountId), ref), now);
        this.audit(accountId, actor, now, [event]);
        return deleted;
      })
      .immediate();
  }

  // ---- rotation journal -----------------------------------------------------------------------------------

  rotations(accountId: string): RotationRecord[] {
    return this.db
      .prepare<[string], { body: string }>('SELECT body FROM rotations WHERE account_id = ? ORDER BY rowid')
      .all(accountId)
      .map((r) => JSON.parse(r.body) as RotationRecord);
  }

  private rotation(accountId: string, id: string): RotationRecord {
    const row = this.db.prepare<[string, string], { body: string }>('SELECT body FROM rotations WHERE account_id = ? AND id = ?').get(accountId, id);
    if (!row) throw new TokenNotFoundError(`no rotation ${id} in this account`);
    return JSON.parse(row.body) as RotationRecord;
  }

  private saveRotation(accountId: string, r: RotationRecord, insert = false): void {
    if (insert) this.db.prepare('INSERT INTO rotations (id, account_id, body) VALUES (?, ?, ?)').run(r.id, accountId, JSON.stringify(r));
    else this.db.prepare('UPDATE rotations SET body = ? WHERE id = ? AND account_id = ?').run(JSON.stringify(r), r.id, accountId);
  }

  private checkRotationStart(accountId: string, ref: string, now: Date, newName?: string): { old: TokenRecord; name: string } {
    const tokens = this.listTokens(accountId);
    const old = resolveToken(tokens, ref);
    const open = findUnfinishedRotation(this.rotations(accountId), old.id);
    if (open) throw new RotationError('conflict', `token '${old.name}' already has an unfinished rotation (${open.id}); continue it with: tokenctl rotate ${old.name} --resume`);
    assertRotationSlot(tokens, old, now);
    return { old, name: newName ?? deriveReplacementName(tokens, old.name, now) };
  }

  /** Checks a slot is free, creates the replacement and records the journal entry, in one transaction. */
  async startRotation(accountId: string, ref: string, input: { newName?: string }, actor: string, now: Date): Promise<RotationStart> {
    const first = this.checkRotationStart(accountId, ref, now, input.newName);
    const minted = await this.mintFor(accountId, { type: first.old.type, name: first.name }, now, false);
    return this.db
      .transaction(() => {
        const { old, name } = this.checkRotationStart(accountId, ref, now, input.newName);
        if (old.id !== first.old.id) throw new RotationError('conflict', `'${ref}' now names another token; nothing was changed, try again`);
        const { planned, event } = this.insertPlanned(accountId, minted, { type: old.type, name }, now, false);
        const rotation = planRotation(newId('rot'), old, planned.id, now);
        this.saveRotation(accountId, rotation, true);
        this.audit(accountId, actor, now, [
          event,
          { action: 'rotation.start', token: tokenRef(old), fingerprint: null, detail: { rotation: rotation.id, replacement: rotation.newTokenId } },
        ]);
        return { rotation, old, replacement: { token: planned, value: minted.value } };
      })
      .immediate();
  }

  markRotationDelivered(accountId: string, rotationId: string, delivery: 'stdout' | 'exec', actor: string, now: Date): RotationRecord {
    return this.db
      .transaction(() => {
        const r = this.rotation(accountId, rotationId);
        if (r.state === 'started') {
          r.state = 'delivered';
          r.delivery = delivery;
          r.deliveredAt = now.toISOString();
          this.saveRotation(accountId, r);
        }
        const replacement = this.stmt.tokenById.get(r.newTokenId);
        this.audit(accountId, actor, now, [
          {
            action: 'rotation.deliver',
            token: replacement ? tokenRef(toRecord(replacement)) : null,
            fingerprint: replacement?.fingerprint ?? null,
            detail: { rotation: r.id, via: delivery },
          },
        ]);
        return r;
      })
      .immediate();
  }

  completeRotation(accountId: string, rotationId: string, confirmation: string, actor: string, now: Date): { rotation: RotationRecord; old: TokenRecord } {
    if (!isDeletePhrase(confirmation)) throw new UsageError(`completing a rotation deletes the old token and needs the exact phrase "${POLICY.deletePhrase}"`);
    return this.db
      .transaction(() => {
        const r = this.rotation(accountId, rotationId);
        const row = this.stmt.tokenById.get(r.newTokenId);
        assertCanComplete(r, row && row.account_id === accountId ? toRecord(row) : undefined, now);
        const oldRow = this.stmt.tokenById.get(r.oldTokenId);
        if (!oldRow || oldRow.account_id !== accountId) throw new StoreDataError(`rotation ${r.id} refers to token ${r.oldTokenId}, which does not exist`);
        let old = toRecord(oldRow);
        const events: AuditEntry[] = [];
        if (old.deletedAt === null) {
          const d = this.deleteRow(old, now);
          old = d.deleted;
          events.push(d.event);
        }
        r.state = 'completed';
        r.completedAt = now.toISOString();
        this.saveRotation(accountId, r);
        events.push({ action: 'rotation.complete', token: tokenRef(old), fingerprint: null, detail: { rotation: r.id, replacement: r.newTokenId } });
        this.audit(accountId, actor, now, events);
        return { rotation: r, old };
      })
      .immediate();
  }

  abandonRotation(accountId: string, rotationId: string, reason: string, actor: string, now: Date): RotationRecord {
    return this.db
      .transaction(() => {
        const r = this.rotation(accountId, rotationId);
        r.state = 'abandoned';
        r.note = reason;
        this.saveRotation(accountId, r);
        const old = this.stmt.tokenById.get(r.oldTokenId);
        this.audit(accountId, actor, now, [
          { action: 'rotation.abandon', token: old ? tokenRef(toRecord(old)) : null, fingerprint: null, detail: { rotation: r.id, reason } },
        ]);
        return r;
      })
      .immediate();
  }

  // ---- introspection ------------------------------------------------------------------------------------

  /** Every change to a token row goes through here, so that caches over lookups (introspection) forget at once. */
  private tokensChanged(): void {
    this.tokenChanges++;
  }

  /** Counts this process's changes to tokens. */
  get tokenGeneration(): number {
    return this.tokenChanges;
  }

  /** The keyed fingerprint (HMAC under the server key) tokens are found by. */
  fingerprint(value: string): string {
    return this.sealer.fingerprint(value);
  }

  /** Any token with exactly this value (deleted ones included), whatever its account. */
  matchValue(value: string): TokenMatch | null {
    return this.matchFingerprint(this.sealer.fingerprint(value));
  }

  /** The token with this keyed fingerprint (deleted ones included), whatever its account. */
  matchFingerprint(fingerprint: string): TokenMatch | null {
    const row = this.stmt.tokenByFingerprint.get(fingerprint);
    return row ? { token: toRecord(row), accountId: row.account_id } : null;
  }

  identify(accountId: string, value: string): TokenRecord | null {
    const match = this.matchValue(value);
    return match && match.accountId === accountId ? match.token : null;
  }

  /** Writes a batch of last-used times in one transaction; a time never moves backwards. */
  recordLastUsed(batch: ReadonlyMap<string, string>): void {
    if (batch.size === 0) return;
    this.db.transaction(() => {
      for (const [id, at] of batch) this.stmt.touchToken.run(at, id, at);
    })();
  }

  signingKeys(): SigningKeyInfo[] {
    return this.stmt.allSigningKeys.all().map((r) => ({
      kid: r.kid,
      accountId: r.account_id,
      publicJwk: { ...(JSON.parse(r.public_jwk) as { kty: 'OKP'; crv: 'Ed25519'; x: string }), kid: r.kid, alg: 'EdDSA', use: 'sig' },
    }));
  }
}
