import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/core/clock.js';
import { TokenctlError } from '../../src/core/errors.js';
import { usageCutoffs } from '../../src/core/usage-records.js';
import type { ServiceStorage, TokenUsageDelta, WebhookEndpointRecord } from '../../src/storage/service-port.js';
import { initServiceAccount } from '../../src/tokens/principals.js';
import { TokenService } from '../../src/tokens/token-service.js';

/**
 * What the service needs of its storage for usage and notifications (issue 21), on SQLite and PostgreSQL alike. A
 * runner's `open()` gives a NEW instance on the same data each time (two instances stand for two replicas, or two
 * processes on one data directory).
 */
export interface UsageStorageHarness {
  open(): Promise<ServiceStorage>;
  cleanup(): Promise<void>;
}

const NOW = '2026-03-01T10:00:00.000Z';

const delta = (tokenId: string, o: Partial<TokenUsageDelta> & { calls?: number; at?: string; principal?: string; address?: string; draining?: number } = {}): TokenUsageDelta => {
  const at = o.at ?? '2026-03-01T10:00:00.000Z';
  const calls = o.calls ?? 1;
  return {
    tokenId,
    lastUsedAt: o.lastUsedAt === undefined ? at : o.lastUsedAt,
    hours: o.hours ?? [{ hour: at.slice(0, 13), calls }],
    callers: o.callers ?? [
      {
        kind: 'introspection',
        principalId: o.principal ?? 'prn_gw',
        principalName: 'edge-gw',
        address: o.address ?? '10.0.4.7',
        firstAt: at,
        lastAt: at,
        calls,
        drainingCalls: o.draining ?? 0,
        drainingLastAt: o.draining ? at : null,
      },
    ],
  };
};

