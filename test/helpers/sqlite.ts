// The SQLite driver the tests use: the one the service itself would choose on this Node.js (node:sqlite on 22 and 24,
// better-sqlite3 on 20), or the one TOKENCTL_SQLITE_DRIVER names, so that the same suites run against either.
import { loadSqliteDriver, type SqliteConnection, type SqliteDriver } from '../../src/storage/sql/sqlite/driver.js';

/** TOKENCTL_SQLITE_DRIVER as the test run was given it, for the services and processes the tests start. */
export const sqliteDriverEnv: Record<string, string> = process.env.TOKENCTL_SQLITE_DRIVER ? { TOKENCTL_SQLITE_DRIVER: process.env.TOKENCTL_SQLITE_DRIVER } : {};

export function testSqliteDriver(): Promise<SqliteDriver> {
  return loadSqliteDriver(sqliteDriverEnv);
}

/** Another connection to a database file, as an sqlite3 shell or a second process would have. */
export async function openRawDatabase(file: string): Promise<SqliteConnection> {
  return (await testSqliteDriver()).open(file);
}
