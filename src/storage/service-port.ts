import type { Feature } from '../core/features.js';
import type { LifecycleNotice } from '../core/notifications.js';
import type { UsageKind } from '../core/usage.js';
import type { UsageRecords } from '../core/usage-records.js';
import type { Role } from '../core/roles.js';
import type { TokenType } from '../core/tokens.js';
import type { PublishedJwk } from '../secrets/jwt.js';
import type { Sealer } from '../secrets/seal.js';
import type { AccountReader, AccountWriter, StoredAccount, StoredSigningKey, StoredToken, TokenStorage } from './port.js';

/**
 * What the token service needs of its storage beyond the token use cases' port (port.ts): accounts and their
 * principals, the Tokens page's sessions, last-used batches, what it keeps in memory and how it hears of changes,
 * the failed-authentication counts replicas share, usage, the notifications' outbox, and its health. SQLite (one machine) and PostgreSQL (replicas)
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

/** What the service adds to an account's transactions: its principals and its webhook endpoints. */
export interface ServiceAccountReader extends AccountReader {
  /** The account's principals, by createdAt, then name (those created at the same instant, as in a drill). */
  principals(): Promise<PrincipalRecord[]>;
  /** The account's webhook endpoints, oldest first (their secrets sealed). */
  webhookEndpoints(): Promise<WebhookEndpointRecord[]>;
}

export interface ServiceAccountWriter extends AccountWriter, ServiceAccountReader {
  /**
   * Sets the account's premium features (the operator's `tokenctl server account --enable/--disable`), stored each
   * once, in FEATURES' order.
   */
  setFeatures(features: readonly Feature[]): Promise<void>;
  /**
   * Fails with a usage error (exit 2) when the name is taken in the account, ignoring case (another account may
   * have a principal of that name); like any failure in `write`, the whole change is then not made.
   */
  insertPrincipal(p: PrincipalRecord, credentialHash: Buffer): Promise<void>;
  /**
   * Adds a signing key (sealed) to the account: new API tokens are signed with it (the newest key), tokens signed
   * by the older ones keep verifying. Its createdAt must be later than every other key's of the account.
   */
  insertSigningKey(key: StoredSigningKey): Promise<void>;
  /** Removes the principal and its Tokens page sessions; nothing happens when it is not (or no longer) there. */
  deletePrincipal(id: string): Promise<void>;
  insertWebhookEndpoint(endpoint: WebhookEndpointRecord): Promise<void>;
  /** Removes an endpoint with its deliveries and delivery log; false when the account has no such endpoint. */
  deleteWebhookEndpoint(id: string): Promise<boolean>;
  /**
   * The outbox: notifications written in the transaction of the change that causes them (committed with it, or not at
   * all), each with one delivery per endpoint it goes to.
   */
  enqueueNotifications(entries: readonly OutboxEntry[]): Promise<void>;
}

// ---- notifications (Standard Webhooks): endpoints, the outbox, deliveries and their log ---------------------------

/** An endpoint an admin registered for the account's notifications. Its signing secret is kept sealed by the server key. */
export interface WebhookEndpointRecord {
  id: string;
  accountId: string;
  url: string;
  /** The event types it gets; empty: every event. */
  events: string[];
  description: string;
  /** The `whsec_` secret, sealed (associated data `<accountId>:webhook:<id>`). */
  secret: string;
  createdAt: string;
  createdBy: string;
}

/** A notification for the outbox, with the endpoints it goes to, and when its first attempt is due (epoch ms, service clock). */
export interface OutboxEntry {
  id: string;
  accountId: string;
  type: string;
  /** The exact bytes every attempt sends (and signs). */
  body: string;
  createdAt: string;
  endpointIds: readonly string[];
  dueAtMs: number;
}

/** A delivery claimed for one attempt: made by one replica only, until `leaseUntilMs` (epoch ms, service clock). */
export interface ClaimedDelivery {
  messageId: string;
  endpointId: string;
  accountId: string;
  /** Which attempt this is (1 for the first). */
  attempt: number;
  type: string;
  body: string;
  url: string;
  /** The endpoint's secret, sealed. */
  secret: string;
  owner: string;
  leaseUntilMs: number;
}

/** How an attempt ended, for the delivery log, and what becomes of the delivery. */
export interface AttemptOutcome {
  at: string;
  ok: boolean;
  /** The receiver's HTTP status, when it answered. */
  status: number | null;
  /** Why it failed, in words (never the URL's query, never the secret); null on success. */
  error: string | null;
  ms: number;
  /** When to try again (epoch ms, service clock); null: delivered, or failed for good. */
  nextAttemptAtMs: number | null;
}

/** One attempt, as the delivery log shows it. */
export interface WebhookAttemptRecord {
  messageId: string;
  type: string;
  attempt: number;
  at: string;
  ok: boolean;
  status: number | null;
  error: string | null;
  ms: number;
  /** When the next attempt is due (ISO), when one is. */
  nextAttemptAt: string | null;
}

