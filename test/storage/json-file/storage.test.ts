import { readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JsonFileStorage } from '../../../src/storage/json-file/json-file-storage.js';
import { TokenService } from '../../../src/tokens/token-service.js';
import { testCli } from '../../helpers/deps.js';
import { newMasterKeyB64, tempHome } from '../../helpers/env.js';
import { describeStorageContract } from '../storage-contract.js';

describeStorageContract('JSON file', async () => {
  const home = tempHome();
  const env = { TOKENCTL_MASTER_KEY: newMasterKeyB64(), TOKENCTL_KEYCHAIN: 'off' };
  const dir = path.join(home, 'profiles', 'default');
  return {
    open: async () => new JsonFileStorage({ dir, env, warn: () => undefined }),
    cleanup: () => rm(home, { recursive: true, force: true }),
  };
});

describe('a hand-set features list in the local store (OneLink is premium)', () => {
  /** A store made by `tokenctl init`, with its account's `features` set by hand (undefined: the key removed). */
  async function storeWith(features: unknown) {
    const home = tempHome();
    const cli = testCli(home);
    expect((await cli.run(['init'])).code).toBe(0);
    const file = path.join(home, 'profiles', 'default', 'store.json');
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    if (features === undefined) delete doc.account.features;
    else doc.account.features = features;
    writeFileSync(file, JSON.stringify(doc), { mode: 0o600 });
    const storage = new JsonFileStorage({ dir: path.dirname(file), env: cli.env, warn: () => undefined });
    const service = new TokenService({ storage, accountId: doc.account.id, actor: 'test', clock: cli.clock });
    return { cli, file, service };
  }

  it('passes the list through: without onelink, OneLink tokens are refused (exit 7) and not offered; listing is unaffected', async () => {
    const { cli, service } = await storeWith([]);
    expect((await service.account()).features).toEqual([]);
    const refused = await cli.run(['create', '--type', 'onelink', '--name', 'links']);
    expect(refused.code, refused.stderr).toBe(7);
    expect(refused.stderr).toMatch(/OneLink API tokens are a premium feature/);
    expect((await cli.run(['create', '--type', 's2s', '--name', 'events'])).code).toBe(0);
    expect(JSON.parse((await cli.run(['list', '--json'])).stdout).map((t: { name: string }) => t.name)).toEqual(['default', 'events']);
    const asked = await cli.run(['create'], { tty: true, answers: ['s2s', 'more'] });
    expect(asked.code, asked.stderr).toBe(0);
    expect(asked.stderr).toMatch(/Not offered: onelink \(OneLink API tokens are a premium feature, and this account does not have it\)/);
  });

  it('with onelink listed, or without the key (every feature, as tokenctl writes it), OneLink tokens are created', async () => {
    for (const features of [['onelink'], undefined]) {
      const { cli, service } = await storeWith(features);
      expect((await service.account()).features).toEqual(features);
      const r = await cli.run(['create', '--type', 'onelink', '--name', 'links']);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  it.each([['onelink'], [['gold']], [[1]], [null]])('an invalid list (%j) is a store data error (exit 9), the store left as it is', async (bad) => {
    const { cli, file } = await storeWith(bad);
    const before = readFileSync(file, 'utf8');
    for (const argv of [['list'], ['create', '--type', 's2s', '--name', 'x']]) {
      const r = await cli.run(argv);
      expect(r.code, r.stderr).toBe(9);
      expect(r.stderr).toMatch(/store\.account\.features is malformed/);
    }
    expect(readFileSync(file, 'utf8')).toBe(before);
  });
});
