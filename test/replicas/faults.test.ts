// The faults replicas on PostgreSQL survive (issue 10), each with nothing acknowledged lost: kill -9 of a replica
// during a burst of writes; PostgreSQL stopped for 10 s under load; failover to a promoted streaming standby; nginx
// (with the shipped docs/deploy/nginx.conf) in front of two replicas, one killed while a client introspects. Each
// test has its own cluster; every wait is bounded; the figures measured are printed at the end.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, expect, it } from 'vitest';
import { startNginx } from '../helpers/nginx.js';
import { startCluster } from '../helpers/postgres.js';
import { api, deployment, describeWith, showOnFailure, sleep, tcpProxy, until, type Answer, type Api, type Deployment, type Replica } from '../helpers/replicas.js';

const figures: string[] = [];
afterAll(() => console.log(`faults.test.ts figures:\n  ${figures.join('\n  ')}`));
/** The load loops still running: a test that failed half-way leaves none behind. */
const loops: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(loops.splice(0).map((stop) => stop()));
});
const ms = (n: number) => `${Math.round(n)} ms`;
const TRUST = ['--trust-proxy', '127.0.0.1'];

interface Outcome {
  via: string;
  op: 'create' | 'delete' | 'introspect' | 'readyz';
  /** HTTP status, or 0 when the request failed without one (connection reset or refused). */
  status: number;
  startedAt: number;
  ms: number;
  retryAfter: string | null;
  error?: string;
  name?: string;
  id?: string;
  /** A delete sent again because the first one got no answer (404 then means the first one was made). */
  retry?: boolean;
}

/** One request, recorded whatever happens (a network error is status 0). */
async function record<T>(log: Outcome[], via: string, op: Outcome['op'], send: () => Promise<Answer<T>>, extra: Partial<Outcome> = {}): Promise<Answer<T> | null> {
  const startedAt = performance.now();
  try {
    const r = await send();
    log.push({ via, op, status: r.status, startedAt, ms: performance.now() - startedAt, retryAfter: r.headers.get('retry-after'), ...extra });
    return r;
  } catch (error) {
    log.push({ via, op, status: 0, startedAt, ms: performance.now() - startedAt, retryAfter: null, error: String(error), ...extra });
    return null;
  }
}

interface Churn {
  /** Creates answered 201: in the database for good. */
  created: { id: string; name: string; via: string }[];
  /** Deletes answered 200. */
  deleted: { id: string; via: string }[];
  /** Creates without an answer (the replica died): whether the database had them afterwards. */
  unknown: { name: string; via: string; committed: boolean }[];
  log: Outcome[];
  stop(): Promise<void>;
}

/**
 * Writers that create a token, delete it, and go on (a deleted token does not count towards the limit of 2 per type),
 * each on the replicas in turn. A create whose answer was lost is looked up (`lookup`, a replica that lives) and
 * deleted if it was made, so the limit never refuses the next one; while the lookup cannot answer (the database is
 * down), the writer goes on writing: it deletes that token by name (a 503 while the database is down), so a lost answer
 * never silences a writer for the length of an outage. `clients()` are the replicas to write to now.
 */
