// Replicas through the faults of a primary with a synchronous standby, set up as the README says (issue 17): both
// hosts in TOKENCTL_DATABASE_URL, commits waiting for the standby (synchronous_standby_names). Statements go to the
// primary only (the standby logs every statement it runs, and the test reads that log); an abrupt failover under
// writes, several times, loses nothing acknowledged and never answers "nothing was changed" for a write that was
// made; /readyz and listings answer promptly in an outage; behind nginx, a hung replica under deletes and creates
// causes no second deletion or creation.
import { afterEach, expect, it } from 'vitest';
import { startNginx } from '../helpers/nginx.js';
import { startCluster, type StandbyCluster, type TestCluster } from '../helpers/postgres.js';
import { api, deployment, describeWith, showOnFailure, sleep, until, type Api, type Deployment, type Replica, type TokenJson } from '../helpers/replicas.js';

const figures: string[] = [];
afterEach(() => {
  if (figures.length > 0) console.log(`failover.test.ts figures:\n  ${figures.splice(0).join('\n  ')}`);
});
const ms = (n: number) => `${Math.round(n)} ms`;
/** Failover rounds in the abrupt-failover test (TOKENCTL_FAILOVER_ROUNDS for a longer soak). */
const ROUNDS = Number(process.env.TOKENCTL_FAILOVER_ROUNDS ?? 3);

/** What the service said about a write it did not make or may have made. */
const NOTHING_CHANGED = /nothing was changed/;

interface Answered {
  via: string;
  op: 'create' | 'delete' | 'list';
  status: number;
  message: string;
  startedAt: number;
  ms: number;
  retryAfter: string | null;
}

async function send<T>(log: Answered[], via: string, op: Answered['op'], fn: () => Promise<{ status: number; body: T; headers: Headers }>) {
  const startedAt = performance.now();
  try {
    const r = await fn();
    const message = typeof r.body === 'string' ? r.body : JSON.stringify((r.body as { error?: unknown })?.error ?? '');
    log.push({ via, op, status: r.status, message, startedAt, ms: performance.now() - startedAt, retryAfter: r.headers.get('retry-after') });
    return r;
  } catch (error) {
    log.push({ via, op, status: 0, message: String(error), startedAt, ms: performance.now() - startedAt, retryAfter: null });
    return null;
  }
}

/**
 * Writers that create a token and delete it, on the replicas in turn, keeping what each answer promised: a 201 or 200
 * is in the database for good; "nothing was changed" is checked at once (a delete: the token is still live, before
 * any retry) or at the end (a create: no token of that name); anything else (no answer, "check before retrying") is
 * looked up and tidied.
 */
function writers(o: { clients: () => { name: string; api: Api }[]; lookup: () => Api[]; types: string[]; prefix: string }) {
  const log: Answered[] = [];
  const created: { id: string; name: string }[] = [];
  const deleted = new Set<string>();
  const createsNotMade: string[] = [];
  const broken: string[] = [];
  let running = true;
  /** A token's state from whichever replica answers (the database may be away for a while). */
  const lookUp = async (id: string): Promise<'live' | 'deleted' | 'absent'> => {
    for (let i = 0; i < 600; i++) {
      for (const c of o.lookup()) {
        const r = await c.get(id).catch(() => null);
        if (r?.status === 200) return 'live';
        if (r?.status === 404) return /was deleted/.test(JSON.stringify(r.body)) ? 'deleted' : 'absent';
      }
      await sleep(50);
    }
    throw new Error(`token ${id}: no replica answered for 30 s`);
  };
  const worker = async (w: number, type: string) => {
    const leftover: string[] = [];
    for (let n = 0; running; n++) {
      const clients = o.clients();
      const target = clients[(n + w) % clients.length]!;
      for (const id of leftover.splice(0)) {
        const r = await send(log, target.name, 'delete', () => target.api.remove(id));
        if (r?.status === 200) deleted.add(id);
        else leftover.push(id);
      }
      if (leftover.length > 0) {
        await sleep(50);
        continue;
      }
      const name = `${o.prefix}-${w}-${n}`;
      const made = await send(log, target.name, 'create', () => target.api.create(type, name));
      if (made?.status === 201) {
        const id = made.body.token.id;
        created.push({ id, name });
        const del = await send(log, target.name, 'delete', () => target.api.remove(id));
        if (del?.status === 200) deleted.add(id);
        else {
          if (del && NOTHING_CHANGED.test(JSON.stringify(del.body)) && (await lookUp(id)) !== 'live') broken.push(`delete of ${id} answered ${JSON.stringify(del.body)}, but it was made`);
          leftover.push(id);
        }
      } else if (made && NOTHING_CHANGED.test(JSON.stringify(made.body))) {
        createsNotMade.push(name);
      } else if (made?.status !== 409) {
        // No answer, or "check before retrying": whatever the database has, tidied so the type keeps a free slot.
        await sleep(200);
        for (let i = 0; i < 600; i++) {
          const listed = await o.lookup()[0]!.list().catch(() => null);
          if (listed?.status === 200) {
            const found = listed.body.tokens.find((t) => t.name === name && t.deletedAt === null);
            if (found) leftover.push(found.id);
            break;
          }
          await sleep(50);
        }
      }
    }
  };
  const all = o.types.map((type, w) => worker(w, type));
  return {
    log,
    created,
    deleted,
    createsNotMade,
    broken,
    async stop() {
      running = false;
      await Promise.all(all);
    },
  };
}

