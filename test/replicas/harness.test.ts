// The harness of the replica tests checked on its own, before any replica runs: PostgreSQL on TCP, stopped and
// started on its port, a streaming standby that sees the primary's writes and is promoted (and tokenctl's
// PrimaryHosts finding the primary among a URL's hosts, which the replicas rely on); nginx with the shipped
// docs/deploy/nginx.conf in front of two tiny node:http upstreams: a killed upstream costs an introspection
// nothing, a create in flight is never resent.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import postgres from 'postgres';
import { renderShippedConf, SHIPPED_CONF, startNginx } from '../helpers/nginx.js';
import { startCluster, type StandbyCluster, type TestCluster } from '../helpers/postgres.js';
import { describeWith, sleep } from '../helpers/replicas.js';
import { PrimaryHosts } from '../../src/storage/sql/postgres/hosts.js';

describeWith({}, 'test harness: PostgreSQL on TCP, restart, streaming standby, promotion', () => {
  let primary: TestCluster | undefined;
  let standby: StandbyCluster | undefined;
  afterAll(() => {
    standby?.stop();
    primary?.stop();
  });

  it('a socket-only cluster (the default) works as before and has no URL', async () => {
    const c = await startCluster();
    try {
      const db = await c.createDatabase();
      const sql = c.connect(db);
      expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
      await sql.end({ timeout: 1 });
      expect(() => c.url(db)).toThrow(/Unix socket only/);
    } finally {
      c.stop();
    }
    expect(existsSync(c.host)).toBe(false);
  });

  it('a primary and its standby on their own ports; writes reach the standby; promote; PrimaryHosts finds the primary, before and after', async () => {
    primary = await startCluster({ tcp: true });
    const db = await primary.createDatabase();
    expect(primary.url(db)).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/t_\d+_\d+$/);
    const p = postgres(primary.url(db), { max: 1, onnotice: () => undefined });
    await p`CREATE TABLE t (n int PRIMARY KEY)`;
    await p`INSERT INTO t VALUES (1)`;

    // Stopped and started on the same port: a client of the URL reconnects by itself.
    await primary.stopFast();
    expect(primary.running).toBe(false);
    await expect(p`SELECT 1`).rejects.toThrow();
    await primary.start();
    expect(await p`SELECT n FROM t`).toEqual([{ n: 1 }]);

    standby = await primary.standby();
    expect(standby.port).not.toBe(primary.port);
    expect(await standby.inRecovery()).toBe(true);
    await p`INSERT INTO t VALUES (2)`;
    await standby.caughtUp();
    const s = postgres(standby.url(db), { max: 1, onnotice: () => undefined });
    expect(await s`SELECT n FROM t ORDER BY n`).toEqual([{ n: 1 }, { n: 2 }]);
    await expect(s`INSERT INTO t VALUES (3)`).rejects.toThrow(/read-only transaction/);

    // Both hosts, the standby first. postgres.js (3.4.9) with target_session_attrs=primary tries the hosts in turn
    // for ever while the primary is down (its connect timeout restarts at each host): the query never settles. This
    // is why tokenctl finds the primary itself (src/storage/sql/postgres/hosts.ts); a canary: when postgres.js fixes it, this fails.
    const both = `postgres://postgres@${standby.hostPort},${primary.hostPort}/${db}`;
    const hosts = new PrimaryHosts(both, { max: 2, onnotice: () => undefined, connect_timeout: 2 });
    const onPrimary = await hosts.primary();
    await onPrimary`INSERT INTO t VALUES (3)`;
    expect((await onPrimary`SELECT inet_server_port() AS port`)[0]!.port).toBe(primary.port);
    expect(hosts.healthy).toBe(true);

    // Failover: the primary stops (fast: it sends the standby all its WAL first), the standby is promoted.
    await p`INSERT INTO t VALUES (4)`;
    await primary.stopFast();
    const loop = postgres(`${both}?target_session_attrs=primary`, { max: 1, onnotice: () => undefined, connect_timeout: 2 });
    const settled = await Promise.race([loop`SELECT 1`.then(() => 'answered', () => 'failed'), sleep(6_000).then(() => 'still waiting')]);
    expect(settled, 'postgres.js with the primary down and a standby up').toBe('still waiting');
    void loop.end({ timeout: 0 });
    // PrimaryHosts says at once that no host is a primary (a standby answers), and finds the promoted one.
    const t1 = Date.now();
    hosts.suspect();
    await expect(hosts.primary()).rejects.toMatchObject({ code: '25006' });
    expect(Date.now() - t1).toBeLessThan(3_000);
    expect(hosts.healthy).toBe(false);
    const t0 = Date.now();
    await standby.promote();
    const promoteMs = Date.now() - t0;
    expect(await standby.inRecovery()).toBe(false);
    await sleep(300); // past the time a failed search is reused
    const m = await hosts.primary();
    await m`INSERT INTO t VALUES (5)`;
    expect((await m`SELECT inet_server_port() AS port`)[0]!.port).toBe(standby.port);
    expect((await s`SELECT n FROM t ORDER BY n`).map((r) => r.n)).toEqual([1, 2, 3, 4, 5]);
    console.log(`harness: standby promoted in ${promoteMs} ms`);
    await Promise.all([p.end({ timeout: 1 }), s.end({ timeout: 1 }), hosts.end()]);

    const dirs = [primary.host, standby.host];
    standby.stop();
    primary.stop();
    for (const d of dirs) expect(existsSync(d)).toBe(false);
  });
});

