// API tokens issued before 0.2 say typ at+jwt; new ones tokenctl-api+jwt. `tokenctl verify` knows both (issue 12).
import { createPrivateKey } from 'node:crypto';
import path from 'node:path';
import { decodeProtectedHeader, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { JsonFileStorage } from '../../src/storage/json-file/json-file-storage.js';
import { signingKeyAad, valueAad } from '../../src/tokens/token-service.js';
import { newAccount, runBin } from '../helpers/bin.js';

describe('the typ of API tokens, through the binary', () => {
  it('new tokens carry tokenctl-api+jwt, and verify still accepts a token issued with at+jwt', async () => {
    const { home, env, defaultValue } = await newAccount();
    expect(decodeProtectedHeader(defaultValue).typ).toBe('tokenctl-api+jwt');
    expect((await runBin(['verify'], { env, input: defaultValue })).code).toBe(0);

    // The default token as tokenctl 0.1 issued it: the same claims, typ at+jwt.
    const storage = new JsonFileStorage({ dir: path.join(home, 'profiles', 'default'), env, warn: () => undefined });
    const accountId = await storage.accountId();
    const sealer = await storage.sealer();
    const legacy = await storage.write(accountId, { actor: 'test', at: new Date().toISOString() }, async (tx) => {
      const key = await tx.signingKey();
      const claims = JSON.parse(Buffer.from(defaultValue.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
      const value = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'at+jwt' }).sign(createPrivateKey(sealer.open(key.privateKey, signingKeyAad(accountId))));
      const t = (await tx.tokens())[0]!;
      await tx.updateToken({ ...t, fingerprint: sealer.fingerprint(value), secret: sealer.seal(value, valueAad(accountId, t.id)) });
      return value;
    });
    const r = await runBin(['verify', '--json'], { env, input: legacy });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'default', status: 'active' });
    // Another typ is not a tokenctl token.
    const [, p, s] = legacy.split('.');
    const other = `${Buffer.from(JSON.stringify({ ...decodeProtectedHeader(legacy), typ: 'JWT' })).toString('base64url')}.${p}.${s}`;
    expect((await runBin(['verify'], { env, input: other })).code).toBe(3);
  });
});
