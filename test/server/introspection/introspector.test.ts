import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDataDir } from '../../../src/server/data-dir.js';
import { Introspector } from '../../../src/server/introspection/introspector.js';
import { manualClock } from '../../../src/core/clock.js';
import { TokenIndex } from '../../../src/server/memory/token-index.js';
import type { SqliteStorage } from '../../../src/storage/sql/sqlite/storage.js';
import { initServiceAccount } from '../../../src/tokens/principals.js';
import { TokenService } from '../../../src/tokens/token-service.js';

// The introspector remembers what a value resolves to (for a second of real time) and checks the caller and the
// clock on every call. These tests move only the service clock, so every answer after the first is from memory.
const MIN = 60_000;
let dir: string;
let storage: SqliteStorage;
let store: TokenIndex;
/** Each change is followed by the memory, as the service's own writes are (server/accounts.ts). */
const followed = async <T>(accountId: string | ((r: T) => string), change: Promise<T>): Promise<T> => {
  const r = await change;
  await store.refreshAccount(typeof accountId === 'string' ? accountId : accountId(r));
  return r;
};
const createAccount = (input: { name: string; defaultToken: boolean }, when: Date) =>
  followed((r) => r.account.id, initServiceAccount(storage, { ...input, features: ['onelink'] }, manualClock(when)));
const tokens = (accountId: string, when: Date) => new TokenService({ storage, accountId, actor: 'test', clock: manualClock(when) });
const createToken = (accountId: string, input: { type: 'api' | 'onelink' | 's2s'; name: string }, _actor: string, when: Date) => followed(accountId, tokens(accountId, when).create(input));
const deleteToken = (accountId: string, ref: string, phrase: string, _actor: string, when: Date) => followed(accountId, tokens(accountId, when).delete(ref, phrase));
const renameToken = (accountId: string, ref: string, name: string, _actor: string, when: Date) => followed(accountId, tokens(accountId, when).rename(ref, name));
let t0: Date;
const at = (minutes: number) => new Date(t0.getTime() + minutes * MIN);

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tokenctl-introspector-'));
  storage = await openDataDir(path.join(dir, 'data'), { TOKENCTL_SERVER_KEY: randomBytes(32).toString('base64') }, { create: true });
  store = new TokenIndex(storage, storage.serverSealer, manualClock('2026-03-01T10:00:00Z'));
  await store.start();
  t0 = new Date('2026-03-01T10:00:00Z');
});

