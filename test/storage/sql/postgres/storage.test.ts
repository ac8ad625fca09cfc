import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { Sql } from 'postgres';
import { PostgresStorage } from '../../../../src/storage/sql/postgres/storage.js';
import { LATEST_POSTGRES_VERSION } from '../../../../src/storage/sql/postgres/migrations.js';
import { postgresAvailable, postgresMissing, postgresRequired, startCluster, type TestCluster } from '../../../helpers/postgres.js';
import { describeStorageContract } from '../../storage-contract.js';
import { describeUsageStorageContract } from '../../usage-storage-contract.js';
import { manualClock } from '../../../../src/core/clock.js';
import { createAccount, TokenService } from '../../../../src/tokens/token-service.js';
import { tcpProxy } from '../../../helpers/replicas.js';

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

  describeUsageStorageContract('PostgreSQL', async () => {
    const c = await theCluster();
    const database = await c.createDatabase();
    const key = randomBytes(32);
    const opened: PostgresStorage[] = [];
    return {
      open: async () => {
        const s = await PostgresStorage.open(c.connect(database), key);
        opened.push(s);
        return s;
      },
      cleanup: async () => {
        await Promise.all(opened.map((s) => s.close()));
      },
    };
  });

  describe('PostgreSQL storage', () => {
    it('a write whose COMMIT loses its connection answers as the database ended it: made (success), or not (503, nothing was changed)', async () => {
      const c = await startCluster({ tcp: true });
      const proxy = await tcpProxy(c.port);
      const database = await c.createDatabase();
      const direct = c.connect(database, { max: 2 });
      const viaProxy = c.connect(database, { host: '127.0.0.1', port: proxy.port, max: 2, connect_timeout: 2 });
      try {
        const storage = await PostgresStorage.open(viaProxy, randomBytes(32));
        const clock = manualClock('2026-03-01T10:00:00.000Z');
        const { account } = await createAccount(storage, { name: 'acme', defaultToken: false }, { clock, actor: 'test:admin' });
        const service = new TokenService({ storage, accountId: account.id, actor: 'test:admin', clock });
        // The COMMIT of a token named slow-… takes 0.8 s (a deferred trigger runs at COMMIT): time to lose its
        // connection while the database is committing.
        await direct.unsafe(`
          CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.8); RETURN NULL; END $$;
          CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON tokens DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW WHEN (NEW.name LIKE 'slow-%') EXECUTE FUNCTION slow_commit();`);
        const committing = async () => {
          for (let i = 0; i < 100; i++) {
            const rows = await direct<{ pid: number }[]>`
              SELECT pid FROM pg_stat_activity WHERE datname = ${database} AND state = 'active' AND query ILIKE 'commit%' AND pid <> pg_backend_pid()`;
            if (rows.length > 0) return rows[0]!.pid;
            await new Promise((r) => setTimeout(r, 20));
          }
          throw new Error('no COMMIT under way');
        };
        const names = async () => (await direct<{ name: string }[]>`SELECT name FROM tokens WHERE account_id = ${account.id} ORDER BY name`).map((r) => r.name);

        // The connection is cut while the COMMIT runs; the database finishes it: the write succeeded, and says so.
        const made = service.create({ type: 's2s', name: 'slow-made' });
        await committing();
        proxy.cut();
        const created = await made;
        expect(created.token.name).toBe('slow-made');
        expect(await names()).toEqual(['slow-made']);

        // The backend is terminated during the COMMIT (and the connection with it): nothing was made, and it says so.
        const lost = service.create({ type: 's2s', name: 'slow-lost' });
        await direct`SELECT pg_terminate_backend(${await committing()})`;
        await expect(lost).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringMatching(/nothing was changed/) });
        expect(await names()).toEqual(['slow-made']);

        // And the storage goes on.
        expect((await service.create({ type: 's2s', name: 'after' })).token.name).toBe('after');
      } finally {
        await Promise.all([direct.end({ timeout: 1 }), viaProxy.end({ timeout: 1 })]);
        await proxy.close();
        await c.stop();
      }
    });

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