// A tiny upstream in its own process (so it can be killed -9 like a replica): answers every request with JSON
// naming itself and the X-Forwarded-For it saw; hangs on requests with `x-hang: <its name>`; answers `x-status: <code>`
// (with Retry-After: 2) when asked to, or only when `x-status-only` names it; prints one line per request
// and per new connection on stdout.
const UPSTREAM = `
const http = require('node:http');
const name = process.argv[1];
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    process.stdout.write('req ' + req.method + ' ' + req.url + '\\n');
    if (req.headers['x-hang'] === name) return;
    if (req.headers['x-status'] && (!req.headers['x-status-only'] || req.headers['x-status-only'] === name)) {
      res.writeHead(Number(req.headers['x-status']), { 'content-type': 'application/json', 'retry-after': '2' });
      return res.end(JSON.stringify({ error: { kind: 'unavailable', message: name } }));
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ upstream: name, xff: req.headers['x-forwarded-for'] ?? null, body }));
  });
});
server.keepAliveTimeout = 5000;
server.on('connection', () => process.stdout.write('conn\\n'));
server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));
`;

interface Upstream {
  name: string;
  address: string;
  child: ChildProcess;
  lines(): string[];
  count(prefix: string): number;
}

async function upstream(name: string): Promise<Upstream> {
  const child = spawn(process.execPath, ['-e', UPSTREAM, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const deadline = Date.now() + 10_000;
  while (!/port (\d+)/.test(out)) {
    if (Date.now() > deadline) throw new Error(`upstream ${name} did not start`);
    await sleep(10);
  }
  const lines = () => out.split('\n').filter(Boolean);
  return { name, address: `127.0.0.1:${/port (\d+)/.exec(out)![1]}`, child, lines, count: (prefix) => lines().filter((l) => l.startsWith(prefix)).length };
}
/**
 * Sends requests one at a time until one is left hanging on `target` (it hangs on `x-hang: <its name>`; the
 * other upstream answers at once); resolves with that request's pending response.
 */
async function landOn(target: Upstream, send: () => Promise<Response>, what: string): Promise<{ response: Promise<Response> }> {
  for (let i = 0; i < 10; i++) {
    const before = target.count(`req ${what}`);
    const pending = send();
    const answered = pending.then(
      () => true,
      () => true,
    );
    const t0 = Date.now();
    while (target.count(`req ${what}`) === before && Date.now() - t0 < 1_000) {
      if (await Promise.race([answered, sleep(5).then(() => false)])) break;
    }
    // Wrapped: an async function returning a promise would wait for it.
    if (target.count(`req ${what}`) > before) return { response: pending };
    await pending;
  }
  throw new Error(`no ${what} reached ${target.name}`);
}

const kill9 = (u: Upstream) =>
  new Promise<void>((resolve) => {
    if (u.child.exitCode !== null || u.child.signalCode !== null) return resolve();
    u.child.once('exit', () => resolve());
    u.child.kill('SIGKILL');
  });

it('renders the shipped nginx.conf with the test addresses only', () => {
  const conf = renderShippedConf(['127.0.0.1:1001', '127.0.0.1:1002', '127.0.0.1:1003'], 4321);
  const shipped = readFileSync(SHIPPED_CONF, 'utf8');
  expect(conf.match(/^\s*server 127\.0\.0\.1:100\d( [^;]*)?;$/gm)).toHaveLength(3);
  expect(conf).not.toMatch(/10\.0\.0\.1\d/);
  expect(conf).toMatch(/^\s*listen 127\.0\.0\.1:4321;$/m);
  // Everything else is the shipped file, byte for byte.
  const strip = (s: string) => s.replace(/^\s*(server \S+:\d+[^;\n]*|listen [^;\n]+);\n/gm, '');
  expect(strip(conf)).toBe(strip(shipped));
  // What the shipped file promises: keepalive, retries (non_idempotent only for introspection), XFF, a short connect timeout.
  expect(shipped).toMatch(/^\s*keepalive \d+;/m);
  expect(shipped).toMatch(/^\s*proxy_connect_timeout 1s;/m);
  expect(shipped).toMatch(/^\s*proxy_set_header X-Forwarded-For \$remote_addr;/m);
  expect(shipped.match(/^\s*proxy_next_upstream [^;]*;/gm)).toEqual([
    '    proxy_next_upstream error timeout http_502;',
    '        proxy_next_upstream error timeout http_502 http_503 non_idempotent;',
  ]);
  expect(shipped).toMatch(/location = \/v1\/introspect \{[^}]*non_idempotent;[^}]*\}/);
});