afterEach(async () => {
  await store.close();
  storage.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Introspector', () => {
  it('remembers a value that resolves to nothing, until this process learns of any change to tokens', async () => {
    const acme = await createAccount({ name: 'acme', defaultToken: false }, t0);
    const lookups = vi.spyOn(store, 'tokenByFingerprint');
    const fingerprints = vi.spyOn(store, 'fingerprint');
    const introspector = new Introspector(store);
    const unknown = (await import('../../../src/secrets/opaque.js')).mintOpaqueToken('s2s');
    for (let i = 0; i < 5; i++) expect(introspector.introspect(unknown, acme.account.id, at(0).getTime()).json).toBe('{"active":false}');
    expect(lookups).toHaveBeenCalledTimes(1);
    expect(fingerprints).toHaveBeenCalledTimes(1);
    // Any change (a token created here) makes every remembered answer, unknown ones included, be looked up again.
    await createToken(acme.account.id, { type: 's2s', name: 'svc' }, 'test', t0);
    expect(introspector.introspect(unknown, acme.account.id, at(0).getTime()).json).toBe('{"active":false}');
    expect(lookups).toHaveBeenCalledTimes(2);
    // Garbage that is not in the form of a value is refused offline, and never looked up.
    expect(introspector.introspect('tctl_s2s_not-a-value', acme.account.id, at(0).getTime()).json).toBe('{"active":false}');
    expect(lookups).toHaveBeenCalledTimes(2);
  });

  it('follows a token through pending, active, draining and revoked from one remembered resolution', async () => {
    const acme = await createAccount({ name: 'acme', defaultToken: false }, t0);
    const { token, value } = await createToken(acme.account.id, { type: 's2s', name: 'svc' }, 'test', t0);
    const introspector = new Introspector(store);
    const ask = (when: Date) => introspector.introspect(value, acme.account.id, when.getTime());

    expect(ask(at(0)).json).toBe('{"active":false}'); // pending
    expect(ask(at(29)).json).toBe('{"active":false}');
    const active = ask(at(30));
    expect(active.response).toMatchObject({ active: true, status: 'active', type: 's2s', jti: token.id, sub: acme.account.id });
    expect(JSON.parse(active.json)).toEqual(active.response);
    expect(active.tokenId).toBe(token.id);

    // This process's own deletion is seen at once, not after the memory expires.
    await deleteToken(acme.account.id, 'svc', 'Delete token', 'test', at(40));
    const draining = ask(at(40));
    expect(draining.response).toMatchObject({ active: true, status: 'draining', exp: Math.floor(at(70).getTime() / 1000) });
    expect(ask(at(69)).response).toMatchObject({ status: 'draining' });
    expect(ask(at(70)).json).toBe('{"active":false}');
  });

  it('never lets a token deleted while still pending become active', async () => {
    const acme = await createAccount({ name: 'acme', defaultToken: false }, t0);
    const { value } = await createToken(acme.account.id, { type: 's2s', name: 'mistake' }, 'test', t0);
    const introspector = new Introspector(store);
    await deleteToken(acme.account.id, 'mistake', 'Delete token', 'test', at(5));
    for (const minutes of [5, 29, 30, 31, 34, 40]) expect(introspector.introspect(value, acme.account.id, at(minutes).getTime()).json, `${minutes} min`).toBe('{"active":false}');
  });

  it("answers another account's caller exactly as for an unknown value, even once the value is remembered", async () => {
    const acme = await createAccount({ name: 'acme', defaultToken: false }, t0);
    const other = await createAccount({ name: 'other', defaultToken: false }, t0);
    const { value } = await createToken(acme.account.id, { type: 'onelink', name: 'x' }, 'test', t0);
    const introspector = new Introspector(store);
    expect(introspector.introspect(value, acme.account.id, at(31).getTime()).response.active).toBe(true);
    expect(introspector.introspect(value, other.account.id, at(31).getTime())).toEqual(introspector.introspect('tctl_ol_unknown', other.account.id, at(31).getTime()));
  });

  it('checks an API token\'s own nbf claim as well as the token\'s times', async () => {
    const acme = await createAccount({ name: 'acme', defaultToken: false }, t0);
    const { value } = await createToken(acme.account.id, { type: 'api', name: 'jwt' }, 'test', t0);
    const introspector = new Introspector(store);
    expect(introspector.introspect(value, acme.account.id, at(31).getTime()).response).toMatchObject({ active: true, type: 'api' });
    // The JWT's nbf is its activation time: before it, inactive even though the value is remembered.
    expect(introspector.introspect(value, acme.account.id, at(29).getTime()).json).toBe('{"active":false}');
  });

  it('does not remember values it could not resolve', async () => {
    const acme = await createAccount({ name: 'acme', defaultToken: false }, t0);
    const introspector = new Introspector(store);
    for (let i = 0; i < 50; i++) introspector.introspect(`tctl_s2s_garbage${i}`, acme.account.id, t0.getTime());
    expect(introspector.remembered).toBe(0);
    const { value } = await createToken(acme.account.id, { type: 's2s', name: 'real' }, 'test', t0);
    introspector.introspect(value, acme.account.id, at(31).getTime());
    expect(introspector.remembered).toBe(1);
  });

  it('keeps at most its bound of remembered values, dropping the oldest', async () => {
    const acme = await createAccount({ name: 'acme', defaultToken: false }, t0);
    const a = await createToken(acme.account.id, { type: 's2s', name: 'a' }, 'test', t0);
    const b = await createToken(acme.account.id, { type: 'onelink', name: 'b' }, 'test', t0);
    const introspector = new Introspector(store, 1);
    const lookups = vi.spyOn(store, 'tokenByFingerprint');
    expect(introspector.introspect(a.value, acme.account.id, at(31).getTime()).tokenId).toBe(a.token.id);
    expect(introspector.introspect(b.value, acme.account.id, at(31).getTime()).tokenId).toBe(b.token.id);
    expect(introspector.remembered).toBe(1);
    expect(lookups).toHaveBeenCalledTimes(2);
    expect(introspector.introspect(b.value, acme.account.id, at(31).getTime()).tokenId).toBe(b.token.id); // the newest: remembered
    expect(lookups).toHaveBeenCalledTimes(2);
    expect(introspector.introspect(a.value, acme.account.id, at(31).getTime()).tokenId).toBe(a.token.id); // the oldest went first
    expect(lookups).toHaveBeenCalledTimes(3);
  });

  it('forgets values at the next sweep (within a second), and at once after this process changes a token', async () => {
    const acme = await createAccount({ name: 'acme', defaultToken: false }, t0);
    const a = await createToken(acme.account.id, { type: 's2s', name: 'a' }, 'test', t0);
    const b = await createToken(acme.account.id, { type: 'onelink', name: 'b' }, 'test', t0);
    const lookups = vi.spyOn(store, 'tokenByFingerprint');
    const introspector = new Introspector(store, 10);
    introspector.introspect(a.value, acme.account.id, at(31).getTime());
    introspector.introspect(b.value, acme.account.id, at(31).getTime());
    introspector.introspect(b.value, acme.account.id, at(31).getTime());
    expect(introspector.remembered).toBe(2);
    expect(lookups).toHaveBeenCalledTimes(2);
    introspector.sweep();
    expect(introspector.remembered).toBe(0);
    expect(introspector.introspect(b.value, acme.account.id, at(31).getTime()).tokenId).toBe(b.token.id);
    expect(lookups).toHaveBeenCalledTimes(3);
    // A change to any token: what was read before is not used after it, even before the next sweep.
    await renameToken(acme.account.id, 'a', 'renamed', 'test', at(32));
    expect(introspector.introspect(b.value, acme.account.id, at(31).getTime()).tokenId).toBe(b.token.id);
    expect(lookups).toHaveBeenCalledTimes(4);
  });
});
