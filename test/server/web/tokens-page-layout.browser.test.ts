// The Tokens page laid out in Chromium at 1280x800 and 390x844, in every state an admin meets: names of 1 and 64
// characters, every status (pending, active, stale, draining, revoked, deleted while pending, a replacement under
// way), its dialogs, refusals at their fields, copy feedback, and the other pages (activity, replace, an error,
// sign-in). In each: nothing wider than the viewport or its container, each token on one line at 1280 px (measured
// from the boxes), axe-core finding no violation, and a screenshot for a person to look at (layout.ts: SHOTS_DIR,
// outside the repository). The focus ring's contrast is computed at every tab stop, in the light and dark schemes.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { manualClock } from '../../../src/core/clock.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { describeInBrowser, clipboardText, closeDialog, expectAccessible, launchBrowser, openPage, type Watched } from './browser.js';
import { box, focusRing, overflowReport, rowLines, shoot } from './layout.js';

/** 64 characters, the longest name allowed. */
const LONG_LINKS = 'campaign-links-for-the-spring-sale-partner-network-and-affiliates'.slice(0, 64);
const LONG_EVENTS = 'events-from-the-mobile-backend-in-eu-west-1-for-the-analytics-team'.slice(0, 64);
const NOW = '2026-03-01T10:00:00Z';

/**
 * An account as of 2026-03-01 10:00 UTC with a token in every state: `default` (API, active, stale, its type has a
 * free slot), `e` (S2S, 1 character, active, stale, its type full), LONG_EVENTS (S2S, pending until 10:18),
 * LONG_LINKS (OneLink, active, being replaced by a pending replacement), and three deleted ones: `old-links`
 * (revoked), `oops` (deleted while pending) and `retired-links` (draining until 10:20). Returns the admin credential.
 */
async function everyStatus(server: TestServer): Promise<string> {
  server.clock.set('2025-07-01T09:00:00Z');
  const { credential } = await server.initAccount();
  const tokens = server.accounts.tokens((await server.principalOf(credential))!);
  const when = (iso: string) => server.clock.set(iso);
  await tokens.create({ type: 's2s', name: 'e' });
  when('2026-01-05T10:00:00Z');
  const old = await tokens.create({ type: 'onelink', name: 'old-links' });
  when('2026-01-06T10:00:00Z');
  await tokens.delete(old.token.id, 'Delete token');
  when('2026-01-10T08:00:00Z');
  const retired = await tokens.create({ type: 'onelink', name: 'retired-links' });
  when('2026-02-01T12:00:00Z');
  await tokens.create({ type: 'onelink', name: LONG_LINKS });
  when('2026-03-01T09:40:00Z');
  const oops = await tokens.create({ type: 's2s', name: 'oops' });
  when('2026-03-01T09:45:00Z');
  await tokens.delete(oops.token.id, 'Delete token');
  when('2026-03-01T09:48:00Z');
  await tokens.create({ type: 's2s', name: LONG_EVENTS });
  when('2026-03-01T09:50:00Z');
  await tokens.delete(retired.token.id, 'Delete token');
  when('2026-03-01T09:52:00Z');
  await tokens.startRotation(LONG_LINKS);
  when(NOW);
  return credential;
}

