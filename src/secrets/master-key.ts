import { BackendUnavailableError, StoreDataError, UsageError } from '../core/errors.js';
import { MASTER_KEY_BYTES, newMasterKey } from './seal.js';
import { keychainMayExist, openKeychain, saveInKeychain, type Keychain } from './keychain.js';
import { readPrivateFile, writeFileAtomic } from '../fs/private-files.js';

/**
 * Where the key that encrypts the local store comes from. An explicit TOKENCTL_MASTER_KEY always wins (CI,
 * scripts); otherwise the OS keychain where one answers; otherwise a 0600 key file beside the store, which
 * `init` creates with a warning, so tokenctl works on a bare machine.
 */
import type { KeySource } from './key-source.js';
export { KEY_SOURCES, type KeySource } from './key-source.js';

type Env = Record<string, string | undefined>;

export interface MasterKeyContext {
  env: Env;
  keyFile: string;
  accountId: string;
  warn(message: string): void;
  /** Injected for tests; defaults to the real OS keychain. */
  openKeychain?: (env: Env) => Promise<Keychain>;
}

function keychainAccount(accountId: string): string {
  return `master-key/${accountId}`;
}

export function parseMasterKey(text: string, where: string): Buffer {
  const trimmed = text.trim();
  const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed, 'base64') : Buffer.alloc(0);
  if (key.length !== MASTER_KEY_BYTES) {
    throw new UsageError(`${where} must be base64 of exactly 32 bytes; generate one with: openssl rand -base64 32`);
  }
  return key;
}

function envKey(env: Env): Buffer | null {
  const v = env.TOKENCTL_MASTER_KEY;
  return v === undefined || v === '' ? null : parseMasterKey(v, 'TOKENCTL_MASTER_KEY');
}

/** Chooses a source and creates the key for a new account. */
export async function createMasterKey(ctx: MasterKeyContext): Promise<{ key: Buffer; source: KeySource }> {
  const fromEnv = envKey(ctx.env);
  if (fromEnv) return { key: fromEnv, source: 'env' };
  const key = newMasterKey();
  if (await saveInKeychain(ctx.env, keychainAccount(ctx.accountId), key.toString('base64'), ctx.warn, ctx.openKeychain)) {
    return { key, source: 'keychain' };
  }
  // A key file without a store may still be the only key to a store kept elsewhere (a backup): never
  // overwrite it, keep it aside.
  const aside = `${ctx.keyFile}.orphaned-${Date.now()}`;
  const { rename } = await import('node:fs/promises');
  if (await rename(ctx.keyFile, aside).then(() => true, () => false)) {
    ctx.warn(`a master key file without a store was found and kept as ${aside}; it still decrypts any backup of the old store`);
  }
  await writeFileAtomic(ctx.keyFile, key.toString('base64') + '\n', 'master key file');
  ctx.warn(
    `no OS keychain available: the master key was saved in ${ctx.keyFile} (mode 0600). Anyone who can read ` +
      'that file can decrypt your tokens; for stronger protection use an OS keychain or set TOKENCTL_MASTER_KEY',
  );
  return { key, source: 'file' };
}

/** Loads the key of an existing account from the source recorded at init (or from the environment). */
export async function loadMasterKey(ctx: MasterKeyContext, source: KeySource): Promise<Buffer> {
  const fromEnv = envKey(ctx.env);
  if (fromEnv) return fromEnv;
  switch (source) {
    case 'env':
      throw new UsageError('this store was created with TOKENCTL_MASTER_KEY; set it to the same key to read token values');
    case 'keychain': {
      if (!keychainMayExist(ctx.env)) {
        throw new BackendUnavailableError(
          'this store keeps its master key in the OS keychain, which is not reachable here (no D-Bus session or TOKENCTL_KEYCHAIN=off); unlock the keychain or set TOKENCTL_MASTER_KEY',
        );
      }
      const keychain = await (ctx.openKeychain ?? openKeychain)(ctx.env);
      const stored = await keychain.get(keychainAccount(ctx.accountId));
      if (stored === null) {
        throw new StoreDataError('the master key for this store is missing from the OS keychain; restore it or set TOKENCTL_MASTER_KEY');
      }
      return parseMasterKey(stored, 'the master key in the OS keychain');
    }
    case 'file': {
      const text = await readPrivateFile(ctx.keyFile, 'master key file');
      if (text === null) {
        throw new StoreDataError(`the master key file ${ctx.keyFile} is missing; restore it or set TOKENCTL_MASTER_KEY`);
      }
      return parseMasterKey(text, `the master key file ${ctx.keyFile}`);
    }
  }
}