export function describeUsageStorageContract(name: string, makeHarness: () => Promise<UsageStorageHarness>): void {
  describe(`service storage contract (usage, notifications): ${name}`, () => {
    let harness: UsageStorageHarness | undefined;
    afterEach(async () => {
      await harness?.cleanup();
      harness = undefined;
    });

    async function setup() {
      harness = await makeHarness();
      const clock = manualClock(NOW);
      const a = await harness.open();
      const b = await harness.open();
      const { account } = await initServiceAccount(a, { name: 'acme', defaultToken: true }, clock);
      const tokens = new TokenService({ storage: a, accountId: account.id, actor: 'test:admin', clock });
      const [token] = await tokens.list();
      const endpoint = async (id: string, events: string[] = []): Promise<WebhookEndpointRecord> => {
        const e: WebhookEndpointRecord = { id, accountId: account.id, url: `https://hooks.example/${id}`, events, description: '', secret: 'sealed', createdAt: NOW, createdBy: 'test' };
        await a.write(account.id, { actor: 'test', at: NOW }, (tx) => tx.insertWebhookEndpoint(e));
        return e;
      };
      const usage = async (s: ServiceStorage = a) => (await s.usageOf(account.id, [token!.id], usageCutoffs(clock.now()))).get(token!.id)!;
      return { clock, a, b, account, tokens, token: token!, endpoint, usage };
    }

    it('adds up usage written by two replicas: counts add, last-used takes the later, callers merge', async () => {
      const { a, b, token, usage, account } = await setup();
      await a.recordUsage([delta(token.id, { calls: 3, at: '2026-03-01T10:00:05.000Z' })], null);
      await b.recordUsage([delta(token.id, { calls: 2, at: '2026-03-01T10:00:03.000Z' })], null); // older: the time stays
      await b.recordUsage([delta(token.id, { calls: 4, at: '2026-03-01T11:30:00.000Z', address: '10.0.9.1' })], null);
      const u = await usage(b);
      expect(u.lastUsedAt).toBe('2026-03-01T11:30:00.000Z');
      expect([...u.days]).toEqual([{ day: '2026-03-01', calls: 9 }]);
      expect([...u.hours].sort((x, y) => x.hour.localeCompare(y.hour))).toEqual([
        { hour: '2026-03-01T10', calls: 5 },
        { hour: '2026-03-01T11', calls: 4 },
      ]);
      const callers = [...u.callers].sort((x, y) => x.lastSeenAt.localeCompare(y.lastSeenAt));
      expect(callers).toEqual([
        expect.objectContaining({ kind: 'introspection', principalId: 'prn_gw', principalName: 'edge-gw', address: '10.0.4.7', calls: 5, firstSeenAt: '2026-03-01T10:00:03.000Z', lastSeenAt: '2026-03-01T10:00:05.000Z' }),
        expect.objectContaining({ address: '10.0.9.1', calls: 4 }),
      ]);
      // The account's listing has the same, and a retrieval is a caller of its own kind.
      await a.recordUsage([{ tokenId: token.id, lastUsedAt: null, hours: [], callers: [{ kind: 'retrieval', principalId: 'prn_admin', principalName: 'alice', address: '10.0.0.5', firstAt: NOW, lastAt: NOW, calls: 1, drainingCalls: 0, drainingLastAt: null }] }], null);
      const all = await a.usageOf(account.id, null, usageCutoffs(new Date(NOW)));
      expect(all.get(token.id)!.callers.map((c) => c.kind).sort()).toEqual(['introspection', 'introspection', 'retrieval']);
      expect(all.get(token.id)!.lastUsedAt).toBe('2026-03-01T11:30:00.000Z');
    });

    it('notifies a caller first seen presenting a deleted token while it drains once, across replicas, in the batch that records it', async () => {
      const { a, b, token, endpoint, account } = await setup();
      await endpoint('wh_all');
      await endpoint('wh_other', ['token.created']);
      const built: string[] = [];
      const builder = () => (t: { id: string }, accountId: string, c: { address: string }, endpoints: readonly WebhookEndpointRecord[]) => {
        built.push(`${t.id} ${c.address}`);
        return { id: `msg_${built.length}`, accountId, type: 'token.used_while_draining', body: '{}', createdAt: NOW, endpointIds: endpoints.filter((e) => e.events.length === 0).map((e) => e.id), dueAtMs: 0 };
      };
      await a.recordUsage([delta(token.id, { draining: 1 })], builder());
      await b.recordUsage([delta(token.id, { draining: 2 })], builder());
      await b.recordUsage([delta(token.id, { draining: 1, address: '10.0.9.9' })], builder());
      await a.recordUsage([delta(token.id, { calls: 5 })], builder()); // not draining: nothing
      expect(built).toEqual([`${token.id} 10.0.4.7`, `${token.id} 10.0.9.9`]);
      const due = await b.claimDeliveries(Date.parse(NOW), 60_000, 10);
      expect(due.map((d) => [d.messageId, d.endpointId, d.accountId, d.attempt])).toEqual([
        ['msg_1', 'wh_all', account.id, 1],
        ['msg_2', 'wh_all', account.id, 1],
      ]);
      // A builder that fails rolls the whole batch back: no usage without its notification, nor the other way round.
      const before = (await a.usageOf(account.id, [token.id], usageCutoffs(new Date(NOW)))).get(token.id)!;
      const failing = () => {
        throw new TokenctlError('unavailable', 'outbox unavailable');
      };
      await expect(Promise.resolve().then(() => a.recordUsage([delta(token.id, { draining: 1, address: '10.7.7.7', calls: 100 })], failing))).rejects.toThrow(/outbox unavailable/);
      const after = (await a.usageOf(account.id, [token.id], usageCutoffs(new Date(NOW)))).get(token.id)!;
      expect(after.days).toEqual(before.days);
      expect(after.callers.some((c) => c.address === '10.7.7.7')).toBe(false);
    });

    it('writes the outbox in the change\'s transaction: a change that fails leaves no notification', async () => {
      const { a, account, endpoint } = await setup();
      await endpoint('wh_1');
      const entry = { id: 'msg_ok', accountId: account.id, type: 'token.created', body: '{"x":1}', createdAt: NOW, endpointIds: ['wh_1'], dueAtMs: Date.parse(NOW) };
      await expect(
        a.write(account.id, { actor: 'test', at: NOW }, async (tx) => {
          await tx.enqueueNotifications([{ ...entry, id: 'msg_lost' }]);
          throw new TokenctlError('conflict', 'the change failed');
        }),
      ).rejects.toThrow(/the change failed/);
      await a.write(account.id, { actor: 'test', at: NOW }, (tx) => tx.enqueueNotifications([entry, { ...entry, id: 'msg_nowhere', endpointIds: [] }]));
      const claimed = await a.claimDeliveries(Date.parse(NOW), 60_000, 10);
      expect(claimed.map((c) => [c.messageId, c.body, c.url, c.type])).toEqual([['msg_ok', '{"x":1}', 'https://hooks.example/wh_1', 'token.created']]);
    });

    it('each attempt is claimed by one replica only, until its lease ends; the delivery log keeps every attempt', async () => {
      const { a, b, account, endpoint } = await setup();
      await endpoint('wh_1');
      const t0 = Date.parse(NOW);
      const entries = Array.from({ length: 30 }, (_, i) => ({ id: `msg_${String(i).padStart(2, '0')}`, accountId: account.id, type: 'token.created', body: `{"n":${i}}`, createdAt: NOW, endpointIds: ['wh_1'], dueAtMs: t0 }));
      await a.write(account.id, { actor: 'test', at: NOW }, (tx) => tx.enqueueNotifications(entries));
      // Two replicas claim at once, several times: no delivery is claimed twice.
      const claims = (await Promise.all([a.claimDeliveries(t0, 60_000, 7), b.claimDeliveries(t0, 60_000, 7), a.claimDeliveries(t0, 60_000, 7), b.claimDeliveries(t0, 60_000, 7), a.claimDeliveries(t0, 60_000, 7)])).flat();
      expect(claims).toHaveLength(30);
      expect(new Set(claims.map((c) => c.messageId)).size).toBe(30);
      // Leased: nobody gets them again before the lease ends...
      expect(await b.claimDeliveries(t0 + 59_000, 60_000, 50)).toEqual([]);
      const first = claims.find((c) => c.messageId === 'msg_00')!;
      const second = claims.find((c) => c.messageId === 'msg_01')!;
      await a.finishDelivery(first, { at: NOW, ok: true, status: 204, error: null, ms: 12, nextAttemptAtMs: null });
      await a.finishDelivery(second, { at: NOW, ok: false, status: 503, error: 'HTTP 503', ms: 8, nextAttemptAtMs: t0 + 5_000 });
      // ... after it, the ones not finished (a replica died mid-attempt) are claimed again, as their next attempt.
      const again = await b.claimDeliveries(t0 + 61_000, 60_000, 50);
      expect(again.map((c) => c.messageId).sort()).toEqual(entries.map((e) => e.id).filter((id) => id !== 'msg_00').sort());
      expect(again.find((c) => c.messageId === 'msg_02')!.attempt).toBe(2);
      // The first claim's late outcome does not overwrite the new claim's; it is logged all the same.
      const late = claims.find((c) => c.messageId === 'msg_02')!;
      await a.finishDelivery(late, { at: NOW, ok: true, status: 200, error: null, ms: 9000, nextAttemptAtMs: null });
      expect(await a.claimDeliveries(t0 + 100_000, 60_000, 50)).toEqual([]); // all leased by `again` (until t0 + 121 s)
      const newest = again.find((c) => c.messageId === 'msg_02')!;
      await b.finishDelivery(newest, { at: NOW, ok: false, status: null, error: 'connection refused', ms: 1, nextAttemptAtMs: null });
      const log = await a.webhookAttempts(account.id, 'wh_1', 10);
      expect(log.slice(0, 2).map((x) => [x.messageId, x.attempt, x.ok, x.error])).toEqual([
        ['msg_02', 2, false, 'connection refused'],
        ['msg_02', 1, true, null],
      ]);
      expect(log.find((x) => x.messageId === 'msg_01')).toMatchObject({ ok: false, status: 503, nextAttemptAt: new Date(t0 + 5_000).toISOString() });
      const [stats] = await b.webhookDeliveryStats(account.id);
      expect(stats).toMatchObject({ endpointId: 'wh_1', delivered: 1, failed: 1, pending: 28, lastAttempt: expect.objectContaining({ messageId: 'msg_02', attempt: 2 }) });
      // Removing the endpoint takes its deliveries and log with it.
      await a.write(account.id, { actor: 'test', at: NOW }, async (tx) => expect(await tx.deleteWebhookEndpoint('wh_1')).toBe(true));
      expect(await a.webhookAttempts(account.id, 'wh_1', 10)).toEqual([]);
      expect(await b.claimDeliveries(t0 + 10_000_000, 60_000, 50)).toEqual([]);
    });

    it('marks each time-based event once, whichever replica is first, and enqueues it in the same transaction', async () => {
      const { a, b, account, token, endpoint } = await setup();
      await endpoint('wh_1');
      let n = 0;
      const build = (t: { id: string }, accountId: string, notice: string, endpoints: readonly WebhookEndpointRecord[]) => ({
        id: `msg_${notice}_${++n}`,
        accountId,
        type: `token.${notice}`,
        body: JSON.stringify({ token: t.id }),
        createdAt: NOW,
        endpointIds: endpoints.map((e) => e.id),
        dueAtMs: Date.parse(NOW),
      });
      const due = [
        { tokenId: token.id, accountId: account.id, notice: 'stale_soon' as const },
        { tokenId: token.id, accountId: account.id, notice: 'stale' as const },
      ];
      const [x, y] = await Promise.all([a.recordLifecycleNotices(due, build), b.recordLifecycleNotices(due, build)]);
      expect([...x, ...y].map((d) => d.notice).sort()).toEqual(['stale', 'stale_soon']);
      expect(await a.recordLifecycleNotices(due, build)).toEqual([]);
      // Another account's token, named with this account: nothing.
      expect(await a.recordLifecycleNotices([{ tokenId: token.id, accountId: 'acc_other', notice: 'revoked' }], build)).toEqual([]);
      expect((await a.claimDeliveries(Date.parse(NOW), 1_000, 10)).map((c) => c.type).sort()).toEqual(['token.stale', 'token.stale_soon']);
    });

    it('forgets usage beyond its retention, at the service\'s time', async () => {
      const { a, token, usage, clock } = await setup();
      await a.recordUsage([delta(token.id, { calls: 2, at: '2026-01-01T10:00:00.000Z', address: '10.0.1.1' })], null);
      await a.recordUsage([delta(token.id, { calls: 3, at: '2026-03-01T09:00:00.000Z' })], null);
      await a.maintain(clock.now().getTime());
      const u = await usage();
      expect(u.days.map((d) => d.day)).toEqual(['2026-03-01']);
      expect(u.callers.map((c) => c.lastSeenAt)).toEqual(['2026-03-01T09:00:00.000Z']); // the caller last seen in January went
      expect(u.lastUsedAt).toBe('2026-03-01T09:00:00.000Z');
    });
  });
}