type Writers = ReturnType<typeof writers>;

/** Everything the answers promised holds in the database, as listed through `client`. */
/** An account (its admin credential), replicas A and B on the deployment, and writers creating and deleting through both of them. */
async function writingThroughTwo(d: Deployment, account: string, prefix: string): Promise<{ admin: string; A: Replica; B: Replica; adm: { A: Api; B: Api }; w: Writers }> {
  const admin = await d.initAccount(account);
  const [A, B] = await Promise.all([d.replica({ name: 'A' }), d.replica({ name: 'B' })]);
  showOnFailure(A, B);
  const adm = { A: api(A.url, admin, { timeoutMs: 15_000 }), B: api(B.url, admin, { timeoutMs: 15_000 }) };
  const w = writers({
    clients: () => [
      { name: 'A', api: adm.A },
      { name: 'B', api: adm.B },
    ],
    lookup: () => [adm.B, adm.A],
    types: ['s2s', 's2s', 'api'],
    prefix,
  });
  return { admin, A, B, adm, w };
}

async function expectPromisesKept(client: Api, w: Writers): Promise<TokenJson[]> {
  const listed = await client.list();
  expect(listed.status).toBe(200);
  const tokens = listed.body.tokens;
  const byId = new Map(tokens.map((t) => [t.id, t]));
  expect(w.created.filter((t) => !byId.has(t.id)), 'creates answered 201 but missing').toEqual([]);
  expect([...w.deleted].filter((id) => byId.get(id)?.deletedAt === null), 'deletes answered 200 but the token is live').toEqual([]);
  expect(w.createsNotMade.filter((name) => tokens.some((t) => t.name === name)), 'creates answered "nothing was changed" but made').toEqual([]);
  expect(w.broken, 'deletes answered "nothing was changed" but made').toEqual([]);
  expect(w.log.filter((x) => x.status >= 500 && x.status !== 502 && x.status !== 503 && x.status !== 504), 'answers 5xx other than 502/503/504').toEqual([]);
  return tokens;
}

/** Each replica has answered 201 to a create sent after `after` (waits at most 30 s). */
async function writingAgain(w: Writers, names: string[], after: number, what: string): Promise<number> {
  return until(async () => names.every((name) => w.log.some((x) => x.via === name && x.op === 'create' && x.status === 201 && x.startedAt > after)), 30_000, what);
}

/** Statements the standby ran for tokenctl, from its log (log_statement=all, the application's name first). */
function statementsOnStandby(standby: TestCluster): string[] {
  return standby
    .log()
    .split('\n')
    .filter((line) => line.startsWith('tokenctl|') && /(statement|execute [^:]*):/.test(line));
}

const STANDBY_LOGS = { log_statement: 'all', log_line_prefix: "'%a|'" };

async function syncPair(standbySettings: Record<string, string> = {}, primarySettings: Record<string, string> = {}): Promise<{ primary: TestCluster; standby: StandbyCluster }> {
  const primary = await startCluster({ tcp: true, settings: primarySettings });
  try {
    // The standby first, then synchronous commits: a standby made from a primary already synchronous would wait, once
    // promoted, for a standby of its own.
    const standby = await primary.standby({ settings: standbySettings });
    await primary.synchronous();
    return { primary, standby };
  } catch (error) {
    primary.stop();
    throw error;
  }
}

