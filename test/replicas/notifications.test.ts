// Usage and notifications across replicas (issue 21), with real `tokenctl serve` processes on one real PostgreSQL: a
// replica killed with kill -9 while it is delivering loses no notification (another one attempts it once the lease
// ends, with the same webhook-id); usage through two replicas adds up, in batches, and through nginx (the shipped
// docs/deploy/nginx.conf) records the client's address, not the proxy's. Every wait is for a state, bounded.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import { afterAll, expect, it } from 'vitest';
import { startNginx } from '../helpers/nginx.js';
import { startReceiver } from '../helpers/receiver.js';
import { api, deployment, describeWith, showOnFailure, until } from '../helpers/replicas.js';

const figures: string[] = [];
afterAll(() => console.log(`notifications.test.ts figures:\n  ${figures.join('\n  ')}`));

/** Whether the process `pid` holds the local TCP port `port` (its socket inodes, against /proc/net/tcp). */
function ownsPort(pid: number, port: number): boolean {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // gone meanwhile
    }
  }
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(`:${hex}`) && inodes.has(f[9] ?? '')) return true;
    }
  }
  return false;
}

describeWith({}, 'notifications from replicas on one PostgreSQL', () => {
  it('a replica killed -9 mid-delivery: every notification still arrives, the same id again, each attempt by one replica', async () => {
    const d = await deployment();
    const receiver = await startReceiver();
    try {
      const admin = await d.initAccount('hooks');
      // Attempts bounded at 3 s (lease 8 s): the killed replica's deliveries are taken over within seconds.
      const env = { TOKENCTL_WEBHOOK_TIMEOUT_MS: '3000' };
      const [A, B] = await Promise.all([d.replica({ name: 'A', args: ['--webhook-allow', 'loopback'], env }), d.replica({ name: 'B', args: ['--webhook-allow', 'loopback'], env })]);
      showOnFailure(A, B);
      const onA = api(A.url, admin);
      const onB = api(B.url, admin);
      const added = await onA.call<{ secret: string; webhook: { id: string } }>('POST', '/v1/webhooks', { url: receiver.url });
      expect(added.status, JSON.stringify(added.body)).toBe(201);
      receiver.useSecret(added.body.secret);
      // Deliveries are held unanswered by the receiver until the replica that sent one is dead.
      receiver.hold(true);
      // Four tokens created and deleted, through both replicas: eight notifications (a type holds two live tokens).
      const names = Array.from({ length: 4 }, (_, i) => `t${i}`);
      for (const [i, name] of names.entries()) {
        expect((await (i % 2 ? onB : onA).create('s2s', name)).status).toBe(201);
        expect((await (i % 2 ? onA : onB).remove(name)).status).toBe(200);
      }
      await until(async () => receiver.held().some((h) => ownsPort(A.child.pid!, h.delivery.remotePort)), 20_000, 'a delivery from A held by the receiver');
      const inFlightOnA = receiver
        .held()
        .filter((h) => ownsPort(A.child.pid!, h.delivery.remotePort))
        .map((h) => h.delivery.id);
      const killedAt = performance.now();
      await A.kill9();
      // Released only once the receiver has seen A's connections close (every delivery still held is B's): released
      // before, a delivery would be answered 200 into a dead connection and counted as acknowledged although A never
      // had the answer.
      await until(async () => receiver.held().every((h) => ownsPort(B.child.pid!, h.delivery.remotePort)), 10_000, "the receiver sees A's connections closed");
      receiver.hold(false);
      // Every notification arrives, acknowledged: the ones A died with too, from B once their lease ended.
      const expected = names.length * 2;
      const took = await until(async () => receiver.acknowledged().size >= expected, 45_000, 'every notification acknowledged');
      const ack = receiver.deliveries.filter((x) => x.answered === 200);
      expect(ack.every((x) => x.verified)).toBe(true);
      const arrived = new Set(ack.map((x) => `${x.payload!.type} ${x.payload!.data.token.name}`));
      expect([...arrived].sort()).toEqual(names.flatMap((n) => [`token.created ${n}`, `token.deleted ${n}`]).sort());
      // The same id always carries the same body; an id came again only when A died with it (one attempt, one replica).
      const bodies = new Map<string, Set<string>>();
      for (const x of receiver.deliveries) (bodies.get(x.id) ?? bodies.set(x.id, new Set()).get(x.id)!).add(x.body);
      expect([...bodies.values()].every((b) => b.size === 1)).toBe(true);
      const repeated = [...bodies.keys()].filter((id) => receiver.deliveries.filter((x) => x.id === id).length > 1);
      expect(inFlightOnA.length).toBeGreaterThan(0);
      expect(repeated.filter((id) => !inFlightOnA.includes(id)), 'an attempt made twice although its replica lived').toEqual([]);
      for (const id of inFlightOnA) expect(receiver.acknowledged().has(id), id).toBe(true);
      // The attempts log: each notification once with an ok attempt. A replica records an attempt once it has the
      // answer, after the receiver counted it: waited for, then checked.
      const okInLog = async () => {
        const log = (await onB.call<{ attempts: { messageId: string; ok: boolean }[] }>('GET', `/v1/webhooks/${added.body.webhook.id}/attempts`)).body.attempts;
        return new Set(log.filter((a) => a.ok).map((a) => a.messageId));
      };
      await until(async () => (await okInLog()).size >= expected, 10_000, 'every acknowledged attempt in the attempts log').catch(() => undefined);
      expect([...(await okInLog())].sort()).toEqual([...receiver.acknowledged()].sort());
      figures.push(
        `kill -9 of A with ${inFlightOnA.length} delivery(ies) in flight: all ${expected} notifications acknowledged ${Math.round(took)} ms after, ` +
          `${((performance.now() - killedAt) / 1000).toFixed(1)} s after the kill; ${repeated.length} delivered again (all of them A's)`,
      );
    } finally {
      receiver.hold(false);
      await receiver.close();
      await d.close();
    }
  });
});

