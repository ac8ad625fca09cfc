import { describe, expect, it } from 'vitest';
import { detectTokens, isApiTokenShape } from '../../src/scan/detect.js';
import { mintOpaqueToken } from '../../src/secrets/opaque.js';
import { generateSigningKey, mintApiToken } from '../../src/secrets/jwt.js';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const sig = 'A'.repeat(86);

describe('detectTokens', () => {
  it('finds opaque tokens with a valid checksum only, with line and column', () => {
    const ol = mintOpaqueToken('onelink');
    const s2s = mintOpaqueToken('s2s');
    const broken = ol.slice(0, -1) + (ol.endsWith('A') ? 'B' : 'A');
    const text = `first line\n  ol=${ol}\n${broken}\nxx"${s2s}"`;
    const found = detectTokens(text);
    expect(found.map((f) => [f.type, f.value, f.line, f.column])).toEqual([
      ['onelink', ol, 2, 6],
      ['s2s', s2s, 4, 4],
    ]);
    expect(found[0]!.masked).toBe(`tctl_ol_…${ol.slice(-4)}`);
  });

  it('finds API tokens by structure and issuer, and nothing that only looks like a JWT', async () => {
    const key = generateSigningKey();
    const jwt = await mintApiToken(key, { accountId: 'acc_x', tokenId: 'tok_y', issuedAt: new Date(), notBefore: new Date() });
    expect(isApiTokenShape(jwt)).toBe(true);
    const header = { alg: 'EdDSA', typ: 'at+jwt', kid: 'k' };
    const payload = { iss: 'urn:tokenctl:account:acc_1', sub: 'acc_1' };
    const good = `${b64(header)}.${b64(payload)}.${sig}`;
    const others = [
      `${b64({ ...header, typ: 'JWT' })}.${b64(payload)}.${sig}`,
      `${b64({ ...header, alg: 'HS256' })}.${b64(payload)}.${sig}`,
      `${b64(header)}.${b64({ ...payload, iss: 'https://accounts.example.com' })}.${sig}`,
      `${b64(header)}.${b64(payload)}.${'A'.repeat(40)}`,
    ];
    const found = detectTokens([jwt, good, ...others].join('\n'));
    expect(found.map((f) => [f.value, f.line])).toEqual([
      [jwt, 1],
      [good, 2],
    ]);
  });

  it('finds ES256 and RS256 API tokens, and those that name their issuer by URL', async () => {
    const issuer = 'https://tokens.example.com/accounts/acc_x';
    const claims = { accountId: 'acc_x', tokenId: 'tok_y', issuedAt: new Date(), notBefore: new Date() };
    const es = await mintApiToken(generateSigningKey('ES256'), claims);
    const rs = await mintApiToken(generateSigningKey('RS256'), { ...claims, issuer });
    const byUrl = await mintApiToken(generateSigningKey(), { ...claims, issuer });
    const found = detectTokens(`ES=${es}\nRS="${rs}"\n${byUrl}`);
    expect(found.map((f) => [f.value, f.line])).toEqual([
      [es, 1],
      [rs, 2],
      [byUrl, 3],
    ]);
  });

  it('finds a token right after stray JWT-like text', async () => {
    const jwt = await mintApiToken(generateSigningKey(), { accountId: 'acc_x', tokenId: 'tok_y', issuedAt: new Date(), notBefore: new Date() });
    const text = `data:eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9${jwt}`;
    expect(detectTokens(text).map((f) => f.column)).toEqual([text.indexOf(jwt) + 1]);
  });
});
