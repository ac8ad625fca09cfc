import type { AuditEntry, AuditEvent } from '../core/audit.js';
import type { Feature } from '../core/features.js';
import type { VerifyResult } from '../core/audit-chain.js';
import type { RotationRecord } from '../core/rotation.js';
import type { TokenRecord } from '../core/tokens.js';
import type { PublicJwk } from '../secrets/jwt.js';
import type { Sealer } from '../secrets/seal.js';

/**
 * The one storage port the token use cases (src/tokens/) are written over. Every implementation (the local JSON
 * file, SQLite; PostgreSQL next) passes the same contract suite (test/storage/). A store keeps facts and keeps
 * them consistent; it holds no rule of the spec: those are in core/, applied by the token service.
 *
 * Transactions are per account and serialised: `write` runs its function while no other write of that account
 * (in this process or another one sharing the data) can run, and commits everything it did, audit entries
 * included, or nothing. `read` sees the last committed state.
 */
export interface StoredToken extends TokenRecord {
  /** HMAC of the value under a key derived from the store's key: finds a value without revealing it. */
  fingerprint: string;
  /** The sealed value; null once the token is deleted (a deleted token's value is never served again). */
  secret: string | null;
}

export interface StoredAccount {
  id: string;
  name: string;
  createdAt: string;
  /**
   * The account's premium features (core/features.ts). Absent: every feature, as in a store that does not record
   * them (the local store is its owner's). The service's SQL storage always records a list, possibly empty.
   */
  features?: readonly Feature[];
}

export interface StoredSigningKey {
  kid: string;
  /** Ed25519 (EdDSA), P-256 (ES256) or RSA (RS256): the key type decides the algorithm (secrets/jwt.ts algOfJwk). */
  publicJwk: PublicJwk;
  /** Sealed PKCS#8 PEM (associated data `<accountId>:signing-key`). */
  privateKey: string;
  createdAt: string;
}

export interface AccountReader {
  readonly accountId: string;
  account(): Promise<StoredAccount>;
  /** Every token of the account, deleted ones included, in creation order. */
  tokens(): Promise<StoredToken[]>;
  rotations(): Promise<RotationRecord[]>;
  /** The account's signing key for new API tokens: its newest. */
  signingKey(): Promise<StoredSigningKey>;
  /** Every signing key of the account, oldest first (tokens signed by older keys keep verifying). */
  signingKeys(): Promise<StoredSigningKey[]>;
}

export interface AccountWriter extends AccountReader {
  insertToken(token: StoredToken): Promise<void>;
  /** Stores a token's changed name, deletion time or sealed value. */
  updateToken(token: StoredToken): Promise<void>;
  insertRotation(rotation: RotationRecord): Promise<void>;
  updateRotation(rotation: RotationRecord): Promise<void>;
  /** Appends to the account's audit chain, committed with the rest of the change (a change is never unrecorded). */
  audit(entries: readonly AuditEntry[]): Promise<void>;
}

/** Who makes a change, and when: stamped on its audit entries. */
export interface ChangeContext {
  actor: string;
  at: string;
}

export interface NewAccount {
  account: StoredAccount;
  /** Seals the account's signing key with the store's sealer, which may only exist once the account does. */
  signingKey(sealer: Sealer): StoredSigningKey;
}

export interface TokenStorage<W extends AccountWriter = AccountWriter, R extends AccountReader = AccountReader> {
  /** Where the data lives, for messages. */
  readonly location: string;
  /** The sealer of the store's key: seals values, fingerprints them, MACs the audit chain. */
  sealer(): Promise<Sealer>;
  read<T>(accountId: string, fn: (tx: R) => Promise<T> | T): Promise<T>;
  write<T>(accountId: string, change: ChangeContext, fn: (tx: W) => Promise<T> | T): Promise<T>;
  /**
   * Creates an account and runs `fn` in the same transaction: all of it exists afterwards, or none of it. `fn` gets
   * the sealer (a new local store makes its key here).
   */
  createAccount<T>(input: NewAccount, change: ChangeContext, fn: (tx: W, sealer: Sealer) => Promise<T> | T): Promise<T>;
  auditEvents(accountId: string): Promise<AuditEvent[]>;
  verifyAudit(accountId: string): Promise<VerifyResult>;
}