function churn(o: { clients: () => { name: string; api: Api }[]; lookup: () => Api; types: string[]; prefix: string; pauseMs: number }): Churn {
  const c: Churn = { created: [], deleted: [], unknown: [], log: [], stop: async () => undefined };
  let running = true;
  const worker = async (w: number, type: string) => {
    const leftover: string[] = []; // ids created whose delete was not answered yet
    const unsettled: Churn['unknown'] = []; // creates without an answer, not yet looked up
    /** Looks the unsettled creates up once; false if the lookup did not answer. */
    const settle = async (): Promise<boolean> => {
      const listed = await o.lookup().list().catch(() => null);
      if (listed?.status !== 200) return false;
      for (const u of unsettled.splice(0)) {
        const found = listed.body.tokens.find((t) => t.name === u.name);
        u.committed = found !== undefined;
        if (found && found.deletedAt === null) leftover.push(found.id);
      }
      return true;
    };
    for (let n = 0; running; n++) {
      const clients = o.clients();
      const target = clients[(n + w) % clients.length]!;
      if (unsettled.length > 0 && !(await settle())) {
        // The lookup cannot answer: a write that is safe whether or not the create was made (404 if it was not).
        const u = unsettled[0]!;
        const r = await record(c.log, target.name, 'delete', () => target.api.remove(u.name), { name: u.name, retry: true });
        if (r?.status === 200) c.deleted.push({ id: r.body.token.id, via: target.name });
        await sleep(o.pauseMs);
        continue;
      }
      for (const id of leftover.splice(0)) {
        const r = await record(c.log, target.name, 'delete', () => target.api.remove(id), { id, retry: true });
        if (r?.status === 200) c.deleted.push({ id, via: target.name });
        // 404: an earlier delete of it was made although its answer was lost (the token is no longer live).
        else if (r?.status !== 404) leftover.push(id);
      }
      if (leftover.length > 0) {
        await sleep(o.pauseMs);
        continue;
      }
      const name = `${o.prefix}-${w}-${n}`;
      const made = await record(c.log, target.name, 'create', () => target.api.create(type, name), { name });
      if (made?.status === 201) {
        c.created.push({ id: made.body.token.id, name, via: target.name });
        const del = await record(c.log, target.name, 'delete', () => target.api.remove(made.body.token.id), { id: made.body.token.id });
        if (del?.status === 200) c.deleted.push({ id: made.body.token.id, via: target.name });
        else if (del?.status !== 404) leftover.push(made.body.token.id);
      } else if (made === null || made.status === 502 || made.status === 504 || (made.status === 503 && /check before retrying/.test(JSON.stringify(made.body)))) {
        // No answer from the replica, or one that says the database did not tell whether the change was made (the
        // connection lost during its COMMIT, the database silent until the deadline): the database says (once a
        // replica answers).
        const u = { name, via: target.name, committed: false };
        c.unknown.push(u);
        unsettled.push(u);
        await settle();
      }
      await sleep(o.pauseMs);
    }
    // Stopped with creates not looked up yet: the database says (once a replica answers), within 10 s.
    for (let i = 0; unsettled.length > 0 && i < 200; i++) if (!(await settle())) await sleep(50);
  };
  const workers = o.types.map((type, w) => worker(w, type));
  c.stop = async () => {
    running = false;
    await Promise.all(workers);
  };
  loops.push(c.stop);
  return c;
}

/**
 * Waits (at most 30 s, failing at once if a replica died) until each replica has answered 201 to a create sent after
 * `sentAfter`; returns, per replica name, when that answer came, in ms after `from`.
 */
async function writingAgain(c: Churn, replicas: Replica[], sentAfter: number, from: number, what: string): Promise<Record<string, number>> {
  const answered: Record<string, number> = {};
  await until(
    async () => {
      alive(...replicas);
      for (const { name } of replicas) {
        if (answered[name] !== undefined) continue;
        const ok = c.log.find((x) => x.via === name && x.op === 'create' && x.status === 201 && x.startedAt > sentAfter);
        if (ok) answered[name] = ok.startedAt + ok.ms - from;
      }
      return Object.keys(answered).length === replicas.length;
    },
    30_000,
    what,
  );
  return answered;
}

/** A primary on TCP and its streaming standby (pg_basebackup -R); the primary is stopped if the standby fails. */
async function primaryAndStandby() {
  const primary = await startCluster({ tcp: true });
  const standby = await primary.standby().catch((error: unknown) => {
    primary.stop();
    throw error;
  });
  return { primary, standby };
}

/** Every acknowledged create is in the database, every acknowledged delete too (listed through `client`). */
async function expectAllThere(client: Api, c: Churn): Promise<void> {
  const listed = await client.list();
  expect(listed.status).toBe(200);
  const byId = new Map(listed.body.tokens.map((t) => [t.id, t]));
  const missing = c.created.filter((t) => !byId.has(t.id));
  expect(missing, 'acknowledged creates missing from the database').toEqual([]);
  const undeleted = c.deleted.filter((t) => byId.get(t.id)?.deletedAt === null);
  expect(undeleted, 'acknowledged deletes not in the database').toEqual([]);
  for (const u of c.unknown) expect(listed.body.tokens.filter((t) => t.name === u.name).length, `create ${u.name} made at most once`).toBeLessThanOrEqual(1);
}

