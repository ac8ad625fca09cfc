import { createHmac, createPrivateKey, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import { generateSigningKey, issuerFor, mintApiToken, publishedJwk, SIGNING_ALGS, type SigningAlg, type SigningKeyMaterial } from '../../../src/secrets/jwt.js';
import { SigningKeyCache, verifyApiToken } from '../../../src/server/introspection/introspector.js';

// The signature and claim checks on their own, without the store's exact-value match behind them, for each of the
// algorithms an account's key may have.
const keysOf = Object.fromEntries(SIGNING_ALGS.map((alg) => [alg, generateSigningKey(alg)])) as Record<SigningAlg, SigningKeyMaterial>;
const other = generateSigningKey();
const keys = new SigningKeyCache({
  tokenGeneration: 0,
  signingKeys: () => Object.values(keysOf).map((key) => ({ kid: key.kid, accountId: 'acc_1', publicJwk: publishedJwk(key.publicJwk, key.kid) })),
});
const now = new Date('2026-03-01T10:00:00Z');
const enc = (o: unknown) => base64url.encode(JSON.stringify(o));

/** A JWS signature by hand, as JWS has it (ES256: r||s, not DER). */
function signature(alg: SigningAlg, pem: string, input: string): string {
  const key = createPrivateKey(pem);
  if (alg === 'EdDSA') return cryptoSign(null, Buffer.from(input), key).toString('base64url');
  if (alg === 'ES256') return cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return cryptoSign('sha256', Buffer.from(input), key).toString('base64url');
}

describe.each(SIGNING_ALGS)('verifyApiToken, %s keys', (alg) => {
  const key = keysOf[alg];
  const genuine = (overrides: Partial<{ accountId: string; nbf: Date; issuer: string }> = {}) =>
    mintApiToken(key, {
      accountId: overrides.accountId ?? 'acc_1',
      tokenId: 'tok_1',
      issuedAt: new Date(now.getTime() - 3_600_000),
      notBefore: overrides.nbf ?? new Date(now.getTime() - 1_800_000),
      ...(overrides.issuer ? { issuer: overrides.issuer } : {}),
    });

  it('accepts a genuine token and returns its account and jti, whichever issuer names the account', async () => {
    expect(verifyApiToken(await genuine(), keys, now)).toEqual({ accountId: 'acc_1', jti: 'tok_1' });
    expect(verifyApiToken(await genuine({ issuer: 'https://tokens.example.com/accounts/acc_1' }), keys, now)).toEqual({ accountId: 'acc_1', jti: 'tok_1' });
    // A service that moved to another name keeps accepting what it issued under the old one.
    expect(verifyApiToken(await genuine({ issuer: 'http://127.0.0.1:8787/accounts/acc_1' }), keys, now)).not.toBeNull();
    // The hand-signing helper below produces tokens this verifier accepts, so the refusals are meaningful.
    const [h, p] = (await genuine()).split('.') as [string, string];
    expect(verifyApiToken(`${h}.${p}.${signature(alg, key.privatePkcs8Pem, `${h}.${p}`)}`, keys, now)).not.toBeNull();
  });

  it('refuses forgeries and misuse', async () => {
    const value = await genuine();
    const [h, p, sig] = value.split('.') as [string, string, string];
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const jwk = key.publicJwk;
    const raw = jwk.kty === 'RSA' ? Buffer.from(jwk.n, 'base64url') : Buffer.from(jwk.x, 'base64url');
    const hs = (k: Buffer | string) => {
      const hh = enc({ ...header, alg: 'HS256' });
      return `${hh}.${p}.${createHmac('sha256', k).update(`${hh}.${p}`).digest('base64url')}`;
    };
    // Signed by hand: jose refuses to produce some of these on purpose.
    const signWith = (pem: string, hdr: object, claims: object, as: SigningAlg = alg) => {
      const input = `${enc(hdr)}.${enc(claims)}`;
      return `${input}.${signature(as, pem, input)}`;
    };
    const stranger = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const otherAlg = SIGNING_ALGS.find((a) => a !== alg)!;
    const cases: Record<string, string> = {
      'alg none': `${enc({ ...header, alg: 'none' })}.${p}.`,
      'HS256 with the raw public key': hs(raw),
      'HS256 with the JWK string': hs(jwk.kty === 'RSA' ? jwk.n : jwk.x),
      // Another algorithm than the key's, signed by a key of that algorithm under this kid: the key decides.
      'another algorithm under this kid': signWith(keysOf[otherAlg].privatePkcs8Pem, { ...header, alg: otherAlg }, payload, otherAlg),
      'tampered payload': `${h}.${enc({ ...payload, sub: 'acc_2' })}.${sig}`,
      'unknown kid': `${enc({ ...header, kid: other.kid })}.${p}.${sig}`,
      'crit header': signWith(key.privatePkcs8Pem, { ...header, crit: ['x'], x: 1 }, payload),
      'wrong typ': signWith(key.privatePkcs8Pem, { ...header, typ: 'JWT' }, payload),
      'wrong iss': signWith(key.privatePkcs8Pem, header, { ...payload, iss: issuerFor('acc_2') }),
      "another account's issuer URL": signWith(key.privatePkcs8Pem, header, { ...payload, iss: 'https://tokens.example.com/accounts/acc_2' }),
      'an issuer URL with more after the id': signWith(key.privatePkcs8Pem, header, { ...payload, iss: 'https://tokens.example.com/accounts/acc_1/x' }),
      'no iss': signWith(key.privatePkcs8Pem, header, { ...payload, iss: undefined }),
      'signed by another key under this kid': alg === 'EdDSA' ? signWith(stranger, header, payload) : signWith(generateSigningKey(alg).privatePkcs8Pem, header, payload),
      'not yet valid (nbf in the future)': await genuine({ nbf: new Date(now.getTime() + 60_000) }),
      expired: signWith(key.privatePkcs8Pem, header, { ...payload, exp: Math.floor(now.getTime() / 1000) - 1 }),
      'two parts': `${h}.${p}`,
      'junk signature': `${h}.${p}.${'A'.repeat(sig.length)}`,
      'padding in signature': `${h}.${p}.${sig}=`,
      'a shorter signature': `${h}.${p}.${sig.slice(0, -4)}`,
    };
    for (const [name, forged] of Object.entries(cases)) expect(verifyApiToken(forged, keys, now), name).toBeNull();
  });
});
