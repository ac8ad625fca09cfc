import { describe, expect, it } from 'vitest';
import { chmodSync, lstatSync, readFileSync, readdirSync, symlinkSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { FileBackend } from '../../../src/backends/file/file-backend.js';
import { manualClock } from '../../../src/core/clock.js';
import { TokenctlError } from '../../../src/core/errors.js';
import type { Keychain } from '../../../src/secrets/keychain.js';
import { newMasterKeyB64, tempHome } from '../../helpers/env.js';

function setup(env: Record<string, string | undefined> = {}, extra: Partial<ConstructorParameters<typeof FileBackend>[0]> = {}) {
  const home = tempHome();
  const dir = path.join(home, 'profiles', 'default');
  const warnings: string[] = [];
  const clock = manualClock('2026-04-01T00:00:00.000Z');
  const make = (e = env) => new FileBackend({ dir, clock, env: { TOKENCTL_KEYCHAIN: 'off', ...e }, warn: (m) => warnings.push(m), ...extra });
  return { home, dir, store: path.join(dir, 'store.json'), warnings, clock, backend: make(), make };
}

async function kindOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'none';
  } catch (e) {
    if (e instanceof TokenctlError) return `${e.kind}: ${e.message}`;
    throw e;
  }
}

describe('file store: nothing lost', () => {
  it.each([
    ['truncated', (s: string) => s.slice(0, s.length / 2)],
    ['not JSON', () => 'hello'],
    ['wrong type', (s: string) => s.replace('"tokens": [', '"tokens": 5, "x": [')],
    ['unknown version', (s: string) => s.replace('"version": 1', '"version": 99')],
    ['bad token type', (s: string) => s.replace('"type": "api"', '"type": "root"')],
    ['escape in a name', (s: string) => s.replace('"name": "default"', '"name": "de\\u001b[31mfault"')],
  ])('refuses a %s store with a data error and leaves it byte for byte as it was', async (_label, corrupt) => {
    const { backend, store } = setup({ TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    await backend.init({ accountName: 'acme', defaultToken: true });
    const broken = corrupt(readFileSync(store, 'utf8'));
    writeFileSync(store, broken);
    const ops = [
      () => backend.list(),
      () => backend.create({ type: 's2s', name: 'x' }),
      () => backend.rename('default', 'y'),
      () => backend.init({ accountName: 'a', defaultToken: true }),
    ];
    for (const op of ops) {
      const result = await kindOf(op());
      expect(result).toMatch(/^data: /);
      expect(result).toMatch(/restore|left untouched/);
    }
    expect(readFileSync(store, 'utf8')).toBe(broken);
  });

  it('writes atomically: no temp files left behind, and the store stays valid JSON after each change', async () => {
    const { backend, dir, store } = setup({ TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    await backend.init({ accountName: 'acme', defaultToken: true });
    await backend.create({ type: 's2s', name: 'a' });
    await backend.rename('a', 'b');
    await backend.delete('b', 'Delete token');
    expect(() => JSON.parse(readFileSync(store, 'utf8'))).not.toThrow();
    expect(readdirSync(dir).sort()).toEqual(['audit.log', 'store.json']);
  });

  it('clears temp files an interrupted write left behind, at the next change', async () => {
    const { backend, dir } = setup({ TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    await backend.init({ accountName: 'acme', defaultToken: true });
    writeFileSync(path.join(dir, '.store.json.tmp-123-456-abc'), '{"half": ', { mode: 0o600 });
    await backend.create({ type: 's2s', name: 'x' });
    expect(readdirSync(dir).sort()).toEqual(['audit.log', 'store.json']);
  });

  it('refuses a second init (conflict) without touching the store', async () => {
    const { backend, store } = setup({ TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    await backend.init({ accountName: 'acme', defaultToken: true });
    const before = readFileSync(store, 'utf8');
    expect(await kindOf(backend.init({ accountName: 'acme', defaultToken: true }))).toMatch(/^conflict: /);
    expect(readFileSync(store, 'utf8')).toBe(before);
  });
});

describe('file store: nothing leaked', () => {
  it('creates files 0600 and directories 0700 whatever the umask', async () => {
    const old = process.umask(0o000);
    try {
      const { backend, dir, store } = setup();
      await backend.init({ accountName: 'acme', defaultToken: true });
      expect(lstatSync(dir).mode & 0o777).toBe(0o700);
      expect(lstatSync(store).mode & 0o777).toBe(0o600);
      expect(lstatSync(path.join(dir, 'master.key')).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });

  it('stores no value and no private key in plaintext', async () => {
    const { backend, store } = setup({ TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    await backend.init({ accountName: 'acme', defaultToken: true });
    const { value } = await backend.create({ type: 'onelink', name: 'ol' });
    const api = (await backend.reveal('default')).value;
    const text = readFileSync(store, 'utf8');
    for (const secret of [value, value.slice(8, 30), api, api.split('.')[2]!]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/PRIVATE KEY/);
  });

  it.each([
    ['group-readable store', (s: ReturnType<typeof setup>) => chmodSync(s.store, 0o640), /chmod 600/],
    ['world-readable directory', (s: ReturnType<typeof setup>) => chmodSync(s.dir, 0o755), /chmod 700/],
    ['symlinked store', (s: ReturnType<typeof setup>) => {
      renameSync(s.store, `${s.store}.real`);
      symlinkSync(`${s.store}.real`, s.store);
    }, /symbolic link/],
  ])('refuses a %s (exit 9) and says how to fix it', async (_label, weaken, hint) => {
    const s = setup({ TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    await s.backend.init({ accountName: 'acme', defaultToken: true });
    weaken(s);
    const result = await kindOf(s.backend.list());
    expect(result).toMatch(/^data: /);
    expect(result).toMatch(hint);
  });

  it('refuses a symlinked account directory', async () => {
    const s = setup({ TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    const real = path.join(s.home, 'elsewhere');
    mkdirSync(real, { mode: 0o700 });
    mkdirSync(path.dirname(s.dir), { recursive: true, mode: 0o700 });
    symlinkSync(real, s.dir);
    expect(await kindOf(s.backend.init({ accountName: 'acme', defaultToken: true }))).toMatch(/^data: .*symbolic link/);
  });

  it('treats a tampered ciphertext as a data error, never as output', async () => {
    const { backend, store } = setup({ TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    await backend.init({ accountName: 'acme', defaultToken: true });
    const doc = JSON.parse(readFileSync(store, 'utf8'));
    const [v, iv, ct] = doc.tokens[0].secret.split('.');
    const bytes = Buffer.from(ct, 'base64url');
    bytes[3] = bytes[3]! ^ 0x20;
    doc.tokens[0].secret = [v, iv, bytes.toString('base64url')].join('.');
    writeFileSync(store, JSON.stringify(doc));
    expect(await kindOf(backend.reveal('default'))).toMatch(/^data: .*tampered/);
  });

  it('detects a ciphertext moved from one token to another', async () => {
    const { backend, store } = setup({ TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    await backend.init({ accountName: 'acme', defaultToken: true });
    await backend.create({ type: 'api', name: 'other' });
    const doc = JSON.parse(readFileSync(store, 'utf8'));
    doc.tokens[1].secret = doc.tokens[0].secret;
    writeFileSync(store, JSON.stringify(doc));
    expect(await kindOf(backend.reveal('other', { allowPending: true }))).toMatch(/^data: /);
  });
});

describe('master key sources', () => {
  it('falls back to a 0600 key file, with a warning that names the weaker protection', async () => {
    const { backend, warnings, dir, make } = setup();
    await backend.init({ accountName: 'acme', defaultToken: true });
    expect(warnings.join('\n')).toMatch(/no OS keychain.*master\.key.*Anyone who can read/s);
    expect(readFileSync(path.join(dir, 'master.key'), 'utf8').trim()).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect((await make().reveal('default')).value.split('.')).toHaveLength(3);
  });

  it('uses TOKENCTL_MASTER_KEY and refuses a different key with a clear error', async () => {
    const { backend, make, dir } = setup({ TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    await backend.init({ accountName: 'acme', defaultToken: true });
    expect(readdirSync(dir)).not.toContain('master.key');
    expect(await kindOf(make({ TOKENCTL_MASTER_KEY: newMasterKeyB64() }).reveal('default'))).toMatch(/^data: TOKENCTL_MASTER_KEY is not the key/);
    expect(await kindOf(make({}).reveal('default'))).toMatch(/^usage: .*set it to the same key/);
    expect(await kindOf(make({ TOKENCTL_MASTER_KEY: 'short' }).reveal('default'))).toMatch(/^usage: .*32 bytes/);
    // Listing needs no key at all: metadata is not encrypted, values are.
    expect(await make({}).list()).toHaveLength(1);
  });

  it('uses a keychain when one answers, and says so when it is gone (exit 8)', async () => {
    const saved = new Map<string, string>();
    const fake: Keychain = {
      get: async (a) => saved.get(a) ?? null,
      set: async (a, s) => void saved.set(a, s),
      delete: async (a) => saved.delete(a),
    };
    const s = setup({ DBUS_SESSION_BUS_ADDRESS: 'unix:path=/fake', TOKENCTL_KEYCHAIN: 'on' }, { openKeychain: async () => fake });
    await s.backend.init({ accountName: 'acme', defaultToken: true });
    expect(s.warnings).toEqual([]);
    expect([...saved.keys()][0]).toMatch(/^master-key\/acc_/);
    expect((await s.backend.reveal('default')).value).toContain('.');
    const noBus = new FileBackend({ dir: s.dir, clock: s.clock, env: {}, warn: () => undefined });
    expect(await kindOf(noBus.reveal('default'))).toMatch(/^unavailable: .*keychain/);
    saved.clear();
    expect(await kindOf(s.make().reveal('default'))).toMatch(/^data: .*missing from the OS keychain/);
  });

  it('reads the key once per command, however many values it looks at (scan)', async () => {
    const saved = new Map<string, string>();
    let reads = 0;
    const fake: Keychain = {
      get: async (a) => {
        reads++;
        return saved.get(a) ?? null;
      },
      set: async (a, s) => void saved.set(a, s),
      delete: async (a) => saved.delete(a),
    };
    const s = setup({ DBUS_SESSION_BUS_ADDRESS: 'unix:path=/fake', TOKENCTL_KEYCHAIN: 'on' }, { openKeychain: async () => fake });
    await s.backend.init({ accountName: 'acme', defaultToken: true });
    const scanning = s.make();
    const value = (await scanning.reveal('default')).value;
    reads = 0;
    for (let i = 0; i < 50; i++) expect(await scanning.identify(i === 0 ? value : `tctl_s2s_unknown${i}`)).toEqual(i === 0 ? expect.objectContaining({ name: 'default' }) : null);
    expect(reads).toBe(0);
    // A failure is not remembered: the next call asks again.
    const failing = s.make();
    saved.clear();
    expect(await kindOf(failing.identify(value))).toMatch(/^data: .*missing from the OS keychain/);
    expect(await kindOf(failing.identify(value))).toMatch(/^data: .*missing from the OS keychain/);
    expect(reads).toBe(2);
  });

  it('falls back to a key file when the keychain fails, instead of failing init', async () => {
    const broken: Keychain = {
      get: async () => {
        throw new Error('locked');
      },
      set: async () => {
        throw new Error('locked');
      },
      delete: async () => false,
    };
    const s = setup({ DBUS_SESSION_BUS_ADDRESS: 'unix:path=/fake', TOKENCTL_KEYCHAIN: 'on' }, { openKeychain: async () => broken });
    await s.backend.init({ accountName: 'acme', defaultToken: true });
    expect(s.warnings.join('\n')).toMatch(/keychain is not usable \(locked\)/);
    expect(s.warnings.join('\n')).toMatch(/master\.key/);
  });
});

describe('a new account where an old key file was left', () => {
  it('keeps the old master key aside, so a backup of the old store can still be decrypted', async () => {
    const s = setup();
    await s.backend.init({ accountName: 'first', defaultToken: true });
    const oldKey = readFileSync(path.join(s.dir, 'master.key'), 'utf8');
    const backup = readFileSync(s.store, 'utf8');
    const { rmSync } = await import('node:fs');
    rmSync(s.store);
    await s.make().init({ accountName: 'second', defaultToken: true });
    const aside = readdirSync(s.dir).filter((f) => f.startsWith('master.key.orphaned-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(path.join(s.dir, aside[0]!), 'utf8')).toBe(oldKey);
    expect(s.warnings.join('\n')).toMatch(/master key file without a store was found and kept as/);
    // Restore the old store, its key and its trail (also kept aside): it works again.
    writeFileSync(s.store, backup, { mode: 0o600 });
    writeFileSync(path.join(s.dir, 'master.key'), oldKey, { mode: 0o600 });
    const trail = readdirSync(s.dir).find((f) => f.startsWith('audit.log.orphaned-'))!;
    renameSync(path.join(s.dir, trail), path.join(s.dir, 'audit.log'));
    expect((await s.make().reveal('default')).value.split('.')).toHaveLength(3);
  });
});
