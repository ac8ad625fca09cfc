import { describe, expect, it } from 'vitest';
import { createHmac, createPublicKey, randomBytes } from 'node:crypto';
import { jwtVerify, decodeProtectedHeader } from 'jose';
import { checkOpaqueToken, maskValue, mintOpaqueToken, OPAQUE_BODY_LENGTH, OPAQUE_CHECKSUM_LENGTH, OPAQUE_PREFIXES, randomBase62 } from '../../src/secrets/opaque.js';
import { createSealer, hmacSha256, newMasterKey } from '../../src/secrets/seal.js';
import { generateSigningKey, issuerFor, mintApiToken } from '../../src/secrets/jwt.js';
import { StoreDataError } from '../../src/core/errors.js';

describe('opaque tokens', () => {
  it('are prefixed by type, base62, and checksummed', () => {
    for (const type of ['onelink', 's2s'] as const) {
      const v = mintOpaqueToken(type);
      expect(v.startsWith(OPAQUE_PREFIXES[type])).toBe(true);
      expect(v.slice(OPAQUE_PREFIXES[type].length)).toMatch(/^[0-9A-Za-z]{34}$/);
      expect(checkOpaqueToken(v)).toEqual({ ok: true, type });
    }
  });

  it('detects every single-character typo offline', () => {
    const v = mintOpaqueToken('s2s');
    const body = OPAQUE_PREFIXES.s2s.length;
    for (let i = body; i < v.length; i++) {
      const c = v[i] === 'a' ? 'b' : 'a';
      expect(checkOpaqueToken(v.slice(0, i) + c + v.slice(i + 1)).ok).toBe(false);
    }
    expect(checkOpaqueToken(v.slice(0, -1))).toEqual({ ok: false, reason: 'format' });
    expect(checkOpaqueToken('hello')).toEqual({ ok: false, reason: 'format' });
  });

  it('carries at least 160 random bits and is not repeated', () => {
    const value = mintOpaqueToken('onelink');
    const body = value.slice(OPAQUE_PREFIXES.onelink.length, value.length - OPAQUE_CHECKSUM_LENGTH);
    expect(body).toHaveLength(OPAQUE_BODY_LENGTH);
    expect(body.length * Math.log2(62)).toBeGreaterThanOrEqual(160);
    const seen = new Set(Array.from({ length: 2000 }, () => mintOpaqueToken('onelink')));
    expect(seen.size).toBe(2000);
    // Uniformity sanity check: every base62 character shows up in a long sample.
    expect(new Set(randomBase62(20_000)).size).toBe(62);
  });

  it('masks to at most the prefix and the last 4 characters', () => {
    const v = mintOpaqueToken('onelink');
    expect(maskValue('onelink', v)).toBe(`tctl_ol_…${v.slice(-4)}`);
    expect(maskValue('api', 'eyJabc.def.ghijklmn')).toBe('eyJ…klmn');
  });
});

describe('sealing at rest', () => {
  it('round-trips, binds the ciphertext to its context, and detects tampering', () => {
    const sealer = createSealer(newMasterKey());
    const sealed = sealer.seal('secret-value', 'acc:tok_1');
    expect(sealed).not.toContain('secret');
    expect(sealer.open(sealed, 'acc:tok_1')).toBe('secret-value');
    expect(() => sealer.open(sealed, 'acc:tok_2')).toThrow(StoreDataError);
    const [v, iv, ct] = sealed.split('.');
    const flipped = Buffer.from(ct!, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    expect(() => sealer.open(`${v}.${iv}.${flipped.toString('base64url')}`, 'acc:tok_1')).toThrow(/integrity/);
    expect(() => createSealer(newMasterKey()).open(sealed, 'acc:tok_1')).toThrow(StoreDataError);
  });

  it('fingerprints are keyed: the same value under another key differs', () => {
    const a = createSealer(newMasterKey());
    const b = createSealer(newMasterKey());
    expect(a.fingerprint('v')).toBe(a.fingerprint('v'));
    expect(a.fingerprint('v')).not.toBe(b.fingerprint('v'));
  });

  it('computes HMAC-SHA256 exactly as node:crypto does (fingerprints already stored must still match)', () => {
    const messages = ['', 'v', mintOpaqueToken('s2s'), 'é😀ü'.repeat(50), 'x'.repeat(1024), 'y'.repeat(1025), 'z'.repeat(5000), '😀'.repeat(256), 'a' + '😀'.repeat(256)];
    for (const keyLength of [0, 1, 32, 64]) {
      const key = randomBytes(keyLength);
      const mac = hmacSha256(key);
      for (const m of messages) {
        expect(mac(m), `key ${keyLength} bytes, message ${m.length} chars`).toBe(createHmac('sha256', key).update(m, 'utf8').digest('base64url'));
      }
      // A short message right after a long one: no bytes of the previous one leak into the next.
      expect(mac('short')).toBe(createHmac('sha256', key).update('short', 'utf8').digest('base64url'));
    }
    expect(() => hmacSha256(randomBytes(65))).toThrow(/block size/);
  });
});

describe('API tokens', () => {
  it('are EdDSA JWTs that verify against the account key with the contract claims', async () => {
    const key = generateSigningKey();
    const iat = new Date('2026-05-01T00:00:00Z');
    const nbf = new Date('2026-05-01T00:30:00Z');
    const jwt = await mintApiToken(key, { accountId: 'acc_1', tokenId: 'tok_1', issuedAt: iat, notBefore: nbf });
    expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'EdDSA', kid: key.kid, typ: 'tokenctl-api+jwt' });
    const { payload } = await jwtVerify(jwt, createPublicKey({ key: key.publicJwk, format: 'jwk' }), {
      algorithms: ['EdDSA'],
      typ: 'tokenctl-api+jwt',
      issuer: issuerFor('acc_1'),
      currentDate: new Date('2026-05-01T01:00:00Z'),
    });
    expect(payload).toMatchObject({ sub: 'acc_1', jti: 'tok_1', iat: iat.getTime() / 1000, nbf: nbf.getTime() / 1000 });
    await expect(jwtVerify(jwt, createPublicKey({ key: key.publicJwk, format: 'jwk' }), { currentDate: iat })).rejects.toThrow(/nbf/);
  });
});
