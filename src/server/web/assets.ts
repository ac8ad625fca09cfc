import { createHash } from 'node:crypto';
import pageScript from './assets/tokens-page.js?raw';
import { PAGE_CSS as pageStyle } from './assets/tokens-page-style.js';

/** One of the page's two static files, under a name that changes with its content (so it may be cached for good). */
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

export const PAGE_SCRIPT = named('tokens-page', 'js', pageScript, 'text/javascript; charset=utf-8');
export const PAGE_STYLE = named('tokens-page', 'css', pageStyle, 'text/css; charset=utf-8');
