import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openRawDatabase, testSqliteDriver } from '../helpers/sqlite.js';
import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/core/clock.js';
import { exitCodeFor } from '../../src/core/errors.js';
import { parseStore, serializeStore } from '../../src/storage/json-file/document.js';
import { SqliteStorage } from '../../src/storage/sql/sqlite/storage.js';
import { LATEST_SQLITE_VERSION, SQLITE_MIGRATIONS } from '../../src/storage/sql/sqlite/migrations.js';
import { initServiceAccount, setAccountFeatures, showAccount } from '../../src/tokens/principals.js';
import { TokenService } from '../../src/tokens/token-service.js';

const sqlite = await testSqliteDriver();

let dir: string;
const opened: SqliteStorage[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

function open(file: string, key: Buffer): SqliteStorage {
  const s = SqliteStorage.open(sqlite, file, key);
  opened.push(s);
  return s;
}

const clock = manualClock('2026-03-01T10:00:00.000Z');
const codeOf = (p: Promise<unknown>) => p.then(() => 0, exitCodeFor);

describe('account features in SQLite (OneLink is premium)', () => {
  it('migration 3 adds them: an account made before keeps OneLink when it has or had a OneLink token, others start without', async () => {
    // Numbered in order (issue 21's migration is 5 while another branch takes 4: the runner applies what a database lacks
    // in order, so the gap is harmless; once both are merged, this is 1, 2, 3, ... again).
    const versions = SQLITE_MIGRATIONS.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
    const featuresMigration = SQLITE_MIGRATIONS.find((m) => /ADD COLUMN features/.test(m.sql))!;
    dir = mkdtempSync(path.join(tmpdir(), 'tokenctl-features-'));
    const file = path.join(dir, 'tokenctl.db');
    const key = randomBytes(32);
    const s = open(file, key);
    const withOneLink = await initServiceAccount(s, { name: 'uses-onelink', defaultToken: true, features: ['onelink'] }, clock);
    const deletedOnly = await initServiceAccount(s, { name: 'had-onelink', defaultToken: true, features: ['onelink'] }, clock);
    const without = await initServiceAccount(s, { name: 'never', defaultToken: true, features: ['onelink'] }, clock);
    const svc = (accountId: string) => new TokenService({ storage: s, accountId, actor: 'test', clock });
    await svc(withOneLink.account.id).create({ type: 'onelink', name: 'links' });
    await svc(deletedOnly.account.id).create({ type: 'onelink', name: 'old' });
    await svc(deletedOnly.account.id).delete('old', 'Delete token');
    s.close();

    // Back to the schema before the features migration, as a database of the previous tokenctl is.
    const raw = await openRawDatabase(file);
    raw.exec('ALTER TABLE accounts DROP COLUMN features');
    raw.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(featuresMigration.version - 1));
    raw.close();

    const upgraded = open(file, key);
    const check = await openRawDatabase(file);
    expect(check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get()).toEqual({ value: String(LATEST_SQLITE_VERSION) });
    check.close();
    expect((await showAccount(upgraded, 'uses-onelink')).features).toEqual(['onelink']);
    expect((await showAccount(upgraded, 'had-onelink')).features).toEqual(['onelink']);
    expect((await showAccount(upgraded, 'never')).features).toEqual([]);
    const never = new TokenService({ storage: upgraded, accountId: without.account.id, actor: 'test', clock });
    expect(await codeOf(never.create({ type: 'onelink', name: 'x' }))).toBe(7);
    expect(await codeOf(never.create({ type: 's2s', name: 'x' }))).toBe(0);
  });

  it('stores what the operator sets, and refuses unreadable features (exit 9), never reading them as "all"', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tokenctl-features-'));
    const file = path.join(dir, 'tokenctl.db');
    const key = randomBytes(32);
    const s = open(file, key);
    const acme = await initServiceAccount(s, { name: 'acme', defaultToken: false }, clock);
    expect(acme.account.features).toEqual([]);
    const svc = new TokenService({ storage: s, accountId: acme.account.id, actor: 'test', clock });
    expect(await codeOf(svc.create({ type: 'onelink', name: 'x' }))).toBe(7);
    expect(await svc.list()).toEqual([]);
    const on = await setAccountFeatures(s, 'acme', { enable: ['onelink', 'onelink'] }, clock);
    expect(on).toMatchObject({ before: [], features: ['onelink'] });
    expect((await svc.account()).features).toEqual(['onelink']);
    expect(await codeOf(svc.create({ type: 'onelink', name: 'x' }))).toBe(0);
    await setAccountFeatures(s, 'acme', { disable: ['onelink'] }, clock);
    expect((await svc.account()).features).toEqual([]);

    const raw = await openRawDatabase(file);
    raw.prepare("UPDATE accounts SET features = '[\"onelink\",\"gold\"]'").run();
    raw.close();
    expect(await codeOf(svc.account())).toBe(9);
    expect(await codeOf(svc.create({ type: 'onelink', name: 'y' }))).toBe(9);
  });
});

describe('account features in the local store', () => {
  const doc = (account: Record<string, unknown>) =>
    JSON.stringify({
      format: 'tokenctl-store',
      version: 1,
      keySource: 'env',
      keyCheck: 'k'.repeat(43),
      account: {
        id: 'acc_1',
        name: 'mine',
        createdAt: '2026-03-01T10:00:00.000Z',
        signingKey: { kid: 'kid1', alg: 'EdDSA', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x'.repeat(43) }, privateKey: 'v1.abc.def' },
        ...account,
      },
      tokens: [],
      rotations: [],
      auditHead: null,
    });

  it('has no features field by default (its owner has every feature); one written by hand is validated and kept', () => {
    const plain = parseStore(doc({}), 'store.json');
    expect(plain.account.features).toBeUndefined();
    expect(serializeStore(plain)).not.toContain('features');
    const listed = parseStore(doc({ features: ['onelink'] }), 'store.json');
    expect(listed.account.features).toEqual(['onelink']);
    expect(parseStore(serializeStore(listed), 'store.json').account.features).toEqual(['onelink']);
    expect(parseStore(doc({ features: [] }), 'store.json').account.features).toEqual([]);
    for (const bad of ['onelink', ['gold'], [1], null]) {
      expect(() => parseStore(doc({ features: bad }), 'store.json')).toThrow(/store\.account\.features is malformed/);
    }
  });
});
