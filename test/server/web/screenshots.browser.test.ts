// The README's screenshots of the Tokens page (docs/images/), taken when TOKENCTL_SCREENSHOTS=1:
//   TOKENCTL_SCREENSHOTS=1 npx vitest run test/server/web/screenshots.browser.test.ts
// Six tokens on a fixed clock: a stale default, an active API token, two S2S (one pending), two OneLink.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../../../src/core/clock.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { ROOT } from '../../helpers/bin.js';
import { browserMissing, launchBrowser, openPage } from './browser.js';

/** An account with six tokens as of 2026-03-01 10:00 UTC; returns the admin credential. */
export async function sixTokens(server: TestServer): Promise<string> {
  server.clock.set('2025-08-20T09:00:00Z');
  const { credential } = await server.initAccount();
  const tokens = server.accounts.tokens((await server.principalOf(credential))!);
  const at = async (iso: string, type: 'api' | 's2s' | 'onelink', name: string) => {
    server.clock.set(iso);
    await tokens.create({ type, name });
  };
  await at('2026-01-10T08:00:00Z', 'api', 'ci-deploy');
  await at('2026-01-20T12:00:00Z', 's2s', 'events');
  await at('2026-02-02T15:00:00Z', 'onelink', 'campaign-links');
  await at('2026-02-15T11:30:00Z', 'onelink', 'partner-links');
  await at('2026-03-01T09:48:00Z', 's2s', 'events-2026');
  server.clock.set(new Date(Date.parse('2026-03-01T10:00:00Z')));
  return credential;
}

describe.skipIf(process.env.TOKENCTL_SCREENSHOTS !== '1' || browserMissing !== null)('README screenshots', () => {
  it('takes the Tokens page, its delete dialog and the narrow layout', async () => {
    const server = await startTestServer({ clock: manualClock('2025-08-20T09:00:00Z') });
    const browser = await launchBrowser();
    try {
      const admin = await sixTokens(server);
      const out = (name: string) => path.join(ROOT, 'docs', 'images', name);
      for (const [width, file] of [
        [1280, 'tokens-page.png'],
        [375, 'tokens-page-375.png'],
      ] as const) {
        const w = await openPage(browser, server.url, { width, height: 900 });
        await w.page.goto(server.url);
        await w.page.getByLabel('Admin credential').fill(admin);
        await w.page.getByRole('button', { name: 'Sign in' }).click();
        await w.page.getByRole('heading', { name: 'Your tokens' }).waitFor();
        await w.page.screenshot({ path: out(file), fullPage: true });
        if (width === 1280) {
          await w.page.getByRole('button', { name: 'Delete ci-deploy' }).click();
          await w.page.getByRole('dialog', { name: 'Delete ci-deploy?' }).getByLabel('Type "Delete token" to confirm').fill('Delete token');
          await w.page.screenshot({ path: out('tokens-page-delete.png') });
        }
        expect(w.cspViolations).toEqual([]);
        await w.context.close();
      }
    } finally {
      await browser.close();
      await server.close();
    }
  });
});