const introspectLoop = (log: Outcome[], targets: () => { name: string; api: Api }[], values: { value: string; active: boolean }[], pauseMs: number) => {
  let running = true;
  const wrong: string[] = [];
  const workers = values.map(async (v, i) => {
    for (let n = 0; running; n++) {
      const ts = targets();
      const t = ts[(n + i) % ts.length]!;
      const r = await record(log, t.name, 'introspect', () => t.api.introspect(v.value));
      if (r && r.status === 200 && r.body.active !== v.active) wrong.push(`${t.name}: ${JSON.stringify(r.body)} for a value expected ${v.active ? 'active' : 'inactive'}`);
      await sleep(pauseMs);
    }
  });
  const stop = async () => {
    running = false;
    await Promise.all(workers);
  };
  loops.push(stop);
  return { wrong, stop };
};

/** Throws at once (instead of waiting for a timeout) when a replica process has died, with the end of its stderr. */
function alive(...replicas: Replica[]): void {
  for (const r of replicas) {
    if (r.child.exitCode !== null || r.child.signalCode !== null)
      throw new Error(`replica ${r.name} died (exit ${r.child.exitCode ?? r.child.signalCode}):\n${r.stderr().split('\n').slice(-8).join('\n')}`);
  }
}

const neverIssued = () => `tctl_s2s_${randomBytes(30).toString('base64url').replace(/[-_]/g, 'A').slice(0, 40)}`;
const readyz = (r: Replica) =>
  fetch(`${r.url}/readyz`, { signal: AbortSignal.timeout(6_000) }).then(
    async (res) => (await res.arrayBuffer(), res.status),
    () => 0,
  );

