// What must hold across replicas (issue 10), each with two or more real `tokenctl serve` processes on one real
// PostgreSQL: the rules under concurrency, one audit chain, changes seen everywhere within a second, a removed
// principal refused everywhere, resynchronisation after a lost connection, last-used times in batches and never
// backwards, one failed-authentication limit for all replicas, statuses that agree between skewed clocks.
// Every wait is bounded; the figures measured are printed at the end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runBin } from '../helpers/bin.js';
import {
  api,
  deployment,
  describeWith,
  percentile,
  showOnFailure,
  sleep,
  startReplica,
  tcpProxy,
  until,
  type Api,
  type Deployment,
  type Replica,
  type TcpProxy,
} from '../helpers/replicas.js';

const TRUST = ['--trust-proxy', '127.0.0.1'];
const figures: string[] = [];
const ms = (n: number) => `${n.toFixed(1)} ms`;
/** A client address of the test's own (TEST-NET-2), seen by replicas run with --trust-proxy 127.0.0.1. */
const from = (n: number) => ({ headers: { 'x-forwarded-for': `198.51.100.${n}` } });
/** GET /readyz's status, 0 when it does not answer within 15 s. */
const readyz = (r: Replica) =>
  fetch(`${r.url}/readyz`, { signal: AbortSignal.timeout(15_000) }).then(
    async (res) => (await res.arrayBuffer(), res.status),
    () => 0,
  );

