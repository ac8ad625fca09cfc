import { createHash } from 'node:crypto';
import pageScript from './assets/tokens-page.js?raw';
import { PAGE_CSS as pageStyle } from './assets/tokens-page-style.js';
import { MORE_CSS as moreStyle } from './assets/more-pages-style.js';

/** One of the page's static files, under a name that changes with its content (so it may be cached for good). */
export interface PageAsset {
  path: string;
  body: string;
  contentType: string;
}

const named = (base: string, ext: string, body: string, contentType: string): PageAsset => ({
  path: `/assets/${base}-${createHash('sha256').update(body).digest('hex').slice(0, 12)}.${ext}`,
  body,
  contentType,
});

/**
 * The files as sent: without their comments and indentation (the sources explain themselves; browsers need none of
 * it). Conservative: in the script, whole-line comments only, so no code or string is touched; in the stylesheet,
 * whose strings hold no braces, semicolons or runs of spaces, the spaces around rules and declarations too.
 */
export function compactScript(js: string): string {
  return js
    .replace(/^[ \t]*\/\*\*(?:(?!\*\/)[\s\S])*\*\/[ \t]*$/gm, '')
    .replace(/^[ \t]*\/\/.*$/gm, '')
    .replace(/^[ \t]+/gm, '')
    .replace(/\n{2,}/g, '\n')
    .trim();
}

export function compactStyle(css: string): string {
  return css
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\s*([{};])\s*/g, '$1')
    .replace(/\s+/g, ' ')
    .trim();
}

export const PAGE_SCRIPT = named('tokens-page', 'js', compactScript(pageScript), 'text/javascript; charset=utf-8');
export const PAGE_STYLE = named('tokens-page', 'css', compactStyle(pageStyle), 'text/css; charset=utf-8');
/** The second stylesheet: only the pages that need it (a token's usage, Webhooks, a delivery log) link it. */
export const PAGE_MORE_STYLE = named('tokens-more', 'css', compactStyle(moreStyle), 'text/css; charset=utf-8');
