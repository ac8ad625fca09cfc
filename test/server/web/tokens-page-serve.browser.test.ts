// The Tokens page of the built `tokenctl serve` (needs `npm run build`), in Chromium, with the service's clock moved
// by TOKENCTL_NOW between runs, and one replacement shared with `tokenctl rotate` both ways: started in the CLI and
// finished in the page, started in the page and finished in the CLI. Sessions live in the database: a restart keeps
// them (within their limits).
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runBin, startServe, type Served } from '../../helpers/bin.js';
import { baseEnv, tempHome } from '../../helpers/env.js';
import { PAGE_CSP } from '../../../src/server/web/routes.js';
import { describeInBrowser, clipboardText, launchBrowser, openPage } from './browser.js';

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

describeInBrowser('the Tokens page of tokenctl serve', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => browser?.close());

  it('shares the rotation journal with tokenctl rotate, both ways, across restarts with TOKENCTL_NOW', async () => {
    const home = tempHome();
    const data = path.join(home, 'service-data');
    const at = (now: string) => baseEnv(home, { TOKENCTL_NOW: now });
    const init = await runBin(['server', 'init', '--data', data, '--account', 'acme'], { env: at('2026-03-01T10:00:00Z') });
    expect(init.code, init.stderr).toBe(0);
    const admin = init.stdout.trim();
    let serve: Served = await startServe(at('2026-03-01T10:00:00Z'), data);
    const cli = (now: string) => ({ ...at(now), TOKENCTL_SERVER: serve.url, TOKENCTL_ADMIN_KEY: admin });
    const restart = async (now: string) => {
      await stop(serve.child);
      serve = await startServe(at(now), data);
    };

    const w = await openPage(browser, serve.url);
    const { page } = w;
    const signIn = async () => {
      await page.goto(serve.url);
      await page.getByLabel('Admin credential').fill(admin);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => page.getByRole('heading', { name: 'Tokens', exact: true }).isVisible()).toBe(true);
    };
    const response = await page.goto(serve.url);
    expect(response!.headers()).toMatchObject({ 'content-security-policy': PAGE_CSP, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
    await signIn();

    // 1. Started in the CLI (it prints the new value and records the delivery), finished in the page.
    const started = await runBin(['rotate', 'default'], { env: cli('2026-03-01T10:01:00Z') });
    expect(started.code, started.stderr).toBe(0);
    const fromCli = started.stdout.trim();
    await page.reload();
    await page.getByRole('link', { name: 'Continue replacing default' }).first().click();
    await expect.poll(() => page.getByText('Wait until it is active').isVisible()).toBe(true);
    expect(await page.locator('[data-countdown-ms]').textContent()).toMatch(/min \d\d s$/);

    // 31 minutes later on the service's clock: the page's session has been idle that long, so it signs in again.
    await restart('2026-03-01T10:32:00Z');
    // A new port (port 0): the cookie is the host's, whatever the port; the clipboard permission is the origin's.
    await w.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: serve.url });
    await page.goto(serve.url);
    expect(await page.getByText('30 minutes without activity').isVisible()).toBe(true);
    await signIn();
    await page.getByRole('link', { name: 'Continue replacing default' }).first().click();
    await page.getByLabel('Type "Delete token" to confirm').fill('Delete token');
    await page.getByRole('button', { name: 'Delete token' }).click();
    await expect.poll(() => page.getByText('Replacement complete: default was deleted').isVisible()).toBe(true);
    const listed = JSON.parse((await runBin(['list', '--all', '--json'], { env: cli('2026-03-01T10:33:00Z') })).stdout) as { name: string; status: string }[];
    expect(listed.map((t) => `${t.name}:${t.status}`)).toEqual(['default:draining', 'default-20260301:active']);

    // 2. Started in the page (its value copied there), finished in the CLI.
    await page.goto(serve.url);
    await page.getByRole('button', { name: 'Replace default-20260301' }).click();
    await page.getByRole('button', { name: /^Copy default-20260301-2/ }).click();
    await expect.poll(() => page.getByText(/^Copied default-20260301-2/).isVisible()).toBe(true);
    const fromPage = await clipboardText(page);
    expect(fromPage.split('.')).toHaveLength(3);
    await page.getByRole('button', { name: 'I have put the new token in place' }).click();
    await expect.poll(() => page.getByText('Wait until it is active').isVisible()).toBe(true);
    await restart('2026-03-01T11:04:00Z');
    const finished = await runBin(['rotate', 'default-20260301', '--resume', '--confirm', 'Delete token'], { env: cli('2026-03-01T11:04:00Z') });
    expect(finished.code, finished.stderr).toBe(0);
    expect((await runBin(['get', 'default-20260301-2'], { env: cli('2026-03-01T11:04:00Z') })).stdout).toBe(fromPage);

    // Nothing secret in the service's log: no value, no credential, no session id.
    await stop(serve.child);
    const session = (await w.context.cookies()).find((c) => c.name === '__Host-tokenctl-session');
    const log = serve.stdout() + serve.stderr();
    for (const secret of [fromCli, fromPage, admin, session?.value ?? 'none']) expect(log).not.toContain(secret);
    expect(w.cspViolations).toEqual([]);
    await w.context.close();
  });
});
