import { StorageUnavailableError } from '../../core/errors.js';
import type { WriteFollower } from '../accounts.js';
import type { PrincipalSource } from '../auth/principals.js';
import type { IntrospectionLookup } from '../introspection/lookup.js';
import { POLICY } from '../../core/tokens.js';
import type { Clock } from '../../core/clock.js';
import type { Sealer } from '../../secrets/seal.js';
import type { ChangeSubscription, IndexedPrincipal, IndexedToken, IndexSnapshot, IndexSource, PublicSigningKey } from '../../storage/service-port.js';

/** Deleted tokens are kept this long after they stopped draining; older ones answer as unknown values do. */
const KEEP_REVOKED_MS = 60 * 60_000;
const RETRY_MS = 1_000;
const OUT_OF_STEP_GRACE_MS = 5_000;

export interface TokenIndexEvents {
  /** Another replica blocked a client address (shared failed-authentication limit). */
  blocked?(address: string, untilMs: number): void;
  /** A reload failed (the database is away): it is retried every second; the index goes on answering meanwhile. */
  failed?(error: unknown): void;
  /** Back in step with the database after a lost connection. */
  resynchronised?(): void;
}

/** A token found by its value (for introspection), with the account it belongs to. */
export interface TokenMatch {
  token: IndexedToken;
  accountId: string;
}

/**
 * What the token service keeps in memory, on SQLite and PostgreSQL alike: every token it may have to introspect (by
 * keyed fingerprint), every principal (by credential hash) and every public signing key. Introspection and
 * authentication never wait on the database, for values already seen or never issued alike.
 *
 * Kept current by its source (storage/service-port.ts IndexSource): on PostgreSQL, the database's notifications (a
 * committed change of an account, through any replica or `tokenctl server`, notifies its id, and the account is read
 * again); on SQLite, a look every second at whether another process wrote (then everything is read again). The
 * service's own writes are read again before they are answered, so it never answers from older data than it wrote.
 * After a lost connection, notifications sent meanwhile are gone: everything is read again once it listens again.
 * An account's reloads run in order, so an older snapshot never replaces a newer one (a full reload waits for those
 * under way, and later ones for it); a reload of an account already waiting is not queued twice.
 *
 * Memory: about 1 KB of heap per live token, with its account's principals and keys (bench/replicas.mjs; README
 * "Running several replicas"); tokens revoked more than an hour ago are not kept.
 */
export class TokenIndex implements IntrospectionLookup, PrincipalSource, WriteFollower {
  private tokens = new Map<string, IndexedToken>();
  private tokensOf = new Map<string, string[]>();
  private principals = new Map<string, IndexedPrincipal>();
  private principalsOf = new Map<string, string[]>();
  private keysOf = new Map<string, PublicSigningKey[]>();
  private keyList: PublicSigningKey[] = [];
  private generation = 0;
  /** Account reloads not started yet (a notification arriving meanwhile is served by the same reload). */
  private readonly waiting = new Map<string, Promise<void>>();
  /** The last reload of each account: the next one of that account starts after it. */
  private readonly accountTail = new Map<string, Promise<void>>();
  private readonly inflight = new Set<Promise<void>>();
  /** The full reload not started yet, and the one under way (account reloads wait for it). */
  private fullWaiting: Promise<void> | null = null;
  private fullRunning: Promise<void> | null = null;
  private listening = false;
  /** Whether the memory is known to be complete (false from a lost connection until the resync after it). */
  private inStep = false;
  private retry: NodeJS.Timeout | undefined;
  private subscription: ChangeSubscription | null = null;
  private closed = false;

  constructor(
    private readonly storage: IndexSource,
    private readonly sealer: Sealer,
    private readonly clock: Clock,
    private readonly events: TokenIndexEvents = {},
    /** Blocks the source knows of (shared failed-authentication counts), read after each full reload. */
    private readonly activeBlocks: ((nowMs: number) => Promise<{ address: string; untilMs: number }[]>) | null = null,
  ) {}

