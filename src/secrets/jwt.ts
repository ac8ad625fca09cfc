import { createHash, generateKeyPairSync, createPrivateKey } from 'node:crypto';

/** The account's signing key for API tokens: Ed25519 (JWS alg EdDSA). */
export interface SigningKeyMaterial {
  kid: string;
  alg: 'EdDSA';
  publicJwk: { kty: 'OKP'; crv: 'Ed25519'; x: string };
  privatePkcs8Pem: string;
}

/**
 * The `typ` of API tokens: tokenctl's own type. They are not RFC 9068 access tokens (no exp, aud or client_id:
 * validity is the service's decision, see introspection), so they do not claim that profile's `at+jwt`.
 */
export const API_TOKEN_TYP = 'tokenctl-api+jwt';
/** The `typ` of API tokens issued before 0.2 (see API_TOKEN_TYP): still accepted, never issued. */
export const LEGACY_API_TOKEN_TYP = 'at+jwt';

/** Whether a JWS header's typ is one tokenctl issues or issued (exact, as tokenctl writes it: one comparison or two). */
export function isApiTokenTyp(typ: unknown): boolean {
  return typ === API_TOKEN_TYP || typ === LEGACY_API_TOKEN_TYP;
}

export function issuerFor(accountId: string): string {
  return `urn:tokenctl:account:${accountId}`;
}

export function generateSigningKey(): SigningKeyMaterial {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' }) as { x: string };
  const publicJwk = { kty: 'OKP' as const, crv: 'Ed25519' as const, x: jwk.x };
  // RFC 7638 thumbprint: the required members in lexicographic order.
  const kid = createHash('sha256').update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x: jwk.x })).digest('base64url');
  return { kid, alg: 'EdDSA', publicJwk, privatePkcs8Pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

export interface ApiTokenClaims {
  accountId: string;
  tokenId: string;
  issuedAt: Date;
  notBefore: Date;
}

/** Mints an API token: a compact JWS with kid, explicit typ, iss, sub, jti, iat and nbf (= activation). */
export async function mintApiToken(key: Pick<SigningKeyMaterial, 'kid' | 'privatePkcs8Pem'>, c: ApiTokenClaims): Promise<string> {
  const { SignJWT } = await import('jose');
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: API_TOKEN_TYP })
    .setIssuer(issuerFor(c.accountId))
    .setSubject(c.accountId)
    .setJti(c.tokenId)
    .setIssuedAt(Math.floor(c.issuedAt.getTime() / 1000))
    .setNotBefore(Math.floor(c.notBefore.getTime() / 1000))
    .sign(createPrivateKey(key.privatePkcs8Pem));
}
