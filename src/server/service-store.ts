import type { Clock } from '../core/clock.js';
import type { TokenRecord } from '../core/tokens.js';
import { credentialHashMatches, hashCredential } from '../secrets/credentials.js';
import type { StoredAccount } from '../storage/port.js';
import type { PublicSigningKey, SqliteStorage } from '../storage/sql/sqlite-storage.js';
import { actorOf, type Principal } from '../tokens/principals.js';
import { toTokenRecord, TokenService } from '../tokens/token-service.js';

export type { Principal };
export type SigningKeyInfo = PublicSigningKey;

/** A token found by its value (for introspection), with the account it belongs to. */
export interface TokenMatch {
  token: TokenRecord;
  accountId: string;
}

const PRINCIPAL_CACHE_MS = 5_000;
const PRINCIPAL_CACHE_MAX = 1_000;

/**
 * What the service's routes and introspection use of its storage: the token use cases for a principal's account,
 * and the synchronous lookups of the hot path (credentials, values by fingerprint, signing keys). Per process:
 * authenticated principals are remembered for 5 s (so a removed principal's credential stops working within that
 * time); with several processes each remembers its own.
 */
export class ServiceStore {
  private readonly principalCache = new Map<string, { principal: Principal; until: number }>();

  constructor(
    readonly storage: SqliteStorage,
    private readonly clock: Clock,
  ) {}

  /** The token use cases on the principal's account, recorded as the principal's doing. */
  tokens(principal: Principal): TokenService {
    return new TokenService({ storage: this.storage, accountId: principal.accountId, actor: actorOf(principal), clock: this.clock });
  }

  account(principal: Principal): Promise<StoredAccount> {
    return this.tokens(principal).account();
  }

  /** The principal a credential belongs to, or null: found by hash, then compared in constant time. */
  authenticate(credential: string, nowMs: number = Date.now()): Principal | null {
    const key = hashCredential(credential, 'base64');
    const cached = this.principalCache.get(key);
    if (cached && cached.until > nowMs) return cached.principal;
    const presented = Buffer.from(key, 'base64');
    const row = this.storage.principalByCredentialHash(presented);
    if (!row || !credentialHashMatches(row.credentialHash, presented)) {
      this.principalCache.delete(key);
      return null;
    }
    const principal: Principal = { id: row.id, accountId: row.accountId, name: row.name, role: row.role };
    if (this.principalCache.size >= PRINCIPAL_CACHE_MAX) this.principalCache.delete(this.principalCache.keys().next().value!);
    this.principalCache.set(key, { principal, until: nowMs + PRINCIPAL_CACHE_MS });
    return principal;
  }

  /** Forgets remembered authentications (a principal was removed through this process). */
  forgetPrincipals(): void {
    this.principalCache.clear();
  }

  get tokenGeneration(): number {
    return this.storage.tokenGeneration;
  }

  fingerprint(value: string): string {
    return this.storage.serverSealer.fingerprint(value);
  }

  matchFingerprint(fingerprint: string): TokenMatch | null {
    const found = this.storage.tokenByFingerprint(fingerprint);
    return found ? { token: toTokenRecord(found.token), accountId: found.accountId } : null;
  }

  signingKeys(): SigningKeyInfo[] {
    return this.storage.signingKeys();
  }

  recordLastUsed(batch: ReadonlyMap<string, string>): void {
    this.storage.recordLastUsed(batch);
  }

  close(): void {
    this.storage.close();
  }
}
