// The SQLite driver the tests use: the one the service itself would choose on this Node.js (node:sqlite on 22 and 24,
// better-sqlite3 on 20), or the one TOKENCTL_SQLITE_DRIVER names, so that the same suites run against either.
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadSqliteDriver, type SqliteConnection, type SqliteDriver } from '../../src/storage/sql/sqlite/driver.js';
import { SqliteStorage } from '../../src/storage/sql/sqlite/storage.js';

/** TOKENCTL_SQLITE_DRIVER as the test run was given it, for the services and processes the tests start. */
export const sqliteDriverEnv: Record<string, string> = process.env.TOKENCTL_SQLITE_DRIVER ? { TOKENCTL_SQLITE_DRIVER: process.env.TOKENCTL_SQLITE_DRIVER } : {};

export function testSqliteDriver(): Promise<SqliteDriver> {
  return loadSqliteDriver(sqliteDriverEnv);
}

/** Another connection to a database file, as an sqlite3 shell or a second process would have. */
export async function openRawDatabase(file: string): Promise<SqliteConnection> {
  return (await testSqliteDriver()).open(file);
}

/**
 * A new database file (in a temporary directory, with a new server key) for the storage contract suites: each open()
 * is another SqliteStorage on it, as a second process on the same data is; cleanup() closes them and removes it.
 */
export function sqliteStorages(driver: SqliteDriver): { open(): Promise<SqliteStorage>; cleanup(): Promise<void> } {
  const dir = mkdtempSync(path.join(tmpdir(), 'tokenctl-sqlite-'));
  const file = path.join(dir, 'tokenctl.db');
  const key = randomBytes(32);
  const opened: SqliteStorage[] = [];
  return {
    open: async () => {
      const s = SqliteStorage.open(driver, file, key);
      opened.push(s);
      return s;
    },
    cleanup: async () => {
      for (const s of opened) s.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
