import type { Clock } from '../core/clock.js';
import type { TokenRecord } from '../core/tokens.js';
import { credentialHashMatches, hashCredential } from '../secrets/credentials.js';
import type { StoredAccount, TokenStorage } from '../storage/port.js';
import type { PrincipalRecord, PublicSigningKey, SqlAccountReader, SqlAccountWriter } from '../storage/sql/sqlite-storage.js';
import { actorOf, type Principal, type ServiceStorage } from '../tokens/principals.js';
import { TokenService } from '../tokens/token-service.js';
import type { WebSessionStorage } from './plugins/sessions.js';

export type { Principal };
export type SigningKeyInfo = PublicSigningKey;

/** What introspection needs of a token: no name, no value. */
export type IntrospectedToken = Pick<TokenRecord, 'id' | 'type' | 'createdAt' | 'activatesAt' | 'deletedAt'>;

/** A token found by its value (for introspection), with the account it belongs to. */
export interface TokenMatch {
  token: IntrospectedToken;
  accountId: string;
}

/**
 * The hot path's lookups, synchronous: SQLite answers them with prepared statements on its read connection; a
 * replica on PostgreSQL from memory (replica-index.ts), never waiting on the network.
 */
export interface HotLookups {
  /** Changes whenever tokens or principals change (as far as this process knows): remembered answers are dropped. */
  readonly tokenGeneration: number;
  fingerprint(value: string): string;
  principalByCredentialHash(hash: Buffer): (PrincipalRecord & { credentialHash: Buffer }) | undefined;
  tokenByFingerprint(fingerprint: string): TokenMatch | null;
  signingKeys(): PublicSigningKey[];
  /** Asked by /readyz once the database answered: false when a replica's memory has not caught up with it for a while. */
  readonly ready?: boolean;
}

/** The service's storage: the token port with principals, account lookup, last-used times and the page's sessions. */
export interface ServiceBackingStorage extends ServiceStorage, WebSessionStorage {
  recordLastUsed(batch: ReadonlyMap<string, string>): void | Promise<void>;
  /** Whether the database can serve now (GET /readyz), decided at once: SQLite asks its file, a replica answers from what it knows. */
  ready(): Promise<boolean>;
  close(): void | Promise<void>;
}

export interface ServiceStoreOptions {
  /** The hot path's lookups; by default the storage's own (SQLite). */
  lookups?: HotLookups;
  /** Called after a write of an account committed, before it is answered (a replica reads it into memory). */
  afterWrite?(accountId: string): Promise<void>;
}

const PRINCIPAL_CACHE_MS = 5_000;
const PRINCIPAL_CACHE_MAX = 1_000;

/**
 * What the service's routes and introspection use of its storage: the token use cases for a principal's account,
 * and the synchronous lookups of the hot path (credentials, values by fingerprint, signing keys). Per process:
 * authenticated principals are remembered for 5 s, or until the lookups change (so a removed principal's credential
 * stops working within that time: at once on a replica, which hears of the removal); each process remembers its own.
 */
export class ServiceStore {
  private readonly principalCache = new Map<string, { principal: Principal; until: number; generation: number }>();

  private readonly lookups: HotLookups;
  private readonly tokenStorage: TokenStorage<SqlAccountWriter, SqlAccountReader>;

  constructor(
    readonly storage: ServiceBackingStorage,
    private readonly clock: Clock,
    private readonly options: ServiceStoreOptions = {},
  ) {
    this.lookups = options.lookups ?? (storage as unknown as HotLookups);
    const afterWrite = options.afterWrite;
    this.tokenStorage = afterWrite
      ? {
          location: storage.location,
          sealer: () => storage.sealer(),
          read: (accountId, fn) => storage.read(accountId, fn),
          write: async (accountId, change, fn) => {
            const result = await storage.write(accountId, change, fn);
            await afterWrite(accountId).catch(() => undefined); // committed: memory catches up by notification or resync
            return result;
          },
          createAccount: async (input, change, fn) => {
            const result = await storage.createAccount(input, change, fn);
            await afterWrite(input.account.id).catch(() => undefined);
            return result;
          },
          auditEvents: (accountId) => storage.auditEvents(accountId),
          verifyAudit: (accountId) => storage.verifyAudit(accountId),
        }
      : storage;
  }

  /** The token use cases on the principal's account, recorded as the principal's doing. */
  tokens(principal: Principal): TokenService {
    return new TokenService({ storage: this.tokenStorage, accountId: principal.accountId, actor: actorOf(principal), clock: this.clock });
  }

  /**
   * Resolves once this process's lookups show the account as it is now: at once on SQLite; a replica reads it
   * again (what another process wrote, for one, before its notification arrives).
   */
  async caughtUp(accountId: string): Promise<void> {
    await this.options.afterWrite?.(accountId);
  }

  /**
   * Whether the service can serve (GET /readyz): its database answers, and a replica's memory has not been out of
   * step with it for more than a few seconds (a reconnection's resynchronisation, quicker than that, does not count).
   */
  async ready(): Promise<boolean> {
    if (!(await this.storage.ready())) return false;
    return this.lookups.ready ?? true;
  }

  account(principal: Principal): Promise<StoredAccount> {
    return this.tokens(principal).account();
  }

  /**
   * The principal a credential belongs to, or null: found by hash, then compared in constant time. A credential
   * presented again within 5 s (and before any change to principals this process knows of) is found by itself,
   * without hashing: resource servers present theirs on every introspection. The credentials kept are those this
   * process was just given, at most 1,000, forgotten within seconds; the process holds the server key anyway.
   */
  authenticate(credential: string, nowMs: number = Date.now()): Principal | null {
    const cached = this.principalCache.get(credential);
    const generation = this.lookups.tokenGeneration;
    if (cached && cached.until > nowMs && cached.generation === generation) return cached.principal;
    const presented = hashCredential(credential);
    const row = this.lookups.principalByCredentialHash(presented);
    if (!row || !credentialHashMatches(row.credentialHash, presented)) {
      this.principalCache.delete(credential);
      return null;
    }
    const principal: Principal = { id: row.id, accountId: row.accountId, name: row.name, role: row.role };
    if (this.principalCache.size >= PRINCIPAL_CACHE_MAX) this.principalCache.delete(this.principalCache.keys().next().value!);
    this.principalCache.set(credential, { principal, until: nowMs + PRINCIPAL_CACHE_MS, generation });
    return principal;
  }

  /** Forgets remembered authentications (a principal was removed through this process). */
  forgetPrincipals(): void {
    this.principalCache.clear();
  }

  get tokenGeneration(): number {
    return this.lookups.tokenGeneration;
  }

  fingerprint(value: string): string {
    return this.lookups.fingerprint(value);
  }

  matchFingerprint(fingerprint: string): TokenMatch | null {
    return this.lookups.tokenByFingerprint(fingerprint);
  }

  signingKeys(): SigningKeyInfo[] {
    return this.lookups.signingKeys();
  }

  recordLastUsed(batch: ReadonlyMap<string, string>): void | Promise<void> {
    return this.storage.recordLastUsed(batch);
  }

  async close(): Promise<void> {
    await this.storage.close();
  }
}
