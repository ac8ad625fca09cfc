import { existsSync } from 'node:fs';
import path from 'node:path';
import { StoreDataError, TokenNotFoundError } from '../core/errors.js';
import { ensurePrivateDir, readPrivateFile, writeFileAtomic } from '../fs/private-files.js';
import { parseMasterKey } from '../secrets/master-key.js';
import { newMasterKey } from '../secrets/seal.js';
import { loadSqliteDriver } from '../storage/sql/sqlite/driver.js';
import { SqliteStorage, type SqliteStorageOptions } from '../storage/sql/sqlite/storage.js';

type Env = Record<string, string | undefined>;

export const DB_FILE = 'tokenctl.db';
export const SERVER_KEY_FILE = 'server.key';

/**
 * The service's data directory (0700): the SQLite database and, unless TOKENCTL_SERVER_KEY supplies it, the
 * 0600 key file that seals token values and signing keys. Back both up; the database alone is useless.
 */
export interface DataDirOptions extends SqliteStorageOptions {
  create: boolean;
  /**
   * Told (for stderr) when `create` fixed the permissions of an existing empty directory the user owns, as initdb
   * does; a non-empty one, or one owned by someone else, is still refused.
   */
  notice?: (message: string) => void;
}

export async function openDataDir(dir: string, env: Env, options: DataDirOptions): Promise<SqliteStorage> {
  const root = path.resolve(dir);
  const file = path.join(root, DB_FILE);
  const dbExists = existsSync(file);
  if (!options.create && !dbExists) {
    throw new TokenNotFoundError(`no token service data in ${root}; create it with: tokenctl server init --data ${root}`);
  }
  const driver = await loadSqliteDriver(env);
  await ensurePrivateDir(root, options.create && !dbExists ? { fixEmptyDir: options.notice ?? (() => undefined) } : {});
  return SqliteStorage.open(driver, file, await masterKey(root, env, options.create && !dbExists), options);
}

async function masterKey(dir: string, env: Env, mayCreate: boolean): Promise<Buffer> {
  if (env.TOKENCTL_SERVER_KEY) return parseMasterKey(env.TOKENCTL_SERVER_KEY, 'TOKENCTL_SERVER_KEY');
  const file = path.join(dir, SERVER_KEY_FILE);
  const text = await readPrivateFile(file, 'server key file');
  if (text !== null) return parseMasterKey(text, `the server key file ${file}`);
  if (!mayCreate) {
    throw new StoreDataError(`the server key file ${file} is missing; restore it from a backup, or set TOKENCTL_SERVER_KEY`);
  }
  const key = newMasterKey();
  await writeFileAtomic(file, key.toString('base64') + '\n', 'server key file');
  return key;
}
