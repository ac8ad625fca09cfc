// The Tokens page in a real browser (Debian's Chromium through playwright-core), as an admin would use it, against
// the service on 127.0.0.1 port 0 with a clock the test moves. tokens-page-serve.browser.test.ts does the same
// against the built `tokenctl serve`, with TOKENCTL_NOW, and the replacement shared with `tokenctl rotate`.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PAGE_CSP } from '../../../src/server/web/routes.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { describeInBrowser, clipboardText, closeDialog, expectAccessible, launchBrowser, openPage, type Watched } from './browser.js';

describeInBrowser('the Tokens page in a browser', () => {
  let browser: Browser;
  let server: TestServer;
  let admin: string;
  let w: Watched;
  let page: Page;
  const MINUTE = 60_000;

  beforeAll(async () => {
    browser = await launchBrowser();
    server = await startTestServer();
    admin = (await server.initAccount()).credential;
    w = await openPage(browser, server.url);
    page = w.page;
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const row = (name: string, on: Page = page) => on.locator('table.tokens tbody tr').filter({ has: on.locator('th .name').getByText(name, { exact: true }) });

  it('signs an admin in and shows default, with the headers of the security model', async () => {
    const signIn = await page.goto(server.url);
    expect(signIn!.headers()['content-security-policy']).toBe(PAGE_CSP);
    await page.getByLabel('Admin credential').fill(admin);
    const [response] = await Promise.all([page.waitForResponse((r) => r.url() === `${server.url}/` && r.request().method() === 'GET'), page.getByRole('button', { name: 'Sign in' }).click()]);
    const headers = response.headers();
    expect(headers['content-security-policy']).toBe(PAGE_CSP);
    expect(headers['cache-control']).toBe('no-store');
    expect(headers['referrer-policy']).toBe('no-referrer');
    await expect.poll(() => page.getByRole('heading', { name: 'Tokens', exact: true }).isVisible()).toBe(true);
    await expect.poll(() => row('default').isVisible()).toBe(true);
    expect(await row('default').textContent()).toContain('Active');
    const cookies = await w.context.cookies();
    const session = cookies.find((c) => c.name === '__Host-tokenctl-session')!;
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
    await expectAccessible(page, 'the Tokens page');
  });

  let created = '';
  it('creates an s2s token: the value shown once, copied to the clipboard, never in the HTML or the URL', async () => {
    await page.getByRole('button', { name: 'New token' }).click();
    // The spec's notes, before the token is created.
    expect(await page.getByText('A new token becomes available for use only after 30 min, until which it\'s pending. Make sure to implement it in your systems.').isVisible()).toBe(true);
    await page.getByLabel('Token name', { exact: true }).fill('events-s2s');
    await page.getByLabel('Token type', { exact: true }).selectOption('s2s');
    await page.getByRole('button', { name: 'Create token' }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Token events-s2s created' }).isVisible()).toBe(true);
    expect(await page.locator('#created-pending').textContent()).toBe('It is pending until 2026-03-01 10:30 UTC (in 30 min): put it in place now; calls made with it are rejected until then.');
    await page.getByRole('button', { name: 'Copy value' }).click();
    await expect.poll(() => page.locator('#feedback-created').textContent()).toBe('Copied to the clipboard');
    created = await clipboardText(page);
    expect(created).toMatch(/^\w+_[0-9A-Za-z]{20,}/);
    expect(await page.getByLabel('Token value').inputValue()).toBe(created);
    expect(await page.content()).not.toContain(created);
    expect(page.url()).not.toContain(created);
    await expectAccessible(page, 'the created token');
    // The list behind the value is already current.
    expect(await row('events-s2s').isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Done' }).click();
    expect(await row('events-s2s').locator('.c-status').textContent()).toMatch(/^Pending\s+active in 30 min$/);
    expect(await row('events-s2s').locator('.badge').getAttribute('title')).toBe('active from 2026-03-01 10:30 UTC');
    expect(await page.content()).not.toContain(created);
    for (const line of server.logs) expect(line).not.toContain(created);
  });

  it('copies from a row: a pending token says first that it is not usable yet', async () => {
    await page.evaluate(() => navigator.clipboard.writeText('nothing'));
    const copy = page.getByRole('button', { name: 'Copy events-s2s' });
    const feedback = page.locator(`#feedback-${await copy.getAttribute('data-copy')}`);
    await copy.click();
    await expect.poll(() => feedback.textContent()).toContain('events-s2s is pending until 2026-03-01 10:30 UTC (in 30 min) and cannot be used yet');
    expect(await clipboardText(page)).toBe('nothing');
    await copy.click();
    await expect.poll(() => clipboardText(page)).toBe(created);
    expect(await feedback.textContent()).toBe('Copied events-s2s (not usable until it is active)');
  });

  it('renames inline with Save', async () => {
    await page.getByRole('button', { name: 'Rename events-s2s' }).click();
    const field = page.getByRole('dialog', { name: 'Rename events-s2s' }).getByLabel('New name');
    expect(await field.evaluate((e) => e === document.activeElement)).toBe(true);
    await field.fill('events-primary');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => page.getByText('Renamed events-s2s to events-primary. Its value did not change.').isVisible()).toBe(true);
    expect(await row('events-primary').isVisible()).toBe(true);
    expect(await row('events-s2s').count()).toBe(0);
  });

  it('deletes only after the exact phrase is typed, with the spec warnings; a pending token is said never to become active, there and under Show deleted', async () => {
    await page.getByRole('button', { name: 'Delete events-primary' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete events-primary?' });
    await expect.poll(() => dialog.isVisible()).toBe(true);
    const text = (await dialog.textContent())!;
    expect(text).toContain('Deleting a token could cause failure to systems depending on it.');
    // events-primary is pending: deleting it does not start a 30-minute drain (as the CLI says too).
    expect(text).toContain('It is still pending: once deleted, it never becomes active.');
    expect(text).not.toMatch(/keep working/);
    // The one fact before the phrase (core/usage.ts): never used; the page's Copy above was a retrieval.
    expect(text).toContain('Never used. Retrieved once, last less than a minute ago by admin from 127.0.0.1.');
    await expectAccessible(page, 'the delete dialog');
    const confirm = dialog.getByLabel('Type "Delete token" to confirm');
    const button = dialog.getByRole('button', { name: 'Delete token' });
    expect(await button.isDisabled()).toBe(true);
    await confirm.fill('delete token');
    expect(await button.isDisabled()).toBe(true);
    await confirm.press('Enter');
    expect(await row('events-primary').count()).toBe(1);
    await confirm.fill('Delete token');
    expect(await button.isEnabled()).toBe(true);
    await button.click();
    await expect.poll(() => page.getByText('Deleted events-primary. It was still pending, so it never becomes active.').isVisible()).toBe(true);
    expect(await row('events-primary').count()).toBe(0);
    await page.getByRole('switch', { name: 'Show deleted' }).check();
    await expect.poll(() => page.url()).toContain('deleted=1');
    await expect.poll(() => row('events-primary').isVisible()).toBe(true);
    expect(await row('events-primary').locator('.c-status').textContent()).toMatch(/^Draining\s+never active$/);
    expect(await row('events-primary').locator('.badge').getAttribute('title')).toBe('deleted while pending: it never became active');
  });

  it('warns that the last active token of a type is the last one', async () => {
    await page.goto(server.url);
    await page.getByRole('button', { name: 'Delete default' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete default?' });
    const text = (await dialog.textContent())!;
    expect(text).toContain('This is the last active API token: systems that depend on it will fail once it is rejected.');
    // An active token drains: calls keep working for up to 30 minutes, until about a stated time.
    expect(text).toMatch(/Calls made with it keep working for up to 30 min after deletion \(until about \d{4}-\d\d-\d\d \d\d:\d\d UTC\), then are rejected\./);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await dialog.isVisible()).toBe(false);
  });

  it('replaces a token the safe way: new value copied, a countdown until it is active, then the old one deleted', async () => {
    await page.getByRole('button', { name: 'Replace default' }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Replace default' }).isVisible()).toBe(true);
    const copyNew = page.getByRole('button', { name: /^Copy default-20260301/ });
    await copyNew.click();
    await expect.poll(() => page.getByText('Copied default-20260301').isVisible()).toBe(true);
    const value = await clipboardText(page);
    expect(value.split('.')).toHaveLength(3);
    expect(await page.content()).not.toContain(value);
    await expectAccessible(page, 'the replacement');
    await page.getByRole('button', { name: 'I have put the new token in place' }).click();
    await expect.poll(() => page.locator('[data-countdown-ms]').textContent()).toMatch(/^(29|30) min \d\d s$/);
    // The service's clock moves; the page keeps the session alive while it waits (it reloads now and then).
    server.clock.advance(20 * MINUTE);
    await page.reload();
    expect(await page.locator('[data-countdown-ms]').textContent()).toMatch(/^(9|10) min \d\d s$/);
    server.clock.advance(11 * MINUTE);
    await page.reload();
    const confirm = page.getByLabel('Type "Delete token" to confirm');
    const button = page.getByRole('button', { name: 'Delete token' });
    expect(await button.isDisabled()).toBe(true);
    await confirm.fill('Delete token');
    await button.click();
    await expect.poll(() => page.getByText('Replacement complete: default was deleted').isVisible()).toBe(true);
    await page.getByRole('link', { name: 'Back to the Tokens page' }).click();
    await expect.poll(() => row('default-20260301').isVisible()).toBe(true);
    expect(await row('default').count()).toBe(0);
  });

  it('shows the security review and the audit trail, filterable by token', async () => {
    await page.getByRole('link', { name: 'Security review and activity' }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Audit trail' }).isVisible()).toBe(true);
    expect(await page.getByRole('table').textContent()).toContain('replacement completed');
    // What to do is said with the page's buttons, never with a command.
    expect(await page.content()).not.toMatch(/tokenctl (rotate|delete)/);
    await page.getByLabel('Token', { exact: true }).selectOption({ label: 'events-primary (deleted)' });
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => page.url()).toContain('token=tok_');
    const trail = (await page.getByRole('table').textContent())!;
    expect(trail).toContain('renamed');
    expect(trail).toContain('value retrieved');
    expect(trail).not.toContain('replacement completed');
    await expectAccessible(page, 'the activity page');
  });

  it('is readable at 375 px: no horizontal scrolling, every action reachable', async () => {
    const narrow = await openPage(browser, server.url, { width: 375, height: 800 });
    try {
      await narrow.page.goto(server.url);
      await narrow.page.getByLabel('Admin credential').fill(admin);
      await narrow.page.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => narrow.page.getByRole('button', { name: 'Copy default-20260301' }).isVisible()).toBe(true);
      expect(await narrow.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
      await expectAccessible(narrow.page, 'the Tokens page at 375 px');
      expect(narrow.cspViolations).toEqual([]);
    } finally {
      await narrow.context.close();
    }
  });

  it('works with the keyboard alone: sign in, open the delete dialog, type the phrase, cancel with Escape', async () => {
    const kb = await openPage(browser, server.url);
    try {
      const p = kb.page;
      await p.goto(server.url);
      await p.getByLabel('Admin credential').focus();
      await p.keyboard.type(admin);
      await p.keyboard.press('Enter');
      await expect.poll(() => p.getByRole('heading', { name: 'Tokens', exact: true }).isVisible()).toBe(true);
      // Tab to the row's Delete button.
      for (let i = 0; i < 40; i++) {
        await p.keyboard.press('Tab');
        if (await p.evaluate(() => document.activeElement?.getAttribute('aria-label') === 'Delete default-20260301')) break;
      }
      expect(await p.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Delete default-20260301');
      await p.keyboard.press('Enter');
      const dialog = p.getByRole('dialog', { name: 'Delete default-20260301?' });
      await expect.poll(() => dialog.isVisible()).toBe(true);
      // The dialog opens with the focus in its phrase field.
      expect(await p.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('confirmation');
      await p.keyboard.type('Delete token');
      expect(await dialog.getByRole('button', { name: 'Delete token' }).isEnabled()).toBe(true);
      await closeDialog(p);
      expect(await dialog.isVisible()).toBe(false);
      expect(await p.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Delete default-20260301');
    } finally {
      await kb.context.close();
    }
  });

  it('gives a user credential the no-access page, and a partner too', async () => {
    for (const role of ['user', 'partner'] as const) {
      const credential = await server.addPrincipal('acme', role, `${role}-browser`);
      const other = await openPage(browser, server.url);
      try {
        await other.page.goto(server.url);
        await other.page.getByLabel('Admin credential').fill(credential);
        const [response] = await Promise.all([other.page.waitForResponse((r) => r.url().endsWith('/sign-in')), other.page.getByRole('button', { name: 'Sign in' }).click()]);
        expect(response.status()).toBe(403);
        await expect.poll(() => other.page.getByText('Only admins can view and manage tokens.').isVisible()).toBe(true);
        expect(await other.page.content()).not.toContain('default-20260301');
        await expectAccessible(other.page, 'the no-access page');
      } finally {
        await other.context.close();
      }
    }
  });

  it('changes nothing for a POST from another origin, or from the page without its CSRF token', async () => {
    await page.goto(server.url);
    const id = await page.getByRole('button', { name: 'Copy default-20260301' }).getAttribute('data-copy');
    // Another origin on the same host (same site, so the SameSite cookie goes with it: the Origin check refuses it).
    const evil = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><form method="post" action="${server.url}/tokens/${id}/delete"><input name="confirmation" value="Delete token"><input name="_csrf" value="guess"><button>Win a prize</button></form>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    try {
      const evilPage = await w.context.newPage();
      await evilPage.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      const [response] = await Promise.all([evilPage.waitForResponse((r) => r.url().includes('/delete')), evilPage.getByRole('button', { name: 'Win a prize' }).click()]);
      expect(response.status()).toBe(403);
      await evilPage.close();
    } finally {
      evil.close();
    }
    const status = await page.evaluate(async (tokenId) => {
      const r = await fetch(`/tokens/${tokenId}/delete`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'confirmation=Delete+token' });
      return r.status;
    }, id);
    expect(status).toBe(403);
    await page.reload();
    expect(await row('default-20260301').isVisible()).toBe(true);
  });

  it('reported no CSP violation and no script error on any page', () => {
    expect(w.cspViolations).toEqual([]);
    expect(w.errors).toEqual([]);
  });
});
