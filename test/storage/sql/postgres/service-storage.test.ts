import { randomBytes } from 'node:crypto';
import { afterAll, describe, it } from 'vitest';
import type { Sql } from 'postgres';
import { PostgresStorage } from '../../../../src/storage/sql/postgres/storage.js';
import { postgresAvailable, postgresMissing, postgresRequired, startCluster, type TestCluster } from '../../../helpers/postgres.js';
import { describeServiceStorageContract } from '../../service-storage-contract.js';

// The service-storage contract on a real PostgreSQL: every instance is a separate client (a replica) on one new
// database, listening for changes on a connection of its own, as `tokenctl serve` does.
let cluster: Promise<TestCluster> | undefined;
const theCluster = () => (cluster ??= startCluster());
afterAll(async () => (await cluster)?.stop());

if (postgresAvailable) {
  describeServiceStorageContract('PostgreSQL', { changes: 'notified', sharedAuthFailures: true }, async () => {
    const c = await theCluster();
    const database = await c.createDatabase();
    const key = randomBytes(32);
    const clients: Sql[] = [];
    const opened: PostgresStorage[] = [];
    const connect = (options?: Parameters<TestCluster['connect']>[1]) => {
      const sql = c.connect(database, options);
      clients.push(sql);
      return sql;
    };
    return {
      open: async () => {
        const s = await PostgresStorage.open(connect(), key, 'PostgreSQL (test)', (extra) => connect(extra));
        opened.push(s);
        return s;
      },
      cleanup: async () => {
        await Promise.all(opened.map((s) => s.close()));
        await Promise.all(clients.map((s) => s.end({ timeout: 1 })));
      },
    };
  });
} else {
  describe('service storage contract: PostgreSQL', () => {
    it.skipIf(!postgresRequired)('needs a real PostgreSQL (TOKENCTL_REQUIRE_POSTGRES=1 makes a missing one a failure)', () => {
      throw new Error(postgresMissing);
    });
  });
}
