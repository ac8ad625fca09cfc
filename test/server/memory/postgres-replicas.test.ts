// Two replicas of the service, in this process, on one real PostgreSQL: what each keeps in memory follows the other's
// changes (LISTEN/NOTIFY), is read again after a lost connection, and sessions and limits are shared. The storage's
// own part (last-used times never moving backwards, sessions, counts) is the service-storage contract's
// (test/storage/service-storage-contract.ts); the same with replica processes, nginx and faults: test/replicas/.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { call, startPostgresTestServer, type TestServer } from '../../helpers/server.js';
import { postgresAvailable, postgresMissing, postgresRequired, startCluster, type TestCluster } from '../../helpers/postgres.js';
import { PageClient, signedIn } from '../web/helpers.js';
import type { PostgresStorage } from '../../../src/storage/sql/postgres/storage.js';
import { removePrincipal } from '../../../src/tokens/principals.js';

type Replica = Awaited<ReturnType<typeof startPostgresTestServer>>;

let cluster: Promise<TestCluster> | undefined;
const theCluster = () => (cluster ??= startCluster());
afterAll(async () => (await cluster)?.stop());

let running: Replica[] = [];
afterEach(async () => {
  await Promise.all(running.map((r) => r.close()));
  running = [];
});

/** Two replicas on one new database, with the same server key, and an account with an admin and a service principal. */
async function twoReplicas(options: Parameters<typeof startPostgresTestServer>[1] = {}) {
  const c = await theCluster();
  const a = await startPostgresTestServer(c, options);
  const b = await startPostgresTestServer(c, { ...options, database: a.database, serverKey: a.serverKey, clock: a.clock });
  running.push(a, b);
  const { credential: admin } = await a.initAccount();
  const service = await a.addPrincipal('acme', 'service', 'gateway');
  return { a, b, admin, service };
}

async function introspect(server: TestServer<PostgresStorage>, service: string, value: string): Promise<{ active: boolean; status?: string }> {
  return (await call(server, 'POST', '/v1/introspect', { credential: service, form: { token: value } })).body;
}

/** Polls until `check` holds, for at most `ms`; returns how long it took. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - started;
}

/** Waits until a replica has sent no statement for 300 ms (the reloads of notifications still on their way are done). */
async function quiet(replica: Replica): Promise<void> {
  let seen = -1;
  await within(5_000, async () => {
    if (replica.queries.length === seen) return true;
    seen = replica.queries.length;
    await new Promise((r) => setTimeout(r, 300));
    return replica.queries.length === seen;
  });
}