describeWith({}, 'faults replicas on PostgreSQL survive', () => {
  it('kill -9 of a replica during a burst of writes: every change answered 2xx before the kill is in the database; the other replica goes on serving', async () => {
    const d = await deployment();
    try {
      const admin = await d.initAccount('burst');
      const [A, B] = await Promise.all([d.replica({ name: 'A' }), d.replica({ name: 'B' })]);
      showOnFailure(A, B);
      const clients = { A: api(A.url, admin, { timeoutMs: 10_000 }), B: api(B.url, admin, { timeoutMs: 10_000 }) };
      let aAlive = true;
      const c = churn({
        clients: () => (aAlive ? [{ name: 'A', api: clients.A }, { name: 'B', api: clients.B }] : [{ name: 'B', api: clients.B }]),
        lookup: () => clients.B,
        types: ['s2s', 's2s', 'api'],
        prefix: 'b',
        pauseMs: 0,
      });
      await until(async () => c.created.length >= 20, 20_000, '20 creates before the kill');
      const killedAt = performance.now();
      await A.kill9();
      const ackedBeforeKill = c.created.length + c.deleted.length;
      aAlive = false;
      const createdAtKill = c.created.length;
      await until(async () => c.created.length >= createdAtKill + 10, 20_000, 'B goes on creating after the kill');
      await c.stop();

      await expectAllThere(clients.B, c);
      // B answered every request it got, before and after the kill, with 2xx.
      const onB = c.log.filter((x) => x.via === 'B');
      expect(onB.filter((x) => x.status !== 200 && x.status !== 201 && !(x.retry && x.status === 404))).toEqual([]);
      expect(onB.filter((x) => x.startedAt > killedAt).length).toBeGreaterThan(10);
      // Nothing A answered was a 500.
      expect(c.log.filter((x) => x.status >= 500 && x.status !== 503)).toEqual([]);
      expect((await clients.B.verify()).body).toMatchObject({ ok: true });
      figures.push(
        `kill -9 during writes: ${ackedBeforeKill} writes acknowledged before the kill (${c.created.length} creates, ${c.deleted.length} deletes in all), ` +
          `${c.unknown.length} creates in flight on A at the kill (${c.unknown.filter((u) => u.committed).length} of them committed), all acknowledged ones in the database`,
      );
    } finally {
      await d.close();
    }
  });

  it('PostgreSQL stopped for 10 s under load: writes answer 503 with Retry-After in time, never 500; known values are introspected from memory; the replicas recover by themselves', async () => {
    const d = await deployment();
    try {
      const admin = await d.initAccount('load');
      const service = await d.addPrincipal('load', 'service', 'rs');
      const [A, B] = await Promise.all([d.replica({ name: 'A' }), d.replica({ name: 'B' })]);
      showOnFailure(A, B);
      // 12 s: longer than any answer may take (10 s), shorter than the test's patience.
      const adm = { A: api(A.url, admin, { timeoutMs: 12_000 }), B: api(B.url, admin, { timeoutMs: 12_000 }) };
      const svc = { A: api(A.url, service, { timeoutMs: 12_000 }), B: api(B.url, service, { timeoutMs: 12_000 }) };
      const defaultValue = (await adm.A.reveal('default')).body.value;
      const known = await adm.B.create('s2s', 'known'); // pending: known, inactive
      expect(known.status).toBe(201);
      const unseen = neverIssued();
      const both = (x: typeof adm) => () => [
        { name: 'A', api: x.A },
        { name: 'B', api: x.B },
      ];

      const ilog: Outcome[] = [];
      const intro = introspectLoop(
        ilog,
        both(svc),
        [
          { value: defaultValue, active: true },
          { value: known.body.value, active: false },
          { value: unseen, active: false },
        ],
        5,
      );
      const c = churn({ clients: both(adm), lookup: () => adm.B, types: ['s2s'], prefix: 'o', pauseMs: 100 });
      await until(async () => c.created.length >= 5, 20_000, 'creates before the outage');

      await d.cluster.stopFast();
      const stoppedAt = performance.now();
      await sleep(3_000);
      const readyDuring = await Promise.all([A, B].map(readyz));
      await sleep(7_000);
      const startAt = performance.now();
      await d.cluster.start();
      const startedAt = performance.now();

      // Recovery by themselves: ready again, and a write answered 2xx by each.
      const recovered = await writingAgain(c, [A, B], startAt, startedAt, 'both replicas write again after PostgreSQL is back');
      // Ready again once each listens again (its listener tries every second): a state waited for, within 5 s.
      await until(async () => (await Promise.all([A, B].map(readyz))).every((s) => s === 200), 5_000, 'both replicas ready again');
      const readyAfter = await Promise.all([A, B].map(readyz));
      await c.stop();
      await intro.stop();

      expect(readyDuring).toEqual([503, 503]);
      expect(readyAfter).toEqual([200, 200]);
      // Writes sent while PostgreSQL was down: every one answered 503 with Retry-After, within the request timeout.
      const during = c.log.filter((x) => x.startedAt > stoppedAt && x.startedAt + x.ms < startAt);
      expect(during.length).toBeGreaterThan(10);
      expect(during.filter((x) => x.status !== 503 || !(Number(x.retryAfter) > 0)), 'writes during the outage').toEqual([]);
      const slowest = Math.max(...during.map((x) => x.ms));
      expect(slowest).toBeLessThan(11_000);
      const at = (x: Outcome) => ({ ...x, startedAfterStop: Math.round(x.startedAt - stoppedAt), startedBeforeRestart: Math.round(startAt - x.startedAt) });
      expect(c.log.filter((x) => x.status === 0 || (x.status >= 500 && x.status !== 503)).map(at), 'never a 500, never a hang').toEqual([]);
      // Introspection never failed, before, during or after; values already known answered from memory.
      expect(ilog.filter((x) => x.status !== 200), 'introspections not answered 200').toEqual([]);
      expect(intro.wrong).toEqual([]);
      const introDuring = ilog.filter((x) => x.startedAt > stoppedAt && x.startedAt < startAt);
      expect(introDuring.length).toBeGreaterThan(100);
      await expectAllThere(adm.B, c);

      // Notifications again after the recovery: a delete on A is seen by B's introspection.
      const t0 = performance.now();
      expect((await adm.A.remove('default')).status).toBe(200);
      const seen = await until(async () => (await svc.B.introspect(defaultValue)).body.status === 'draining', 5_000, 'B sees a delete made on A after the recovery');
      figures.push(
        `PostgreSQL stopped 10 s: ${during.length} writes during the outage, all 503 + Retry-After, slowest ${ms(slowest)}; ` +
          `${introDuring.length} introspections during it, all 200; after the restart (${ms(startedAt - startAt)}) A wrote again after ${ms(recovered.A!)}, B after ${ms(recovered.B!)}; ` +
          `a delete then seen on the other replica in ${ms(seen)} (${ms(performance.now() - t0)} with the delete)`,
      );
    } finally {
      await d.close();
    }
  });

  it("connections reset while the database client reads PostgreSQL's types (the first statement on each new connection): the replica stays up and serves again", async () => {
    const d = await deployment();
    const proxy = await tcpProxy(d.cluster.port);
    try {
      const admin = await d.initAccount('types');
      const databaseUrl = `postgres://postgres@${proxy.hostPort}/${d.database}`;
      // At start, the first connection reset as it reads the types: the service says so in one line and exits 8
      // (as for any database it cannot reach at start), never with a stack trace.
      proxy.resetOn('pg_catalog.pg_type', 1);
      const failed = await d.replica({ name: 'A0', databaseUrl }).then(
        () => null,
        (error: Error) => error.message,
      );
      expect(failed).toMatch(/exited \(8\) before listening:\nerror: the database cannot be reached; nothing was changed, retry shortly\n*$/);
      expect(proxy.resets).toBe(1);
      const A = await d.replica({ name: 'A', databaseUrl });
      showOnFailure(A);
      const adm = api(A.url, admin, { timeoutMs: 12_000 });
      expect((await adm.list()).status).toBe(200);
      // Then every connection cut, and the next five reset as they read the types again.
      proxy.resetOn('pg_catalog.pg_type', 5);
      proxy.cut();
      const back = await until(async () => (await adm.create('s2s', `t${randomBytes(3).toString('hex')}`).catch(() => null))?.status === 201, 30_000, 'A writes again');
      expect(proxy.resets, 'connections reset while reading the types, after the cut').toBeGreaterThanOrEqual(4);
      expect(A.child.exitCode, `replica A is still running:\n${A.stderr()}`).toBeNull();
      expect(A.stderr()).not.toMatch(/Uncaught|unhandled|ECONNRESET\n\s+at /i);
      figures.push(`types read cut: ${proxy.resets} connections reset while reading PostgreSQL's types; writing again ${ms(back)} after the cut; the replica never stopped`);
    } finally {
      await d.close();
      await proxy.close();
    }
  });

  it('the network to PostgreSQL cut under load (connections reset, new ones refused), twice: every request is answered within 10 s, writes 503 with Retry-After; the replica recovers each time', async () => {
    const d = await deployment();
    const proxy = await tcpProxy(d.cluster.port);
    try {
      const admin = await d.initAccount('net');
      const A = await d.replica({ name: 'A', databaseUrl: `postgres://postgres@${proxy.hostPort}/${d.database}` });
      showOnFailure(A);
      const adm = api(A.url, admin, { timeoutMs: 12_000 });
      const c = churn({ clients: () => [{ name: 'A', api: adm }], lookup: () => adm, types: ['s2s', 's2s', 'api'], prefix: 'x', pauseMs: 0 });
      let probing = true;
      loops.push(async () => void (probing = false));
      const probes = [0, 1, 2].map(async () => {
        while (probing) {
          await record(c.log, 'A', 'readyz', async () => {
            const res = await fetch(`${A.url}/readyz`, { signal: AbortSignal.timeout(12_000) });
            return { status: res.status, body: await res.text(), headers: res.headers, ms: 0 };
          });
          await sleep(5);
        }
      });
      const cuts: { at: number; back: number; recovered: number }[] = [];
      await until(async () => c.created.length >= 10, 20_000, 'creates before the first cut');
      for (let i = 0; i < 2; i++) {
        proxy.refuse(true);
        proxy.cut();
        const at = performance.now();
        await sleep(1_000);
        proxy.refuse(false);
        const back = performance.now();
        await until(async () => (alive(A), c.log.some((x) => x.op === 'create' && x.status === 201 && x.startedAt > back)), 20_000, `A writes again after cut ${i + 1}`);
        cuts.push({ at, back, recovered: performance.now() - back });
      }
      probing = false;
      await c.stop();
      await Promise.all(probes);

      const hung = c.log.filter((x) => x.ms > 10_000 || x.status === 0);
      const rel = (x: Outcome) => {
        const cut = [...cuts].reverse().find((k) => k.at <= x.startedAt + 1) ?? cuts[0]!;
        return `${x.op} ${x.status || x.error} after ${ms(x.ms)}, sent ${ms(x.startedAt - cut.at)} after cut ${cuts.indexOf(cut) + 1}`;
      };
      expect(hung.map(rel), 'requests not answered within 10 s').toEqual([]);
      expect(c.log.filter((x) => ![200, 201, 503].includes(x.status) && !(x.retry && x.status === 404)).map(rel)).toEqual([]);
      expect(c.log.filter((x) => x.status === 503 && !(Number(x.retryAfter) > 0)).map(rel)).toEqual([]);
      expect(c.log.filter((x) => x.status === 503).length).toBeGreaterThan(0);
      await expectAllThere(adm, c);
      figures.push(
        `network cut x2: ${c.log.length} requests, slowest answer ${ms(Math.max(...c.log.map((x) => x.ms)))}; writing again ${cuts.map((k) => ms(k.recovered)).join(', ')} after each cut ended`,
      );
    } finally {
      await d.close();
      await proxy.close();
    }
  });

  it('failover: the primary stops, the standby is promoted; replicas given both hosts write to the new primary by themselves; every acknowledged write is there', async () => {
    const { primary, standby } = await primaryAndStandby();
    let d: Deployment | undefined;
    try {
      // Both hosts; target_session_attrs is accepted and not needed (tokenctl finds the primary: src/storage/sql/postgres/hosts.ts).
      d = await deployment({ cluster: primary, url: (db) => `postgres://postgres@${primary.hostPort},${standby.hostPort}/${db}?target_session_attrs=primary` });
      const admin = await d.initAccount('fo');
      const [A, B] = await Promise.all([d.replica({ name: 'A' }), d.replica({ name: 'B' })]);
      showOnFailure(A, B);
      const adm = { A: api(A.url, admin, { timeoutMs: 15_000 }), B: api(B.url, admin, { timeoutMs: 15_000 }) };
      const defaultValue = (await adm.A.reveal('default')).body.value;
      const both = () => [
        { name: 'A', api: adm.A },
        { name: 'B', api: adm.B },
      ];
      const ilog: Outcome[] = [];
      const intro = introspectLoop(ilog, both, [{ value: defaultValue, active: true }], 5);
      const c = churn({ clients: both, lookup: () => adm.B, types: ['s2s', 's2s'], prefix: 'f', pauseMs: 20 });
      await until(async () => c.created.length >= 10, 20_000, 'creates before the primary stops');

      const stopAt = performance.now();
      await primary.stopFast();
      await sleep(1_000); // the time an operator or Patroni takes to decide
      const promoteAt = performance.now();
      await standby.promote();
      const promotedAt = performance.now();
      const back = await writingAgain(c, [A, B], promotedAt, stopAt, 'both replicas write to the promoted standby');
      const createdBack = c.created.length;
      await until(async () => c.created.length >= createdBack + 5, 20_000, 'more creates on the promoted standby');
      await c.stop();
      await intro.stop();

      await expectAllThere(adm.B, c);
      expect(c.log.filter((x) => x.status === 0 || (x.status >= 500 && x.status !== 503)), 'writes during the failover: 503 or success, never a 500').toEqual([]);
      const failing = c.log.filter((x) => x.status === 503);
      expect(failing.filter((x) => !(Number(x.retryAfter) > 0))).toEqual([]);
      expect(ilog.filter((x) => x.status !== 200), 'introspection during the failover').toEqual([]);
      expect(intro.wrong).toEqual([]);
      expect((await adm.A.verify()).body).toMatchObject({ ok: true });
      // The new primary also carries the notifications.
      expect((await adm.A.remove('default')).status).toBe(200);
      const seen = await until(async () => (await adm.B.introspect(defaultValue)).body.status === 'draining', 5_000, 'B sees a delete made on A on the new primary');
      figures.push(
        `failover: promote took ${ms(promotedAt - promoteAt)}; first write acknowledged after the primary stopped: A ${ms(back.A!)}, B ${ms(back.B!)} ` +
          `(${ms(back.A! - (promotedAt - stopAt))}, ${ms(back.B! - (promotedAt - stopAt))} after the promotion); ${failing.length} writes answered 503 meanwhile; ` +
          `${c.created.length} creates and ${c.deleted.length} deletes acknowledged, all there; a delete then seen on the other replica in ${ms(seen)}`,
      );
    } finally {
      await d?.close();
      standby.stop();
      primary.stop();
    }
  });
});