  /** Reads everything and listens; resolves once both are done (or rejects with the database's fault). */
  async start(): Promise<void> {
    let first!: { resolve(): void; reject(e: unknown): void };
    const started = new Promise<void>((resolve, reject) => (first = { resolve, reject }));
    let pendingFirst = true;
    this.subscription = this.storage.listen({
      changed: (accountId) => void this.refreshAccount(accountId).catch(() => undefined),
      blocked: (address, until) => this.events.blocked?.(address, until),
      connected: () => {
        this.listening = true;
        this.resync().then(
          () => {
            if (pendingFirst) {
              pendingFirst = false;
              first.resolve();
            } else this.events.resynchronised?.();
          },
          (error: unknown) => {
            if (pendingFirst) {
              pendingFirst = false;
              first.reject(error);
            }
          },
        );
      },
      disconnected: () => {
        if (this.closed) return;
        this.listening = false;
        this.inStep = false;
        this.events.failed?.(new Error('the connection to the database was lost'));
      },
    });
    const timeout = setTimeout(() => {
      if (pendingFirst) {
        pendingFirst = false;
        first.reject(new StorageUnavailableError('could not listen for changes on the database within 10 s; check that it accepts connections, then start again'));
      }
    }, 10_000);
    try {
      await started;
    } catch (error) {
      await this.close(); // no listener or retry left behind
      throw error;
    } finally {
      clearTimeout(timeout);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    await this.subscription?.close();
    await Promise.allSettled([...this.inflight, this.fullRunning]);
  }

  /** Listening, and everything read since. */
  get inStepNow(): boolean {
    return this.listening && this.inStep;
  }

  /**
   * For /readyz, asked once the database has answered: false when the database answers but the memory has not been
   * in step with it for 5 s (the listener cannot connect, or reading everything keeps failing). Catching up after
   * the database comes back, well under that, does not take the replica out of rotation.
   */
  get ready(): boolean {
    if (this.inStepNow) {
      this.answeringSince = null;
      return true;
    }
    this.answeringSince ??= performance.now();
    return performance.now() - this.answeringSince < OUT_OF_STEP_GRACE_MS;
  }

  /** Since when the database has answered /readyz while the memory was out of step. */
  private answeringSince: number | null = null;


  private revokedBefore(): string {
    return new Date(this.clock.now().getTime() - POLICY.drainMs - KEEP_REVOKED_MS).toISOString();
  }

  /**
   * Reads one account again (after a notification, or this replica's own write); resolves when it is applied.
   * Reloads of different accounts run at once; those of one account in order (a later one reads a later state),
   * and none while everything is being read again.
   */
  refreshAccount(accountId: string): Promise<void> {
    const queued = this.waiting.get(accountId);
    if (queued) return queued;
    const after = [this.accountTail.get(accountId), this.fullRunning];
    const run = (async () => {
      await Promise.allSettled(after);
      this.waiting.delete(accountId);
      if (this.closed) return;
      try {
        this.applyAccount(accountId, await this.storage.indexSnapshot(accountId, this.revokedBefore()));
      } catch (error) {
        // This account may now be out of date: read everything again once the database answers.
        this.inStep = false;
        this.scheduleRetry(error);
        throw error;
      }
    })();
    this.waiting.set(accountId, run);
    this.accountTail.set(accountId, run);
    this.inflight.add(run);
    void run
      .finally(() => {
        this.inflight.delete(run);
        if (this.accountTail.get(accountId) === run) this.accountTail.delete(accountId);
      })
      .catch(() => undefined);
    return run;
  }

  /**
   * Reads everything again (at start, after a lost connection, after a failed reload), once the reloads under way
   * are done, and before any reload asked for from now on.
   */
  resync(): Promise<void> {
    if (this.fullWaiting) return this.fullWaiting;
    const after = [...this.inflight, this.fullRunning];
    const run = (async () => {
      await Promise.allSettled(after);
      this.fullWaiting = null;
      if (this.closed) return;
      try {
        this.applyAll(await this.storage.indexSnapshot(null, this.revokedBefore()));
        this.inStep = this.listening;
        if (this.events.blocked && this.activeBlocks) for (const b of await this.activeBlocks(Date.now())) this.events.blocked(b.address, b.untilMs);
      } catch (error) {
        this.inStep = false;
        this.scheduleRetry(error);
        throw error;
      }
    })();
    this.fullWaiting = run;
    this.fullRunning = run;
    void run
      .finally(() => {
        if (this.fullRunning === run) this.fullRunning = null;
      })
      .catch(() => undefined);
    return run;
  }

  private scheduleRetry(error: unknown): void {
    this.events.failed?.(error);
    if (this.retry || this.closed) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.listening) {
        this.resync().then(
          () => this.events.resynchronised?.(),
          () => undefined,
        );
      }
    }, RETRY_MS);
    this.retry.unref();
  }

  private applyAll(s: IndexSnapshot): void {
    this.tokens = new Map();
    this.tokensOf = new Map();
    this.principals = new Map();
    this.principalsOf = new Map();
    this.keysOf = new Map();
    for (const t of s.tokens) this.addToken(t);
    for (const p of s.principals) this.addPrincipal(p);
    for (const k of s.signingKeys) this.keysOf.set(k.accountId, [...(this.keysOf.get(k.accountId) ?? []), k]);
    this.keyList = [...this.keysOf.values()].flat();
    this.generation += 1;
  }

  private applyAccount(accountId: string, s: IndexSnapshot): void {
    for (const f of this.tokensOf.get(accountId) ?? []) this.tokens.delete(f);
    this.tokensOf.delete(accountId);
    for (const h of this.principalsOf.get(accountId) ?? []) this.principals.delete(h);
    this.principalsOf.delete(accountId);
    for (const t of s.tokens) this.addToken(t);
    for (const p of s.principals) this.addPrincipal(p);
    const kids = (keys: readonly PublicSigningKey[] | undefined) => (keys ?? []).map((k) => k.kid).join(' ');
    if (kids(this.keysOf.get(accountId)) !== kids(s.signingKeys)) {
      if (s.signingKeys.length > 0) this.keysOf.set(accountId, s.signingKeys);
      else this.keysOf.delete(accountId);
      this.keyList = [...this.keysOf.values()].flat();
    }
    this.generation += 1;
  }

  private addToken(t: IndexedToken): void {
    this.tokens.set(t.fingerprint, t);
    const list = this.tokensOf.get(t.accountId);
    if (list) list.push(t.fingerprint);
    else this.tokensOf.set(t.accountId, [t.fingerprint]);
  }

  private addPrincipal(p: IndexedPrincipal): void {
    const key = p.credentialHash.toString('base64');
    this.principals.set(key, p);
    const list = this.principalsOf.get(p.accountId);
    if (list) list.push(key);
    else this.principalsOf.set(p.accountId, [key]);
  }

  // ---- the lookups of introspection and authentication: synchronous, from memory ----------------------------

  get tokenGeneration(): number {
    return this.generation;
  }

  fingerprint(value: string): string {
    return this.sealer.fingerprint(value);
  }

  principalByCredentialHash(hash: Buffer): IndexedPrincipal | undefined {
    return this.principals.get(hash.toString('base64'));
  }

  /**
   * After a miss: on a source that looks for others' changes now and then (SQLite, every second), looks now; if
   * another process wrote (`tokenctl server admin add` a moment ago), resolves once everything is read again, so a
   * credential made a moment ago works at once. Also reads everything again when the last reload failed (a miss
   * then proves nothing: the answer waits for the database, or is its fault). Null when nothing changed, or the
   * source is told of changes as they commit (PostgreSQL). Costs one read of a counter; reloads are shared.
   */
  catchUp(): Promise<void> | null {
    if (this.closed) return null;
    // Listening, but a reload failed (the database answered a notification or a look with an error): read again.
    if (this.listening && !this.inStep) return this.resync();
    if (!this.subscription?.lookNow?.()) return null;
    return this.fullWaiting ?? this.fullRunning ?? Promise.resolve();
  }

  tokenByFingerprint(fingerprint: string): TokenMatch | null {
    const t = this.tokens.get(fingerprint);
    return t ? { token: t, accountId: t.accountId } : null;
  }

  signingKeys(): PublicSigningKey[] {
    return this.keyList;
  }

  /** One account's public signing keys, oldest first; none for an account this process does not know (yet). */
  accountSigningKeys(accountId: string): readonly PublicSigningKey[] {
    return this.keysOf.get(accountId) ?? [];
  }

  /** Every token kept (live ones, and deleted ones until an hour after their drain): the time-based notifications look here. */
  indexedTokens(): IterableIterator<IndexedToken> {
    return this.tokens.values();
  }
}