if (postgresAvailable) {
  describe('replicas on PostgreSQL (in process)', () => {
    it("sees the other replica's creates, deletions and principal removals, from memory", async () => {
      const { a, b, admin, service } = await twoReplicas();
      // Notified: B knows the account A made (and its principals) without being told by the test.
      await within(1_000, async () => (await call(b, 'GET', '/v1/whoami', { credential: admin })).status === 200);
      const created = await call(a, 'POST', '/v1/tokens', { credential: admin, json: { type: 's2s', name: 'ci' } });
      expect(created.status).toBe(201);
      a.clock.advance(31 * 60_000); // active on both (one clock)
      await within(1_000, async () => (await introspect(b, service, created.body.value)).active);
      const deleted = await call(a, 'DELETE', '/v1/tokens/ci', { credential: admin, json: { confirmation: 'Delete token' } });
      expect(deleted.status).toBe(200);
      await within(1_000, async () => (await introspect(b, service, created.body.value)).status === 'draining');

      // Introspection asks the database nothing, for known values and for values never issued alike.
      const never = (await call(a, 'POST', '/v1/tokens', { credential: admin, json: { type: 's2s', name: 'elsewhere' } })).body.value as string;
      await call(a, 'DELETE', '/v1/tokens/elsewhere', { credential: admin, json: { confirmation: 'Delete token' } });
      // B applies both notifications (the reloads they cause are statements of its own), then nothing is sent.
      await within(1_000, async () => (b.memory.tokenByFingerprint(b.memory.fingerprint(never))?.token.deletedAt ?? null) !== null);
      await quiet(b);
      const queriesBefore = b.queries.length;
      for (let i = 0; i < 20; i++) {
        expect((await introspect(b, service, created.body.value)).active).toBe(true);
        expect((await introspect(b, service, never.slice(0, -6) + 'AAAAAA')).active).toBe(false); // a value nobody issued
      }
      expect(b.queries.slice(queriesBefore)).toEqual([]);

      // A principal removed elsewhere (tokenctl server remove-principal is another process) stops working on both.
      await removePrincipal(a.storage, 'acme', 'gateway', a.clock);
      await within(1_000, async () => (await call(b, 'POST', '/v1/introspect', { credential: service, form: { token: 'x' } })).status === 401);
      await within(1_000, async () => (await call(a, 'POST', '/v1/introspect', { credential: service, form: { token: 'x' } })).status === 401);
    });

    it('reads everything again after its listening connection is cut: a change made meanwhile is not missed', async () => {
      const { a, b, admin, service } = await twoReplicas();
      const c = await theCluster();
      const sql = c.connect(a.database);
      try {
        // Cut every listening connection of this database (both replicas'), then change a token through A at once:
        // its notification reaches nobody.
        const cut = await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${a.database} AND application_name = 'tokenctl listener'`;
        expect(cut.length).toBeGreaterThanOrEqual(2);
        const created = await call(a, 'POST', '/v1/tokens', { credential: admin, json: { type: 's2s', name: 'meanwhile' } });
        expect(created.status).toBe(201);
        a.clock.advance(31 * 60_000);
        const took = await within(5_000, async () => (await introspect(b, service, created.body.value)).active);
        expect(took).toBeLessThan(5_000);
        await within(3_000, async () => b.memory.inStepNow);
        expect((await call(b, 'GET', '/readyz')).status).toBe(200);
      } finally {
        await sql.end({ timeout: 1 });
      }
    });

    it("serves a Tokens page session signed in on the other replica; signing out ends it on both", async () => {
      const { a, b, admin } = await twoReplicas();
      const onA = await signedIn(a, admin);
      const onB = new PageClient(b.url);
      for (const name of ['__Host-tokenctl-session']) onB.setCookie(name, onA.cookie(name)!);
      const page = await onB.get('/');
      expect(page.status).toBe(200);
      expect(page.text).toContain('<h1>Tokens</h1>');
      // Sign out on B (its own CSRF token, derived from the session): A no longer knows the session either.
      expect((await onB.post('/sign-out', {})).status).toBe(200);
      const again = await onA.get('/');
      expect(again.text).not.toContain('<h1>Tokens</h1>');
    });

    it('counts failed authentications for every replica: a block made on one holds on the others, and on a replica started later', async () => {
      const { a, b, admin } = await twoReplicas({ authLimit: { maxFailures: 4, windowMs: 60_000, blockMs: 60_000 } });
      // Four different wrong credentials: four guesses (the same one again would not be a new one).
      for (const [i, r] of [a, b, a, b].entries()) expect((await call(r, 'GET', '/v1/tokens', { credential: `tctl_key_wrong${i}` })).status).toBe(401);
      // The fourth failure (on B) blocks the address on A too, right credential or not.
      await within(1_000, async () => (await call(a, 'GET', '/v1/tokens', { credential: admin })).status === 429);
      expect((await call(b, 'GET', '/v1/tokens', { credential: admin })).status).toBe(429);

      // A replica started during the block knows it from the start.
      const other = await startPostgresTestServer(await theCluster(), { database: a.database, serverKey: a.serverKey, clock: a.clock });
      running.push(other);
      expect((await call(other, 'GET', '/v1/tokens', { credential: admin })).status).toBe(429);
    });
  });
} else {
  describe('replicas on PostgreSQL (in process)', () => {
    it.skipIf(!postgresRequired)('needs a real PostgreSQL (TOKENCTL_REQUIRE_POSTGRES=1 makes a missing one a failure)', () => {
      throw new Error(postgresMissing);
    });
  });
}