/** Where an endpoint's deliveries stand. */
export interface WebhookDeliveryStats {
  endpointId: string;
  pending: number;
  failed: number;
  delivered: number;
  lastAttempt: WebhookAttemptRecord | null;
}

/** A time-based event of a token due now, by the service's clock (core/notifications.ts dueLifecycleNotices). */
export interface DueNotice {
  tokenId: string;
  accountId: string;
  notice: LifecycleNotice;
}

/** Builds a due notice's outbox entry from the token as stored and the account's endpoints; null: nothing to send. */
export type NoticeBuilder = (token: StoredToken, accountId: string, notice: LifecycleNotice, endpoints: readonly WebhookEndpointRecord[]) => OutboxEntry | null;

/** Builds the outbox entry of a caller first seen presenting a deleted token during its drain; null: nothing to send. */
export type DrainingUseBuilder = (token: StoredToken, accountId: string, caller: UsageCallerDelta, endpoints: readonly WebhookEndpointRecord[]) => OutboxEntry | null;

export interface NotificationStorage {
  /** Deliveries due at `nowMs` and not leased by another replica, claimed for one attempt each (at most `limit`). */
  claimDeliveries(nowMs: number, leaseMs: number, limit: number): Promise<ClaimedDelivery[]>;
  /** Records an attempt in the endpoint's log, and (if the lease is still this claim's) the delivery's new state. */
  finishDelivery(claim: ClaimedDelivery, outcome: AttemptOutcome): Promise<void>;
  /** The newest attempts to an endpoint of the account (newest first). */
  webhookAttempts(accountId: string, endpointId: string, limit: number): Promise<WebhookAttemptRecord[]>;
  /** Per endpoint of the account: deliveries pending, failed, delivered, and the last attempt. */
  webhookDeliveryStats(accountId: string): Promise<WebhookDeliveryStats[]>;
  /**
   * Marks each time-based event as notified, unless another replica (or an earlier run) did, and enqueues what `build`
   * makes of those this call marked, in one transaction; returns those it marked.
   */
  recordLifecycleNotices(due: readonly DueNotice[], build: NoticeBuilder): Promise<DueNotice[]>;
}

// ---- usage (who still depends on a token) ----------------------------------------------------------------------------

/** One caller's use of a token since the last batch. Unknown principal or address: ''. */
export interface UsageCallerDelta {
  kind: UsageKind;
  principalId: string;
  principalName: string;
  address: string;
  firstAt: string;
  lastAt: string;
  calls: number;
  drainingCalls: number;
  drainingLastAt: string | null;
}

/** A token's use since the last batch. */
export interface TokenUsageDelta {
  tokenId: string;
  /** The newest introspection (retrievals do not make a token "used"). */
  lastUsedAt: string | null;
  /** Introspections per UTC hour ("2026-03-01T10"). */
  hours: readonly { hour: string; calls: number }[];
  callers: readonly UsageCallerDelta[];
}

/**
 * Where usage goes: one call per batch, in one transaction. Counts add up (replicas each write their own), times never
 * move backwards, whoever wrote last; a caller first seen presenting a deleted token while it drains is notified
 * (token.used_while_draining) in the same transaction.
 */
export interface UsageSink {
  /** Synchronous (SQLite) or not (PostgreSQL); a failure, thrown or rejected, keeps the batch for the next try. */
  recordUsage(batch: readonly TokenUsageDelta[], onDrainingUse: DrainingUseBuilder | null): void | Promise<void>;
}

/** Where the service reads usage from. */
export interface UsageSource {
  /** The usage records of the account's tokens (or of these only), within the retention (cutoffs: core/usage.ts usageCutoffs). */
  usageOf(accountId: string, tokenIds: readonly string[] | null, since: { day: string; hour: string }): Promise<Map<string, UsageRecords>>;
}

