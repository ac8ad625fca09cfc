// The README's screenshot of the Tokens page (docs/images/tokens-page.png, kept under 60 KB), taken when
// TOKENCTL_SCREENSHOTS=1:
//   TOKENCTL_SCREENSHOTS=1 npx vitest run test/server/web/screenshots.browser.test.ts
// Four tokens on a fixed clock: a stale default (its type has room: Replace), two S2S (one pending), a OneLink. (The
// screenshots of every state, at 1280 and 390 px, are written by tokens-page-layout.browser.test.ts, outside the
// repository.)
import { statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../../../src/core/clock.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { ROOT } from '../../helpers/bin.js';
import { browserMissing, launchBrowser, openPage } from './browser.js';

/** An account with four tokens as of 2026-03-01 10:00 UTC; returns the admin credential. */
export async function fourTokens(server: TestServer): Promise<string> {
  server.clock.set('2025-08-20T09:00:00Z');
  const { credential } = await server.initAccount();
  const tokens = server.accounts.tokens((await server.principalOf(credential))!);
  const at = async (iso: string, type: 'api' | 's2s' | 'onelink', name: string) => {
    server.clock.set(iso);
    await tokens.create({ type, name });
  };
  await at('2026-01-20T12:00:00Z', 's2s', 'events');
  await at('2026-02-02T15:00:00Z', 'onelink', 'campaign-links');
  await at('2026-03-01T09:48:00Z', 's2s', 'events-2026');
  server.clock.set(new Date(Date.parse('2026-03-01T10:00:00Z')));
  return credential;
}

describe.skipIf(process.env.TOKENCTL_SCREENSHOTS !== '1' || browserMissing !== null)('README screenshot', () => {
  it('takes the list of the Tokens page, small', async () => {
    const server = await startTestServer({ clock: manualClock('2025-08-20T09:00:00Z') });
    const browser = await launchBrowser();
    try {
      const admin = await fourTokens(server);
      const w = await openPage(browser, server.url, { width: 1110, height: 900 });
      await w.page.goto(server.url);
      await w.page.getByLabel('Admin credential').fill(admin);
      await w.page.getByRole('button', { name: 'Sign in' }).click();
      await w.page.getByRole('heading', { name: 'Your tokens' }).waitFor();
      const file = path.join(ROOT, 'docs', 'images', 'tokens-page.png');
      const region = (await w.page.locator('#tokens-region').boundingBox())!;
      await w.page.screenshot({ path: file, clip: { x: region.x - 8, y: region.y - 8, width: region.width + 16, height: region.height + 16 } });
      expect(statSync(file).size).toBeLessThan(60_000);
      expect(w.cspViolations).toEqual([]);
      await w.context.close();
    } finally {
      await browser.close();
      await server.close();
    }
  });
});
