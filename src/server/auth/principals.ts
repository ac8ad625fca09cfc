import { credentialHashMatches, hashCredential } from '../../secrets/credentials.js';
import type { IndexedPrincipal } from '../../storage/service-port.js';
import type { Principal } from '../../tokens/principals.js';
import { REMEMBERED_MS, type CredentialLookup } from './authenticator.js';

const REMEMBERED_MAX = 1_000;

/** What finding a principal needs of the service's memory (memory/token-index.ts). */
export interface PrincipalSource {
  /** Changes whenever tokens or principals change (as far as this process knows). */
  readonly tokenGeneration: number;
  principalByCredentialHash(hash: Buffer): IndexedPrincipal | undefined;
  /** After a miss: resolves once the source has caught up with another process's change, or null if there was none. */
  catchUp?(): Promise<void> | null;
}

/**
 * The principal a credential belongs to, found by hash in memory, then compared in constant time. A credential
 * presented again within 5 s (and before any change to principals this process knows of) is found by itself,
 * without hashing: resource servers present theirs on every introspection. Per process (each replica remembers its
 * own, and hears of a removed principal through its memory's notifications: at once). The credentials kept are those
 * this process was just given, at most 1,000, forgotten within seconds; the process holds the server key anyway.
 */
export class PrincipalCache implements CredentialLookup {
  private readonly remembered = new Map<string, { principal: Principal; until: number; generation: number }>();

  constructor(private readonly source: PrincipalSource) {}

  get generation(): number {
    return this.source.tokenGeneration;
  }

  authenticate(credential: string, nowMs: number = Date.now()): Principal | null | Promise<Principal | null> {
    const cached = this.remembered.get(credential);
    const generation = this.source.tokenGeneration;
    if (cached && cached.until > nowMs && cached.generation === generation) return cached.principal;
    const presented = hashCredential(credential);
    const found = this.find(credential, presented, nowMs);
    if (found) return found;
    const caughtUp = this.source.catchUp?.();
    return caughtUp ? caughtUp.then(() => this.find(credential, presented, Date.now())) : null;
  }

  private find(credential: string, presented: Buffer, nowMs: number): Principal | null {
    const generation = this.source.tokenGeneration;
    const row = this.source.principalByCredentialHash(presented);
    if (!row || !credentialHashMatches(row.credentialHash, presented)) {
      this.remembered.delete(credential);
      return null;
    }
    const principal: Principal = { id: row.id, accountId: row.accountId, name: row.name, role: row.role };
    if (this.remembered.size >= REMEMBERED_MAX) this.remembered.delete(this.remembered.keys().next().value!);
    this.remembered.set(credential, { principal, until: nowMs + REMEMBERED_MS, generation });
    return principal;
  }
}