/** Accounts by name: the operator's `tokenctl server ...` names them. */
export interface AccountDirectory {
  /** The account of that name, ignoring case and surrounding spaces; null when there is none. */
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

/**
 * The Tokens page's sessions: any process (any replica) serves any session. The session's principal must exist;
 * the service, not the storage, decides when a session has ended (it passes the limits to deleteExpiredWebSessions).
 */
export interface SessionStorage {
  createWebSession(session: WebSessionRecord): Promise<void>;
  /** The session and its principal as it is now (a removed principal has no sessions), or null. */
  webSession(idHash: Buffer): Promise<(WebSessionRecord & { principal: PrincipalRecord }) | null>;
  /** Moves last-seen forward; an earlier time (a slower request's, written late) is ignored. */
  touchWebSession(idHash: Buffer, lastSeenAt: string): Promise<void>;
  /** Ends the session; nothing happens when there is none. */
  deleteWebSession(idHash: Buffer): Promise<void>;
  /** Forgets sessions last seen before `idleBefore` or created before `startedBefore` (both strictly); returns how many. */
  deleteExpiredWebSessions(idleBefore: string, startedBefore: string): Promise<number>;
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

/**
 * What the service is told of changes made through other storage instances (another replica's, another process's).
 * Each committed change of another instance is told, as `changed(accountId)` (a source told of changes as they
 * commit: PostgreSQL) or as `connected` (a source that only sees that something changed: SQLite); a change that was
 * not committed never is. Changes made through the listening instance itself may be told too (PostgreSQL) or not
 * (SQLite): the service follows its own writes itself.
 */
export interface ChangeListener {
  /** An account's tokens, principals, keys or features changed (committed); a new account is a change of it. */
  changed(accountId: string): void;
  /**
   * A replica blocked a client address (failed authentications) until this time (epoch ms): told once, when the
   * address reaches the limit, to every listener of every instance, the blocking one's included.
   */
  blocked(address: string, untilMs: number): void;
  /** Listening (again): what was missed meanwhile is unknown, so everything kept must be read again. */
  connected(): void;
  /** Listening stopped (a lost connection); `connected` follows once it listens again. */
  disconnected(): void;
}

/** Where the memory of the service (server/memory/token-index.ts) is read from, and kept current by. */
export interface IndexSource {
  /**
   * Every token the service may have to introspect (live ones, and deleted ones deleted at `revokedBefore` or later),
   * every principal and every public signing key; or those of one account (an unknown one has none). In no
   * particular order. Of every account, one consistent snapshot (one moment of all of them). Of one account, each
   * of its three lists as committed at some moment of the call: a change committed meanwhile is told to listeners,
   * and the reload that follows reads it.
   */
  indexSnapshot(accountId: string | null, revokedBefore: string): Promise<IndexSnapshot>;
  /**
   * Starts telling `listener` of changes (see ChangeListener): `connected` first, once listening, and never before
   * listen() has returned. Until the subscription, or the storage, is closed; nothing is told afterwards.
   */
  listen(listener: ChangeListener): ChangeSubscription;
}

export interface ChangeSubscription {
  /** Stops telling the listener (and releases a connection of its own, if it has one). */
  close(): Promise<void>;
  /**
   * A source that looks for changes now and then (SQLite, every second) looks now, synchronously, and tells the
   * listener at once (`connected`) if another instance committed something since it last looked; true if it did,
   * false once closed. One that is told of changes as they commit (PostgreSQL's notifications) has nothing to look
   * at, and no lookNow.
   */
  lookNow?(): boolean;
}

/** Failed authentications counted for every replica (PostgreSQL); a single process counts on its own. */
export interface SharedAuthFailures {
  /**
   * Counts a failure of `address`, all replicas' together: a window of `windowMs` starts at the first failure after
   * the last window ended. Once the window's failures reach `maxFailures`, each blocks the address until
   * `nowMs + blockMs` (a block is never shortened, and outlives its window). Returns until when the address is
   * blocked (epoch ms, 0 if not) and its failures in the current window.
   */
  recordAuthFailure(address: string, nowMs: number, opts: { maxFailures: number; windowMs: number; blockMs: number }): Promise<{ untilMs: number; failures: number }>;
  /** Addresses blocked after `nowMs` (a replica that starts, or listens again, learns the blocks it missed). */
  activeBlocks(nowMs: number): Promise<{ address: string; untilMs: number }[]>;
  /** Forgets counts whose window and block have both ended; never a block or a count that still holds. */
  pruneAuthFailures(nowMs: number, windowMs: number): Promise<void>;
}

/**
 * The whole storage of the token service. Account names are unique ignoring case: createAccount refuses a taken one
 * with a conflict (exit 4), also when two instances create it at once. Instances on the same data (processes,
 * replicas) see each other's committed changes at once in what they read.
 */
export interface ServiceStorage
  extends TokenStorage<ServiceAccountWriter, ServiceAccountReader>,
    AccountDirectory,
    SessionStorage,
    UsageSink,
    UsageSource,
    NotificationStorage,
    IndexSource {
  /** The server key's sealer, synchronously (the hot path fingerprints with it). */
  readonly serverSealer: Sealer;
  /** Failure counts shared with other replicas; null where one process serves the data (SQLite). */
  readonly sharedAuthFailures: SharedAuthFailures | null;
  /** Whether the storage can serve now (GET /readyz), decided at once from what is known; false once closed. */
  ready(): Promise<boolean>;
  /**
   * Housekeeping on a timer, at `nowMs` by the service's clock: forgets what no longer matters (usage beyond its
   * retention, finished notifications and old delivery logs; PostgreSQL: write operation ids).
   */
  maintain(nowMs: number): Promise<void>;
  /**
   * Ends its subscriptions (listen) and releases its connections; closing again does nothing. Afterwards every
   * operation, listen included, is refused as unavailable (exit 8, the service's 503), thrown or rejected.
   */
  close(): void | Promise<void>;
}
