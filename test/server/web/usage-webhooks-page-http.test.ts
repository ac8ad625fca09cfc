// The Tokens page's part of issue 21 over plain HTTP (no browser, no JavaScript): usage where the decision is made
// (the delete page's one fact, from calls made through the real introspection door by a resource server's
// credential), the drain watch on the list, a token's usage page, a page Copy recorded as a retrieval (seen by the
// API too), and the Webhooks pages (add with the secret once, refusals at their field, test to a real receiver that
// verifies with the `standardwebhooks` package, the delivery log, remove), with the page's CSRF checks.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { escapeHtml } from '../../../src/server/web/html.js';
import { call, startTestServer, type TestServer } from '../../helpers/server.js';
import { startReceiver, type Receiver } from '../../helpers/receiver.js';
import { PageClient, signedIn, tokenIdIn } from './helpers.js';

const MIN = 60_000;

/** The text of the element with this id in the HTML (its markup removed, entities of quotes decoded). */
function textOf(html: string, id: string): string | null {
  const m = new RegExp(`<(\\w+)[^>]*\\bid="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(html);
  return m ? m[2]!.replace(/<[^>]+>/g, '').replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&').trim() : null;
}

describe('usage on the Tokens page, recorded at the real introspection door', () => {
  let server: TestServer;
  let admin: string;
  let gateway: string;
  let client: PageClient;
  let value: string;
  let id: string;

  beforeAll(async () => {
    server = await startTestServer();
    admin = (await server.initAccount()).credential;
    gateway = await server.addPrincipal('acme', 'service', 'edge-gw');
    const created = await call(server, 'POST', '/v1/tokens', { credential: admin, json: { type: 's2s', name: 'events' } });
    value = created.body.value;
    id = created.body.token.id;
    server.clock.advance(31 * MIN);
    client = await signedIn(server, admin);
  });
  afterAll(async () => server?.close());

  const introspect = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const r = await call(server, 'POST', '/v1/introspect', { credential: gateway, form: { token: value } });
      expect(r.body.active).toBe(true);
    }
  };

  it('the delete page says "Never used" before any call, then who used it, from where, how often', async () => {
    const defaultId = tokenIdIn((await client.get('/')).text, 'default');
    expect(textOf((await client.get(`/?delete=${id}`)).text, 'delete-usage')).toBe('Never used.');
    await introspect(3);
    server.clock.advance(2 * MIN);
    const del = await client.get(`/?delete=${id}`);
    expect(textOf(del.text, 'delete-usage')).toBe('Last used 2 minutes ago by edge-gw from 127.0.0.1; 3 calls in the last 24 hours.');
    // The phrase field is described by it: read out before the phrase is typed.
    expect(del.text).toContain('aria-describedby="delete-usage delete-error"');
    // The row's Delete button carries the same fact for the script's dialog; the other token was never used.
    const list = (await client.get('/')).text;
    expect(list).toContain('data-slot-usage="Last used 2 minutes ago by edge-gw from 127.0.0.1; 3 calls in the last 24 hours."');
    expect(textOf((await client.get(`/?delete=${defaultId}`)).text, 'delete-usage')).toBe('Never used.');
    // The last-used cell links to the token's usage.
    expect(list).toContain(`<a href="/tokens/${id}/usage" title="2026-03-01 10:31 UTC">2 min ago<span class="vh">: usage of events</span></a>`);
  });

  it('a Copy on the page is a retrieval, recorded as the API records a reveal: in the usage page and GET /v1/tokens/{ref}/usage', async () => {
    const before = await call(server, 'GET', `/v1/tokens/${id}/usage`, { credential: admin });
    expect(before.body.usage.callers.filter((c: { kind: string }) => c.kind === 'retrieval')).toEqual([]);
    const copied = await client.post(`/tokens/${id}/copy`, {}, { json: true });
    expect(copied.status).toBe(200);
    expect(JSON.parse(copied.text).value).toBe(value);
    const api = await call(server, 'GET', `/v1/tokens/${id}/usage`, { credential: admin });
    const retrievals = api.body.usage.callers.filter((c: { kind: string }) => c.kind === 'retrieval');
    expect(retrievals).toEqual([expect.objectContaining({ kind: 'retrieval', principalName: 'admin', address: '127.0.0.1', calls: 1 })]);
    // A retrieval is not a use: the last use stays the gateway's.
    expect(api.body.usage.lastUsedAt).toBe('2026-03-01T10:31:00.000Z');
    // Once through the API as well: both doors record the same way, into the same caller.
    await call(server, 'POST', `/v1/tokens/${id}/reveal`, { credential: admin, json: {} });
    await server.app.flushUsage();
    const again = await call(server, 'GET', `/v1/tokens/${id}/usage`, { credential: admin });
    expect(again.body.usage.callers.filter((c: { kind: string }) => c.kind === 'retrieval')).toEqual([expect.objectContaining({ principalName: 'admin', address: '127.0.0.1', calls: 2 })]);
    const usage = await client.get(`/tokens/${id}/usage`);
    expect(textOf(usage.text, 'retrieval-line')).toBe('Retrieved 2 times, last less than a minute ago by admin from 127.0.0.1.');
    expect(textOf((await client.get(`/?delete=${id}`)).text, 'delete-usage')).toBe(
      'Last used 2 minutes ago by edge-gw from 127.0.0.1; 3 calls in the last 24 hours. Retrieved 2 times, last less than a minute ago by admin from 127.0.0.1.',
    );
    // The value itself is never in a page.
    expect(usage.text).not.toContain(value);
  });

  it("the usage page: callers, 30 days of calls as bars with their table, the retrievals; only for the account's admins", async () => {
    const r = await client.get(`/tokens/${id}/usage`);
    expect(r.status).toBe(200);
    expect(r.text).toContain('<h1>Usage of <span class="name-wrap">events</span></h1>');
    expect(textOf(r.text, 'usage-line')).toBe('Last used 2 minutes ago by edge-gw from 127.0.0.1; 3 calls in the last 24 hours.');
    const callers = /<table class="cards" id="callers">[\s\S]*?<\/table>/.exec(r.text)![0];
    expect(callers).toContain('<th scope="row" data-label="Resource server">edge-gw</th><td data-label="Address"><code>127.0.0.1</code></td><td data-label="Calls" class="num">3</td>');
    expect(callers).toContain('2026-03-01 10:31 UTC');
    expect(textOf(r.text, 'days-sum')).toBe('Calls per day, 2026-01-31 to 2026-03-01 (UTC): 3 in all, at most 3 (2026-03-01).');
    const svg = /<svg class="chart"[\s\S]*?<\/svg>/.exec(r.text)![0];
    expect(svg).toContain('role="img" aria-labelledby="days-sum"');
    expect(svg.match(/<rect /g)).toHaveLength(30);
    expect(svg.match(/class="bar"/g)).toHaveLength(1);
    expect(svg).toContain('<title>2026-03-01: 3 calls</title>');
    expect(r.text).toContain('<tr><td>2026-03-01</td><td class="num">3</td></tr>');
    // No inline style anywhere (the page's CSP allows none): the bars are coloured by the second stylesheet.
    expect(r.text).not.toMatch(/<style|\sstyle=/);
    expect(r.text).toMatch(/<link rel="stylesheet" href="\/assets\/tokens-more-[0-9a-f]{12}\.css">/);
    // Unknown, or not a token id: a page that says so; without a session: to sign-in.
    expect((await client.get('/tokens/tok_doesnotexist/usage')).status).toBe(404);
    expect((await new PageClient(server.url).get(`/tokens/${id}/usage`)).status).toBe(303);
    // Another account's admin: no such token there.
    const { credential: otherAdmin } = await server.initAccount({ name: 'globex' });
    const other = await signedIn(server, otherAdmin);
    const elsewhere = await other.get(`/tokens/${id}/usage`);
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.text).not.toContain('edge-gw');
  });

  it('the drain watch: a deleted token still presented while it drains is marked on its row and said once in Needs attention', async () => {
    const deleted = await client.post(`/tokens/${id}/delete`, { confirmation: 'Delete token' });
    expect(deleted.status).toBe(200);
    expect(deleted.text).not.toContain('id="watch-');
    server.clock.advance(MIN);
    await introspect(2);
    const shown = await client.get('/?deleted=1');
    const line = 'Still presented while draining: 2 calls, last less than a minute ago by edge-gw from 127.0.0.1; calls are rejected from 2026-03-01 11:03 UTC';
    expect(shown.text).toContain(
      `<a class="badge watch" id="watch-${id}" href="/tokens/${id}/usage" title="${line}"><span aria-hidden="true">Still presented</span><span class="vh">events: ${line}</span></a>`,
    );
    expect(shown.text.match(/Still presented while draining: 2 calls/g)).toHaveLength(3); // its title, its name, Needs attention
    expect(textOf(shown.text, 'advice-h')).toBe('Needs attention');
    expect(shown.text).toContain(`<li class="watch"><strong class="name-wrap">events</strong> (deleted): ${escapeHtml(line)}. <a href="/tokens/${id}/usage">`);
    // Without Show deleted: no row, the advice all the same.
    const list = await client.get('/');
    expect(list.text).not.toContain('id="watch-');
    expect(list.text.match(/Still presented while draining/g)).toHaveLength(1);
    // The usage page of the deleted token says it too.
    expect(textOf((await client.get(`/tokens/${id}/usage`)).text, 'drain-watch')).toBe(`${line}.`);
    // Once the drain is over, calls are rejected (and not counted): the watch ends.
    server.clock.advance(31 * MIN);
    const after = await client.get('/?deleted=1');
    expect(after.text).not.toContain('Still presented');
  });
});

describe('the Webhooks pages without JavaScript', () => {
  let server: TestServer;
  let client: PageClient;
  let receiver: Receiver;
  let admin: string;

  beforeEach(async () => {
    // Loopback allowed, as the operator's `--webhook-allow loopback` would (the receiver is on 127.0.0.1).
    server = await startTestServer({ notify: { everyMs: 0, lifecycleEveryMs: 0, allow: ['loopback'], timeoutMs: 2_000 } });
    admin = (await server.initAccount()).credential;
    client = await signedIn(server, admin);
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await receiver.close();
    await server.close();
  });

  it('adds an endpoint (the secret once, in the answer), tests it against a real receiver, shows the log, removes it', async () => {
    const empty = await client.get('/webhooks');
    expect(empty.status).toBe(200);
    expect(empty.text).toContain('<a href="/webhooks" aria-current="page">Webhooks</a>');
    expect(empty.text).toContain('No endpoints yet');
    for (const type of ['token.created', 'token.used_while_draining', 'rotation.completed']) expect(empty.text).toContain(`name="events" value="${type}"`);

    const added = await client.post('/webhooks', { url: receiver.url, events: 'token.deleted', description: 'on-call pager' });
    expect(added.status).toBe(201);
    const secret = textOf(added.text, 'secret-value')!;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(added.text).not.toMatch(/<section id="secret"[^>]*hidden/);
    receiver.useSecret(secret);
    // Never again: not in the list, not in the log.
    const list = await client.get('/webhooks');
    expect(list.text).not.toContain(secret.slice(6, 30));
    expect(list.text).toMatch(/<section id="secret"[^>]*hidden/);
    const endpoint = /<tr id="row-(wh_[0-9A-Za-z]+)">/.exec(list.text)![1]!;
    expect(list.text).toContain(`<code class="url">${receiver.url}</code><span class="desc">on-call pager</span>`);
    expect(list.text).toContain('<td data-label="Events">token.deleted</td>');
    expect(list.text).toContain('Nothing sent yet.');

    // Send test: the service delivers at once; the log page shows that attempt.
    const tested = await client.post(`/webhooks/${endpoint}/test`, {}, { follow: false });
    expect(tested.status).toBe(303);
    const location = tested.headers.get('location')!;
    expect(location).toMatch(new RegExp(`^/webhooks/${endpoint}\\?tested=msg_[0-9A-Za-z]+$`));
    const delivered = receiver.deliveries.filter((d) => d.payload?.type === 'webhook.test');
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.verified).toBe(true);
    const log = await client.get(location);
    expect(textOf(log.text, 'log-notice')).toMatch(/^Test notification msg_[0-9A-Za-z]+ \(webhook\.test\): delivered \(HTTP 200\) in \d+ ms\.$/);
    expect(log.text).toContain(`<code>${delivered[0]!.id}</code>`);
    expect(log.text).toMatch(/<tr class="ok"><td data-label="Time">2026-03-01 10:00 UTC<\/td><td data-label="Event"><code>webhook\.test<\/code><\/td><td data-label="Attempt" class="num">1<\/td><td data-label="Result" class="result">delivered \(HTTP 200\) in \d+ ms<\/td>/);
    expect(textOf(log.text, 'delivery-state')).toBe('Delivered (HTTP 200) less than a minute ago.');
    expect(log.text).not.toContain(secret.slice(6, 30));

    // Remove: its confirmation as a page, Cancel keeps it, Remove removes it.
    const confirm = await client.get(`/webhooks?remove=${endpoint}`);
    expect(confirm.text).toMatch(/<dialog id="remove-dialog" class="small-dialog" aria-labelledby="remove-h" open data-return-to="remove-wh_/);
    expect(confirm.text).toContain(`action="/webhooks/${endpoint}/remove"`);
    const cancelled = await client.post(`/webhooks/${endpoint}/remove`, { cancel: '1' }, { follow: false });
    expect(cancelled.headers.get('location')).toBe('/webhooks');
    expect((await call(server, 'GET', '/v1/webhooks', { credential: admin })).body.webhooks.map((w: { id: string }) => w.id)).toEqual([endpoint]);
    const removed = await client.post(`/webhooks/${endpoint}/remove`, {});
    expect(removed.status).toBe(200);
    expect(textOf(removed.text, 'list-notice')).toBe(`Removed endpoint ${endpoint}: notifications no longer go to it.`);
    expect(removed.text).toContain('No endpoints yet');
    // Gone: its log is a 404 page, a second removal is refused on the page, in its words.
    expect((await client.get(`/webhooks/${endpoint}`)).status).toBe(404);
    const again = await client.post(`/webhooks/${endpoint}/remove`, {});
    expect(again.status).toBe(404);
    expect(textOf(again.text, 'list-error')).toBe(`No webhook endpoint '${endpoint}' in this account.`);
  });

  it('refuses at the field that caused it, with what was typed kept, in the browser\'s words', async () => {
    const privateUrl = await client.post('/webhooks', { url: 'https://10.1.2.3/hook', events: 'token.deleted', description: 'lab' });
    expect(privateUrl.status).toBe(400);
    expect(textOf(privateUrl.text, 'wh-url-error')).toMatch(/^Cannot send notifications to 10\.1\.2\.3: 10\.1\.2\.3 is a private address; the service's operator has not allowed it/);
    expect(privateUrl.text).not.toMatch(/tokenctl /);
    expect(privateUrl.text).toContain('value="https://10.1.2.3/hook" aria-describedby="wh-url-error wh-url-help" aria-invalid="true"');
    expect(privateUrl.text).toContain('name="events" value="token.deleted" checked');
    expect(privateUrl.text).toContain('value="lab"');
    const http = await client.post('/webhooks', { url: 'http://example.com/hook' });
    expect(textOf(http.text, 'wh-url-error')).toBe('A webhook URL must use https:// (plain http:// only to this machine, for testing): notifications cross the network.');
    // A forged event (the page offers only real ones): at the events.
    const forged = await client.post('/webhooks', { url: receiver.url, events: 'token.exploded' });
    expect(forged.status).toBe(400);
    expect(textOf(forged.text, 'wh-events-error')).toMatch(/^Unknown event 'token.exploded'/);
    const long = await client.post('/webhooks', { url: receiver.url, description: 'x'.repeat(201) });
    expect(textOf(long.text, 'wh-description-error')).toBe('A webhook description is at most 200 characters.');
    // Nothing was added by any of them.
    expect((await client.get('/webhooks')).text).toContain('No endpoints yet');
  });

  it('answers the script with JSON: the secret there only, the list as HTML to swap in; a refusal names its field', async () => {
    const added = await client.post('/webhooks', { url: receiver.url }, { json: true });
    expect(added.status).toBe(201);
    const body = JSON.parse(added.text);
    expect(body.secret).toMatch(/^whsec_/);
    expect(body.webhook.events).toEqual([]);
    expect(body.html.region).toContain('<td data-label="Events">All events</td>');
    expect(body.html.region).not.toContain(body.secret);
    const refused = await client.post('/webhooks', { url: 'https://169.254.169.254/latest' }, { json: true });
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.text).error).toMatchObject({ field: 'url', message: expect.stringMatching(/link-local address/) });
  });

  it('changes nothing without the CSRF token or from another origin, and is for signed-in admins only', async () => {
    expect((await client.post('/webhooks', { url: receiver.url }, { csrf: null })).status).toBe(403);
    expect((await client.post('/webhooks', { url: receiver.url }, { origin: 'https://evil.example' })).status).toBe(403);
    const anonymous = new PageClient(server.url);
    expect((await anonymous.get('/webhooks')).status).toBe(303);
    expect((await anonymous.post('/webhooks', { url: receiver.url }, { csrf: 'x' })).status).toBe(401);
    expect((await client.get('/webhooks')).text).toContain('No endpoints yet');
  });
});
