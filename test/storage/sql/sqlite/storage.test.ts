import { sqliteStorages, testSqliteDriver } from '../../../helpers/sqlite.js';
import { describeStorageContract } from '../../storage-contract.js';

const driver = await testSqliteDriver();

describeStorageContract(`SQLite (${driver.name})`, async () => sqliteStorages(driver));
