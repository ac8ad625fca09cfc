import type { PublicSigningKey } from '../../storage/service-port.js';
import type { TokenMatch } from '../memory/token-index.js';

export type { TokenMatch };

/**
 * What introspection needs of the service's memory (memory/token-index.ts), and nothing more: the Introspector
 * depends on this, not on the index itself.
 */
export interface IntrospectionLookup {
  /** Counts the changes to tokens this process knows of: remembered answers read before a change are not used after it. */
  readonly tokenGeneration: number;
  /** The keyed fingerprint tokens are found by. */
  fingerprint(value: string): string;
  /** The token with this fingerprint (deleted ones included), whatever its account. */
  tokenByFingerprint(fingerprint: string): TokenMatch | null;
  /** Every account's public signing keys. */
  signingKeys(): PublicSigningKey[];
}