describeInBrowser('the Tokens page, laid out', () => {
  let browser: Browser;
  let server: TestServer;
  let admin: string;

  beforeAll(async () => {
    browser = await launchBrowser();
    server = await startTestServer({ clock: manualClock('2025-07-01T09:00:00Z') });
    admin = await everyStatus(server);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const signIn = async (page: Page) => {
    await page.goto(server.url);
    await page.getByLabel('Admin credential').fill(admin);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Your tokens' }).waitFor();
  };

  /** The checks of every state: nothing sticks out, no axe violation, a screenshot. */
  const check = async (page: Page, label: string, o: { oneLine?: boolean; dialog?: boolean } = {}) => {
    // A modal dialog is shot as the admin sees it (the viewport); a page, whole.
    await shoot(page, label, !o.dialog);
    const report = await overflowReport(page);
    expect(report.overflowing, label).toEqual([]);
    expect(report.pageWidth, label).toBeLessThanOrEqual(report.viewport);
    // Only names are cut short (with "…"): statuses, times and values are shown whole.
    for (const t of report.truncated) expect(t, label).toMatch(/^span\.name /);
    if (o.oneLine) {
      const rows = await rowLines(page);
      expect(rows.length, label).toBeGreaterThan(0);
      for (const r of rows) {
        expect(r.lines, `${label}: ${r.name}`).toBe(1);
        expect(r.height, `${label}: ${r.name}`).toBeLessThan(64);
      }
    }
    await expectAccessible(page, label);
  };

  const row = (page: Page, name: string) => page.locator('table.tokens tbody tr').filter({ has: page.locator('.name', { hasText: new RegExp(`^${name}$`) }) });

  /**
   * The bubble beside the button: inside the viewport, just below the button (or just above it, where the viewport
   * ends below) and overlapping it horizontally. `expected`: which of the two must be the case.
   */
  const expectBesides = async (page: Page, button: string, bubble: string, label: string, expected?: 'below' | 'above') => {
    const [b, f, vp] = [await box(page, button), await box(page, bubble), page.viewportSize()!];
    expect(b && f, label).toBeTruthy();
    const where = expected ?? (f!.top >= b!.bottom ? 'below' : 'above');
    expect(f!.left, label).toBeGreaterThanOrEqual(0);
    expect(f!.right, label).toBeLessThanOrEqual(vp.width);
    expect(f!.top, label).toBeGreaterThanOrEqual(0);
    expect(f!.bottom, label).toBeLessThanOrEqual(vp.height);
    const gap = where === 'below' ? f!.top - b!.bottom : b!.top - f!.bottom;
    expect(gap, `${label}: ${where} the button`).toBeGreaterThanOrEqual(0);
    expect(gap, `${label}: ${where} the button`).toBeLessThanOrEqual(16);
    expect(f!.left < b!.right && f!.right > b!.left, `${label}: beside the button`).toBe(true);
  };

  for (const [width, height] of [
    [1280, 800],
    [390, 844],
  ] as const) {
    it(`at ${width}x${height}: every state fits, reads, and passes axe-core`, async () => {
      const w: Watched = await openPage(browser, server.url, { width, height });
      const { page } = w;
      const at = (name: string) => `${width}-${name}`;
      const wide = width > 1100;
      try {
        await page.goto(server.url);
        await check(page, at('01-sign-in'));
        await signIn(page);
        expect([...LONG_LINKS]).toHaveLength(64);

        // The list: every live status, in words, one line per token at 1280.
        await check(page, at('02-list'), { oneLine: wide });
        expect(await row(page, 'default').textContent()).toMatch(/Active\s*Stale/);
        expect(await row(page, LONG_EVENTS).locator('.c-status').textContent()).toMatch(/Pending\s+active in 18 min/);
        expect(await row(page, 'e').textContent()).toContain('Stale');
        expect(await page.locator('table.tokens tbody tr').count()).toBe(5);
        // Advice said once, and only what can be followed: Replace where the type has room, words where it has not.
        const advice = page.locator('.advice');
        expect(await advice.getByRole('button', { name: 'Replace default' }).count()).toBe(1);
        expect(await advice.textContent()).toContain(`Its type has no free slot: if '${LONG_EVENTS}', pending until 2026-03-01 10:18 UTC, in 18 min, replaces it`);
        expect(await row(page, 'e').getByRole('button', { name: 'Replace e' }).count()).toBe(0);
        expect(await row(page, 'default').getByRole('button', { name: 'Replace default' }).count()).toBe(1);
        expect(await row(page, LONG_LINKS).getByRole('link', { name: `Continue replacing ${LONG_LINKS}` }).count()).toBe(1);
        // A long name is cut in the row and whole in its tooltip and in the buttons' names.
        expect(await row(page, LONG_LINKS).locator('.name').getAttribute('title')).toBe(LONG_LINKS);
        // Its tooltip (shown on hover and on keyboard focus) is the button's accessible name.
        expect(await page.getByRole('button', { name: `Delete ${LONG_LINKS}` }).evaluate((e) => getComputedStyle(e, '::after').content)).toBe(`"Delete ${LONG_LINKS}"`);
        expect(await page.content()).not.toMatch(/tokenctl (rotate|delete|list|get|audit)/);

        // Show deleted: draining, revoked, deleted while pending.
        await page.getByRole('switch', { name: 'Show deleted' }).check();
        const all = (await server.accounts.tokens((await server.principalOf(admin))!).list()).length;
        await expect.poll(() => page.locator('table.tokens tbody tr').count()).toBe(all);
        expect(await row(page, 'retired-links').locator('.c-status').textContent()).toMatch(/Draining\s+rejected in 20 min/);
        expect(await row(page, 'oops').locator('.c-status').textContent()).toMatch(/Draining\s+never active/);
        expect(await row(page, 'old-links').locator('.c-status').textContent()).toContain('Revoked');
        await check(page, at('03-show-deleted'), { oneLine: wide });
        await page.goto(server.url);

        // + New token: the form, then a refusal at its field with the typed name kept.
        await page.getByRole('button', { name: 'New token' }).click();
        const create = page.getByRole('dialog', { name: 'New token' });
        await create.waitFor();
        await check(page, at('04-create'), { dialog: true });
        await create.getByLabel('Token name').fill('DEFAULT');
        await create.getByRole('button', { name: 'Create token' }).click();
        await expect.poll(() => create.locator('#create-name-error').textContent()).toContain("names ignore case, and a token named 'default' already exists");
        expect(await create.getByLabel('Token name').inputValue()).toBe('DEFAULT');
        expect(await create.getByLabel('Token name').getAttribute('aria-invalid')).toBe('true');
        await check(page, at('05-create-refused'), { dialog: true });
        await page.keyboard.press('Escape');
        await expect.poll(() => create.isVisible()).toBe(false);

        // Rename: the dialog, then a conflict at the field with the typed name kept.
        await row(page, 'e').getByRole('button', { name: 'Rename e' }).click();
        const rename = page.getByRole('dialog', { name: 'Rename e' });
        await rename.waitFor();
        await check(page, at('06-rename'), { dialog: true });
        await rename.getByLabel('New name').fill('Default');
        await rename.getByRole('button', { name: 'Save' }).click();
        await expect.poll(() => rename.locator('#rename-error').textContent()).toMatch(/^'Default' is taken/);
        expect(await rename.getByLabel('New name').inputValue()).toBe('Default');
        await check(page, at('07-rename-conflict'), { dialog: true });
        await rename.getByRole('button', { name: 'Cancel' }).click();
        await expect.poll(() => rename.isVisible()).toBe(false);

        // Delete dialogs: an active token whose name is 64 characters, and a pending one (never becomes active).
        await page.getByRole('button', { name: `Delete ${LONG_LINKS}` }).click();
        const del = page.getByRole('dialog', { name: `Delete ${LONG_LINKS}?` });
        await del.waitFor();
        expect(await del.textContent()).toMatch(/keep working for up to 30 min after deletion/);
        await check(page, at('08-delete-active-64'), { dialog: true });
        await closeDialog(page);
        await page.getByRole('button', { name: `Delete ${LONG_EVENTS}` }).click();
        const delPending = page.getByRole('dialog', { name: `Delete ${LONG_EVENTS}?` });
        await delPending.waitFor();
        expect(await delPending.textContent()).toContain('It is still pending: once deleted, it never becomes active.');
        expect(await delPending.textContent()).not.toMatch(/keep working/);
        await check(page, at('09-delete-pending'), { dialog: true });
        await closeDialog(page);

        // Copy an active token: "Copied" beside the button, inside the viewport; the clipboard holds the value.
        await page.evaluate(() => navigator.clipboard.writeText('nothing'));
        const copyE = row(page, 'e').getByRole('button', { name: 'Copy e' });
        const eId = (await copyE.getAttribute('data-copy'))!;
        await copyE.click();
        await expect.poll(() => page.locator(`#feedback-${eId}`).textContent()).toBe('Copied e');
        await expectBesides(page, `#copy-${eId}`, `#feedback-${eId}`, at('copied'));
        expect(await clipboardText(page)).toMatch(/^tctl_s2s_/);
        await check(page, at('10-copied'), { oneLine: wide });

        // Copy a pending token: nothing copied at first; why, beside the row; copied at the second press.
        await page.evaluate(() => navigator.clipboard.writeText('nothing'));
        const copyPending = page.getByRole('button', { name: `Copy ${LONG_EVENTS}` });
        const pId = (await copyPending.getAttribute('data-copy'))!;
        // The button at the very bottom of the viewport: its explanation opens above it, in view.
        const bottom = await copyPending.evaluate((e) => e.getBoundingClientRect().bottom + window.scrollY);
        await page.setViewportSize({ width, height: Math.ceil(bottom) + 4 });
        await page.evaluate(() => window.scrollTo(0, 0));
        // Pressed from the keyboard (a click would first scroll the button to the middle).
        await copyPending.evaluate((e) => (e as HTMLElement).focus({ preventScroll: true }));
        await page.keyboard.press('Enter');
        await expect.poll(() => page.locator(`#feedback-${pId}`).textContent()).toContain('is pending until 2026-03-01 10:18 UTC (in 18 min) and cannot be used yet');
        await expectBesides(page, `#copy-${pId}`, `#feedback-${pId}`, at('pending copy'), 'above');
        expect(await clipboardText(page)).toBe('nothing');
        await check(page, at('11-copy-pending'), { oneLine: wide });
        await page.keyboard.press('Enter');
        await expect.poll(() => page.locator(`#feedback-${pId}`).textContent()).toContain(`Copied ${LONG_EVENTS}`);
        await expectBesides(page, `#copy-${pId}`, `#feedback-${pId}`, at('pending copied'), 'above');
        expect(await clipboardText(page)).toMatch(/^tctl_s2s_/);
        await page.setViewportSize({ width, height });

        // The other pages: the replacement under way, the activity, an error.
        await page.getByRole('link', { name: `Continue replacing ${LONG_LINKS}` }).first().click();
        await page.getByRole('heading', { name: /^Replace / }).waitFor();
        expect(await page.content()).not.toMatch(/tokenctl rotate|spec's/);
        await check(page, at('12-replace'));
        await page.goto(`${server.url}/activity`);
        await check(page, at('13-activity'));
        expect(await page.content()).not.toMatch(/tokenctl (rotate|delete)/);
        const missing = await page.goto(`${server.url}/rotations/rot_doesnotexist`);
        expect(missing!.status()).toBe(404);
        await check(page, at('14-error'));

        // The created value, once, in its box with its own Copy; the list behind it already counts it.
        await page.goto(server.url);
        await page.getByRole('button', { name: 'New token' }).click();
        await page.getByLabel('Token name').fill(width === 1280 ? 'x' : 'y');
        await page.getByRole('button', { name: 'Create token' }).click();
        const created = page.getByRole('heading', { name: /^Token [xy] created$/ });
        await created.waitFor();
        expect(await page.locator('.list-head .count').textContent()).toBe('6 live');
        const value = await page.getByLabel('Token value').inputValue();
        expect(value.split('.')).toHaveLength(3);
        // The box shows the whole value: it grows to fit, in a monospaced font.
        const shown = await page.getByLabel('Token value').evaluate((e) => ({ fits: e.scrollHeight <= e.clientHeight + 1, font: getComputedStyle(e).fontFamily }));
        expect(shown.fits).toBe(true);
        expect(shown.font).toMatch(/monospace/);
        expect(await page.getByRole('dialog').textContent()).toContain('each retrieval is recorded in the audit trail');
        await page.getByRole('button', { name: 'Copy value' }).click();
        await expect.poll(() => page.locator('#feedback-created').textContent()).toBe('Copied to the clipboard');
        expect(await clipboardText(page)).toBe(value);
        await check(page, at('15-created'), { dialog: true });
        await page.getByRole('button', { name: 'Done' }).click();
        const made = await row(page, width === 1280 ? 'x' : 'y').getByRole('button', { name: /^Copy / }).getAttribute('data-copy');
        await server.accounts.tokens((await server.principalOf(admin))!).delete(made!, 'Delete token');

        expect(w.cspViolations).toEqual([]);
        expect(w.errors).toEqual([]);
      } finally {
        await w.context.close();
      }
    });
  }

  it('fits between the two widths too: the list, deleted tokens shown, at 1180, 1024 and 768', async () => {
    for (const width of [1180, 1024, 768]) {
      const w = await openPage(browser, server.url, { width, height: 800 });
      try {
        await signIn(w.page);
        await w.page.goto(`${server.url}/?deleted=1`);
        await check(w.page, `${width}-list`, { oneLine: width > 1100 });
      } finally {
        await w.context.close();
      }
    }
  });

  for (const [width, height] of [
    [1280, 800],
    [390, 844],
  ] as const) {
    it(`at ${width}x${height} without JavaScript: + New token, a refusal at its field, a rename and a delete as pages`, async () => {
      // The page's script never arrives (as with JavaScript off; the browser still runs axe-core through DevTools).
      const context = await browser.newContext({ viewport: { width, height }, locale: 'en-US', timezoneId: 'UTC' });
      context.setDefaultTimeout(10_000);
      await context.route(/\/assets\/tokens-page-[0-9a-f]+\.js$/, (route) => route.abort());
      const page = await context.newPage();
      const at = (name: string) => `${width}-nojs-${name}`;
      try {
        await signIn(page);
        await page.getByRole('button', { name: 'New token' }).click();
        await page.waitForURL(/\?new=1$/);
        expect(await page.getByLabel('Token name').evaluate((e) => e === document.activeElement)).toBe(true);
        await check(page, at('create'));
        await page.getByLabel('Token name').fill('DEFAULT');
        await page.getByRole('button', { name: 'Create token' }).click();
        await page.locator('#create-name-error').getByText("'DEFAULT' is taken", { exact: false }).waitFor();
        expect(await page.getByLabel('Token name').inputValue()).toBe('DEFAULT');
        await check(page, at('create-refused'));
        await page.getByRole('button', { name: 'Cancel' }).click();
        await page.waitForURL(`${server.url}/`);
        await page.getByRole('button', { name: 'Rename e', exact: true }).click();
        await page.getByLabel('New name').fill('Default');
        await page.getByRole('button', { name: 'Save' }).click();
        await page.locator('#rename-error').getByText("'Default' is taken", { exact: false }).waitFor();
        expect(await page.getByLabel('New name').inputValue()).toBe('Default');
        await check(page, at('rename-refused'));
        await page.goto(server.url);
        await page.getByRole('button', { name: `Delete ${LONG_EVENTS}` }).click();
        await page.getByRole('heading', { name: `Delete ${LONG_EVENTS}?` }).waitFor();
        await check(page, at('delete'));
      } finally {
        await context.close();
      }
    });
  }

  for (const scheme of ['light', 'dark'] as const) {
    it(`has a focus ring of at least 3:1 at every tab stop, in the ${scheme} scheme, and passes axe-core there`, async () => {
      const w = await openPage(browser, server.url, { width: 1280, height: 800 }, scheme);
      const { page } = w;
      try {
        await signIn(page);
        const seen: string[] = [];
        for (let i = 0; i < 60; i++) {
          await page.keyboard.press('Tab');
          const ring = await focusRing(page);
          if (!ring) continue;
          if (seen.includes(ring.element)) break;
          seen.push(ring.element);
          expect(ring.style, ring.element).toBe('solid');
          expect(ring.width, ring.element).toBeGreaterThanOrEqual(2);
          expect(ring.contrast, ring.element).toBeGreaterThanOrEqual(3);
        }
        // The skip link, the navigation, + New token and each row's four actions at least.
        expect(seen.length).toBeGreaterThan(15);
        expect(seen[0]).toContain('Skip to main content');
        // Inside a dialog too.
        await page.getByRole('button', { name: 'Delete default' }).click();
        await page.getByRole('dialog').waitFor();
        await page.keyboard.type('Delete token');
        // The phrase field, Delete token, Cancel.
        for (let i = 0; i < 3; i++) {
          const ring = await focusRing(page);
          expect(ring, `tab stop ${i} of the dialog`).not.toBeNull();
          expect(ring!.contrast, ring!.element).toBeGreaterThanOrEqual(3);
          await page.keyboard.press('Tab');
        }
        await expectAccessible(page, `the delete dialog, ${scheme}`);
        await shoot(page, `1280-${scheme}-delete-dialog`);
        await closeDialog(page);
        await expectAccessible(page, `the list, ${scheme}`);
        await shoot(page, `1280-${scheme}-list`);
        const narrow = await openPage(browser, server.url, { width: 390, height: 844 }, scheme);
        try {
          await signIn(narrow.page);
          await expectAccessible(narrow.page, `the list at 390, ${scheme}`);
          await shoot(narrow.page, `390-${scheme}-list`);
        } finally {
          await narrow.context.close();
        }
      } finally {
        await w.context.close();
      }
    });
  }
});
