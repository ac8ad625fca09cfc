import { describe, it } from 'vitest';
import { loadSqliteDriver, SQLITE_DRIVER_NAMES, type SqliteDriver } from '../../../../src/storage/sql/sqlite/driver.js';
import { sqliteDriverEnv, sqliteStorages, testSqliteDriver } from '../../../helpers/sqlite.js';
import { describeServiceStorageContract } from '../../service-storage-contract.js';

// The service-storage contract on SQLite, with every driver this Node.js can load: the one the service would choose
// (or the one TOKENCTL_SQLITE_DRIVER names) must load; the other runs where it loads (better-sqlite3 is built for one
// Node.js; node:sqlite comes with Node.js 22.13 and later). Each instance is a separate SqliteStorage on one file, as
// a second process (`tokenctl server ...`) is.
const chosen = await testSqliteDriver();
const others = sqliteDriverEnv.TOKENCTL_SQLITE_DRIVER ? [] : SQLITE_DRIVER_NAMES.filter((n) => n !== chosen.name);
const drivers: (SqliteDriver | { name: string; missing: string })[] = [
  chosen,
  ...(await Promise.all(
    others.map((name) => loadSqliteDriver({ TOKENCTL_SQLITE_DRIVER: name }).catch((error: unknown) => ({ name, missing: (error as Error).message }))),
  )),
];

for (const driver of drivers) {
  if ('missing' in driver) {
    describe(`service storage contract: SQLite (${driver.name})`, () => {
      it.skip(`needs ${driver.name}, which this Node.js cannot load: ${driver.missing.split('\n')[0]}`, () => undefined);
    });
    continue;
  }
  describeServiceStorageContract(`SQLite (${driver.name})`, { changes: 'looked-for', sharedAuthFailures: false }, async () => sqliteStorages(driver));
}
