import { createHash, generateKeyPairSync, createPrivateKey } from 'node:crypto';
import type { SigningAlg } from '../core/signing.js';

export { isSigningAlg, SIGNING_ALGS, type SigningAlg } from '../core/signing.js';

/** A public signing key as a JWK (RFC 7517), without kid/alg/use: one of the three key types. */
export type PublicJwk = { kty: 'OKP'; crv: 'Ed25519'; x: string } | { kty: 'EC'; crv: 'P-256'; x: string; y: string } | { kty: 'RSA'; n: string; e: string };

/** A public signing key as a JWKS publishes it: its key, kid, the one algorithm it signs with, and use `sig`. */
export type PublishedJwk =
  | { kty: 'OKP'; crv: 'Ed25519'; x: string; kid: string; alg: 'EdDSA'; use: 'sig' }
  | { kty: 'EC'; crv: 'P-256'; x: string; y: string; kid: string; alg: 'ES256'; use: 'sig' }
  | { kty: 'RSA'; n: string; e: string; kid: string; alg: 'RS256'; use: 'sig' };

export function publishedJwk(jwk: PublicJwk, kid: string): PublishedJwk {
  // Only the members of the key type, whatever else a stored JWK may carry.
  if (jwk.kty === 'OKP') return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid, alg: 'EdDSA', use: 'sig' };
  if (jwk.kty === 'EC') return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid, alg: 'ES256', use: 'sig' };
  return { kty: 'RSA', n: jwk.n, e: jwk.e, kid, alg: 'RS256', use: 'sig' };
}

/** The account's signing key for API tokens. */
export interface SigningKeyMaterial {
  kid: string;
  alg: SigningAlg;
  publicJwk: PublicJwk;
  privatePkcs8Pem: string;
}

/** The JWS algorithm a stored public key signs with (the key decides it, never a token's header). */
export function algOfJwk(jwk: PublicJwk): SigningAlg {
  return jwk.kty === 'OKP' ? 'EdDSA' : jwk.kty === 'EC' ? 'ES256' : 'RS256';
}

/**
 * The `typ` of API tokens: tokenctl's own type. They are not RFC 9068 access tokens (no exp, aud: validity is the
 * service's decision, see introspection), so they do not claim that profile's `at+jwt`.
 */
export const API_TOKEN_TYP = 'tokenctl-api+jwt';
/** The `typ` of API tokens issued before 0.2 (see API_TOKEN_TYP): still accepted, never issued. */
export const LEGACY_API_TOKEN_TYP = 'at+jwt';

/** Whether a JWS header's typ is one tokenctl issues or issued (exact, as tokenctl writes it: one comparison or two). */
export function isApiTokenTyp(typ: unknown): boolean {
  return typ === API_TOKEN_TYP || typ === LEGACY_API_TOKEN_TYP;
}

/** The issuer of an account's API tokens where the service does not know its public URL: a name, not a place. */
export function issuerFor(accountId: string): string {
  return `urn:tokenctl:account:${accountId}`;
}

/** The path under the service's public URL that is an account's issuer identifier (RFC 8414): `/accounts/<id>`. */
export function accountIssuerPath(accountId: string): string {
  return `/accounts/${accountId}`;
}

/**
 * An account's issuer: `<public URL>/accounts/<id>` when the service knows the URL resource servers reach it at
 * (`serve --public-url`, TOKENCTL_PUBLIC_URL), else `urn:tokenctl:account:<id>`. Each account is an issuer of its
 * own, with its own metadata and JWKS, so one account's resource servers never accept another account's tokens.
 */
export function accountIssuer(accountId: string, publicUrl: string | null | undefined): string {
  return publicUrl ? `${publicUrl}${accountIssuerPath(accountId)}` : issuerFor(accountId);
}

const URL_ISSUER = /^https?:\/\/[^/?#\s]+\/accounts\/([A-Za-z0-9_]+)$/;

/**
 * Whether a token's `iss` names this account: its urn, or an issuer URL of it (`<any origin>/accounts/<id>`). The
 * signature by one of the account's keys is what proves a token authentic; this only keeps a claim consistent with
 * it, whatever public URL the service had when the token was issued (a service moved to another name keeps
 * accepting its tokens).
 */
export function issuerNamesAccount(iss: unknown, accountId: string): boolean {
  if (typeof iss !== 'string') return false;
  if (iss === issuerFor(accountId)) return true;
  const m = URL_ISSUER.exec(iss);
  return m !== null && m[1] === accountId;
}

/** RFC 7638 thumbprint of a public JWK: its required members in lexicographic order. */
function thumbprint(jwk: PublicJwk): string {
  const canonical =
    jwk.kty === 'OKP'
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
      : jwk.kty === 'EC'
        ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
        : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url');
}

export function generateSigningKey(alg: SigningAlg = 'EdDSA'): SigningKeyMaterial {
  let publicJwk: PublicJwk;
  let privatePkcs8Pem: string;
  if (alg === 'EdDSA') {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const jwk = publicKey.export({ format: 'jwk' }) as { x: string };
    publicJwk = { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
    privatePkcs8Pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  } else if (alg === 'ES256') {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' }) as { x: string; y: string };
    publicJwk = { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
    privatePkcs8Pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  } else {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
    const jwk = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
    publicJwk = { kty: 'RSA', n: jwk.n, e: jwk.e };
    privatePkcs8Pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  }
  return { kid: thumbprint(publicJwk), alg, publicJwk, privatePkcs8Pem };
}

export interface ApiTokenClaims {
  accountId: string;
  tokenId: string;
  issuedAt: Date;
  notBefore: Date;
  /** The account's issuer (accountIssuer); its urn when absent. */
  issuer?: string;
}

/**
 * Mints an API token: a compact JWS with kid, explicit typ, iss, sub, client_id, jti, iat and nbf (= activation).
 * `client_id` is the account, as RFC 9068 has it for tokens no resource owner is involved in (sub = client_id): the
 * account's own software presents the token. No exp (a token lives until it is deleted, per the spec) and no aud
 * (a token authorizes its account's calls to every API; no one resource server could be named).
 */
export async function mintApiToken(key: { kid: string; privatePkcs8Pem: string; alg?: SigningAlg }, c: ApiTokenClaims): Promise<string> {
  const { SignJWT } = await import('jose');
  return new SignJWT({ client_id: c.accountId })
    .setProtectedHeader({ alg: key.alg ?? 'EdDSA', kid: key.kid, typ: API_TOKEN_TYP })
    .setIssuer(c.issuer ?? issuerFor(c.accountId))
    .setSubject(c.accountId)
    .setJti(c.tokenId)
    .setIssuedAt(Math.floor(c.issuedAt.getTime() / 1000))
    .setNotBefore(Math.floor(c.notBefore.getTime() / 1000))
    .sign(createPrivateKey(key.privatePkcs8Pem));
}