describeWith({}, 'replicas with a synchronous standby: statements go to the primary only', () => {
  for (const order of ['primary first', 'standby first'] as const) {
    it(`both hosts in the URL (${order}): no statement reaches the standby; with the primary stopped 5 s, /readyz answers 503 within 1 s, writes and listings 503 promptly, never "read-only"; then every replica writes again by itself`, async () => {
      const { primary, standby } = await syncPair(STANDBY_LOGS);
      let d: Deployment | undefined;
      try {
        const hosts = order === 'primary first' ? `${primary.hostPort},${standby.hostPort}` : `${standby.hostPort},${primary.hostPort}`;
        d = await deployment({ cluster: primary, url: (db) => `postgres://postgres@${hosts}/${db}?target_session_attrs=primary` });
        // The standby replays the new database before any replica could ask it anything.
        await standby.caughtUp();
        const { admin, A, B, adm, w } = await writingThroughTwo(d, 'sync', 's');
        await until(async () => w.created.length >= 20, 20_000, '20 creates before the outage');

        const stopAt = performance.now();
        await primary.stopFast();
        const stoppedAt = performance.now();
        await sleep(2_000);
        // Health checks and listings during the outage: prompt, true answers.
        const probes: { what: string; status: number; ms: number }[] = [];
        for (let i = 0; i < 3; i++) {
          for (const r of [A, B]) {
            const t0 = performance.now();
            const res = await fetch(`${r.url}/readyz`, { signal: AbortSignal.timeout(5_000) }).catch(() => null);
            probes.push({ what: `${r.name} /readyz`, status: res?.status ?? 0, ms: performance.now() - t0 });
            const listed = await send(w.log, r.name, 'list', () => api(r.url, admin, { timeoutMs: 15_000 }).list());
            probes.push({ what: `${r.name} list`, status: listed?.status ?? 0, ms: performance.now() - t0 });
          }
          await sleep(500);
        }
        await sleep(Math.max(0, 5_000 - (performance.now() - stoppedAt)));
        const restartAt = performance.now();
        await primary.start();
        const startTook = performance.now() - restartAt;
        const back = await writingAgain(w, ['A', 'B'], restartAt, 'both replicas write again once the primary is back');
        await w.stop();

        expect(probes.filter((p) => p.what.endsWith('/readyz') && (p.status !== 503 || p.ms > 1_000)), '/readyz in the outage: 503 within 1 s').toEqual([]);
        expect(probes.filter((p) => p.what.endsWith('list') && p.status !== 503), 'listings in the outage: 503').toEqual([]);
        const during = w.log.filter((x) => x.startedAt > stoppedAt && x.startedAt + x.ms < restartAt);
        expect(during.length).toBeGreaterThan(5);
        expect(during.filter((x) => x.status !== 503 || !(Number(x.retryAfter) > 0)), 'requests during the outage: 503 with Retry-After').toEqual([]);
        expect(Math.max(...during.map((x) => x.ms)), 'the slowest answer during the outage').toBeLessThan(3_000);
        // Before the outage and once the primary is back (after the second it takes to be found again), nothing fails:
        // no write is ever sent to the standby to be refused there.
        expect(w.log.filter((x) => x.status !== 200 && x.status !== 201 && (x.startedAt + x.ms < stopAt || x.startedAt > restartAt + back + 1_000)), 'failures outside the outage').toEqual([]);
        expect(statementsOnStandby(standby), 'statements tokenctl ran on the standby').toEqual([]);
        // The standby was asked only whether it is the primary.
        expect(standby.log()).toMatch(/^tokenctl probe\|LOG: {2}(statement|execute <unnamed>): SELECT pg_is_in_recovery\(\)/m);
        await expectPromisesKept(adm.A, w);
        figures.push(
          `${order}: ${w.created.length} creates, ${w.deleted.size} deletes acknowledged; outage: ${during.length} requests, slowest ${ms(Math.max(...during.map((x) => x.ms)))}, ` +
            `/readyz ${probes.filter((p) => p.what.endsWith('/readyz')).map((p) => ms(p.ms)).join(' ')}; writing again ${ms(back)} after the restart (which took ${ms(startTook)}); 0 statements on the standby`,
        );
      } finally {
        await d?.close();
        standby.stop();
        primary.stop();
      }
    });
  }
});

