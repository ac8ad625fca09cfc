// Signed notifications (issue 21) from the real service on 127.0.0.1 to a real receiver that verifies every delivery with
// the `standardwebhooks` package. The service's clock is the test's (a drill's time: 2026), the signatures' the real
// one; retries are driven by moving the service's clock and running the dispatcher, never by waiting.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { NOTIFY } from '../../../src/core/notifications.js';
import { call, startTestServer, type TestServer } from '../../helpers/server.js';
import { startReceiver, type Receiver } from '../../helpers/receiver.js';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;

let server: TestServer;
let admin: string;
let receiver: Receiver;

beforeEach(async () => {
  server = await startTestServer({ notify: { everyMs: 0, lifecycleEveryMs: 0, allow: ['loopback'], timeoutMs: 1_000 } });
  admin = (await server.initAccount()).credential;
  receiver = await startReceiver();
});
afterEach(async () => {
  await receiver.close();
  await server.close();
});

const api = (method: string, url: string, json?: unknown) => call(server, method, url, { credential: admin, ...(json === undefined ? {} : { json }) });

async function addEndpoint(url = receiver.url, extra: Record<string, unknown> = {}) {
  const r = await api('POST', '/v1/webhooks', { url, ...extra });
  expect(r.status, r.text).toBe(201);
  receiver.useSecret(r.body.secret);
  return r.body as { webhook: { id: string }; secret: string };
}

/** Every notification in the outbox (its ids). */
const notificationIds = async () =>
  ((server.storage as unknown as { db: { prepare(s: string): { all(): { id: string }[] } } }).db.prepare('SELECT id FROM webhook_messages').all()).map((r) => r.id);

/** Runs the time-based events and the deliveries until nothing is due (as the timers would). */
const deliver = () => server.app.notifications.runOnce();