describeWith({ nginx: true }, 'behind nginx with docs/deploy/nginx.conf', () => {
  it('one replica killed -9 while a client introspects continuously: zero failed introspections; a create in flight succeeds once or fails cleanly, never twice', async () => {
    const d = await deployment();
    try {
      const admin = await d.initAccount('lb');
      const service = await d.addPrincipal('lb', 'service', 'rs');
      const [A, B] = await Promise.all([d.replica({ name: 'A', args: TRUST }), d.replica({ name: 'B', args: TRUST })]);
      showOnFailure(A, B);
      const nginx = await startNginx([A.address, B.address]);
      try {
        const viaLb = { adm: api(nginx.url, admin, { timeoutMs: 25_000 }), svc: api(nginx.url, service, { timeoutMs: 25_000 }) };
        const defaultValue = (await viaLb.adm.reveal('default')).body.value;
        const ilog: Outcome[] = [];
        const lb = () => [{ name: 'nginx', api: viaLb.svc }];
        const intro = introspectLoop(
          ilog,
          lb,
          [
            { value: defaultValue, active: true },
            { value: defaultValue, active: true },
            { value: neverIssued(), active: false },
            { value: defaultValue, active: true },
          ],
          0,
        );
        const direct = api(B.url, admin);
        const c = churn({ clients: () => [{ name: 'nginx', api: viaLb.adm }], lookup: () => direct, types: ['s2s', 's2s'], prefix: 'n', pauseMs: 0 });
        await until(async () => c.created.length >= 20 && ilog.length >= 20, 20_000, 'creates and introspections through nginx before the kill');
        const killedAt = performance.now();
        await A.kill9();
        const createdAtKill = c.created.length;
        const introspectedAtKill = ilog.length;
        await until(async () => c.created.length >= createdAtKill + 10 && ilog.length >= introspectedAtKill + 50, 20_000, 'creates and introspections through nginx after the kill');
        await c.stop();
        await intro.stop();

        const failed = ilog.filter((x) => x.status !== 200);
        expect(failed, 'introspections that failed through nginx').toEqual([]);
        expect(intro.wrong).toEqual([]);
        const around = ilog.filter((x) => Math.abs(x.startedAt - killedAt) < 500);
        expect(around.length).toBeGreaterThan(20);
        // Creates: 201 once, or a clean failure (502/504: the replica died with it); never a 409 for a unique name,
        // which would be a create resent after it was made.
        const creates = c.log.filter((x) => x.op === 'create');
        expect(creates.filter((x) => ![201, 502, 504].includes(x.status)), 'creates through nginx').toEqual([]);
        await expectAllThere(direct, c);
        const events = (await direct.events()).body.events.filter((e) => e.action === 'token.create' && e.detail?.delivered === 'yes');
        const perName = new Map<string, number>();
        for (const e of events) perName.set(e.token!.name, (perName.get(e.token!.name) ?? 0) + 1);
        expect([...perName].filter(([, n]) => n > 1), 'a create made twice').toEqual([]);
        expect(perName.size).toBe(c.created.length + c.unknown.filter((u) => u.committed).length);
        expect(nginx.errorLog()).toMatch(/Connection refused|Connection reset|prematurely closed/);
        figures.push(
          `nginx: ${ilog.length} introspections (${around.length} within 0.5 s of the kill), 0 failed; ${creates.length} creates: ` +
            `${creates.filter((x) => x.status === 201).length} made once, ${creates.filter((x) => x.status !== 201).length} failed cleanly (in flight on the killed replica; ${c.unknown.filter((u) => u.committed).length} of those had been made), none twice`,
        );
      } finally {
        await nginx.stop();
      }
    } finally {
      await d.close();
    }
  });
});