describeWith({}, 'abrupt failover under writes', () => {
  it(`the primary crashes (pg_ctl -m immediate) and its synchronous standby is promoted, ${ROUNDS} times: every write answered 2xx is there, none answered "nothing was changed" is`, async () => {
    // Every statement logged: the writes whose COMMIT the crash cut are seen looked up on the new primary.
    let { primary, standby } = await syncPair(STANDBY_LOGS, STANDBY_LOGS);
    const decided = () => (primary.log().match(/INSERT INTO write_operations \(id\) VALUES \(\$1\) ON CONFLICT/g) ?? []).length;
    let lookups = 0;
    const hosts = `${primary.hostPort},${standby.hostPort}`;
    let d: Deployment | undefined;
    try {
      d = await deployment({ cluster: primary, url: (db) => `postgres://postgres@${hosts}/${db}` });
      await standby.caughtUp();
      const { adm, w } = await writingThroughTwo(d, 'failover', 'f');
      const rounds: string[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const before = w.created.length;
        await until(async () => w.created.length >= before + 15, 20_000, `writes before failover ${round}`);
        lookups += decided();
        // Odd rounds: the primary stops sending WAL first (its WAL sender frozen), so its COMMIT waits for the
        // standby with the commit record written on the primary alone; the crash then loses it, and the promoted
        // standby goes on from the same transaction ids (the case in which a transaction id answered "committed"
        // for a lost delete).
        let walSender: number | null = null;
        if (round % 2 === 1) {
          const onPrimary = primary.connect('postgres', { max: 1 });
          walSender = Number((await onPrimary<{ pid: number }[]>`SELECT pid FROM pg_stat_replication`)[0]!.pid);
          await onPrimary.end({ timeout: 1 });
          process.kill(walSender, 'SIGSTOP');
          await sleep(300);
          process.kill(walSender, 'SIGKILL'); // what it held back is never sent
        }
        const crashAt = performance.now();
        await primary.crash();
        await standby.promote();
        const promotedAt = performance.now();
        const back = await writingAgain(w, ['A', 'B'], promotedAt, `both replicas write to the promoted standby (round ${round})`);
        rounds.push(`round ${round}${walSender !== null ? ' (WAL held back first)' : ''}: promoted ${ms(promotedAt - crashAt)} after the crash, writing again ${ms(back)} later`);
        // The crashed primary comes back as the new primary's synchronous standby, on its old address.
        const port = primary.port;
        primary.stop();
        const rebuilt = await standby.standby({ port, settings: STANDBY_LOGS });
        await standby.synchronous();
        [primary, standby] = [standby, rebuilt];
      }
      const createdLast = w.created.length;
      await until(async () => w.created.length >= createdLast + 5, 20_000, 'more creates after the last failover');
      await w.stop();
      lookups += decided();

      const tokens = await expectPromisesKept(adm.A, w);
      const events = (await adm.A.events()).body.events;
      const deletions = new Map<string, number>();
      for (const e of events.filter((x) => x.action === 'token.delete')) deletions.set(e.token!.id, (deletions.get(e.token!.id) ?? 0) + 1);
      expect([...deletions].filter(([, n]) => n > 1), 'a token deleted twice').toEqual([]);
      expect((await adm.B.verify()).body).toMatchObject({ ok: true });
      const outcomes = w.log.filter((x) => x.op !== 'list');
      figures.push(
        `abrupt failover x${ROUNDS}: ${w.created.length} creates and ${w.deleted.size} deletes acknowledged, all there; ` +
          `${outcomes.filter((x) => NOTHING_CHANGED.test(x.message)).length} answered "nothing was changed" (${w.createsNotMade.length} creates), none made; ` +
          `${outcomes.filter((x) => /check before retrying/.test(x.message)).length} "check before retrying"; ${lookups} writes whose COMMIT was cut looked up by operation id; ` +
          `${tokens.length} tokens in the end. ${rounds.join('; ')}`,
      );
    } finally {
      await d?.close();
      standby.stop();
      primary.stop();
    }
  });
});

