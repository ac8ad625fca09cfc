import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { Sql } from 'postgres';
import { PostgresStorage } from '../../src/storage/sql/postgres-storage.js';
import { LATEST_POSTGRES_VERSION } from '../../src/storage/sql/postgres-migrations.js';
import { postgresAvailable, postgresMissing, postgresRequired, startCluster, type TestCluster } from '../helpers/postgres.js';
import { describeStorageContract } from './storage-contract.js';

// The storage contract on a real PostgreSQL: every instance is a separate client (a replica) on one database.
let cluster: Promise<TestCluster> | undefined;
const theCluster = () => (cluster ??= startCluster());
afterAll(async () => (await cluster)?.stop());

if (postgresAvailable) {
  describeStorageContract('PostgreSQL', async () => {
    const c = await theCluster();
    const database = await c.createDatabase();
    const key = randomBytes(32);
    const clients: Sql[] = [];
    return {
      open: async () => {
        const sql = c.connect(database);
        clients.push(sql);
        return PostgresStorage.open(sql, key);
      },
      cleanup: async () => {
        await Promise.all(clients.map((s) => s.end({ timeout: 1 })));
      },
    };
  });

  describe('PostgreSQL storage', () => {
    it('migrates once when replicas start at once, and refuses another server key (exit 9)', async () => {
      const c = await theCluster();
      const database = await c.createDatabase();
      const key = randomBytes(32);
      const clients = Array.from({ length: 5 }, () => c.connect(database));
      try {
        await Promise.all(clients.map((sql) => PostgresStorage.open(sql, key)));
        expect(await clients[0]!`SELECT value FROM meta WHERE key = 'schema_version'`).toEqual([{ value: String(LATEST_POSTGRES_VERSION) }]);
        await expect(PostgresStorage.open(clients[1]!, randomBytes(32))).rejects.toMatchObject({ kind: 'data' });
        await clients[0]!`UPDATE meta SET value = '9' WHERE key = 'schema_version'`;
        await expect(PostgresStorage.open(clients[2]!, key)).rejects.toThrow(new RegExp(`schema version 9; this tokenctl knows versions up to ${LATEST_POSTGRES_VERSION}`));
      } finally {
        await Promise.all(clients.map((s) => s.end({ timeout: 1 })));
      }
    });

    it('names a database that does not exist (a fault to fix, not a bug)', async () => {
      const c = await theCluster();
      const sql = c.connect('no_such_database');
      await expect(PostgresStorage.open(sql, randomBytes(32))).rejects.toMatchObject({
        kind: 'unavailable',
        message: expect.stringMatching(/^the database named in TOKENCTL_DATABASE_URL does not exist .*createdb/),
      });
      await sql.end({ timeout: 1 });
    });

    it('answers a database it cannot reach with a named 503 fault, not a crash', async () => {
      const c = await theCluster();
      const sql = c.connect('postgres', { port: 1, host: c.host, connect_timeout: 2 } as never);
      await expect(PostgresStorage.open(sql, randomBytes(32))).rejects.toMatchObject({ kind: 'unavailable', retryAfterSeconds: 2 });
      await sql.end({ timeout: 1 });
    });
  });
} else {
  describe('PostgreSQL storage', () => {
    it.skipIf(!postgresRequired)('needs a real PostgreSQL (TOKENCTL_REQUIRE_POSTGRES=1 makes a missing one a failure)', () => {
      throw new Error(postgresMissing);
    });
  });
}
