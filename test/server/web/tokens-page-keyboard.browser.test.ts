// The Tokens page with the keyboard alone, in Chromium: the skip link, create (the value shown once, copied with its
// own button), copy from a row (a pending token says why first), rename (Save, Cancel, Escape, and a conflict kept at
// the field with the typed name), delete with the typed phrase; after each, the focus is where it belongs.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { describeInBrowser, clipboardText, expectAccessible, launchBrowser, openPage, type Watched } from './browser.js';
import { shoot } from './layout.js';

describeInBrowser('the Tokens page with the keyboard alone', () => {
  let browser: Browser;
  let server: TestServer;
  let admin: string;
  let w: Watched;
  let page: Page;

  beforeAll(async () => {
    browser = await launchBrowser();
    server = await startTestServer();
    admin = (await server.initAccount()).credential;
    w = await openPage(browser, server.url, { width: 1280, height: 800 });
    page = w.page;
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** What has the focus: its id, its accessible name (aria-label or text), and whether it is in an open dialog. */
  const focused = () =>
    page.evaluate(() => {
      const el = document.activeElement;
      return { id: el?.id ?? '', name: (el?.getAttribute('aria-label') ?? el?.textContent ?? '').trim(), inDialog: !!el?.closest('dialog[open]') };
    });

  /** Presses Tab until the element named `name` (or with id `name`) has the focus. */
  const tabTo = async (name: string, max = 60) => {
    for (let i = 0; i < max; i++) {
      await page.keyboard.press('Tab');
      const f = await focused();
      if (f.name === name || f.id === name) return;
    }
    throw new Error(`no tab stop named ${name}; the focus is on ${JSON.stringify(await focused())}`);
  };

  let value = '';

  it('signs in, and starts with a skip link to the main content', async () => {
    await page.goto(server.url);
    await page.getByLabel('Admin credential').focus();
    await page.keyboard.type(admin);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Your tokens' }).waitFor();
    await page.keyboard.press('Tab');
    expect((await focused()).name).toBe('Skip to main content');
    expect(await page.getByRole('link', { name: 'Skip to main content' }).isVisible()).toBe(true);
    await page.keyboard.press('Enter');
    expect((await focused()).id).toBe('main');
  });

  it('creates a token: + New token, the form, the value shown once with its Copy, Escape back to + New token', async () => {
    await tabTo('new-token');
    await page.keyboard.press('Enter');
    expect(await focused()).toMatchObject({ id: 'create-name', inDialog: true });
    await page.keyboard.type('ci');
    await page.keyboard.press('Tab');
    expect((await focused()).id).toBe('create-type');
    await page.keyboard.type('S2S');
    expect(await page.locator('#create-type').inputValue()).toBe('s2s');
    await tabTo('Create token');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Token ci created' }).waitFor();
    expect((await focused()).id).toBe('created-h');
    // The list behind the dialog already shows it.
    expect(await page.locator('table.tokens .name', { hasText: /^ci$/ }).count()).toBe(1);
    await tabTo('Copy value');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#feedback-created').textContent()).toBe('Copied to the clipboard');
    value = await clipboardText(page);
    expect(value).toMatch(/^tctl_s2s_/);
    expect(await page.getByLabel('Token value').inputValue()).toBe(value);
    await expectAccessible(page, 'the created token');
    await shoot(page, 'keyboard-created', false);
    await page.keyboard.press('Escape');
    // A dialog's close event comes a task after the key: wait for its effects, not for the key's return.
    await expect.poll(async () => (await focused()).id).toBe('new-token');
    expect(await page.getByRole('dialog').count()).toBe(0);
    // The value is gone from the page once the dialog is closed.
    expect(await page.getByLabel('Token value', { exact: true }).inputValue()).toBe('');
    // + New token again: an empty form, as the service now offers it.
    await page.keyboard.press('Enter');
    expect(await focused()).toMatchObject({ id: 'create-name', inDialog: true });
    expect(await page.getByLabel('Token name').inputValue()).toBe('');
    await page.keyboard.press('Escape');
    await expect.poll(async () => (await focused()).id).toBe('new-token');
  });

  it('copies from a row: a pending token says why first, beside it, and copies at the second press', async () => {
    await page.evaluate(() => navigator.clipboard.writeText('nothing'));
    await tabTo('Copy ci');
    const id = (await focused()).id.replace(/^copy-/, '');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator(`#feedback-${id}`).textContent()).toMatch(/^Not copied yet: ci is pending until 2026-03-01 10:30 UTC \(in 30 min\) and cannot be used yet\./);
    expect(await clipboardText(page)).toBe('nothing');
    await page.keyboard.press('Enter');
    await expect.poll(() => clipboardText(page)).toBe(value);
    expect(await page.locator(`#feedback-${id}`).textContent()).toBe('Copied ci (not usable until it is active)');
    expect((await focused()).name).toBe('Copy ci');
  });

  it('renames: Escape and Cancel change nothing and give the focus back; a conflict stays at the field; Save', async () => {
    await tabTo('Rename ci');
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Rename ci' });
    await dialog.waitFor();
    expect(await focused()).toMatchObject({ id: 'rename-input', inDialog: true });
    // The name is selected: typing replaces it.
    await page.keyboard.type('typed-then-escaped');
    await page.keyboard.press('Escape');
    await expect.poll(async () => (await focused()).name).toBe('Rename ci');
    expect(await dialog.isVisible()).toBe(false);

    await page.keyboard.press('Enter');
    expect(await page.getByLabel('New name').inputValue()).toBe('ci');
    await page.keyboard.type('typed-then-cancelled');
    await tabTo('Cancel');
    await page.keyboard.press('Enter');
    await expect.poll(async () => (await focused()).name).toBe('Rename ci');
    expect(await dialog.isVisible()).toBe(false);
    expect(await page.locator('table.tokens .name', { hasText: /^ci$/ }).count()).toBe(1);

    await page.keyboard.press('Enter');
    await page.keyboard.type('Default');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#rename-error').textContent()).toBe("'Default' is taken: names ignore case, and a token named 'default' already exists; choose another name.");
    expect(await focused()).toMatchObject({ id: 'rename-input', inDialog: true });
    expect(await page.getByLabel('New name').inputValue()).toBe('Default');
    expect(await page.getByLabel('New name').getAttribute('aria-invalid')).toBe('true');
    await expectAccessible(page, 'the rename conflict');
    await shoot(page, 'keyboard-rename-conflict', false);

    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type('ci-events');
    await page.keyboard.press('Enter');
    await expect.poll(() => dialog.isVisible()).toBe(false);
    await expect.poll(async () => (await focused()).name).toBe('Rename ci-events');
    const id = (await focused()).id.replace(/^rename-/, '');
    await expect.poll(() => page.locator(`#feedback-${id}`).textContent()).toBe('Renamed ci to ci-events. Its value did not change.');
  });

  it('deletes with the typed phrase; the focus goes to what the deletion did', async () => {
    await tabTo('Delete ci-events');
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Delete ci-events?' });
    await dialog.waitFor();
    expect(await focused()).toMatchObject({ id: 'delete-confirm', inDialog: true });
    await page.keyboard.press('Tab');
    // Delete token stays disabled (not a tab stop) until the exact phrase is typed: Tab goes to Cancel.
    expect((await focused()).name).toBe('Cancel');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.type('Delete token');
    await page.keyboard.press('Tab');
    expect((await focused()).name).toBe('Delete token');
    await page.keyboard.press('Enter');
    await expect.poll(async () => (await focused()).id).toBe('list-notice');
    expect(await page.locator('#list-notice').textContent()).toBe('Deleted ci-events. It was still pending, so it never becomes active.');
    expect(await page.locator('table.tokens .name', { hasText: /^ci-events$/ }).count()).toBe(0);
    await expectAccessible(page, 'after a deletion');
  });

  it('reported no CSP violation and no script error', () => {
    expect(w.cspViolations).toEqual([]);
    expect(w.errors).toEqual([]);
  });
});
