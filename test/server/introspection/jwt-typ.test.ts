import { mkdtempSync, rmSync } from 'node:fs';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT, decodeProtectedHeader } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../../src/core/clock.js';
import { API_TOKEN_TYP, LEGACY_API_TOKEN_TYP, isApiTokenTyp, issuerFor } from '../../../src/secrets/jwt.js';
import { openDataDir } from '../../../src/server/data-dir.js';
import { Introspector } from '../../../src/server/introspection/introspector.js';
import { TokenIndex } from '../../../src/server/memory/token-index.js';
import type { SqliteStorage } from '../../../src/storage/sql/sqlite/storage.js';
import { initServiceAccount } from '../../../src/tokens/principals.js';
import { signingKeyAad, TokenService, valueAad } from '../../../src/tokens/token-service.js';

// API tokens say typ tokenctl-api+jwt (they do not follow RFC 9068's at+jwt profile: no exp, aud, client_id);
// tokens issued before that, with at+jwt, must keep working wherever a token is checked.
let dir: string;
let storage: SqliteStorage;
const t0 = new Date('2026-03-01T10:00:00Z');
const later = new Date('2026-03-01T11:00:00Z');

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tokenctl-typ-'));
  storage = await openDataDir(path.join(dir, 'data'), { TOKENCTL_SERVER_KEY: randomBytes(32).toString('base64') }, { create: true });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Issues an API token exactly as tokenctl 0.1 did (typ at+jwt), straight into the storage, as such a token sits there. */
async function issuedBefore(accountId: string, masked: string): Promise<{ id: string; value: string }> {
  const sealer = await storage.sealer();
  const id = 'tok_LegacyAtJwt0001';
  return storage.write(accountId, { actor: 'test', at: t0.toISOString() }, async (tx) => {
    const key = await tx.signingKey();
    const pem = sealer.open(key.privateKey, signingKeyAad(accountId));
    const value = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: LEGACY_API_TOKEN_TYP })
      .setIssuer(issuerFor(accountId))
      .setSubject(accountId)
      .setJti(id)
      .setIssuedAt(t0.getTime() / 1000)
      .setNotBefore(t0.getTime() / 1000 + 1800)
      .sign(createPrivateKey(pem));
    await tx.insertToken({
      id,
      name: 'old',
      type: 'api',
      createdAt: t0.toISOString(),
      activatesAt: new Date(t0.getTime() + 1_800_000).toISOString(),
      deletedAt: null,
      lastUsedAt: null,
      masked,
      fingerprint: sealer.fingerprint(value),
      secret: sealer.seal(value, valueAad(accountId, id)),
    });
    return { id, value };
  });
}

describe('the typ of API tokens', () => {
  it('new tokens carry tokenctl-api+jwt; introspection accepts them and tokens issued with at+jwt alike', async () => {
    const acme = await initServiceAccount(storage, { name: 'acme', defaultToken: false }, manualClock(t0));
    const service = new TokenService({ storage, accountId: acme.account.id, actor: 'test', clock: manualClock(t0) });
    const fresh = await service.create({ type: 'api', name: 'fresh' });
    expect(decodeProtectedHeader(fresh.value).typ).toBe('tokenctl-api+jwt');
    expect(API_TOKEN_TYP).toBe('tokenctl-api+jwt');
    const old = await issuedBefore(acme.account.id, fresh.token.masked);
    const legacy = old.value;
    expect(decodeProtectedHeader(legacy).typ).toBe('at+jwt');

    const memory = new TokenIndex(storage, storage.serverSealer, manualClock(later));
    await memory.start();
    try {
      const introspector = new Introspector(memory);
      expect(introspector.introspect(fresh.value, acme.account.id, later.getTime()).response).toMatchObject({ active: true, jti: fresh.token.id });
      expect(introspector.introspect(legacy, acme.account.id, later.getTime()).response).toMatchObject({ active: true, jti: old.id });
      // Still the exact value issued: the same claims signed again, under either typ, are not it.
      const [, p, sig] = legacy.split('.') as [string, string, string];
      const retyped = `${Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: decodeProtectedHeader(legacy).kid, typ: API_TOKEN_TYP })).toString('base64url')}.${p}.${sig}`;
      expect(introspector.introspect(retyped, acme.account.id, later.getTime()).json).toBe('{"active":false}');
    } finally {
      await memory.close();
    }
  });

  it('accepts exactly the two types tokenctl issues or issued', () => {
    expect(isApiTokenTyp('tokenctl-api+jwt')).toBe(true);
    expect(isApiTokenTyp('at+jwt')).toBe(true);
    for (const other of ['JWT', 'jwt', 'application/at+jwt', 'tokenctl-api', '', undefined, null, 1]) expect(isApiTokenTyp(other), String(other)).toBe(false);
  });
});
