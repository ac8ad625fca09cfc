// The Tokens page offers OneLink API tokens only to an account with the OneLink feature (premium), in a real browser
// (Debian's Chromium through playwright-core), against the service on 127.0.0.1 port 0; the same setup as
// tokens-page.browser.test.ts.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { setAccountFeatures } from '../../../src/tokens/principals.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { describeInBrowser, expectAccessible, launchBrowser, openPage, type Watched } from './browser.js';
import { signedIn } from './helpers.js';

describeInBrowser('the Tokens page and premium features', () => {
  let browser: Browser;
  let server: TestServer;
  let admin: string;
  let w: Watched;
  let page: Page;

  beforeAll(async () => {
    browser = await launchBrowser();
    server = await startTestServer();
    // `server init` makes an account without premium features.
    admin = (await server.initAccount({ features: [] })).credential;
    w = await openPage(browser, server.url);
    page = w.page;
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const typeOptions = () =>
    page.locator('#create-type option').evaluateAll((options) => options.map((o) => ({ value: (o as HTMLOptionElement).value, disabled: (o as HTMLOptionElement).disabled, selected: (o as HTMLOptionElement).selected })));

  it('does not offer OneLink to an account without the feature, and says why', async () => {
    await page.goto(server.url);
    await page.getByLabel('Admin credential').fill(admin);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Tokens', exact: true }).isVisible()).toBe(true);
    await page.getByRole('button', { name: 'New token' }).click();
    expect(await typeOptions()).toEqual([
      { value: 'api', disabled: false, selected: true },
      { value: 'onelink', disabled: true, selected: false },
      { value: 's2s', disabled: false, selected: false },
    ]);
    expect(await page.locator('#create-type-help').textContent()).toContain("OneLink API tokens are a premium feature, and this account does not have it; the token service's operator can enable it.");
    expect(await page.locator('#create-type option[value="onelink"]').textContent()).toContain('(not available)');
    await expectAccessible(page, 'the create form without OneLink');
    // A forged request for one is refused by the service all the same (403), and creates nothing.
    const client = await signedIn(server, admin);
    const forged = await client.post('/tokens', { name: 'links', type: 'onelink' }, { json: true });
    expect(forged.status).toBe(403);
    expect(forged.text).toMatch(/premium feature/);
  });

  it('offers it once the operator enables it, with only the types that also have a free slot', async () => {
    await setAccountFeatures(server.storage, 'acme', { enable: ['onelink'] }, server.clock);
    await page.reload();
    await page.getByRole('button', { name: 'New token' }).click();
    expect((await typeOptions()).map((o) => [o.value, o.disabled])).toEqual([
      ['api', false],
      ['onelink', false],
      ['s2s', false],
    ]);
    expect(await page.locator('#create-type-help').textContent()).not.toContain('premium');
    await page.getByLabel('Token name', { exact: true }).fill('links');
    await page.getByLabel('Token type', { exact: true }).selectOption('onelink');
    await page.getByRole('button', { name: 'Create token' }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Token links created' }).isVisible()).toBe(true);
  });

  it('with api full and OneLink disabled again, offers s2s first and says why the others are not offered', async () => {
    await setAccountFeatures(server.storage, 'acme', { disable: ['onelink'] }, server.clock);
    await server.accounts.tokens((await server.principalOf(admin))!).create({ type: 'api', name: 'second' });
    await page.goto(server.url);
    await page.getByRole('button', { name: 'New token' }).click();
    expect(await typeOptions()).toEqual([
      { value: 'api', disabled: true, selected: false },
      { value: 'onelink', disabled: true, selected: false },
      { value: 's2s', disabled: false, selected: true },
    ]);
    const help = (await page.locator('#create-type-help').textContent())!;
    expect(help).toContain("API token: it already has 2 live tokens ('default' and 'second'); delete one of them first, or replace one.");
    expect(help).toContain('OneLink API tokens are a premium feature, and this account does not have it');
  });

  it('reported no CSP violation and no script error', () => {
    expect(w.cspViolations).toEqual([]);
    expect(w.errors).toEqual([]);
  });
});