describe('webhook endpoints', () => {
  it('shows the whsec_ secret once, checks the URL at once, and records adding and removing in the audit trail', async () => {
    const added = await addEndpoint(receiver.url, { description: 'on-call pager', events: ['token.deleted', 'token.used_while_draining'] });
    expect(added.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const list = await api('GET', '/v1/webhooks');
    expect(list.status).toBe(200);
    expect(list.body.webhooks).toEqual([
      expect.objectContaining({ id: added.webhook.id, url: receiver.url, events: ['token.deleted', 'token.used_while_draining'], description: 'on-call pager', deliveries: { pending: 0, failed: 0, delivered: 0, lastAttempt: null } }),
    ]);
    expect(list.text).not.toContain(added.secret);
    expect(list.text).not.toContain(added.secret.slice(6, 30));
    // Never in the database in clear either: only sealed.
    const db = (server.storage as unknown as { db: { prepare(s: string): { all(): unknown[] } } }).db;
    expect(JSON.stringify(db.prepare('SELECT * FROM webhook_endpoints').all())).not.toContain(added.secret.slice(6, 30));

    const refused = async (url: string, pattern: RegExp) => {
      const r = await api('POST', '/v1/webhooks', { url });
      expect(r.status, url).toBe(400);
      expect(r.body.error.message, url).toMatch(pattern);
    };
    await refused('http://example.com/hook', /must use https:\/\//);
    await refused('https://user:pw@example.com/hook', /no credentials/);
    await refused('https://10.1.2.3/hook', /10\.1\.2\.3 is a private address; the service's operator has not allowed it/);
    await refused('https://169.254.169.254/latest', /link-local address/);
    await refused('https://192.0.2.10/hook', /reserved address/);
    await refused('ftp://example.com/x', /must start with https:\/\//);
    await refused('not a url', /is not a URL/);
    expect((await api('POST', '/v1/webhooks', { url: receiver.url, events: ['token.exploded'] })).body.error.message).toMatch(/unknown event 'token.exploded'/);
    // A public address is accepted (an address, so no name to resolve here).
    expect((await api('POST', '/v1/webhooks', { url: 'https://93.184.215.14/hooks/tokenctl' })).status).toBe(201);
    for (let i = 2; i < NOTIFY.maxEndpoints; i++) expect((await api('POST', '/v1/webhooks', { url: `${receiver.url}/${i}` })).status).toBe(201);
    const tooMany = await api('POST', '/v1/webhooks', { url: receiver.url });
    expect(tooMany.status).toBe(409);
    expect(tooMany.body.error.message).toMatch(/already has 10 webhook endpoints/);

    const removed = await api('DELETE', `/v1/webhooks/${added.webhook.id}`);
    expect(removed.status).toBe(200);
    expect((await api('DELETE', `/v1/webhooks/${added.webhook.id}`)).status).toBe(404);
    const trail = (await api('GET', '/v1/audit/events')).body.events as { action: string; detail: Record<string, string> }[];
    expect(trail.filter((e) => e.action.startsWith('webhook.')).map((e) => e.action)).toEqual([...Array(10).fill('webhook.add'), 'webhook.remove']);
    expect(trail.find((e) => e.action === 'webhook.remove')!.detail).toEqual({ endpoint: added.webhook.id, url: receiver.url });
    expect((await api('GET', '/v1/audit/verify')).body.ok).toBe(true);
  });
});

describe('notifications, verified by the standardwebhooks package', () => {
  it('every event arrives signed; the payload names tokens, never a value; time-based events follow the service clock', async () => {
    await addEndpoint();
    const service = await server.addPrincipal('acme', 'service', 'edge-gw');
    const created = await api('POST', '/v1/tokens', { type: 's2s', name: 'events' });
    const value = created.body.value as string;
    await deliver();
    // The pending time is over by the service's clock (a drill: 2026, not the real time).
    server.clock.advance(31 * MIN);
    await deliver();
    const rotated = await api('POST', '/v1/rotations', { ref: 'events', newName: 'events-2' });
    await api('POST', `/v1/rotations/${rotated.body.rotation.id}/deliver`, { delivery: 'stdout' });
    server.clock.advance(31 * MIN);
    await deliver();
    expect((await api('POST', `/v1/rotations/${rotated.body.rotation.id}/complete`, { confirmation: 'Delete token' })).status).toBe(200);
    await deliver();
    // The old token still presented during its drain: the drain watch, once per caller.
    for (let i = 0; i < 3; i++) {
      const r = await call(server, 'POST', '/v1/introspect', { credential: service, form: { token: value } });
      expect(r.body).toMatchObject({ active: true, status: 'draining' });
    }
    await server.app.flushUsage();
    await deliver();
    await call(server, 'POST', '/v1/introspect', { credential: service, form: { token: value } });
    await server.app.flushUsage();
    await deliver();
    server.clock.advance(31 * MIN);
    await deliver();
    // 14 days before the 180 of the replacement, then the 180.
    const replacementCreated = Date.parse(rotated.body.replacement.token.createdAt);
    server.clock.set(new Date(replacementCreated + 166 * DAY + MIN));
    await deliver();
    server.clock.set(new Date(replacementCreated + 180 * DAY + MIN));
    await deliver();
    await deliver(); // nothing new: each is sent once

    expect(receiver.deliveries.every((d) => d.verified), JSON.stringify(receiver.deliveries.filter((d) => !d.verified))).toBe(true);
    const seen = receiver.deliveries.map((d) => `${d.payload!.type} ${d.payload!.data.token?.name ?? d.payload!.data.old?.name}`);
    expect(seen).toEqual([
      'token.created events',
      'token.activated events',
      'token.created events-2',
      'token.activated events-2',
      'token.deleted events',
      'rotation.completed events',
      'token.used_while_draining events',
      'token.revoked events',
      // The default token and events-2 (created 31 minutes apart in 2026-03): each turns soon-stale, then stale.
      'token.stale_soon default',
      'token.stale_soon events-2',
      'token.stale default',
      'token.stale events-2',
    ]);
    // Each has its own id; the payload's time is the service's clock, the signature's the real one.
    expect(new Set(receiver.deliveries.map((d) => d.id)).size).toBe(receiver.deliveries.length);
    const activated = receiver.deliveries[1]!.payload!;
    expect(activated.timestamp.slice(0, 4)).toBe('2026');
    expect(Math.abs(Number(receiver.deliveries[1]!.timestamp) * 1000 - Date.now())).toBeLessThan(5 * MIN);
    expect(activated.data).toMatchObject({ account: { id: expect.stringMatching(/^acc_/) }, token: { name: 'events', type: 's2s', status: 'active' } });
    const draining = receiver.deliveries.find((d) => d.payload!.type === 'token.used_while_draining')!.payload!;
    expect(draining.data).toMatchObject({ caller: { principal: { name: 'edge-gw' }, address: '127.0.0.1' }, token: { status: 'draining' } });
    const completed = receiver.deliveries.find((d) => d.payload!.type === 'rotation.completed')!.payload!;
    expect(completed.data).toMatchObject({ rotation: { id: rotated.body.rotation.id }, old: { name: 'events' }, replacement: { name: 'events-2' }, actor: expect.stringMatching(/^admin:admin/) });
    // Never a value, nor its masked form.
    for (const d of receiver.deliveries) {
      expect(d.body).not.toContain(value);
      expect(d.body).not.toContain(rotated.body.replacement.value);
      expect(d.body).not.toMatch(/tctl_s2s_|eyJ|masked/);
    }
  });

  it('a tampered or replayed delivery fails its check', async () => {
    const { secret } = await addEndpoint();
    await api('POST', '/v1/tokens', { type: 's2s', name: 'events' });
    await deliver();
    const d = receiver.deliveries[0]!;
    const headers = { 'webhook-id': d.id, 'webhook-timestamp': d.timestamp, 'webhook-signature': d.signature };
    const wh = new Webhook(secret);
    expect(wh.verify(d.body, headers)).toMatchObject({ type: 'token.created' });
    expect(() => wh.verify(d.body.replace('"events"', '"evil"'), headers)).toThrow(/signature/i);
    expect(() => wh.verify(d.body, { ...headers, 'webhook-id': 'msg_other' })).toThrow(/signature/i);
    expect(() => wh.verify(d.body, { ...headers, 'webhook-timestamp': String(Number(d.timestamp) + 1) })).toThrow(/signature/i);
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`).verify(d.body, headers)).toThrow(/signature/i);
    // The same delivery sent again ten minutes later (a replay): its timestamp is too old.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 10 * MIN);
      expect(() => wh.verify(d.body, headers)).toThrow(/timestamp too old/i);
    } finally {
      vi.useRealTimers();
    }
  });

  it('the receiver down for a while, then back: every event arrives, none is lost, duplicates carry the same id', async () => {
    const { webhook } = await addEndpoint();
    // Down as a receiver that answers with errors...
    receiver.answer(503);
    for (const name of ['a', 'b']) await api('POST', '/v1/tokens', { type: 's2s', name });
    await deliver();
    // ... then not listening at all.
    await receiver.down();
    await api('POST', '/v1/tokens', { type: 'api', name: 'c' });
    await api('DELETE', '/v1/tokens/a', { confirmation: 'Delete token' });
    await deliver();
    for (const delay of NOTIFY.retryDelaysMs.slice(0, 3)) {
      server.clock.advance(delay);
      await deliver();
    }
    let log = (await api('GET', `/v1/webhooks/${webhook.id}/attempts`)).body.attempts as { ok: boolean; error: string | null; status: number | null; nextAttemptAt: string | null }[];
    expect(log.some((a) => a.status === 503)).toBe(true);
    expect(log.some((a) => a.error === 'connection refused')).toBe(true);
    expect(log.every((a) => !a.ok && a.nextAttemptAt !== null)).toBe(true);
    expect(receiver.acknowledged().size).toBe(0);
    // Back, answering: the next attempts deliver everything.
    receiver.answer(204);
    await receiver.up();
    server.clock.advance(NOTIFY.retryDelaysMs[3]!);
    await deliver();
    const types = new Map<string, Set<string>>();
    for (const d of receiver.deliveries) (types.get(d.id) ?? types.set(d.id, new Set()).get(d.id)!).add(d.body);
    // Every notification sent meanwhile (three created, one deleted, and those the hours passing brought: activated,
    // revoked) acknowledged; each id with one body however often it came.
    const all = await notificationIds();
    expect(all.length).toBeGreaterThanOrEqual(4);
    expect([...receiver.acknowledged()].sort()).toEqual(all.sort());
    const kinds = receiver.deliveries.filter((d) => d.answered === 204).map((d) => d.payload!.type);
    expect(kinds.filter((k) => k === 'token.created')).toHaveLength(3);
    expect(kinds.filter((k) => k === 'token.deleted')).toHaveLength(1);
    expect([...types.values()].every((bodies) => bodies.size === 1)).toBe(true);
    expect(receiver.deliveries.filter((d) => d.answered === 503).every((d) => receiver.acknowledged().has(d.id))).toBe(true);
    expect(receiver.deliveries.every((d) => d.verified)).toBe(true);
    const stats = (await api('GET', '/v1/webhooks')).body.webhooks[0].deliveries;
    expect(stats).toMatchObject({ pending: 0, failed: 0, delivered: all.length, lastAttempt: { ok: true, status: 204 } });
    log = (await api('GET', `/v1/webhooks/${webhook.id}/attempts`)).body.attempts;
    expect(log[0]).toMatchObject({ ok: true, status: 204, error: null, nextAttemptAt: null });
  });

  it('retries for a day, then gives up and says so in the delivery log', async () => {
    const { webhook } = await addEndpoint(receiver.url, { events: ['token.created'] });
    receiver.answer(500);
    await api('POST', '/v1/tokens', { type: 's2s', name: 'a' });
    await deliver();
    for (const delay of NOTIFY.retryDelaysMs) {
      server.clock.advance(delay);
      await deliver();
    }
    const total = NOTIFY.retryDelaysMs.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(DAY);
    expect(receiver.deliveries).toHaveLength(NOTIFY.retryDelaysMs.length + 1);
    expect(new Set(receiver.deliveries.map((d) => d.id)).size).toBe(1);
    server.clock.advance(DAY);
    await deliver();
    expect(receiver.deliveries).toHaveLength(NOTIFY.retryDelaysMs.length + 1);
    const log = (await api('GET', `/v1/webhooks/${webhook.id}/attempts`)).body.attempts;
    expect(log[0]).toMatchObject({ attempt: NOTIFY.retryDelaysMs.length + 1, ok: false, status: 500, nextAttemptAt: null });
    expect((await api('GET', '/v1/webhooks')).body.webhooks[0].deliveries).toMatchObject({ pending: 0, failed: 1 });
  });

  it('follows no redirect, bounds the time of an attempt, and is written with the change or not at all', async () => {
    const elsewhere = await startReceiver();
    try {
      const { webhook } = await addEndpoint();
      receiver.answer(302);
      await api('POST', '/v1/tokens', { type: 's2s', name: 'a' });
      await deliver();
      expect(elsewhere.deliveries).toHaveLength(0);
      expect((await api('GET', `/v1/webhooks/${webhook.id}/attempts`)).body.attempts[0].error).toMatch(/redirect \(HTTP 302\) not followed/);
      // A receiver that never answers: the attempt gives up after its bound (1 s here), and is retried later.
      receiver.answer(200);
      receiver.hold(true);
      server.clock.advance(NOTIFY.retryDelaysMs[0]!);
      const t0 = performance.now();
      await deliver();
      expect(performance.now() - t0).toBeLessThan(5_000);
      expect((await api('GET', `/v1/webhooks/${webhook.id}/attempts`)).body.attempts[0].error).toBe('no answer within 1 s');
      receiver.hold(false);
      // A change that fails (a taken name) enqueues nothing; a test notification goes to that endpoint only.
      expect((await api('POST', '/v1/tokens', { type: 's2s', name: 'A' })).status).toBe(409);
      const before = receiver.deliveries.length;
      const test = await api('POST', `/v1/webhooks/${webhook.id}/test`);
      expect(test.status).toBe(202);
      server.clock.advance(NOTIFY.retryDelaysMs[1]!);
      await deliver();
      const after = receiver.deliveries.slice(before).map((d) => d.payload!.type);
      expect(after.sort()).toEqual(['token.created', 'webhook.test']);
      expect(receiver.deliveries.at(-1)!.verified).toBe(true);
    } finally {
      await elsewhere.close();
    }
  });

  it('only the events an endpoint subscribed to, and only to endpoints that existed when they happened', async () => {
    await api('POST', '/v1/tokens', { type: 's2s', name: 'before' });
    await addEndpoint(receiver.url, { events: ['token.deleted'] });
    await api('POST', '/v1/tokens', { type: 's2s', name: 'after' });
    await api('DELETE', '/v1/tokens/before', { confirmation: 'Delete token' });
    await deliver();
    expect(receiver.deliveries.map((d) => `${d.payload!.type} ${d.payload!.data.token.name}`)).toEqual(['token.deleted before']);
  });
});
