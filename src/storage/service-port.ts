import type { Feature } from '../core/features.js';
import type { Role } from '../core/roles.js';
import type { TokenType } from '../core/tokens.js';
import type { PublishedJwk } from '../secrets/jwt.js';
import type { Sealer } from '../secrets/seal.js';
import type { AccountReader, AccountWriter, StoredAccount, StoredSigningKey, TokenStorage } from './port.js';

/**
 * What the token service needs of its storage beyond the token use cases' port (port.ts): accounts and their
 * principals, the Tokens page's sessions, last-used batches, what it keeps in memory and how it hears of changes,
 * the failed-authentication counts replicas share, and its health. SQLite (one machine) and PostgreSQL (replicas)
 * each implement all of it; one contract suite (test/storage/service-storage-contract.ts) runs on both, as the token
 * storage suite does on all three stores.
 */

/** A principal of an account: who may call the service, with which role. Its credential is kept only as a hash. */
export interface PrincipalRecord {
  id: string;
  accountId: string;
  name: string;
  role: Role;
  createdAt: string;
}

/** What the service adds to an account's transactions: its principals. */
export interface ServiceAccountReader extends AccountReader {
  principals(): Promise<PrincipalRecord[]>;
}

export interface ServiceAccountWriter extends AccountWriter, ServiceAccountReader {
  /** Sets the account's premium features (the operator's `tokenctl server account --enable/--disable`). */
  setFeatures(features: readonly Feature[]): Promise<void>;
  /** Fails with a usage error when the name is taken in the account. */
  insertPrincipal(p: PrincipalRecord, credentialHash: Buffer): Promise<void>;
  /**
   * Adds a signing key (sealed) to the account: new API tokens are signed with it (the newest key), tokens signed
   * by the older ones keep verifying. Its createdAt must be later than every other key's of the account.
   */
  insertSigningKey(key: StoredSigningKey): Promise<void>;
  deletePrincipal(id: string): Promise<void>;
}

/** Accounts by name: the operator's `tokenctl server ...` names them. */
export interface AccountDirectory {
  accountByName(name: string): Promise<StoredAccount | null>;
}

/**
 * A sign-in session of the Tokens page, as stored: the SHA-256 of its random id (the id itself is only ever in the
 * browser's cookie), whose principal, since when, last seen when.
 */
export interface WebSessionRecord {
  idHash: Buffer;
  principalId: string;
  accountId: string;
  createdAt: string;
  lastSeenAt: string;
}

/** The Tokens page's sessions: any process (any replica) serves any session. */
export interface SessionStorage {
  createWebSession(session: WebSessionRecord): Promise<void>;
  /** The session and its principal as it is now (a removed principal has no sessions), or null. */
  webSession(idHash: Buffer): Promise<(WebSessionRecord & { principal: PrincipalRecord }) | null>;
  touchWebSession(idHash: Buffer, lastSeenAt: string): Promise<void>;
  deleteWebSession(idHash: Buffer): Promise<void>;
  /** Forgets sessions idle since before `idleBefore` or started before `startedBefore`; returns how many. */
  deleteExpiredWebSessions(idleBefore: string, startedBefore: string): Promise<number>;
}

/** Where last-used times go: one call per batch; a time never moves backwards, whoever wrote last. */
export interface LastUsedSink {
  /** Synchronous (SQLite) or not (PostgreSQL); a failure, thrown or rejected, keeps the batch for the next try. */
  recordLastUsed(batch: ReadonlyMap<string, string>): void | Promise<void>;
}

/** A public signing key of an account, for the JWKS and for verifying API tokens. */
export interface PublicSigningKey {
  kid: string;
  accountId: string;
  publicJwk: PublishedJwk;
}

/** What the service keeps in memory of a token to introspect it: no name, no value, no sealed secret. */
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

/** Everything the service keeps in memory, of every account or of one. */
export interface IndexSnapshot {
  tokens: IndexedToken[];
  principals: IndexedPrincipal[];
  signingKeys: PublicSigningKey[];
}

/** What the service is told of changes it did not make itself (another replica's, another process's). */
export interface ChangeListener {
  /** An account's tokens, principals or keys changed (committed). */
  changed(accountId: string): void;
  /** Another replica blocked a client address (failed authentications) until this time (epoch ms). */
  blocked(address: string, untilMs: number): void;
  /** Listening (again): what was missed meanwhile is unknown, so everything kept must be read again. */
  connected(): void;
  disconnected(): void;
}

/** Where the memory of the service (server/memory/token-index.ts) is read from, and kept current by. */
export interface IndexSource {
  /**
   * Every token the service may have to introspect (live ones, and deleted ones deleted at `revokedBefore` or later),
   * every principal and every public signing key; or those of one account. One consistent snapshot.
   */
  indexSnapshot(accountId: string | null, revokedBefore: string): Promise<IndexSnapshot>;
  /** Starts telling `listener` of changes; `connected` first, once listening. */
  listen(listener: ChangeListener): ChangeSubscription;
}

export interface ChangeSubscription {
  close(): Promise<void>;
  /**
   * A source that looks for changes now and then (SQLite, every second) looks now, synchronously, and tells the
   * listener at once if something changed; true if it did. One that is told of changes as they commit
   * (PostgreSQL's notifications) has nothing to look at.
   */
  lookNow?(): boolean;
}

/** Failed authentications counted for every replica (PostgreSQL); a single process counts on its own. */
export interface SharedAuthFailures {
  /** Until when the address is blocked (epoch ms, 0 if not), and its failures in the current window, all replicas'. */
  recordAuthFailure(address: string, nowMs: number, opts: { maxFailures: number; windowMs: number; blockMs: number }): Promise<{ untilMs: number; failures: number }>;
  /** Addresses blocked now (a replica that starts, or listens again, learns the blocks it missed). */
  activeBlocks(nowMs: number): Promise<{ address: string; untilMs: number }[]>;
  /** Forgets counts whose window and block have both ended. */
  pruneAuthFailures(nowMs: number, windowMs: number): Promise<void>;
}

/** The whole storage of the token service. */
export interface ServiceStorage
  extends TokenStorage<ServiceAccountWriter, ServiceAccountReader>,
    AccountDirectory,
    SessionStorage,
    LastUsedSink,
    IndexSource {
  /** The server key's sealer, synchronously (the hot path fingerprints with it). */
  readonly serverSealer: Sealer;
  /** Failure counts shared with other replicas; null where one process serves the data (SQLite). */
  readonly sharedAuthFailures: SharedAuthFailures | null;
  /** Whether the storage can serve now (GET /readyz), decided at once from what is known. */
  ready(): Promise<boolean>;
  /** Housekeeping on a timer: forgets what no longer matters (PostgreSQL: write operation ids). */
  maintain(nowMs: number): Promise<void>;
  close(): void | Promise<void>;
}
