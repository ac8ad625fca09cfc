import type { Principal, SigningKeyInfo, TokenMatch } from '../service-store.js';

export type { Principal, SigningKeyInfo, TokenMatch };

/**
 * What introspection needs of the service's storage, and nothing more: the fast path and the Introspector depend on
 * this, not on a concrete store, so that another storage can stand behind them.
 */
export interface IntrospectionLookup {
  /** Counts this process's changes to tokens: remembered answers read before a change are not used after it. */
  readonly tokenGeneration: number;
  /** The keyed fingerprint tokens are found by. */
  fingerprint(value: string): string;
  /** The token with this fingerprint (deleted ones included), whatever its account. */
  matchFingerprint(fingerprint: string): TokenMatch | null;
  /** Every account's public signing keys. */
  signingKeys(): SigningKeyInfo[];
  /** The principal a credential belongs to; null when unknown. */
  authenticate(credential: string): Principal | null;
}
