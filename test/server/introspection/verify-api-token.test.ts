import { createHmac, createPrivateKey, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import { generateSigningKey, issuerFor, mintApiToken } from '../../../src/secrets/jwt.js';
import { SigningKeyCache, verifyApiToken } from '../../../src/server/introspection/introspector.js';

// The signature and claim checks on their own, without the store's exact-value match behind them.
const key = generateSigningKey();
const other = generateSigningKey();
const keys = new SigningKeyCache({
  tokenGeneration: 0,
  signingKeys: () => [{ kid: key.kid, accountId: 'acc_1', publicJwk: { ...key.publicJwk, kid: key.kid, alg: 'EdDSA', use: 'sig' } }],
});
const now = new Date('2026-03-01T10:00:00Z');
const enc = (o: unknown) => base64url.encode(JSON.stringify(o));

async function genuine(overrides: Partial<{ accountId: string; nbf: Date }> = {}) {
  return mintApiToken(key, { accountId: overrides.accountId ?? 'acc_1', tokenId: 'tok_1', issuedAt: new Date(now.getTime() - 3_600_000), notBefore: overrides.nbf ?? new Date(now.getTime() - 1_800_000) });
}

describe('verifyApiToken', () => {
  it('accepts a genuine token and returns its account and jti', async () => {
    expect(verifyApiToken(await genuine(), keys, now)).toEqual({ accountId: 'acc_1', jti: 'tok_1' });
    // The hand-signing helper below produces tokens this verifier accepts, so the refusals are meaningful.
    const value = await genuine();
    const [h, p] = value.split('.') as [string, string];
    const input = `${h}.${p}`;
    expect(verifyApiToken(`${input}.${cryptoSign(null, Buffer.from(input), createPrivateKey(key.privatePkcs8Pem)).toString('base64url')}`, keys, now)).not.toBeNull();
  });

  it('refuses forgeries and misuse', async () => {
    const value = await genuine();
    const [h, p, sig] = value.split('.') as [string, string, string];
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const raw = Buffer.from(key.publicJwk.x, 'base64url');
    const hs = (k: Buffer | string) => {
      const hh = enc({ ...header, alg: 'HS256' });
      return `${hh}.${p}.${createHmac('sha256', k).update(`${hh}.${p}`).digest('base64url')}`;
    };
    // Signed by hand: jose refuses to produce some of these on purpose.
    const signWith = async (pem: string, hdr: object, claims: object) => {
      const input = `${enc(hdr)}.${enc(claims)}`;
      return `${input}.${cryptoSign(null, Buffer.from(input), createPrivateKey(pem)).toString('base64url')}`;
    };
    const stranger = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const cases: Record<string, string> = {
      'alg none': `${enc({ ...header, alg: 'none' })}.${p}.`,
      'HS256 with the raw public key': hs(raw),
      'HS256 with the x string': hs(key.publicJwk.x),
      'tampered payload': `${h}.${enc({ ...payload, sub: 'acc_2' })}.${sig}`,
      'unknown kid': `${enc({ ...header, kid: other.kid })}.${p}.${sig}`,
      'crit header': await signWith(key.privatePkcs8Pem, { ...header, crit: ['x'], x: 1 }, payload),
      'wrong typ': await signWith(key.privatePkcs8Pem, { ...header, typ: 'JWT' }, payload),
      'wrong iss': await signWith(key.privatePkcs8Pem, header, { ...payload, iss: issuerFor('acc_2') }),
      'signed by another key under this kid': await signWith(stranger, header, payload),
      'not yet valid (nbf in the future)': await genuine({ nbf: new Date(now.getTime() + 60_000) }),
      'expired': await signWith(key.privatePkcs8Pem, header, { ...payload, exp: Math.floor(now.getTime() / 1000) - 1 }),
      'two parts': `${h}.${p}`,
      'junk signature': `${h}.${p}.${'A'.repeat(86)}`,
      'padding in signature': `${h}.${p}.${sig}=`,
    };
    for (const [name, forged] of Object.entries(cases)) expect(verifyApiToken(forged, keys, now), name).toBeNull();
  });
});
