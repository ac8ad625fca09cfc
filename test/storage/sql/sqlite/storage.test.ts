import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { testSqliteDriver } from '../../../helpers/sqlite.js';
import { SqliteStorage } from '../../../../src/storage/sql/sqlite/storage.js';
import { describeStorageContract } from '../../storage-contract.js';
import { describeServiceStorageContract } from '../../service-storage-contract.js';

const driver = await testSqliteDriver();

describeStorageContract(`SQLite (${driver.name})`, async () => {
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
});

describeServiceStorageContract(`SQLite (${driver.name})`, async () => {
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
});