describeWith({ nginx: true }, 'behind nginx with docs/deploy/nginx.conf: a hung replica', () => {
  it('one replica hangs (SIGSTOP) under deletes and creates, then dies: every token is deleted once and created once, no delete answers 404', async () => {
    const d = await deployment();
    const replicas: Replica[] = [];
    try {
      const admin = await d.initAccount('hung');
      const [A, B] = await Promise.all([d.replica({ name: 'A', args: ['--trust-proxy', '127.0.0.1'] }), d.replica({ name: 'B', args: ['--trust-proxy', '127.0.0.1'] })]);
      replicas.push(A, B);
      showOnFailure(A, B);
      const nginx = await startNginx([A.address, B.address]);
      try {
        const viaLb = api(nginx.url, admin, { timeoutMs: 30_000 });
        const direct = api(B.url, admin);
        const w = writers({ clients: () => [{ name: 'nginx', api: viaLb }], lookup: () => [direct], types: ['s2s', 's2s', 'api'], prefix: 'h' });
        // Deletes certainly in flight on the hung replica, whatever the writer happens to be doing when it hangs: the
        // tokens of two more accounts, deleted through nginx all at once while A hangs (nginx alternates between the
        // replicas, so some of the six reach A), each to be answered once, after A dies, by B.
        const probes: { admin: string; id: string }[] = [];
        for (const account of ['hung-probe-1', 'hung-probe-2']) {
          const probeAdmin = await d.initAccount(account);
          // Made by the operator's command on the database: a replica knows the new credential once notified.
          await until(async () => (await api(B.url, probeAdmin).whoami()).status === 200, 10_000, `replica B knows the admin of ${account}`);
          for (const [type, name] of [['s2s', 'p1'], ['s2s', 'p2'], ['api', 'p3']] as const) {
            const made = await api(B.url, probeAdmin).create(type, name);
            expect(made.status, `probe token ${account}/${name}`).toBe(201);
            probes.push({ admin: probeAdmin, id: made.body.token.id });
          }
        }
        await until(async () => w.created.length >= 20, 20_000, '20 creates before the hang');
        A.pause();
        const pausedAt = performance.now();
        const probeDeletes = Promise.all(probes.map((p) => api(nginx.url, p.admin, { timeoutMs: 30_000 }).remove(p.id)));
        // Requests pile up on the hung replica (its connections stay open); then it dies with them in flight, and nginx
        // resends what it may (a DELETE, which HTTP calls idempotent; never a POST) to B.
        await sleep(3_000);
        await A.kill9();
        const killedAt = performance.now();
        await until(async () => w.log.some((x) => x.op === 'create' && x.status === 201 && x.startedAt > killedAt), 20_000, 'creates through nginx again');
        const createdAgain = w.created.length;
        await until(async () => w.created.length >= createdAgain + 5, 20_000, 'more creates through nginx');
        await w.stop();

        await expectPromisesKept(direct, w);
        const deletes = w.log.filter((x) => x.op === 'delete');
        expect(deletes.filter((x) => x.status === 404), 'deletes answered 404 (a delete made, then resent)').toEqual([]);
        const creates = w.log.filter((x) => x.op === 'create');
        expect(creates.filter((x) => ![201, 502, 504].includes(x.status)), 'creates through nginx: made once, or a clean failure').toEqual([]);
        const events = (await direct.events()).body.events;
        const count = (action: string, key: (e: (typeof events)[number]) => string) => {
          const m = new Map<string, number>();
          for (const e of events.filter((x) => x.action === action)) m.set(key(e), (m.get(key(e)) ?? 0) + 1);
          return [...m].filter(([, n]) => n > 1);
        };
        expect(count('token.delete', (e) => e.token!.id), 'a token deleted twice').toEqual([]);
        expect(count('token.create', (e) => e.token!.name), 'a token created twice').toEqual([]);
        // Every probe deleted, once: those that hung on A were resent by nginx to B and answered there.
        expect((await probeDeletes).map((r) => r.status), 'the probe deletes through nginx').toEqual(probes.map(() => 200));
        for (const admin of new Set(probes.map((p) => p.admin))) {
          const deleted = (await api(B.url, admin).events()).body.events.filter((e) => e.action === 'token.delete').map((e) => e.token!.id);
          expect(deleted.sort(), 'each probe token deleted once').toEqual(probes.filter((p) => p.admin === admin).map((p) => p.id).sort());
        }
        // nginx did resend deletes that were in flight on A (its error log names each failed attempt with its request).
        const resent = new Set([...nginx.errorLog().matchAll(new RegExp(`request: "DELETE (/v1/tokens/tok_\\w+) HTTP/1.1", upstream: "http://${A.address}`, 'g'))].map((m) => m[1]));
        expect(resent.size, 'deletes nginx passed on from the hung replica').toBeGreaterThan(0);
        expect(probes.some((p) => resent.has(`/v1/tokens/${p.id}`)), 'a probe delete resent from the hung replica').toBe(true);
        figures.push(
          `hung replica: ${deletes.length} deletes (${deletes.filter((x) => x.startedAt > pausedAt - 100 && x.startedAt < killedAt).length} sent while A hung, ` +
            `and ${probes.length} probe deletes; ${resent.size} deletes resent to B by nginx, ${probes.filter((p) => resent.has(`/v1/tokens/${p.id}`)).length} of them probes, each answered once), ` +
            `${creates.length} creates (${creates.filter((x) => x.status !== 201).length} failed cleanly), every token deleted once`,
        );
      } finally {
        await nginx.stop();
      }
    } finally {
      for (const r of replicas) r.resume();
      await d.close();
    }
  });
});
