/**
 * The signature algorithms of API tokens. EdDSA (Ed25519) is the default; ES256 (P-256) and RS256 (RSA 2048) are
 * for resource servers whose JOSE library has no EdDSA (cjose inside Apache's mod_oauth2, older libraries). An
 * account's algorithm is chosen for its new signing keys; tokens already issued keep the key that signed them.
 */
export const SIGNING_ALGS = ['EdDSA', 'ES256', 'RS256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

export function isSigningAlg(value: unknown): value is SigningAlg {
  return typeof value === 'string' && (SIGNING_ALGS as readonly string[]).includes(value);
}
