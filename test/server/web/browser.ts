// Debian's Chromium, driven by playwright-core (no browser download: these machines cannot fetch one). Absent, the
// browser tests skip, unless TOKENCTL_REQUIRE_BROWSER=1 (CI), which turns the skip into a failure.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';

export const CHROMIUM = process.env.TOKENCTL_CHROMIUM ?? '/usr/bin/chromium';
export const browserRequired = process.env.TOKENCTL_REQUIRE_BROWSER === '1';
export const browserMissing: string | null = existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt-get install chromium)`;

/**
 * A describe block that needs Chromium: without one it shows as one skipped test saying why, unless the browser is
 * required (CI), where the block fails before anything else runs.
 */
export function describeInBrowser(name: string, body: () => void): void {
  if (browserMissing !== null && !browserRequired) {
    describe.skip(name, () => {
      it(`is skipped: ${browserMissing}`, () => undefined);
    });
    return;
  }
  describe(name, () => {
    beforeAll(() => {
      if (browserMissing) throw new Error(`TOKENCTL_REQUIRE_BROWSER=1 but ${browserMissing}`);
    });
    body();
  });
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
  });
}

export interface Watched {
  context: BrowserContext;
  page: Page;
  /** Console messages and page errors about the Content-Security-Policy, and securitypolicyviolation events. */
  cspViolations: string[];
  errors: string[];
}

/** A context on `origin` with the clipboard granted, a page in it, and the CSP violations it reports. */
export async function openPage(
  browser: Browser,
  origin: string,
  viewport = { width: 1280, height: 900 },
  colorScheme: 'light' | 'dark' = 'light',
): Promise<Watched> {
  const context = await browser.newContext({ viewport, locale: 'en-US', timezoneId: 'UTC', colorScheme });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const cspViolations: string[] = [];
  const errors: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Content-Security-Policy/i.test(m.text())) cspViolations.push(m.text());
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.exposeBinding('__reportCsp', (_source, text: string) => void cspViolations.push(text));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { __reportCsp(t: string): void }).__reportCsp(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return { context, page, cspViolations, errors };
}

const axeSource = (createRequire(import.meta.url)('axe-core') as { source: string }).source;

/** axe-core's checks (WCAG 2 A/AA and its best practices) on the page as it is now: no violation at all. */
export async function expectAccessible(page: Page, label: string): Promise<void> {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern: nothing is injected into the page.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: unknown, o: unknown): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    return axe.run(document, { resultTypes: ['violations'] });
  });
  expect(result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), label).toEqual([]);
}

export const clipboardText = (page: Page): Promise<string> => page.evaluate(() => navigator.clipboard.readText());

/**
 * Closes the open dialog with `key` and waits for the page's close handler: a dialog's close event comes a task after
 * the key, and the handler is what resets the dialog and puts the focus back outside it.
 */
export async function closeDialog(page: Page, key = 'Escape'): Promise<void> {
  await page.keyboard.press(key);
  await expect
    .poll(() => page.evaluate(() => !document.querySelector('dialog[open]') && !document.activeElement?.closest('dialog')))
    .toBe(true);
}