describeWith({}, 'replicas on one PostgreSQL', () => {
  let d: Deployment;
  // A and B reach the database through proxies the tests can cut; C directly, with a clock 31 minutes ahead, so a
  // token created on A (pending for 30 minutes) is already active there: C's introspection shows when it knows it.
  let A: Replica;
  let B: Replica;
  let C: Replica;
  let pa: TcpProxy;
  let pb: TcpProxy;
  const admin: Record<string, string> = {};
  const defaults: Record<string, string> = {};
  const ACCOUNTS = ['ren', 'prop', 'cut1', 'cut2', 'cut3', 'lu', 'lim'];

  beforeAll(async () => {
    d = await deployment();
    // Statements that write are logged: the last-used test counts its batches there.
    const su = d.cluster.connect('postgres', { max: 1 });
    await su.unsafe(`ALTER DATABASE ${d.database} SET log_statement = 'mod'`);
    await su.end({ timeout: 1 });
    admin.acme = await d.initAccount('acme'); // migrates
    for (const [i, a] of (await Promise.all(ACCOUNTS.map((name) => d.initAccount(name)))).entries()) admin[ACCOUNTS[i]!] = a;
    pa = await tcpProxy(d.cluster.port);
    pb = await tcpProxy(d.cluster.port);
    const via = (p: TcpProxy) => `postgres://postgres@${p.hostPort}/${d.database}`;
    [A, B, C] = await Promise.all([
      d.replica({ name: 'A', databaseUrl: via(pa), args: TRUST }),
      d.replica({ name: 'B', databaseUrl: via(pb), args: TRUST }),
      d.replica({ name: 'C', args: TRUST, env: { TOKENCTL_NOW: new Date(Date.now() + 31 * 60_000).toISOString() } }),
    ]);
    for (const name of ['acme', ...ACCOUNTS]) {
      const r = await api(A.url, admin[name]!).reveal('default');
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      defaults[name] = r.body.value;
    }
  }, 90_000);

  afterAll(async () => {
    await d?.close();
    await pa?.close();
    await pb?.close();
    console.log(`replicas.test.ts figures:\n  ${figures.join('\n  ')}`);
  });

  const on = (r: Replica, account: string, n?: number): Api => api(r.url, admin[account]!, n === undefined ? {} : from(n));
  const introspection = async (client: Api, value: string) => {
    const r = await client.introspect(value);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  };

  it('100 concurrent creates of one type, split across two replicas, leave exactly 2 live tokens; the rest are 409', async () => {
    showOnFailure(A, B);
    const [a, b] = [on(A, 'acme'), on(B, 'acme')];
    const t0 = performance.now();
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : b).create('s2s', `c-${i}`)));
    figures.push(`100 concurrent creates on 2 replicas: ${ms(performance.now() - t0)}`);
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s !== 201 && s !== 409), JSON.stringify(answers.find((r) => r.status !== 201 && r.status !== 409)?.body)).toEqual([]);
    expect(statuses.filter((s) => s === 201)).toHaveLength(2);
    for (const r of answers.filter((x) => x.status === 409)) expect((r.body as unknown as { error: { kind: string } }).error.kind).toBe('conflict');
    const created = answers.filter((r) => r.status === 201).map((r) => r.body.token.id);
    for (const client of [a, b]) {
      const live = (await client.list()).body.tokens.filter((t) => t.type === 's2s' && t.deletedAt === null);
      expect(live.map((t) => t.id).sort()).toEqual(created.sort());
    }
  });

  it('two renames to one name, one on each replica, leave one winner (5 rounds)', async () => {
    showOnFailure(A, B);
    const [a, b] = [on(A, 'ren'), on(B, 'ren')];
    const x = await a.create('s2s', 'x1');
    const y = await b.create('s2s', 'x2');
    expect([x.status, y.status]).toEqual([201, 201]);
    for (let k = 0; k < 5; k++) {
      const target = `winner-${k}`;
      const [r1, r2] = await Promise.all([a.rename(x.body.token.id, target), b.rename(y.body.token.id, target.toUpperCase())]);
      expect([r1.status, r2.status].sort(), JSON.stringify([r1.body, r2.body])).toEqual([200, 409]);
      const named = (await b.list()).body.tokens.filter((t) => t.name.toLowerCase() === target);
      expect(named).toHaveLength(1);
      expect(named[0]!.id).toBe(r1.status === 200 ? x.body.token.id : y.body.token.id);
    }
  });

  it('the audit chain stays one linear chain per account: GET /v1/audit/verify on every replica, and tokenctl log --verify through the HTTP backend', async () => {
    showOnFailure(A, B, C);
    const home = mkdtempSync(path.join(tmpdir(), 'tokenctl-replicas-cli-'));
    try {
      for (const account of ['acme', 'ren']) {
        const counts = new Set<number>();
        for (const r of [A, B, C]) {
          const v = await on(r, account).verify();
          expect(v.status).toBe(200);
          expect(v.body, JSON.stringify(v.body)).toMatchObject({ ok: true });
          counts.add(v.body.events!);
        }
        expect(counts.size).toBe(1);
        // acme: init's events and exactly the 2 creates that were made; ren: 2 creates and the 5 winning renames.
        const events = (await on(B, account).events()).body.events;
        expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => events[0]!.seq + i));
        expect(events.filter((e) => e.action === 'token.create' && e.detail?.delivered === 'yes')).toHaveLength(2);
        if (account === 'ren') expect(events.filter((e) => e.action === 'token.rename')).toHaveLength(5);
        const cli = await runBin(['log', '--verify'], {
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, TOKENCTL_HOME: home, TOKENCTL_KEYCHAIN: 'off', NO_COLOR: '1', TOKENCTL_SERVER: A.url, TOKENCTL_ADMIN_KEY: admin[account]! },
        });
        expect(cli.code, cli.stderr).toBe(0);
        expect(cli.stdout + cli.stderr).toMatch(new RegExp(`audit trail intact: ${[...counts][0]} events`));
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('a token created, renamed or deleted through A is seen by the other replicas within 1 s (p99 over 21 changes)', async () => {
    showOnFailure(A, B, C);
    const a = on(A, 'prop');
    const [b, c] = [on(B, 'prop'), on(C, 'prop')];
    const seen: Record<'create' | 'rename' | 'delete', number[]> = { create: [], rename: [], delete: [] };
    for (let i = 0; i < 7; i++) {
      const made = await a.create('s2s', `p-${i}`);
      expect(made.status).toBe(201);
      const value = made.body.value;
      // Active on C's clock once C knows it (never before: unknown and pending are both inactive).
      seen.create.push(await until(async () => (await introspection(c, value)).active, 3_000, `C sees the token created on A (${i})`));

      expect((await a.rename(`p-${i}`, `q-${i}`)).status).toBe(200);
      seen.rename.push(
        Math.max(
          ...(await Promise.all([b, c].map((x, j) => until(async () => (await x.get(`q-${i}`)).status === 200, 3_000, `${j ? 'C' : 'B'} sees the rename (${i})`)))),
        ),
      );
      // The old name is gone everywhere at that point.
      for (const x of [b, c]) expect((await x.get(`p-${i}`)).status).toBe(404);

      expect((await a.remove(`q-${i}`)).status).toBe(200);
      // On C's clock the 30 minutes of draining are over already: revoked, inactive.
      seen.delete.push(await until(async () => !(await introspection(c, value)).active, 3_000, `C sees the delete (${i})`));
    }
    const all = [...seen.create, ...seen.rename, ...seen.delete];
    const p99 = percentile(all, 99);
    figures.push(
      `propagation A -> B/C over ${all.length} changes: p50 ${ms(percentile(all, 50))}, p99 ${ms(p99)}, max ${ms(Math.max(...all))} ` +
        `(create p99 ${ms(percentile(seen.create, 99))}, rename p99 ${ms(percentile(seen.rename, 99))}, delete p99 ${ms(percentile(seen.delete, 99))})`,
    );
    expect(p99).toBeLessThanOrEqual(1_000);
  });

  it("a removed principal's credential stops working on every replica within 1 s", async () => {
    showOnFailure(A, B, C);
    const added = performance.now();
    const gone = await d.addPrincipal('acme', 'service', 'gone');
    const addedAt = performance.now();
    // One client address per replica: the failed-authentication limit (10 a minute) is shared by the replicas.
    const clients = [A, B, C].map((r, i) => ({ r, client: api(r.url, gone, from(5 + i)) }));
    // A new principal is accepted everywhere soon too (each refusal meanwhile counts as a failed authentication of
    // that address, so this polls slowly: 8 at most, plus the one refusal after the removal below, under 10).
    const acceptedAt = await Promise.all(
      clients.map(async ({ r, client }) => {
        for (let i = 0; ; i++) {
          const res = await client.introspect(defaults.acme!);
          if (res.status === 200) return performance.now();
          expect(res.status).toBe(401);
          if (i === 7) throw new Error(`${r.name} refuses a principal added ${ms(performance.now() - addedAt)} ago`);
          await sleep(400);
        }
      }),
    );
    figures.push(`added principal accepted, after add-principal exited: ${acceptedAt.map((t, i) => `${'ABC'[i]} ${ms(Math.max(0, t - addedAt))}`).join(', ')} (the command took ${ms(addedAt - added)})`);
    for (const { client } of clients) expect((await introspection(client, defaults.acme!)).active).toBe(true);
    const removed = d.removePrincipal('acme', 'gone').then(() => performance.now());
    const refusedAt = await Promise.all(
      clients.map(async ({ r, client }) => {
        const t0 = performance.now();
        for (;;) {
          const res = await client.introspect(defaults.acme!);
          if (res.status === 401) return performance.now();
          expect(res.status).toBe(200);
          if (performance.now() - t0 > 15_000) throw new Error(`${r.name} still accepts the removed credential after 15 s`);
          await sleep(2);
        }
      }),
    );
    const doneAt = await removed;
    const lags = refusedAt.map((t) => t - doneAt);
    figures.push(`removed principal refused, after remove-principal exited: ${lags.map((l, i) => `${'ABC'[i]} ${ms(l)}`).join(', ')}`);
    for (const lag of lags) expect(lag).toBeLessThanOrEqual(1_000);
  });

  it('after the listeners are cut (pg_terminate_backend) a change made right away is seen by every replica', async () => {
    showOnFailure(A, B, C);
    const su = d.cluster.connect('postgres', { max: 1 });
    try {
      const cut = await su<{ pid: number }[]>`
        SELECT pid FROM pg_stat_activity WHERE datname = ${d.database} AND application_name = 'tokenctl listener'`;
      expect(cut.length, 'one listening connection per replica').toBeGreaterThanOrEqual(3);
      await su`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN ${su(cut.map((r) => r.pid))}`;
      expect((await on(C, 'cut1').remove('default')).status).toBe(200);
      const lags = await Promise.all(
        [A, B].map((r) => until(async () => (await introspection(on(r, 'cut1'), defaults.cut1!)).status === 'draining', 10_000, `${r.name} sees the delete`)),
      );
      figures.push(`after pg_terminate_backend of the listeners, a delete seen by A, B in ${lags.map(ms).join(', ')}`);
    } finally {
      await su.end({ timeout: 1 });
    }
  });

  it("a replica that lost its database resynchronises what it keeps in memory when it is back (notifications are not replayed), and answers known values meanwhile", async () => {
    showOnFailure(A, B);
    for (const [lost, other, account, proxy] of [
      [B, A, 'cut2', pb],
      [A, B, 'cut3', pa],
    ] as const) {
      proxy.refuse(true);
      proxy.cut();
      const probes: string[] = [];
      const down = await until(
        async () => {
          const t = performance.now();
          const status = await readyz(lost);
          probes.push(`${status} in ${ms(performance.now() - t)}`);
          return status === 503;
        },
        20_000,
        `${lost.name} says it is not ready`,
      );
      // Known values are answered from memory while the database is away.
      expect((await introspection(on(lost, account), defaults[account]!)).status).toBe('active');
      expect((await introspection(on(lost, 'acme'), defaults.acme!)).active).toBe(true);
      // A change through the other replica while this one cannot hear of it.
      expect((await on(other, account).remove('default')).status).toBe(200);
      // The other replica knows (and has notified); this one cannot hear of it yet.
      await until(async () => (await introspection(on(other, account), defaults[account]!)).status === 'draining', 5_000, `${other.name} sees the deletion`);
      expect((await introspection(on(lost, account), defaults[account]!)).status).toBe('active');
      const back = performance.now();
      proxy.refuse(false);
      const resync = await until(async () => (await introspection(on(lost, account), defaults[account]!)).status === 'draining', 15_000, `${lost.name} resynchronises`);
      const ready = await until(async () => (await readyz(lost)) === 200, 15_000, `${lost.name} ready again`);
      figures.push(`${lost.name} cut from its database: not ready after ${ms(down)} (/readyz answers: ${probes.join(', ')}); the change made meanwhile seen ${ms(resync)} after the database was back (ready again within ${ms(performance.now() - back)}, ${ms(ready)} after that)`);
    }
  });

  it('last-used times are written in batches from every replica, and never go backwards', async () => {
    showOnFailure(A, B);
    const value = defaults.lu!;
    const [a, b] = [on(A, 'lu'), on(B, 'lu')];
    // One log entry per statement (an entry starts with the timestamp of log_line_prefix; SQL may span lines).
    const writes = () =>
      d.cluster
        .log()
        .split(/\n(?=\d{4}-\d\d-\d\d )/)
        .filter((entry) => /\b(statement|execute [^:]*): [\s\S]*last_used/i.test(entry)).length;
    const before = writes();
    const samples: Record<string, number[]> = { A: [], B: [] };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const [name, client] of [
          ['A', a],
          ['B', b],
        ] as const) {
          const t = (await client.get('default')).body.token.lastUsedAt;
          if (t) samples[name]!.push(Date.parse(t));
        }
        await sleep(100);
      }
    })();
    const t0 = Date.now();
    const uses = 200;
    for (let i = 0; i < uses; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => introspection((i + j) % 2 ? b : a, value)));
    const lastUse = Date.now();
    // Written by the batches (every few seconds), not by each of the 200 introspections.
    const written = await until(
      async () => {
        const t = (await on(C, 'lu').get('default')).body.token.lastUsedAt;
        return t !== null && Date.parse(t) >= t0;
      },
      15_000,
      'the last use reaches the database',
    );
    await sleep(6_000); // every replica's timer has flushed once more
    sampling = false;
    await sampler;
    const batches = writes() - before;
    figures.push(`${uses} introspections on A and B: ${batches} last-used write statements; the database had it ${ms(written)} after the last use`);
    expect(batches).toBeGreaterThanOrEqual(1);
    expect(batches).toBeLessThanOrEqual(8);
    for (const [name, s] of Object.entries(samples)) {
      expect(s.length, `${name} samples`).toBeGreaterThan(10);
      for (let i = 1; i < s.length; i++) expect(s[i]!, `${name} lastUsedAt went backwards at sample ${i}`).toBeGreaterThanOrEqual(s[i - 1]!);
    }
    const final = Date.parse((await b.get('default')).body.token.lastUsedAt!);
    expect(final).toBeGreaterThanOrEqual(Math.floor(lastUse / 1000) * 1000 - 2_000);

    // An older use flushed after a newer one does not move the time back: E uses it, 1.2 s later D does; D stops
    // first (writing the newer time), then E (writing the older one).
    const [D, E] = await Promise.all([d.replica({ name: 'D' }), d.replica({ name: 'E' })]);
    showOnFailure(A, B, D, E);
    await introspection(on(E, 'lu'), value);
    const eDone = Date.now();
    await sleep(1_200);
    await introspection(on(D, 'lu'), value);
    expect((await D.stop()).code).toBe(0);
    const afterD = Date.parse((await a.get('default')).body.token.lastUsedAt!);
    expect((await E.stop()).code).toBe(0);
    const afterE = Date.parse((await a.get('default')).body.token.lastUsedAt!);
    expect(afterD).toBeGreaterThan(eDone);
    expect(afterE, 'the older batch moved the last-used time backwards').toBe(afterD);
  });

  // (Not C: its clock, 31 minutes ahead, is past any block the others set.)
  it('the failed-authentication limit (10 guesses per address per minute) holds across replicas: 5 on A, 5 on B, then 429 on either', async () => {
    showOnFailure(A, B);
    // Each a different wrong credential: the same one again is not a new guess, and is not counted.
    const wrong = (r: Replica, n: number, guess: number) => api(r.url, `tctl_key_${String(guess).padStart(40, 'Z')}`, from(n));
    for (let i = 0; i < 5; i++) expect((await wrong(A, 77, i).whoami()).status).toBe(401);
    for (let i = 5; i < 10; i++) expect((await wrong(B, 77, i).whoami()).status).toBe(401);
    for (const [i, r] of [A, B].entries()) {
      const res = await wrong(r, 77, 10 + i).whoami();
      expect(res.status, `${r.name}: the 11th failure from one address`).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // Another address is not limited; the right credential from it works.
    expect((await wrong(B, 78, 0).whoami()).status).toBe(401);
    expect((await on(A, 'lim', 79).whoami()).status).toBe(200);
  });

  it('statuses agree between replicas whose clocks differ by seconds (5 s here): a default token, active at once, is never pending on the one behind', async () => {
    // A2 runs on this machine's clock, B2 5 s behind it (its clock starts 5 s back when it starts): more than NTP
    // would ever let happen, and room enough for checks on a busy machine.
    const [A2, B2] = await Promise.all([
      startReplica({ databaseUrl: d.url, serverKey: d.key, name: 'A2', args: TRUST }),
      startReplica({ databaseUrl: d.url, serverKey: d.key, name: 'B2', args: TRUST, env: { TOKENCTL_NOW: new Date(Date.now() - 5_000).toISOString() } }),
    ]);
    showOnFailure(A2, B2);
    try {
      // The account (and its default token) is created now, on this machine's clock: for the next 5 s B2's clock is
      // before the token's creation, however long the replicas took to start.
      const createdAt = Date.now();
      const init = await d.initAccount('clk');
      const [a, b] = [api(A2.url, init), api(B2.url, init)];
      // From addresses of their own: a refusal while a replica has not heard of the account yet counts as a failure.
      const [pollA, pollB] = [api(A2.url, init, from(91)), api(B2.url, init, from(92))];
      await until(async () => (await pollA.get('default')).status === 200 && (await pollB.get('default')).status === 200, 3_000, 'both replicas know the new account');
      const value = (await a.reveal('default')).body.value;
      let checks = 0;
      // While B2's clock is still before the token's creation instant.
      while (Date.now() - createdAt < 4_800) {
        for (const client of [b, a]) {
          const got = await client.get('default');
          expect(got.body.token.status, `checked ${Date.now() - createdAt} ms after the creation`).toBe('active');
          const listed = (await client.list()).body.tokens.find((t) => t.name === 'default')!;
          expect(listed.status).toBe('active');
          expect(await introspection(client, value)).toMatchObject({ active: true, status: 'active' });
        }
        checks++;
      }
      expect(checks, 'nothing was checked while B2\'s clock was behind').toBeGreaterThan(0);
      figures.push(`clock skew 5 s: ${checks} rounds of checks while B2's clock was behind the token's creation`);
      // A token created on A2 is pending on both.
      const made = await a.create('s2s', 'skewed');
      expect(made.body.token.status).toBe('pending');
      expect((await b.get('skewed')).body.token.status).toBe('pending');
    } finally {
      await Promise.all([A2.stop(), B2.stop()]);
    }
  });
});
