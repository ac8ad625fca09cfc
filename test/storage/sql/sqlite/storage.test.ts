import { sqliteStorages, testSqliteDriver } from '../../../helpers/sqlite.js';
import { describeStorageContract } from '../../storage-contract.js';
import { describeUsageStorageContract } from '../../usage-storage-contract.js';

const driver = await testSqliteDriver();

describeStorageContract(`SQLite (${driver.name})`, async () => sqliteStorages(driver));

describeUsageStorageContract(`SQLite (${driver.name})`, async () => sqliteStorages(driver));