describeWith({ nginx: true }, 'usage through two replicas and nginx', () => {
  it("counts every call once, in batches, and records the client's address, not the proxy's", async () => {
    const d = await deployment();
    try {
      // Statements that write are logged: the batches are counted there.
      const su = d.cluster.connect('postgres', { max: 1 });
      await su.unsafe(`ALTER DATABASE ${d.database} SET log_statement = 'mod'`);
      await su.end({ timeout: 1 });
      const admin = await d.initAccount('use');
      const gw = await d.addPrincipal('use', 'service', 'edge-gw');
      const trust = ['--trust-proxy', '127.0.0.1'];
      const [A, B] = await Promise.all([d.replica({ name: 'A', args: trust }), d.replica({ name: 'B', args: trust })]);
      showOnFailure(A, B);
      const nginx = await startNginx([A.address, B.address]);
      try {
        const value = (await api(A.url, admin).reveal('default')).body.value as string;
        const writes = () =>
          d.cluster
            .log()
            .split(/\n(?=\d{4}-\d\d-\d\d )/)
            .filter((entry) => /\b(statement|execute [^:]*): [\s\S]*INSERT INTO usage_hours/i.test(entry)).length;
        const before = writes();
        // 40 calls from a client at 127.0.0.5 through nginx (its X-Forwarded-For, believed from 127.0.0.1) ...
        const viaNginx = () =>
          new Promise<number>((resolve, reject) => {
            const body = `token=${encodeURIComponent(value)}`;
            const req = http.request(`${nginx.url}/v1/introspect`, {
              method: 'POST',
              localAddress: '127.0.0.5',
              headers: { authorization: `Bearer ${gw}`, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
            });
            req.on('response', (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            });
            req.on('error', reject);
            req.end(body);
          });
        for (let i = 0; i < 40; i++) expect(await viaNginx()).toBe(200);
        // ... and 20 straight to the replicas, half each, from another client behind the trusted proxy.
        for (let i = 0; i < 20; i++) {
          const r = await api(i % 2 ? B.url : A.url, gw, { headers: { 'x-forwarded-for': '198.51.100.7' } }).introspect(value);
          expect(r.body.active).toBe(true);
        }
        const onA = api(A.url, admin);
        const usage = async () => (await onA.call<{ usage: { calls24h: number; callers: { address: string; principalName: string; calls: number }[] } }>('GET', '/v1/tokens/default/usage')).body.usage;
        // Each replica writes its batch every 5 s: everything is in the database (and so on either replica) soon.
        const took = await until(async () => (await usage()).calls24h === 60 && (await api(B.url, admin).call<{ usage: { calls24h: number } }>('GET', '/v1/tokens/default/usage')).body.usage.calls24h === 60, 20_000, 'every call counted');
        const u = await usage();
        const byAddress = Object.fromEntries(u.callers.filter((c) => c.principalName === 'edge-gw').map((c) => [c.address, c.calls]));
        expect(byAddress).toEqual({ '127.0.0.5': 40, '198.51.100.7': 20 });
        expect(nginx.accessLog()).toMatch(/^127\.0\.0\.5 /m);
        const batches = writes() - before;
        expect(batches).toBeGreaterThanOrEqual(2); // both replicas wrote
        expect(batches).toBeLessThanOrEqual(10); // in batches, not per call (60 calls)
        figures.push(`60 introspections (40 through nginx) on two replicas: ${batches} usage write statements; all counted ${Math.round(took)} ms after the last`);
      } finally {
        await nginx.stop();
      }
    } finally {
      await d.close();
    }
  });
});
