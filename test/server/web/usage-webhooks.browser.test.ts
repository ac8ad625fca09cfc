// The Tokens page's part of issue 21 in a real browser (Debian's Chromium through playwright-core), against the
// service on 127.0.0.1 port 0 with a clock the test moves: the delete dialog's one fact from calls made through the
// real introspection door, a Copy recorded as a retrieval, a token's usage page (callers, calls per day), the drain
// watch on a deleted token's row, and the Webhooks pages (add with the secret once, a refusal at its field, a test
// delivered to a real receiver that verifies it with the `standardwebhooks` package, the delivery log, remove). At
// 1280x800 and 390x844, in the light and dark schemes: nothing wider than the viewport or its container, axe-core
// finding no violation, no CSP violation, and screenshots (layout.ts SHOTS_DIR) for a person to look at.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { call, startTestServer, type TestServer } from '../../helpers/server.js';
import { startReceiver, type Receiver } from '../../helpers/receiver.js';
import { describeInBrowser, clipboardText, closeDialog, expectAccessible, launchBrowser, openPage, type Watched } from './browser.js';
import { box, overflowReport, rowLines, shoot } from './layout.js';

const MIN = 60_000;

describeInBrowser('usage and webhooks on the Tokens page', () => {
  let browser: Browser;
  let server: TestServer;
  let receiver: Receiver;
  let admin: string;
  let gateway: string;
  /** The value of `events`, presented by the gateway. */
  let value: string;
  let eventsId: string;

  beforeAll(async () => {
    browser = await launchBrowser();
    // Loopback allowed for notifications (the receiver is on 127.0.0.1), as `serve --webhook-allow loopback` does.
    server = await startTestServer({ notify: { everyMs: 0, lifecycleEveryMs: 0, allow: ['loopback'], timeoutMs: 2_000 } });
    admin = (await server.initAccount()).credential;
    gateway = await server.addPrincipal('acme', 'service', 'edge-gw');
    receiver = await startReceiver();
    const created = await call(server, 'POST', '/v1/tokens', { credential: admin, json: { type: 's2s', name: 'events' } });
    value = created.body.value;
    eventsId = created.body.token.id;
    server.clock.advance(31 * MIN);
  });
  afterAll(async () => {
    await browser?.close();
    await receiver?.close();
    await server?.close();
  });

  /** Calls through the real introspection door, as a resource server makes them. */
  const introspect = async (n: number) => {
    for (let i = 0; i < n; i++) expect((await call(server, 'POST', '/v1/introspect', { credential: gateway, form: { token: value } })).body.active).toBe(true);
  };

  const signIn = async (page: Page) => {
    await page.goto(server.url);
    await page.getByLabel('Admin credential').fill(admin);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Your tokens' }).waitFor();
  };

  /** Nothing sticks out, no axe violation, a screenshot (a dialog as seen in the viewport, a page whole). */
  const check = async (page: Page, label: string, o: { oneLine?: boolean; dialog?: boolean } = {}) => {
    await shoot(page, label, !o.dialog);
    const report = await overflowReport(page);
    expect(report.overflowing, label).toEqual([]);
    expect(report.pageWidth, label).toBeLessThanOrEqual(report.viewport);
    for (const t of report.truncated) expect(t, label).toMatch(/^span\.name /);
    if (o.oneLine) for (const r of await rowLines(page)) expect(r.lines, `${label}: ${r.name}`).toBe(1);
    await expectAccessible(page, label);
  };

  const row = (page: Page, name: string) => page.locator('table.tokens tbody tr').filter({ has: page.locator('th .name').getByText(name, { exact: true }) });

  it('at 1280x800: the delete dialog says who uses the token, Copy is a retrieval, the usage page, the drain watch', async () => {
    const w: Watched = await openPage(browser, server.url, { width: 1280, height: 800 });
    const { page } = w;
    try {
      await signIn(page);
      // Never used: the dialog says so before the phrase is typed.
      await page.getByRole('button', { name: 'Delete events' }).click();
      let dialog = page.getByRole('dialog', { name: 'Delete events?' });
      await dialog.waitFor();
      expect(await dialog.locator('#delete-usage').textContent()).toBe('Never used.');
      await closeDialog(page);

      // Calls through the introspection door; two minutes later the dialog says by whom, from where, how many.
      await introspect(3);
      server.clock.advance(2 * MIN);
      await page.reload();
      await page.getByRole('button', { name: 'Delete events' }).click();
      dialog = page.getByRole('dialog', { name: 'Delete events?' });
      await dialog.waitFor();
      expect(await dialog.locator('#delete-usage').textContent()).toBe('Last used 2 minutes ago by edge-gw from 127.0.0.1; 3 calls in the last 24 hours.');
      // The phrase field is described by it (read out when the field is focused).
      expect(await dialog.getByLabel('Type "Delete token" to confirm').getAttribute('aria-describedby')).toBe('delete-usage delete-error');
      await check(page, '1280-21-delete-used', { dialog: true });
      await closeDialog(page);
      await page.getByRole('button', { name: 'Delete default' }).click();
      expect(await page.getByRole('dialog', { name: 'Delete default?' }).locator('#delete-usage').textContent()).toBe('Never used.');
      await closeDialog(page);

      // Copy: the clipboard holds the value, and the service recorded a retrieval (seen by the API as well).
      await row(page, 'events').getByRole('button', { name: 'Copy events' }).click();
      await expect.poll(() => page.locator(`#feedback-${eventsId}`).textContent()).toBe('Copied events');
      expect(await clipboardText(page)).toBe(value);
      const api = await call(server, 'GET', `/v1/tokens/${eventsId}/usage`, { credential: admin });
      expect(api.body.usage.callers.filter((c: { kind: string }) => c.kind === 'retrieval')).toEqual([
        expect.objectContaining({ principalName: 'admin', address: '127.0.0.1', calls: 1 }),
      ]);

      // The usage page, from the row's last-used cell.
      const usageLink = row(page, 'events').getByRole('link', { name: /^2 min ago\W+usage of events$/ });
      expect(await usageLink.getAttribute('title')).toBe('2026-03-01 10:31 UTC');
      await usageLink.click();
      await page.getByRole('heading', { name: 'Usage of events' }).waitFor();
      expect(await page.locator('#usage-line').textContent()).toBe('Last used 2 minutes ago by edge-gw from 127.0.0.1; 3 calls in the last 24 hours.');
      const callers = page.getByRole('table', { name: 'Resource servers that presented it, most recently seen first' });
      expect(await callers.locator('tbody tr').count()).toBe(1);
      expect((await callers.locator('tbody tr').textContent())!.replace(/\s+/g, ' ')).toBe('edge-gw127.0.0.132026-03-01 10:31 UTC');
      // Calls per day: an image named by the sentence, 30 bars, the last one drawn; the same numbers as a table.
      const chart = page.getByRole('img', { name: 'Calls per day, 2026-01-31 to 2026-03-01 (UTC): 3 in all, at most 3 (2026-03-01).' });
      expect(await chart.locator('rect').count()).toBe(30);
      const bars = await chart.locator('rect').evaluateAll((rects) => rects.map((r) => ({ h: (r as SVGRectElement).getBoundingClientRect().height, fill: getComputedStyle(r).fill })));
      expect(bars.at(-1)!.h).toBeGreaterThan(bars[0]!.h * 10);
      expect(bars.at(-1)!.fill).not.toBe(bars[0]!.fill);
      await page.getByText('Calls per day as a table').click();
      expect(await page.getByRole('table', { name: 'Calls per day (UTC), oldest first' }).locator('tbody tr').last().textContent()).toBe('2026-03-013');
      expect(await page.locator('#retrieval-line').textContent()).toBe('Retrieved once, last less than a minute ago by admin from 127.0.0.1.');
      expect(await page.content()).not.toMatch(/tokenctl (get|usage|delete|rotate)/);
      await check(page, '1280-22-usage');

      // The drain watch: deleted from the dialog, then presented again during its drain.
      await page.goto(server.url);
      await page.getByRole('button', { name: 'Delete events' }).click();
      await page.getByLabel('Type "Delete token" to confirm').fill('Delete token');
      await page.getByRole('button', { name: 'Delete token' }).click();
      await page.getByText(/^Deleted events\./).waitFor();
      server.clock.advance(MIN);
      await introspect(2);
      await page.getByRole('switch', { name: 'Show deleted' }).check();
      await expect.poll(() => page.url()).toContain('deleted=1');
      const line = 'Still presented while draining: 2 calls, last less than a minute ago by edge-gw from 127.0.0.1; calls are rejected from 2026-03-01 11:03 UTC';
      await expect.poll(() => row(page, 'events').getByRole('link', { name: `events: ${line}` }).isVisible()).toBe(true);
      // What the eye sees on the row: the mark; the sentence is its tooltip and its accessible name.
      expect(await row(page, 'events').locator('.badge.watch [aria-hidden="true"]').textContent()).toBe('Still presented');
      expect(await row(page, 'events').locator('.badge.watch .vh').textContent()).toBe(`events: ${line}`);
      expect(await row(page, 'events').locator('.badge.watch').getAttribute('title')).toBe(line);
      const advice = page.locator('.advice');
      expect(await advice.getByText(line, { exact: false }).count()).toBe(1);
      await check(page, '1280-23-drain-watch', { oneLine: true });
      await row(page, 'events').getByRole('link', { name: `events: ${line}` }).click();
      await page.getByRole('heading', { name: 'Usage of events' }).waitFor();
      expect(await page.locator('#drain-watch').textContent()).toBe(`${line}.`);
      await check(page, '1280-24-usage-draining');

      expect(w.cspViolations).toEqual([]);
      expect(w.errors).toEqual([]);
    } finally {
      await w.context.close();
    }
  });

  it('at 1280x800: webhooks added (the secret once, copied), refused at the field, tested against a real receiver, logged, removed', async () => {
    const w: Watched = await openPage(browser, server.url, { width: 1280, height: 800 });
    const { page } = w;
    try {
      await signIn(page);
      await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Webhooks' }).click();
      await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
      // The URL field is as wide as the form (a field for a whole URL), like the others.
      expect((await box(page, '#wh-url'))!.width).toBe((await box(page, '#wh-description'))!.width);
      expect(await page.content()).not.toMatch(/tokenctl webhooks/);
      await check(page, '1280-25-webhooks-empty');

      // A refusal at its field, what was typed kept, in the browser's words.
      await page.getByLabel('Endpoint URL').fill('https://10.1.2.3/hook');
      await page.getByRole('checkbox', { name: /token\.deleted/ }).check();
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      await expect.poll(() => page.locator('#wh-url-error').textContent()).toMatch(/^Cannot send notifications to 10\.1\.2\.3: 10\.1\.2\.3 is a private address/);
      expect(await page.getByLabel('Endpoint URL').inputValue()).toBe('https://10.1.2.3/hook');
      expect(await page.getByLabel('Endpoint URL').getAttribute('aria-invalid')).toBe('true');
      expect(await page.getByLabel('Endpoint URL').evaluate((e) => e === document.activeElement)).toBe(true);
      expect(await page.getByRole('checkbox', { name: /token\.deleted/ }).isChecked()).toBe(true);
      await check(page, '1280-26-webhook-refused');

      // Added: the secret once, in its monospaced box with its own Copy; never in the page's HTML.
      await page.getByLabel('Endpoint URL').fill(receiver.url);
      await page.getByLabel('Description (optional)').fill('on-call pager');
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      const heading = page.getByRole('heading', { name: 'Endpoint added: its signing secret' });
      await heading.waitFor();
      expect(await heading.evaluate((e) => e === document.activeElement)).toBe(true);
      const secretBox = page.getByRole('textbox', { name: 'Signing secret' });
      const secret = await secretBox.inputValue();
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(await secretBox.evaluate((e) => getComputedStyle(e).fontFamily)).toMatch(/monospace/);
      expect(await page.content()).not.toContain(secret);
      expect(page.url()).toBe(`${server.url}/webhooks`);
      await page.getByRole('button', { name: 'Copy secret' }).click();
      await expect.poll(() => page.locator('#feedback-secret').textContent()).toBe('Copied to the clipboard');
      expect(await clipboardText(page)).toBe(secret);
      receiver.useSecret(await clipboardText(page));
      // The list above it is already current; the form is empty again.
      expect(await page.locator('#endpoints tbody tr').count()).toBe(1);
      expect(await page.locator('#endpoints tbody tr').textContent()).toContain('on-call pager');
      expect(await page.getByLabel('Endpoint URL').inputValue()).toBe('');
      await check(page, '1280-27-webhook-secret');
      await page.getByRole('link', { name: 'Done' }).click();
      await expect.poll(() => page.getByRole('heading', { name: 'Endpoint added: its signing secret' }).isVisible()).toBe(false);
      expect(await page.content()).not.toContain(secret.slice(6, 30));

      // Send test: delivered to the receiver, which verifies it with standardwebhooks; the log page shows the attempt.
      await page.getByRole('button', { name: `Send test to ${receiver.url}` }).click();
      await page.getByRole('heading', { name: 'Delivery log' }).waitFor();
      await expect.poll(() => page.locator('#log-notice').textContent()).toMatch(/^Test notification msg_\w+ \(webhook\.test\): delivered \(HTTP 200\) in \d+ ms\.$/);
      const tests = receiver.deliveries.filter((d) => d.verified && d.payload?.type === 'webhook.test');
      expect(tests).toHaveLength(1);
      const attempts = page.getByRole('table', { name: 'Delivery attempts to this endpoint, newest first' });
      expect(await attempts.locator('tbody tr').count()).toBe(1);
      expect(await attempts.locator('tbody tr').textContent()).toContain(tests[0]!.id);
      expect(await attempts.locator('tbody tr').textContent()).toMatch(/webhook\.test1delivered \(HTTP 200\) in \d+ ms/);
      await check(page, '1280-28-webhook-log');

      // Remove, from the log: a dialog that Escape closes (focus back on Remove), then Remove endpoint.
      const remove = page.getByRole('button', { name: `Remove ${receiver.url}` });
      await remove.click();
      const confirm = page.getByRole('dialog', { name: 'Remove this endpoint?' });
      await confirm.waitFor();
      expect(await confirm.locator('[data-slot="url"]').textContent()).toBe(receiver.url);
      await check(page, '1280-29-webhook-remove', { dialog: true });
      await closeDialog(page);
      await expect.poll(() => confirm.isVisible()).toBe(false);
      expect(await remove.evaluate((e) => e === document.activeElement)).toBe(true);
      await remove.click();
      await confirm.getByRole('button', { name: 'Remove endpoint' }).click();
      await page.getByText(/^Removed endpoint wh_\w+: notifications no longer go to it\.$/).waitFor();
      expect(await page.getByText('No endpoints yet: add one below.').isVisible()).toBe(true);
      expect((await call(server, 'GET', '/v1/webhooks', { credential: admin })).body.webhooks).toEqual([]);

      expect(w.cspViolations).toEqual([]);
      expect(w.errors).toEqual([]);
    } finally {
      await w.context.close();
    }
  });

  for (const scheme of ['light', 'dark'] as const) {
    it(`at 390x844 (${scheme}): the new pages and dialogs fit, read and pass axe-core`, async () => {
      const w: Watched = await openPage(browser, server.url, { width: 390, height: 844 }, scheme);
      const { page } = w;
      const at = (name: string) => `390-${scheme}-${name}`;
      try {
        // An endpoint with a long URL and a failed delivery, so that the list and the log show them.
        receiver.answer(500);
        const long = `${receiver.url}/a-rather-long-path/for-the-analytics-team/in-eu-west-1?tenant=acme-corporation-international`;
        const added = await call(server, 'POST', '/v1/webhooks', { credential: admin, json: { url: long, events: ['token.deleted', 'token.used_while_draining', 'rotation.completed'], description: 'Analytics' } });
        expect(added.status).toBe(201);
        await call(server, 'POST', `/v1/webhooks/${added.body.webhook.id}/test`, { credential: admin });
        await expect.poll(async () => (await call(server, 'GET', `/v1/webhooks/${added.body.webhook.id}/attempts`, { credential: admin })).body.attempts.length).toBe(1);
        receiver.answer(200);

        await signIn(page);
        await page.goto(`${server.url}/?deleted=1`);
        await check(page, at('30-list'));
        await row(page, 'default').getByRole('button', { name: 'Delete default' }).click();
        await page.getByRole('dialog', { name: 'Delete default?' }).waitFor();
        await check(page, at('31-delete'), { dialog: true });
        await closeDialog(page);
        await page.goto(`${server.url}/tokens/${eventsId}/usage`);
        await check(page, at('32-usage'));
        await page.getByText('Calls per day as a table').click();
        await check(page, at('33-usage-table'));
        await page.goto(`${server.url}/webhooks`);
        expect(await page.locator(`#row-${added.body.webhook.id} td.delivery`).textContent()).toMatch(/^Failed less than a minute ago: .*\b500\b.*; retried at 2026-03-01 \d\d:\d\d UTC \(1 pending\)\.$/);
        await check(page, at('34-webhooks'));
        await page.getByLabel('Endpoint URL').fill(`${receiver.url}/second`);
        await page.getByRole('button', { name: 'Add endpoint' }).click();
        await page.getByRole('heading', { name: 'Endpoint added: its signing secret' }).waitFor();
        await check(page, at('35-webhook-secret'));
        await page.getByRole('button', { name: `Remove ${long}` }).click();
        await page.getByRole('dialog', { name: 'Remove this endpoint?' }).waitFor();
        await check(page, at('36-webhook-remove'), { dialog: true });
        await closeDialog(page);
        await page.goto(`${server.url}/webhooks/${added.body.webhook.id}`);
        await check(page, at('37-webhook-log'));
        // Leave the endpoints as they were for the other scheme.
        for (const wh of (await call(server, 'GET', '/v1/webhooks', { credential: admin })).body.webhooks) await call(server, 'DELETE', `/v1/webhooks/${wh.id}`, { credential: admin });
        expect(w.cspViolations).toEqual([]);
        expect(w.errors).toEqual([]);
      } finally {
        await w.context.close();
      }
    });
  }

  it('without JavaScript: the delete page shows the usage fact, and a webhook is added with its secret in the answer', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-US', timezoneId: 'UTC' });
    context.setDefaultTimeout(10_000);
    await context.route(/\/assets\/tokens-page-[0-9a-f]+\.js$/, (route) => route.abort());
    const page = await context.newPage();
    try {
      await signIn(page);
      await page.getByRole('button', { name: 'Delete default' }).click();
      await page.waitForURL(/\?delete=tok_/);
      expect(await page.locator('#delete-usage').textContent()).toBe('Never used.');
      await check(page, '390-nojs-38-delete');
      await page.goto(`${server.url}/webhooks`);
      await page.getByLabel('Endpoint URL').fill(`${receiver.url}/nojs`);
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      await page.getByRole('heading', { name: 'Endpoint added: its signing secret' }).waitFor();
      expect(await page.getByRole('textbox', { name: 'Signing secret' }).inputValue()).toMatch(/^whsec_/);
      await check(page, '390-nojs-39-webhook-secret');
      await page.getByRole('link', { name: 'Done' }).click();
      await page.getByRole('button', { name: `Remove ${receiver.url}/nojs` }).click();
      await page.waitForURL(/\?remove=wh_/);
      await page.getByRole('button', { name: 'Remove endpoint' }).click();
      await page.getByText(/^Removed endpoint wh_\w+/).waitFor();
    } finally {
      await context.close();
    }
  });
});