describeWith({ nginx: true }, 'test harness: nginx with the shipped configuration in front of two upstreams', () => {
  const ups: Upstream[] = [];
  afterAll(async () => {
    await Promise.all(ups.map(kill9));
  });

  it('keeps connections alive, sets X-Forwarded-For, retries introspection past a killed upstream, never resends a create', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    ups.push(a, b);
    const varLog = ['/var/log/nginx/access.log', '/var/log/nginx/error.log'].filter(existsSync).map((f) => [f, statSync(f).mtimeMs] as const);
    const nginx = await startNginx([a.address, b.address]);
    try {
      const post = (route: string, headers: Record<string, string> = {}, body = 'token=x') =>
        fetch(`${nginx.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body, signal: AbortSignal.timeout(15_000) });

      // Round robin over both, a handful of connections for many requests, the client's address in XFF (a spoofed
      // one replaced).
      const seen = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const r = await post('/v1/introspect', { 'x-forwarded-for': '203.0.113.9' });
        expect(r.status).toBe(200);
        const j = (await r.json()) as { upstream: string; xff: string; body: string };
        seen.add(j.upstream);
        expect(j.xff).toBe('127.0.0.1');
        expect(j.body).toBe('token=x');
      }
      expect([...seen].sort()).toEqual(['a', 'b']);
      expect(a.count('conn') + b.count('conn')).toBeLessThanOrEqual(4);

      // Both upstreams answer 503 + Retry-After to writes and listings (a database outage): the client gets that
      // 503 every time, never nginx's own 502, and introspection (answered from memory) still reaches them. With
      // http_503 in the server-wide proxy_next_upstream, nginx counted those 503s as failures, left both replicas
      // out and answered everything, introspection included, with 502 "no live upstreams" for fail_timeout.
      for (let i = 0; i < 6; i++) {
        const get = await fetch(`${nginx.url}/v1/tokens`, { headers: { 'x-status': '503' }, signal: AbortSignal.timeout(15_000) });
        const create = await post('/v1/tokens', { 'x-status': '503' }, '{}');
        for (const r of [get, create]) {
          expect(r.status).toBe(503);
          expect(r.headers.get('retry-after')).toBe('2');
          expect(((await r.json()) as { error: { kind: string } }).error.kind).toBe('unavailable');
        }
      }
      for (let i = 0; i < 4; i++) expect((await post('/v1/introspect')).status).toBe(200);

      // A create in flight on an upstream that dies: one attempt only, a clean 502, never resent to the other.
      const inFlight = await landOn(a, () => post('/v1/tokens', { 'x-hang': 'a' }, '{}'), 'POST /v1/tokens');
      const bCreates = b.count('req POST /v1/tokens');
      await kill9(a);
      expect((await inFlight.response).status).toBe(502);
      expect(b.count('req POST /v1/tokens')).toBe(bCreates);

      // Introspection while one upstream is dead: zero failures, all on b (a's failures leave it out).
      let failures = 0;
      const t1 = Date.now();
      let n = 0;
      while (Date.now() - t1 < 1_000) {
        const r = await post('/v1/introspect').catch(() => null);
        n++;
        if (r?.status !== 200) failures++;
        else expect(((await r.json()) as { upstream: string }).upstream).toBe('b');
      }
      expect(failures).toBe(0);
      expect(n).toBeGreaterThan(20); // a second of them, however slow the machine is
      expect(nginx.errorLog()).toMatch(/connect\(\) failed \(111: Connection refused\)|upstream prematurely closed/);
    } finally {
      await nginx.stop();
    }
    expect(existsSync(nginx.prefix)).toBe(false);
    for (const [f, mtime] of varLog) expect(statSync(f).mtimeMs, `${f} untouched`).toBe(mtime);
  });

  it('an introspection in flight on an upstream killed -9 is answered by the other one', async () => {
    const a = await upstream('a2');
    const b = await upstream('b2');
    ups.push(a, b);
    const nginx = await startNginx([a.address, b.address]);
    try {
      const post = () =>
        fetch(`${nginx.url}/v1/introspect`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-hang': 'a2' }, body: 'token=x', signal: AbortSignal.timeout(15_000) });
      const inFlight = await landOn(a, post, 'POST /v1/introspect');
      const bBefore = b.count('req POST /v1/introspect');
      await kill9(a);
      const r = await inFlight.response;
      expect(r.status).toBe(200);
      expect(((await r.json()) as { upstream: string }).upstream).toBe('b2');
      expect(b.count('req POST /v1/introspect')).toBe(bBefore + 1);
    } finally {
      await nginx.stop();
    }
  });

  it('an introspection answered 503 by one upstream (shutting down) is answered by the other', async () => {
    const a = await upstream('a3');
    const b = await upstream('b3');
    ups.push(a, b);
    const nginx = await startNginx([a.address, b.address]);
    try {
      for (let i = 0; i < 6; i++) {
        const r = await fetch(`${nginx.url}/v1/introspect`, { method: 'POST', body: 'token=x', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-status': '503', 'x-status-only': 'a3' } });
        expect(r.status).toBe(200);
        expect(((await r.json()) as { upstream: string }).upstream).toBe('b3');
      }
      expect(a.count('req POST /v1/introspect')).toBeGreaterThanOrEqual(1);
    } finally {
      await nginx.stop();
    }
  });
});
