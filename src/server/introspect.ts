import { createPublicKey, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { rejectedAtOf, tokenStatus, type TokenRecord } from '../core/tokens.js';
import { API_TOKEN_TYP, issuerFor } from '../secrets/jwt.js';
import { checkOpaqueToken } from '../secrets/opaque.js';
import type { ServerStore } from './store.js';

/** RFC 7662 answer. An unknown, malformed, pending or revoked token gets exactly `{"active":false}`. */
export type IntrospectionResponse =
  | { active: false }
  | {
      active: true;
      type: TokenRecord['type'];
      status: 'active' | 'draining';
      sub: string;
      iss: string;
      jti: string;
      iat: number;
      nbf: number;
      exp?: number;
    };

export const INACTIVE = Object.freeze({ active: false }) as { active: false };

/** Longer than any value we mint by a wide margin; anything longer is not ours. */
const MAX_VALUE_LENGTH = 4096;

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** Public keys by kid, from the store; reloaded once on an unknown kid (a new account may have been added). */
export class SigningKeyCache {
  private keys = new Map<string, { accountId: string; key: KeyObject }>();
  private loadedAt = 0;

  constructor(private readonly store: ServerStore) {}

  private reload(): void {
    const next = new Map<string, { accountId: string; key: KeyObject }>();
    for (const k of this.store.signingKeys()) {
      next.set(k.kid, { accountId: k.accountId, key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.publicJwk.x }, format: 'jwk' }) });
    }
    this.keys = next;
    this.loadedAt = Date.now();
  }

  get(kid: string): { accountId: string; key: KeyObject } | undefined {
    const hit = this.keys.get(kid);
    // Unknown kids are probed at most once a second, so garbage kids cannot turn into a query per request.
    if (!hit && Date.now() - this.loadedAt > 1_000) {
      this.reload();
      return this.keys.get(kid);
    }
    return hit;
  }
}

/** Verifies an API token's signature and header before the store is even asked. */
async function verifiedApiTokenAccount(value: string, keys: SigningKeyCache, now: Date): Promise<{ accountId: string; jti: string } | null> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(value);
  } catch {
    return null;
  }
  if (header.alg !== 'EdDSA' || header.typ !== API_TOKEN_TYP || typeof header.kid !== 'string') return null;
  const key = keys.get(header.kid);
  if (!key) return null;
  try {
    const { payload } = await jwtVerify(value, key.key, {
      algorithms: ['EdDSA'],
      typ: API_TOKEN_TYP,
      issuer: issuerFor(key.accountId),
      subject: key.accountId,
      currentDate: now,
      requiredClaims: ['jti', 'iat', 'nbf'],
    });
    return typeof payload.jti === 'string' ? { accountId: key.accountId, jti: payload.jti } : null;
  } catch {
    return null;
  }
}

/**
 * Which token of the caller's account is this value, and may it be used now? Pending tokens are inactive until
 * they activate; deleted ones stay active while they drain (30 minutes, per the spec), then are revoked.
 */
export async function introspect(
  store: ServerStore,
  keys: SigningKeyCache,
  value: string,
  callerAccountId: string,
  now: Date,
): Promise<{ response: IntrospectionResponse; tokenId?: string }> {
  if (value.length === 0 || value.length > MAX_VALUE_LENGTH) return { response: INACTIVE };
  let expectedAccount: string;
  let expectedId: string | undefined;
  let expectedType: TokenRecord['type'] | undefined;
  if (value.startsWith('eyJ')) {
    const verified = await verifiedApiTokenAccount(value, keys, now);
    if (!verified) return { response: INACTIVE };
    expectedAccount = verified.accountId;
    expectedId = verified.jti;
  } else {
    // Prefix, length and checksum are checked offline: a mistyped value never reaches the database.
    const check = checkOpaqueToken(value);
    if (!check.ok) return { response: INACTIVE };
    expectedAccount = callerAccountId;
    expectedType = check.type;
  }
  const match = store.matchValue(value);
  if (!match || match.accountId !== callerAccountId || match.accountId !== expectedAccount) return { response: INACTIVE };
  if (expectedId !== undefined && match.token.id !== expectedId) return { response: INACTIVE };
  if (expectedType !== undefined && match.token.type !== expectedType) return { response: INACTIVE };
  const token = match.token;
  const status = tokenStatus(token, now);
  if (status !== 'active' && status !== 'draining') return { response: INACTIVE };
  const response: IntrospectionResponse = {
    active: true,
    type: token.type,
    status,
    sub: match.accountId,
    iss: issuerFor(match.accountId),
    jti: token.id,
    iat: seconds(token.createdAt),
    nbf: seconds(token.activatesAt),
  };
  if (status === 'draining') response.exp = seconds(rejectedAtOf(token)!);
  return { response, tokenId: token.id };
}
