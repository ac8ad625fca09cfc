// The file backend reads the store once per operation: finding the account and reading its tokens is one read of
// store.json (a command pays for one parse and validation), and every later operation reads it again, so changes
// made meanwhile (by another process) are always seen.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileBackend } from '../../../src/backends/file/file-backend.js';
import { manualClock } from '../../../src/core/clock.js';
import { newMasterKeyB64, tempHome } from '../../helpers/env.js';

afterEach(() => vi.restoreAllMocks());

function backends(count: number) {
  const dir = path.join(tempHome(), 'profiles', 'default');
  const env = { TOKENCTL_MASTER_KEY: newMasterKeyB64(), TOKENCTL_KEYCHAIN: 'off' };
  const clock = manualClock('2026-06-01T12:00:00.000Z');
  return { dir, all: Array.from({ length: count }, () => new FileBackend({ dir, clock, env, actor: 'os:tester', warn: () => undefined })) };
}

/** How many times store.json is opened while `run` runs. */
async function storeOpens(dir: string, run: () => Promise<unknown>): Promise<number> {
  const open = vi.spyOn(fsp, 'open');
  await run();
  const n = open.mock.calls.filter(([p]) => p === path.join(dir, 'store.json')).length;
  open.mockRestore();
  return n;
}

describe('reads of the local store', () => {
  it('list on a fresh backend opens store.json once', async () => {
    const { dir, all: [a, b] } = backends(2);
    await a!.init({ accountName: 'mine', defaultToken: true });
    expect(await storeOpens(dir, () => b!.list())).toBe(1);
    expect(await storeOpens(dir, () => b!.list())).toBe(1);
  });

  it('every later operation reads again: a change made through another backend (process) is seen', async () => {
    const { all: [a, b, c] } = backends(3);
    await a!.init({ accountName: 'mine', defaultToken: true });
    expect((await b!.list()).map((t) => t.name)).toEqual(['default']);
    await a!.create({ type: 's2s', name: 'events' });
    expect((await b!.list()).map((t) => t.name).sort()).toEqual(['default', 'events']);
    // Two operations at once on a backend that has not read yet: each sees the store as it is.
    await a!.create({ type: 's2s', name: 'more' });
    const [tokens, features] = await Promise.all([c!.list(), c!.features()]);
    expect(tokens.map((t) => t.name).sort()).toEqual(['default', 'events', 'more']);
    expect(features).toBeUndefined();
  });
});
